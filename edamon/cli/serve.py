"""`edamon serve`: the collector headless and long-running, behind the HTTP API.

Also the embedded child (`--embedded-socket`, hidden) that `edamon` and `edamon demo` start
for themselves: see edamon/cli/embedded.py.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edamon.cli import EXIT_FAILED, EXIT_USAGE, config_options, fail, settings_from
from edamon.config import Settings

if TYPE_CHECKING:
    from edamon.broker.base import Broker
    from edamon.decode.registry import SchemaRegistry
    from edamon.service.server import Background

EMBEDDED_TOKEN_ENV = "EDAMON_EMBEDDED_TOKEN"
"""The embedded child's token, passed by its parent through the environment (never on disk)."""
EMBEDDED_PARENT_ENV = "EDAMON_EMBEDDED_PARENT"
"""The parent's pid: the child checks it still has that parent once its death signal is set."""
PR_SET_PDEATHSIG = 1


@click.command(name="serve")
@config_options
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Address to listen on (default: service.listen, 127.0.0.1:8765).",
)
@click.option(
    "--insecure-bind",
    is_flag=True,
    help="Allow a non-loopback --listen without TLS (tokens then cross the network in clear).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Token file (default: service.token_file, ~/.config/edamon/service-tokens.toml).",
)
@click.option("--from", "start_from", help="latest, earliest, a duration ago (15m) or ISO time.")
@click.option(
    "--shard-group",
    metavar="NAME",
    help="Share the cluster's load with the other services of shard group NAME (shard.group): "
    "each reads a share of the partitions, any of them answers for all.",
)
@click.option("--openapi", is_flag=True, help="Print the API's OpenAPI document and exit.")
@click.option("--embedded-socket", type=click.Path(path_type=Path), hidden=True)
@click.option(
    "--demo",
    type=click.Choice(["memory", "kafka"]),
    hidden=True,
    help="(embedded) run the demo simulation beside the collector.",
)
@click.option(
    "--demo-format",
    type=click.Choice(["json", "avro"]),
    default="json",
    hidden=True,
    help="(embedded) how the demo's services write their events.",
)
def command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    listen: str | None,
    insecure_bind: bool,
    token_file: Path | None,
    start_from: str | None,
    shard_group: str | None,
    openapi: bool,
    embedded_socket: Path | None,
    demo: str | None,
    demo_format: str,
) -> None:
    """Run the collector as a service: an HTTP API (/v1, OpenAPI at /v1/openapi.json) that
    dashboards (`edamon --attach URL`), `collect --attach` and `dlq --attach` read.

    Listens on loopback by default; every request needs `Authorization: Bearer <token>`
    (tokens: the printed file, or EDAMON_SERVICE__VIEWER_TOKEN / __OPERATOR_TOKEN). Stops
    cleanly on SIGTERM or Ctrl-C.
    """
    if openapi:
        from edamon.service.app import openapi_document

        click.echo(json.dumps(openapi_document(), indent=2, sort_keys=True))
        return
    if embedded_socket is not None:
        sys.exit(_embedded(embedded_socket, demo, demo_format))
    from edamon.decode.native import decoder_in_use
    from edamon.service.auth import TokenError, load_tokens
    from edamon.service.server import Bind, ServeError, check_exposure

    extra: dict[str, Any] = {}
    if start_from is not None:
        extra["topics"] = {"start_from": start_from}
    if listen is not None:
        extra["service"] = {"listen": listen}
    if token_file is not None:
        extra.setdefault("service", {})["token_file"] = str(token_file)
    if shard_group is not None:
        extra["shard"] = {"group": shard_group}
    settings = settings_from(config_path, bootstrap, read_only, extra)
    try:
        bind = Bind.parse(settings.service.listen)
        check_exposure(bind, settings, insecure_bind=insecure_bind)
        tokens = load_tokens(settings.service)
    except (ServeError, TokenError) as exc:
        fail(str(exc), EXIT_USAGE)
        raise  # unreachable

    def listening(url: str) -> None:
        click.echo(f"edamon serve: listening on {url} (cluster {settings.kafka.bootstrap_servers})")
        click.echo(f"edamon serve: access tokens in {tokens.source} (viewer, operator)")
        if settings.read_only:
            click.echo("edamon serve: read-only: retries are refused")
        click.echo(f"edamon serve: JSON decoder: {decoder_in_use(settings.envelope.native)}")
        if settings.shard.group is not None:
            click.echo(
                f"edamon serve: member of shard group {settings.shard.group} "
                f"(index topic {settings.shard.index_topic_name()})"
            )
        sys.stdout.flush()

    from edamon.broker.kafka import KafkaBroker

    broker = KafkaBroker(settings.kafka)
    sys.exit(_serve(settings, broker, tokens, bind, listening))


