"""The Ordering panel of the throughput screen (`6`): findings per topic, Enter lists a topic's
examples, and `c` (or Enter) opens an example's chain."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import FakeView, make_app, make_snapshot
from textual.widgets import DataTable, Static
from uitools import text_of, wait_for

from edamon.model.ordering import OrderingTracker, OrderingView
from edamon.ui.screens.chain import ChainScreen, node_label
from edamon.ui.screens.ordering import OrderingScreen
from edamon.ui.screens.throughput import ThroughputScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SIZE = (120, 40)


def findings(correlation_id: str) -> OrderingView:
    """payments.events: an aggregate split by a wrong key and an old event re-sent;
    orders.events: clean."""
    tracker = OrderingTracker(max_aggregates=100, tolerance_ms=0)
    tracker.topic_partitions("payments.events", 3, 0.0)
    seen = tracker.observe
    seen("orders.events", 0, 0, b"o-1", "o-1", 1, 1.0, "e0", "OrderPlaced", correlation_id)
    seen("payments.events", 0, 0, b"p-1", "p-1", 1, 1.0, "e1", "PaymentMade", correlation_id)
    seen("payments.events", 2, 0, b"evt-2", "p-1", 2, 2.0, "e2", "PaymentMade", correlation_id)
    seen("payments.events", 0, 1, b"p-1", "p-1", 3, 3.0, "e3", "PaymentMade", correlation_id)
    seen("payments.events", 0, 2, b"p-1", "p-1", 2, 2.0, "e4", "PaymentMade", correlation_id)
    return tracker.view()


def view_with_findings() -> FakeView:
    view = FakeView()
    cid = view.main.summary.correlation_id
    view.snap = dataclasses.replace(make_snapshot(), ordering=findings(cid))
    return view


async def test_the_panel_counts_findings_per_topic_worst_first() -> None:
    app = make_app(view_with_findings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ThroughputScreen))
        table = app.screen.query_one("#tp-ordering", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert table.keys == ["payments.events", "orders.events"]
        row = [plain(table.get_cell("payments.events", c.key)) for c in table.shown_columns]
        # checked, key≠agg, no key, split, out of order, partitions
        assert [cell.strip() for cell in row[1:]] == ["4", "1", "0", "1", "1", "3"]
        assert "1 of 2 topics with findings" in plain(table.border_title or "")


async def test_enter_lists_the_examples_and_c_opens_the_chain() -> None:
    view = view_with_findings()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ThroughputScreen))
        table = app.screen.query_one("#tp-ordering", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OrderingScreen))
        screen = app.screen
        assert plain(screen.query_one("#ordering-box").border_title or "") == (
            "Ordering of payments.events"
        )
        summary = text_of(screen.query_one("#ordering-summary"), width=SIZE[0])
        assert "4 checked" in summary and "1 split aggregates" in summary
        examples = screen.query_one("#ordering-examples", DataTable)
        rows = [[plain(cell) for cell in examples.get_row_at(i)] for i in range(examples.row_count)]
        assert [r[0] for r in rows] == ["key ≠ aggregate", "split", "out of order"]
        assert rows[1][1] == "2/0"  # the topic is in the title
        assert rows[2][4] == "PaymentMade version 2 after version 3"
        # What was wrong, in full, under the table for the row under the cursor.
        await pilot.press("down", "down")
        await pilot.pause()
        what = " ".join(text_of(screen.query_one("#ordering-what", Static), width=200).split())
        assert what.startswith("out of order payments.events/")
        assert what.endswith(" PaymentMade version 2 after version 3")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        chain = app.screen
        assert isinstance(chain, ChainScreen)
        assert chain.correlation_id == view.main.summary.correlation_id


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (160, 50)])
async def test_the_panel_fits_the_terminal(size: tuple[int, int]) -> None:
    app = make_app(view_with_findings())
    async with app.run_test(size=size) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ThroughputScreen))
        table = app.screen.query_one("#tp-ordering", SnapshotTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        used = table.virtual_size.width
        assert 0 < used <= table.scrollable_content_region.width
        assert table.region.height >= 4  # title, header and both rows


async def test_without_ordering_checks_the_panel_is_hidden() -> None:
    app = make_app()  # the fake snapshot has no ordering view (ordering.enabled = false)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ThroughputScreen))
        await pilot.pause()
        assert not app.screen.query_one("#tp-ordering", SnapshotTable).display


def test_a_chain_event_that_occurred_before_its_cause_is_marked() -> None:
    node = FakeView().main.nodes[1]
    assert node.hop_s is not None and node.hop_s > 0
    assert "before its cause" not in node_label(node).plain
    early = dataclasses.replace(node, hop_s=-2.5)
    assert "⇠ 2.5s before its cause" in node_label(early).plain
