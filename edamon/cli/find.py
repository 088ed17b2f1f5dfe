"""`edamon find`: find a flow from the past (issue 16) by correlation id, event id, aggregate
id or key, header or JSON path over a time range, and print its chain.

Exit codes: 0 found, 1 not found (or the search failed), 2 usage errors (bad option, bad
range, malformed JSON path, unknown topic).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edamon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, config_options, fail, settings_from
from edamon.cli.attach import attach_options

if TYPE_CHECKING:
    from edamon.client import EdamonClient
    from edamon.config import Settings
    from edamon.model.search import SearchDoc, SearchQuery

POLL_S = 0.2
_FIELDS = {
    "correlation_id": "--correlation-id",
    "event_id": "--event-id",
    "aggregate_id": "--aggregate-id",
    "key": "--key",
    "header": "--header",
    "json_path": "--json-path",
}


@click.command(name="find")
@config_options
@click.option("--correlation-id", help="Find the flow with this correlation id.")
@click.option("--event-id", help="Find the flow of the event with this id.")
@click.option("--key", help="Records with this key (reads the partition it hashes to).")
@click.option("--aggregate-id", help="Events of this aggregate (or records with this key).")
@click.option("--header", metavar="NAME=VALUE", help="Records carrying this header value.")
@click.option(
    "--json-path",
    metavar="PATH=VALUE",
    help="Payload field equal to a value: '$.payload.orderId=8812'.",
)
@click.option("--since", help="Search from this long ago (8h, 30m).")
@click.option("--from", "start", help="Search from this time (ISO) or duration ago.")
@click.option("--until", help="Search up to this time (ISO) or duration ago (default: now).")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    help="Topic to read (repeatable; default: every tailed topic and DLQ).",
)
@click.option("--full-scan", is_flag=True, help="A key search reads every partition.")
@click.option("--no-widen", is_flag=True, help="Do not pull in the whole flow of what is found.")
@click.option(
    "--budget-records",
    type=click.IntRange(min=1),
    default=5_000_000,
    show_default=True,
    help="Read at most this many records.",
)
@click.option(
    "--budget-seconds",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Search for at most this long.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    help="Read at most this many records per second (spares a busy cluster; default: no limit).",
)
@click.option(
    "--max-flows", type=click.IntRange(min=1), default=20, show_default=True, help="Flows kept."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the search and its chain trees as JSON (trees as `collect --json` writes them).",
)
@attach_options
def command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    correlation_id: str | None,
    event_id: str | None,
    key: str | None,
    aggregate_id: str | None,
    header: str | None,
    json_path: str | None,
    since: str | None,
    start: str | None,
    until: str | None,
    topics: tuple[str, ...],
    full_scan: bool,
    no_widen: bool,
    budget_records: int,
    budget_seconds: float,
    rate: float | None,
    max_flows: int,
    as_json: bool,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """Find a flow from the past in Kafka and print its chain (exit 0 found, 1 not found)."""
    from edamon.search.query import SearchError, build_query, resolve_range

    given = {
        "correlation_id": correlation_id,
        "event_id": event_id,
        "key": key,
        "aggregate_id": aggregate_id,
        "header": header,
        "json_path": json_path,
    }
    chosen = [(by, value) for by, value in given.items() if value is not None]
    if len(chosen) != 1:
        fail("give exactly one of " + ", ".join(_FIELDS.values()), EXIT_USAGE)
    by, value = chosen[0]
    try:
        from_ms, until_ms = resolve_range(since, start, until, time.time())
        query = build_query(
            by,  # type: ignore[arg-type]  # one of SEARCH_FIELDS by construction
            value,
            from_ms,
            until_ms,
            topics=topics,
            full_scan=full_scan,
            widen=not no_widen,
            budget_records=budget_records,
            budget_seconds=budget_seconds,
            max_flows=max_flows,
            rate=rate,
        )
    except SearchError as exc:
        fail(str(exc), EXIT_USAGE)
        raise  # unreachable
    if attach is not None:
        sys.exit(_find_attached(attach, token_file, query, as_json))
    settings = settings_from(config_path, bootstrap, read_only)
    try:
        doc = asyncio.run(_find(settings, query))
    except SearchError as exc:
        fail(str(exc), EXIT_USAGE)
        raise  # unreachable
    except ConnectionError as exc:
        fail(str(exc))
        raise  # unreachable
    except KeyboardInterrupt:
        fail("interrupted")
        raise  # unreachable
    sys.exit(report(doc, as_json))


async def _find(settings: Settings, query: SearchQuery) -> SearchDoc:
    from edamon.broker.base import BrokerError
    from edamon.broker.kafka import KafkaBroker
    from edamon.search import Search

    broker = KafkaBroker(settings.kafka)
    try:
        await broker.start()
        search = Search(broker, settings, query)
        task = asyncio.create_task(search.run())
        progress = Progress()
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_S)
                progress.show(search.doc())
        finally:
            progress.clear()
            if not task.done():
                search.cancel()
                task.cancel()
        return task.result()
    except BrokerError as exc:
        raise ConnectionError(str(exc)) from None
    finally:
        await broker.close()


class Progress:
    """`scanned N of ~M` on stderr, redrawn in place on a terminal."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._shown = False

    def show(self, doc: SearchDoc) -> None:
        if not self._tty or not doc.passes:
            return
        line = f"\rsearching: {doc.scanned:,} of ~{doc.estimate:,} records, {doc.matched} matched"
        sys.stderr.write(line.ljust(72))
        sys.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r" + " " * 72 + "\r")
            sys.stderr.flush()


