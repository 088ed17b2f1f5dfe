"""`edamon demo`: the simulated event-driven system, in memory or on a real cluster, with the
dashboard watching it (or headless, printing a line of stats every few seconds)."""

from __future__ import annotations

import asyncio
import sys
from contextlib import suppress
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from edamon.cli import EXIT_FAILED, EXIT_USAGE, duration_option, fail, settings_from

if TYPE_CHECKING:
    from edamon.broker.base import Broker
    from edamon.decode.registry import SchemaRegistry
    from edamon.demo.runner import DemoSystem

STATS_EVERY_S = 5.0
"""Seconds between two stats lines in --headless mode."""
MEMORY_RECORDS_PER_PARTITION = 200_000
"""The in-memory broker trims older records beyond this, so a long demo stays bounded."""


@click.command(name="demo")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML config (default: the demo's own, a copy of config/demo.toml).",
)
@click.option(
    "--bootstrap", "-b", metavar="HOST:PORT", help="Run on this Kafka cluster, not in memory."
)
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), help="New business flows per second."
)
@click.option("--seed", type=int, help="Seed of the simulation (same seed, same run).")
@click.option("--prefix", help="Topic and group prefix (default demo.).")
@click.option("--headless", is_flag=True, help="Only the simulation; print stats lines.")
@click.option("--duration", help="Stop the simulation after this long (e.g. 60s, 5m).")
@click.option(
    "--read-only",
    is_flag=True,
    default=None,
    help="Write nothing to Kafka: refused with --bootstrap (the demo writes there).",
)
@click.option(
    "--format",
    "wire_format",
    type=click.Choice(["json", "avro", "protobuf"]),
    default="json",
    show_default=True,
    help="How the services write their events: JSON, or Avro or Protobuf through a schema "
    "registry.",
)
@click.option(
    "--schema-registry",
    metavar="URL",
    help="With -b and --format avro|protobuf: the schema registry (Confluent-compatible API) "
    "to use; in memory, an in-process registry.",
)
def command(
    config_path: Path | None,
    bootstrap: str | None,
    rate: float | None,
    seed: int | None,
    prefix: str | None,
    headless: bool,
    duration: str | None,
    read_only: bool | None,
    wire_format: str,
    schema_registry: str | None,
) -> None:
    """Run the demo system: choreographed orders, an orchestrated checkout saga, schema
    evolution, duplicates, poison records, dead letters, a slow and a stopped group.

    On a cluster (--bootstrap) it creates its topics and writes records: read-only mode
    (--read-only, read_only = true) refuses that with exit code 2. In memory nothing reaches
    Kafka: it runs, and read-only there only disables retries in the dashboard."""
    from edamon.demo.sagas import packaged_config

    seconds = duration_option(duration)
    demo: dict[str, Any] = {"rate": rate, "seed": seed, "prefix": prefix}
    extra: dict[str, Any] = {"demo": {k: v for k, v in demo.items() if v is not None}}
    if wire_format != "json" and bootstrap and not schema_registry:
        fail(f"--format {wire_format} on a cluster needs --schema-registry URL", 2)
    if schema_registry:
        extra["schema_registry"] = {"url": schema_registry}
    if config_path is None:
        with resources.as_file(packaged_config()) as packaged:
            settings = settings_from(packaged, bootstrap, read_only, extra)
    else:
        settings = settings_from(config_path, bootstrap, read_only, extra)

    from edamon.demo.runner import READ_ONLY

    if bootstrap and settings.read_only:
        fail(READ_ONLY, EXIT_USAGE)
    if not headless:
        from edamon.cli.dashboard import run_dashboard

        # The simulation runs in the collector's child process, beside the collector (with
        # its in-process schema registry for --format avro in memory).
        where: Literal["memory", "kafka"] = "kafka" if bootstrap else "memory"
        shape: Literal["json", "avro"] = "avro" if wire_format == "avro" else "json"
        sys.exit(run_dashboard(settings, demo=where, demo_format=shape))

    from edamon.demo.clock import DemoClock
    from edamon.demo.runner import DemoSystem

    broker: Broker
    clock = DemoClock()
    if bootstrap:
        from edamon.broker.kafka import KafkaBroker

        broker = KafkaBroker(settings.kafka)
    else:
        from edamon.broker.memory import MemoryBroker

        broker = MemoryBroker(
            clock=clock.now, max_records_per_partition=MEMORY_RECORDS_PER_PARTITION
        )
    system = DemoSystem(
        broker, settings.demo, clock=clock, read_only=bool(bootstrap) and settings.read_only
    )
    system.bus.tell = click.echo  # "demo producer: broker not answering since …, retrying"
    registry: SchemaRegistry | None = None
    if wire_format != "json":
        from edamon.decode.registry import HttpSchemaRegistry, MemorySchemaRegistry
        from edamon.demo.wire import AvroCodec, ProtobufCodec

        if bootstrap:
            registry = HttpSchemaRegistry(settings.schema_registry)
        else:
            registry = MemorySchemaRegistry()
        codec = AvroCodec if wire_format == "avro" else ProtobufCodec
        system.bus.codec = codec(registry)

    sys.exit(_run_headless(broker, system, seconds))


def _run_headless(broker: Broker, system: DemoSystem, seconds: float | None) -> int:
    from edamon.broker.base import BrokerError
    from edamon.decode.registry import RegistryError

    click.echo(f"edamon demo on {broker.name}, seed {system.seed} (Ctrl-C stops)")
    try:
        asyncio.run(_headless(broker, system, seconds))
    except KeyboardInterrupt:
        pass
    except (BrokerError, RegistryError) as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(system.stats().line())
    return 0


async def _headless(broker: Broker, system: DemoSystem, seconds: float | None) -> None:
    await broker.start()
    task = asyncio.create_task(system.run(seconds))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=STATS_EVERY_S)
            if not task.done():
                click.echo(system.stats().line())
        await task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await broker.close()
        registry = getattr(system.bus.codec, "registry", None)
        if registry is not None:
            await registry.aclose()
