"""The dashboard end to end on the real broker: records produced to Kafka, read by the real
collector in the dashboard's embedded service process (as `edamon` runs it), drawn as a chain
(tree, waterfall, detail pane) from the service's answers."""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from dashboards import dashboard, embedded
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static, Tree

from builders import event_value
from edamon.config import Settings, load_settings
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

pytestmark = pytest.mark.kafka

STEPS = ("OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled")
HOP_MS = 150


def settings_for(bootstrap: str, prefix: str) -> Settings:
    overrides: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 5},
        "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 0.5},
        "lag": {"interval_s": 0.5},
        "ui": {"refresh_hz": 10},
    }
    return load_settings(None, overrides, use_default_path=False)


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 30.0
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def text_of(widget: Static) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def tree_rows(tree: Tree[str]) -> list[tuple[int, str, str]]:
    """(depth, event id, label) of every node under the hidden root, in display (pre)order."""
    rows: list[tuple[int, str, str]] = []
    stack = [(child, 0) for child in reversed(tree.root.children)]
    while stack:
        node, depth = stack.pop()
        assert node.data is not None
        rows.append((depth, node.data, str(node.label)))
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return rows


async def test_a_flow_on_kafka_opens_as_a_chain_with_tree_waterfall_and_detail(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("ui")
    correlation = unique_name("flow")
    for step in STEPS:
        await make_topic(f"{prefix}.{step}")
    now_ms = int(time.time() * 1000)
    events = [
        (step, f"{correlation}-e{i}", f"{correlation}-e{i - 1}" if i else None, now_ms + i * HOP_MS)
        for i, step in enumerate(STEPS)
    ]
    for step, event_id, cause, at_ms in reversed(events):  # out of order: the last step first
        payload = {"orderId": "order-1", "marker": f"payload-of-{step}"}
        value = event_value(event_id, step, correlation, cause, at_ms=at_ms, payload=payload)
        headers = [("event-type", step.encode()), ("correlation-id", correlation.encode())]
        await produce(f"{prefix}.{step}", [(b"order-1", value, headers)], timestamp_ms=at_ms)

    settings = settings_for(kafka_bootstrap, prefix)
    with embedded(settings) as child:
        app = dashboard(child.url, child.token, settings)
        await check_flow(app, prefix, correlation, events)


async def check_flow(
    app: Any, prefix: str, correlation: str, events: list[tuple[str, str, Any, int]]
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        chains = app.screen
        assert isinstance(chains, ChainsScreen)
        table = chains.query_one(SnapshotTable)
        await wait_for(pilot, lambda: correlation in table.keys, "the flow in the chains table")
        await wait_for(
            pilot,
            lambda: plain(table.get_cell(correlation, "events")).strip() == str(len(STEPS)),
            "all four events in the flow's row",
        )
        table.select_key(correlation)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen), "the chain screen")
        screen = app.screen
        assert isinstance(screen, ChainScreen) and screen.correlation_id == correlation

        tree: Tree[str] = screen.query_one("#tree", Tree)
        ids = [event_id for _, event_id, _, _ in events]
        await wait_for(pilot, lambda: len(tree_rows(tree)) == len(STEPS), "four tree nodes")
        # Causation order, whatever the order the records arrived in: each event is the child
        # of the one before it, labelled with its type and its offset from the root.
        rows = tree_rows(tree)
        assert [(depth, event_id) for depth, event_id, _ in rows] == list(enumerate(ids))
        assert [label.split()[:2] for _, _, label in rows] == [
            [step, f"+{i * HOP_MS}ms"] for i, step in enumerate(STEPS)
        ]

        waterfall = screen.query_one("#waterfall", SnapshotTable)
        await wait_for(pilot, lambda: waterfall.keys == ids, "the waterfall rows")
        offsets = [plain(waterfall.get_cell(event_id, "offset")).strip() for event_id in ids]
        assert offsets == ["+0ms", "+150ms", "+300ms", "+450ms"]
        names = [plain(waterfall.get_cell(event_id, "event")).strip() for event_id in ids]
        assert names == list(STEPS)
        bars = [plain(waterfall.get_cell(event_id, "bar")) for event_id in ids]
        assert "▏" in bars[0]  # the root: a mark at zero
        # each later bar spans from its cause to itself, so it starts further right
        starts = [len(bar) - len(bar.lstrip()) for bar in bars[1:]]
        assert starts == sorted(starts) and starts[-1] > starts[0]

        tree.focus()
        await pilot.press("down", "down")  # from the root to the third event
        await wait_for(pilot, lambda: screen.selected == ids[2], "PaymentProcessed selected")
        await wait_for(pilot, lambda: waterfall.cursor_key == ids[2], "the waterfall to follow")
        await wait_for(
            pilot,
            lambda: "payload-of-PaymentProcessed" in text_of(screen.query_one("#detail", Static)),
            "the event loaded from the service",
        )
        detail = text_of(screen.query_one("#detail", Static))
        assert "PaymentProcessed" in detail
        assert f"causation    {ids[1]}" in detail
        assert "event-type" in detail and "correlation-id" in detail  # the record's headers
        assert correlation in detail
        assert "payload-of-PaymentProcessed" in detail  # the payload
        assert f"{prefix}.PaymentProcessed" in detail  # the Kafka coordinates
