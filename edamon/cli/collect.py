"""`edamon collect`: run the collector headless and print what it saw."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from contextlib import suppress
from pathlib import Path

import click

from edamon.cli import EXIT_USAGE, config_options, duration_option, fail, settings_from
from edamon.cli.attach import attach_options
from edamon.config import Settings

IDLE_S = 2.0
_RETRYING = re.compile(r" \((?:for [0-9hms]+, )?retrying(?: in [0-9.]+s)?\)$")
"""How long the outage lasts and the retry the collector announces after a failed attempt
(edamon.collector.outage)."""
POLL_S = 0.1


@click.command(name="collect")
@config_options
@click.option("--from", "start_from", help="latest, earliest, a duration ago (15m) or ISO time.")
@click.option("--duration", help="Collect for this long (e.g. 10s, 2m), then print.")
@click.option(
    "--until-idle",
    is_flag=True,
    help=f"Stop once caught up to the log end and idle for {IDLE_S:.0f}s.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (see README).")
@click.option(
    "--max-trees",
    default=200,
    show_default=True,
    type=click.IntRange(min=0),
    help="Chain trees in the JSON.",
)
@click.option("--schema", is_flag=True, help="Print the JSON Schema of --json output and exit.")
@attach_options
def command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    start_from: str | None,
    duration: str | None,
    until_idle: bool,
    as_json: bool,
    max_trees: int,
    schema: bool,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """Collect headless for a while and print the snapshot (JSON schema: `--schema`, also in
    docs/collect-json.schema.json)."""
    if schema:
        import json

        from edamon.collector.jsonout import json_schema

        click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
        return

    seconds = duration_option(duration)
    if attach is not None:
        sys.exit(_collect_attached(attach, token_file, seconds, until_idle, as_json, max_trees))
    if duration is None and not until_idle:
        fail("give --duration or --until-idle", EXIT_USAGE)
    extra = {"topics": {"start_from": start_from}} if start_from is not None else {}
    settings = settings_from(config_path, bootstrap, read_only, extra)
    from edamon.collector.runtime import tune_gc

    tune_gc()  # a collector process (the dashboard's process never tunes its GC)
    try:
        text = asyncio.run(_collect(settings, seconds, until_idle, as_json, max_trees))
    except ConnectionError as exc:
        fail(str(exc))
    click.echo(text)
    sys.exit(0)


async def _collect(
    settings: Settings, seconds: float | None, until_idle: bool, as_json: bool, max_trees: int
) -> str:
    from edamon.alerts import Alerting
    from edamon.broker.kafka import KafkaBroker
    from edamon.collector.cancelling import cancel_and_wait
    from edamon.collector.collector import Collector
    from edamon.collector.jsonout import build_document, document_json
    from edamon.model.status import ConnectionState

    broker = KafkaBroker(settings.kafka)
    collector = Collector(broker, settings)
    state = collector.state
    # The rules are evaluated over the run (the document shows their alerts); collect sends
    # no notification: `edamon serve` does.
    alerting = Alerting(
        settings.alerts,
        collector.snapshot,
        lambda alerts: setattr(state, "alerts", alerts),
        notify=False,
    )
    evaluated = 0.0
    task = asyncio.create_task(collector.run())
    started = time.monotonic()
    connected = False
    try:
        while True:  # ends with the document, taken while the collector still runs
            await asyncio.sleep(POLL_S)
            elapsed = time.monotonic() - started
            if settings.alerts.rules and elapsed - evaluated >= settings.alerts.evaluate_interval_s:
                alerting.evaluate()
                evaluated = elapsed
            connection = collector.state.connection
            connected = connected or connection.state == ConnectionState.CONNECTED
            if not connected and connection.state == ConnectionState.ERROR:
                raise ConnectionError(connection.message)  # refused (auth): no use waiting
            if not connected and elapsed > settings.kafka.connect_timeout_s:
                raise ConnectionError(_unreachable(connection.message, elapsed))
            if seconds is not None and elapsed >= seconds:
                if not connected:  # a run shorter than the connect timeout never reached the
                    # cluster: that is a failure with its reason, not an empty snapshot and 0
                    raise ConnectionError(_unreachable(connection.message, elapsed))
                break
            if until_idle and collector.caught_up:
                last = collector.state.last_record_at
                if last is None or time.time() - last >= IDLE_S:
                    break
        collector.state.tick(time.time())
        if settings.alerts.rules:
            alerting.evaluate()
        document = build_document(collector, max_trees)  # its connection: as it is now
    finally:
        await cancel_and_wait([task])  # again if a broker call swallowed the first one
        if task.done():
            with suppress(asyncio.CancelledError):
                await task
        await broker.close()
    if as_json:
        return document_json(document)
    return _summary(document.snapshot)


def _collect_attached(
    url: str,
    token_file: Path | None,
    seconds: float | None,
    until_idle: bool,
    as_json: bool,
    max_trees: int,
) -> int:
    """The document from a running service: now, after --duration, or (--until-idle) once the
    service says it is ready (connected and caught up)."""
    import json

    from edamon.cli.attach import run_client, token_for
    from edamon.client import EdamonClient

    token = token_for(token_file, operator=False)

    async def body(client: EdamonClient) -> int:
        started = time.monotonic()
        if seconds is not None:
            await asyncio.sleep(seconds)
        while until_idle:
            ready = await client.ready()
            if ready.ready:
                break
            if time.monotonic() - started > ATTACH_READY_S:
                fail(f"the service is not ready after {ATTACH_READY_S:.0f}s: {ready.reason}")
            await asyncio.sleep(POLL_S)
        if as_json:
            click.echo(json.dumps(await client.collect(max_trees), indent=2, ensure_ascii=True))
        else:
            click.echo(_summary((await client.collect_document(max_trees)).snapshot))
        return 0

    return run_client(url, token, body)


ATTACH_READY_S = 60.0
"""How long `collect --attach --until-idle` waits for the service to be ready."""


def _summary(snapshot: object) -> str:
    from edamon.model.snapshot import Snapshot

    assert isinstance(snapshot, Snapshot)
    t = snapshot.totals
    lines = [
        f"cluster {snapshot.connection.cluster}: {snapshot.connection.state}"
        + (f" ({snapshot.connection.message})" if snapshot.connection.message else ""),
        f"events {t.events}  duplicates {t.duplicates}  dead letters {t.dead_letters}"
        f"  undecodable {t.undecodable}  flows {t.chains}",
    ]
    for saga in snapshot.sagas:
        counts = ", ".join(f"{state} {n}" for state, n in saga.counts if n)
        lines.append(f"saga {saga.saga}: {counts or 'none'}")
    for group in snapshot.lag:
        lines.append(f"group {group.group}: {group.status} lag {group.total_lag}")
    return "\n".join(lines)


def _unreachable(message: str, elapsed_s: float) -> str:
    """Why the cluster was not reached: the collector's last reason, without the retry it no
    longer makes (the command gives up), or how long it tried when no attempt failed yet."""
    reason = _RETRYING.sub("", message or "")
    if not reason or reason.startswith("connecting"):  # "connecting for 2s…"
        return f"cannot connect to kafka within {elapsed_s:.0f}s"
    return reason