def _find_attached(url: str, token_file: Path | None, query: SearchQuery, as_json: bool) -> int:
    from edamon.cli.attach import run_client, token_for

    token = token_for(token_file, operator=False)

    async def body(client: EdamonClient) -> int:
        from edamon.client import BadRequest

        try:
            doc = await client.search(query)
        except BadRequest as exc:
            fail(str(exc), EXIT_USAGE)
            raise  # unreachable
        progress = Progress()
        try:
            while doc.state == "running":
                await asyncio.sleep(POLL_S)
                doc = await client.search_status(doc.id)
                progress.show(doc)
        except BaseException:
            await client.search_cancel(doc.id)
            raise
        finally:
            progress.clear()
        await client.search_dismiss(doc.id)
        if doc.state == "failed":
            fail(f"the search failed: {doc.error}", EXIT_USAGE)
        return report(doc, as_json)

    return run_client(url, token, body)


def search_json(doc: SearchDoc) -> dict[str, Any]:
    """The search (query, progress, what was not scanned) and its flows' chain trees."""
    data = asdict(doc)
    trees = data.pop("flows")
    return {"schema_version": doc.schema_version, "search": data, "chain_trees": trees}


def report(doc: SearchDoc, as_json: bool) -> int:
    """Print the result; the exit code (0 found, 1 not)."""
    if as_json:
        click.echo(json.dumps(search_json(doc), indent=2, ensure_ascii=True))
    else:
        click.echo(_text(doc))
    return EXIT_OK if doc.found else EXIT_FAILED


def _when(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(doc: SearchDoc) -> str:
    query = doc.query
    lines = [
        f"search {query.by.replace('_', ' ')} {query.value!r}, "
        f"{_when(doc.from_ms)} .. {_when(doc.until_ms)}: "
        f"{len(doc.flows)} flow(s), {doc.matched} record(s) matched",
    ]
    if doc.state == "budget":
        lines.append("stopped by its budget: what was found so far is shown")
    elif doc.state == "cancelled":
        lines.append("cancelled: what was found so far is shown")
    for flow in doc.flows:
        summary = flow.summary
        lines.append("")
        lines.append(
            f"flow {summary.correlation_id} ({summary.events} events, "
            f"{summary.dead_letters} dead letters, {summary.duration_s:.3f} s)"
        )
        for node in flow.nodes:
            mark = f"  DLQ {node.dead_letter}" if node.dead_letter else ""
            where = node.coords or "-"
            lines.append(
                f"  {'  ' * node.depth}{node.event_type} [{node.status}] "
                f"+{node.offset_s:.3f}s {where}{mark}"
            )
    lines.append("")
    for scan in doc.passes:
        what = "search" if scan.by == query.by and scan is doc.passes[0] else "widened"
        lines.append(
            f"{what} by {scan.by.replace('_', ' ')}: {scan.scanned:,} of {scan.estimate:,} "
            f"records read{'' if scan.complete else ' (incomplete)'}"
        )
        for topic in scan.topics:
            parts = (
                "all partitions"
                if len(topic.partitions) == topic.partitions_total
                else f"partition(s) {', '.join(map(str, topic.partitions))} of "
                f"{topic.partitions_total}"
            )
            lines.append(f"  {topic.topic}: {topic.scanned:,} of {topic.estimate:,} ({parts})")
    if doc.undecodable:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in doc.undecodable_by_reason)
        lines.append(f"undecodable records among the matches: {doc.undecodable} ({reasons})")
    lines.extend(f"not scanned: {line}" for line in doc.not_scanned)
    lines.extend(f"note: {line}" for line in doc.notes)
    return "\n".join(lines)
