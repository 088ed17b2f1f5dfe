"""DLQ retry from the dashboard on the real broker, through its embedded service process (as
`edamon` runs it): mark two dead letters, `r`, confirm; the records are back on their topic
with their key, value and retry trail, the table shows the ledger's status and the chain shows
each retried copy under its dead letter."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from dashboards import dashboard, embedded
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from builders import event_value, spring_dlt_headers
from edamon.broker.kafka import KafkaBroker
from edamon.client import EdamonClient, NotFound
from edamon.config import Settings
from edamon.model.records import TP, RawRecord
from edamon.model.snapshot import DeadLetterRow
from edamon.model.status import NodeStatus
from edamon.ui.app import EdamonApp
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.retry import RetryModal
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain
from kafka_helpers import MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka

TRACEPARENT = ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail("condition not met in time")
        await pilot.pause(0.05)


def text_of(widget: Static) -> str:
    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


async def read_topic(settings: Settings, topic: str, count: int) -> list[RawRecord]:
    """The first `count` records of partition 0 of `topic`, with edamon's own tailer."""
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 0})
        records: list[RawRecord] = []
        async with asyncio.timeout(30):
            while len(records) < count:
                records.extend(await tailer.fetch(100, 200))
        return records
    finally:
        await tailer.close()
        await broker.close()


async def test_retry_two_marked_dead_letters_from_the_dashboard(
    kafka_bootstrap: str, make_topic: MakeTopic, produce: Produce, unique_name: UniqueName
) -> None:
    prefix = unique_name("uiretry")
    target = await make_topic(f"{prefix}.X")
    dlq = await make_topic(f"{prefix}.X.DLT")
    originals = []
    for i in range(2):
        correlation = f"{prefix}-flow-{i}"
        key = f"order-{i}".encode()
        value = event_value(f"{prefix}-e{i}", "X", correlation, aggregate_id=f"order-{i}")
        headers = [
            ("event-type", b"X"),
            ("correlation-id", correlation.encode()),
            TRACEPARENT,
            *spring_dlt_headers(target, 0, 100 + i),
        ]
        originals.append((key, value, headers))
    await produce(dlq, originals)

    settings = Settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "request_timeout_s": 5},
        topics={
            "include": [re.escape(prefix) + r"\..*"],
            "start_from": "earliest",
            "refresh_s": 0.5,
        },
        dlq={"ledger_topic": unique_name("ledger")},
    )
    with embedded(settings) as child:
        app = dashboard(child.url, child.token, settings)
        await retry_both(app, prefix, dlq, target)
        async with EdamonClient(child.url, child.token) as client:
            # The chain: the retried copy is a new node under its dead letter.
            for i in range(2):
                coords = f"{dlq}/0/{i}"
                async with asyncio.timeout(30):
                    while not await retried(client, f"{prefix}-flow-{i}", coords):
                        await asyncio.sleep(0.1)

    sent = await read_topic(settings, target, 2)
    assert len(sent) == 2
    by_origin = {dict(r.headers)["edamon-retry-of"].decode(): r for r in sent}
    assert set(by_origin) == {f"{dlq}/0/0", f"{dlq}/0/1"}
    for i, (key, value, _headers) in enumerate(originals):
        record = by_origin[f"{dlq}/0/{i}"]
        assert (record.key, record.value) == (key, value)
        names = [name for name, _ in record.headers]
        assert names[:2] == ["event-type", "correlation-id"]  # kept, in order
        assert "traceparent" not in names
        assert not any(name.startswith("kafka_dlt-") for name in names)
        assert dict(record.headers)["edamon-retry-attempt"] == b"1"


async def retried(client: EdamonClient, correlation_id: str, coords: str) -> bool:
    """The chain has the retried copy of the dead letter at `coords` under it."""
    try:
        chain = await client.chain(correlation_id)
    except NotFound:
        return False
    return any(
        n.status is NodeStatus.RETRIED and n.parent_id == f"dlq:{coords}" for n in chain.nodes
    )


def dead_letters(app: EdamonApp) -> tuple[DeadLetterRow, ...]:
    snap = app.last_snapshot
    return snap.dead_letters if snap is not None else ()


async def retry_both(app: EdamonApp, prefix: str, dlq: str, target: str) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(dead_letters(app)) == 2)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        await wait_for(pilot, lambda: len(table.keys) == 2)
        await pilot.press("space", "space")
        assert screen.marked == {f"{dlq}/0/0", f"{dlq}/0/1"}
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        modal = app.screen
        summary = text_of(modal.query_one("#retry-summary", Static))
        assert f"Send      2  → {target} (2)" in summary
        assert "DLQ headers kafka_dlt-*" in summary and "other headers traceparent" in summary
        await pilot.click("#retry-confirm")
        await wait_for(pilot, lambda: not screen.retrying)
        assert screen.marked == set()

        # The table: retried, as the ledger (tailed live by the collector) says.
        await wait_for(pilot, lambda: {row.retry for row in dead_letters(app)} == {"sent"})
        await wait_for(pilot, lambda: not screen.outcomes)  # only the ledger's word is left
        assert {plain(table.get_cell(key, "retried")) for key in table.keys} == {"✓ retried"}