def _serve(
    settings: Settings,
    broker: Broker,
    tokens: Any,
    bind: Any,
    listening: Callable[[str], None],
    background: tuple[Background, ...] = (),
    parent_watch: bool = False,
    registry: SchemaRegistry | None = None,
) -> int:
    from edamon.collector.runtime import tune_gc
    from edamon.service.server import ServeError, serve

    tune_gc()  # the collector's process (the dashboard's process never tunes its GC)

    async def main() -> None:
        stop = asyncio.Event()
        if parent_watch:
            _watch_parent(stop)
        await serve(
            settings,
            broker,
            tokens,
            bind,
            background=background,
            on_listening=listening,
            stop=stop,
            registry=registry,
        )

    try:
        asyncio.run(main())
    except ServeError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo("edamon serve: stopped", err=True)
    return 0


def _watch_parent(stop: asyncio.Event) -> None:
    """Set `stop` when stdin (a pipe the parent holds) reaches EOF: the parent closed it or
    died. A daemon thread: blocking reads never hold the loop."""
    loop = asyncio.get_running_loop()

    def wait_eof() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_eof, name="edamon-parent-watch", daemon=True).start()


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return  # stdin EOF still ends the child


def _embedded(socket_path: Path, demo: str | None, demo_format: str = "json") -> int:
    """The embedded child: settings as one JSON line on stdin (from the parent, exactly its
    own), the token from the environment, a Unix socket in the parent's private directory."""
    _die_with_parent()
    if str(os.getppid()) != os.environ.pop(EMBEDDED_PARENT_ENV, ""):
        return EXIT_FAILED  # the parent is already gone (before the death signal was set)
    token = os.environ.pop(EMBEDDED_TOKEN_ENV, "")
    if not token:
        fail(f"{EMBEDDED_TOKEN_ENV} is not set", EXIT_USAGE)
    line = sys.stdin.buffer.readline()
    try:
        settings = Settings.model_validate(json.loads(line))
    except ValueError as exc:
        fail(f"embedded: bad settings from the parent: {exc}", EXIT_USAGE)
        raise  # unreachable
    from edamon.service.auth import Tokens
    from edamon.service.server import Bind

    tokens = Tokens(viewer=None, operator=token, source="environment")
    broker, background, registry = embedded_broker(settings, demo, demo_format)

    def listening(url: str) -> None:
        click.echo(f"edamon serve: listening on {url}")
        sys.stdout.flush()

    bind = Bind(uds=socket_path)
    return _serve(
        settings, broker, tokens, bind, listening, background, parent_watch=True, registry=registry
    )


def embedded_broker(
    settings: Settings, demo: str | None, demo_format: str = "json"
) -> tuple[Broker, tuple[Background, ...], SchemaRegistry | None]:
    """The broker to watch, what runs beside the collector and the schema registry the
    collector decodes with (None: the configured one): the demo's simulation on its in-memory
    broker or on the cluster (as `edamon demo` builds them), or nothing."""
    if demo is None:
        from edamon.broker.kafka import KafkaBroker

        return KafkaBroker(settings.kafka), (), None
    from edamon.cli.demo import MEMORY_RECORDS_PER_PARTITION
    from edamon.demo.clock import DemoClock
    from edamon.demo.runner import DemoSystem

    clock = DemoClock()
    broker: Broker
    if demo == "kafka":
        from edamon.broker.kafka import KafkaBroker

        broker = KafkaBroker(settings.kafka)
    else:
        from edamon.broker.memory import MemoryBroker

        broker = MemoryBroker(
            clock=clock.now, max_records_per_partition=MEMORY_RECORDS_PER_PARTITION
        )
    system = DemoSystem(
        broker, settings.demo, clock=clock, read_only=demo == "kafka" and settings.read_only
    )
    registry: SchemaRegistry | None = None
    codec_registry: SchemaRegistry | None = None
    if demo_format == "avro":
        from edamon.decode.registry import HttpSchemaRegistry, MemorySchemaRegistry
        from edamon.demo.wire import AvroCodec

        if demo == "kafka":  # the collector opens its own client to the configured URL
            codec_registry = HttpSchemaRegistry(settings.schema_registry)
        else:
            registry = codec_registry = MemorySchemaRegistry()
        system.bus.codec = AvroCodec(codec_registry)

    async def simulate(notice: Callable[[str], None]) -> None:
        system.bus.tell = notice  # "demo producer: broker not answering" on the dashboard
        await broker.start()
        try:
            await system.run()
        finally:
            if demo == "kafka" and codec_registry is not None:
                await codec_registry.aclose()

    return broker, (simulate,), registry
