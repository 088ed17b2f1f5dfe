"""The throughput screen (`6`): rates by record time per topic and event type, schema versions,
drill-down to the live events, and its snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from fakes import NOW, FakeView, make_app, make_snapshot
from textual.pilot import Pilot
from uitools import palette_run, text_of, wait_for

from edamon.model.snapshot import CatchUpView, RateSeries, Snapshot
from edamon.ui.app import EdamonApp
from edamon.ui.format import ago, spark
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.screens.throughput import (
    TOPIC_SPEC,
    ThroughputScreen,
    layout,
    version_shares,
    versions_text,
    window_text,
)
from edamon.ui.widgets.bars import Line, NavBar
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SnapCompare = Callable[..., bool]
SIZE = (120, 40)


def column(table: SnapshotTable, key: str) -> list[str]:
    """The plain text of one column, in display order."""
    return [plain(table.get_cell(row, key)) for row in table.keys]


def skewed(total: int, rate: float) -> RateSeries:
    """A series that rises steadily to its end (unlike the fake snapshot's waves)."""
    return RateSeries(total=total, rate=rate, history=tuple(range(60)))


def catching_up() -> Snapshot:
    """The fake snapshot while edamon catches up: what it reads (by arrival) differs from what
    was written (by record time), in rates, order, totals and last times."""
    snap = make_snapshot()
    tp = snap.throughput
    topics = []
    for topic in tp.topics:
        if topic.topic == "shipping.ShipmentScheduled":  # the slowest read, the busiest written
            topic = dataclasses.replace(
                topic, by_timestamp=skewed(99_000, 42.0), last_record=NOW - 95
            )
        elif topic.topic == "payments.PaymentAuthorized":  # the same written rate as orders
            topic = dataclasses.replace(
                topic, by_timestamp=dataclasses.replace(topic.by_timestamp, rate=12.4)
            )
        topics.append(dataclasses.replace(topic, by_arrival=skewed(5, 250.0 + len(topics))))
    kinds = []
    for kind in tp.event_types:
        if kind.event_type == "StockReserved":
            kind = dataclasses.replace(
                kind,
                by_timestamp=skewed(7_000, 0.2),
                versions=((None, 1), (1, 199), (2, 800)),
            )
        kinds.append(dataclasses.replace(kind, series=skewed(3, 300.0)))
    throughput = dataclasses.replace(
        tp,
        topics=tuple(topics),
        event_types=tuple(kinds),
        events=skewed(1, 999.0),
        events_by_timestamp=skewed(183_402, 61.5),
        dead_letters_by_timestamp=skewed(212, 0.7),
    )
    catchup = CatchUpView(caught_up=False, records_behind=12_000, percent=87.0)
    return dataclasses.replace(snap, throughput=throughput, catchup=catchup)


async def show(pilot: Pilot[Any], app: EdamonApp) -> ThroughputScreen:
    await pilot.press("6")
    screen = app.screen
    assert isinstance(screen, ThroughputScreen)
    await wait_for(pilot, lambda: screen.drawn is not None)
    return screen


# --- pure helpers ------------------------------------------------------------------------


def test_version_shares_in_percent_with_unversioned_and_tiny_shares() -> None:
    assert version_shares(((1, 3), (2, 9))) == [("v1", "25%"), ("v2", "75%")]
    assert version_shares(((None, 1), (1, 199), (2, 800))) == [
        ("unversioned", "<1%"),
        ("v1", "20%"),
        ("v2", "80%"),
    ]
    assert version_shares(((3, 5),)) == [("v3", "100%")]
    assert version_shares(((1, 1), (2, 999))) == [("v1", "<1%"), ("v2", ">99%")]
    assert version_shares(((1, 0), (2, 4))) == [("v2", "100%")]
    assert versions_text(((1, 1), (2, 3))).plain == "v1 25% · v2 75%"
    assert versions_text(()).plain == "–"


def test_window_text() -> None:
    assert [window_text(s) for s in (300, 90, 3600, 45)] == ["5m", "90s", "1h", "45s"]


@pytest.mark.parametrize("room", [60, 77, 117, 157])
def test_layout_fills_the_room_and_keeps_the_trend(room: int) -> None:
    keys = ("topic", "kind", "rate", "trend", "read", "written")
    columns = layout(TOPIC_SPEC, keys, room, {"topic": 30}, narrow=True)
    assert [c.key for c in columns] == list(keys)
    widths = {c.key: c.width or 0 for c in columns}
    assert sum(w + 2 for w in widths.values()) == room
    assert widths["trend"] >= 10
    assert widths["topic"] == min(30, room - 2 * len(keys) - (3 + 7 + 7 + 8) - 10)


# --- the screen ----------------------------------------------------------------------------


async def test_topics_show_rates_by_record_time_and_read_rates_aside() -> None:
    snap = catching_up()
    app = make_app(FakeView(snap))
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        topics = screen.query_one("#tp-topics", SnapshotTable)
        # By record time, busiest first; equal rates by name; by arrival it would be reversed.
        assert topics.keys == [
            "shipping.ShipmentScheduled",
            "orders.OrderPlaced",
            "payments.PaymentAuthorized",
            "inventory.StockReserved",
            "notifications.CustomerNotified",
            "shipping.ShipmentScheduled.DLT",
        ]
        by_name = {t.topic: t for t in snap.throughput.topics}
        rates = dict(zip(topics.keys, column(topics, "rate"), strict=True))
        assert rates["shipping.ShipmentScheduled"] == "42.0/s"
        assert rates["inventory.StockReserved"] == "11.8/s"
        reads = dict(zip(topics.keys, column(topics, "read"), strict=True))
        assert reads["shipping.ShipmentScheduled"] == "253.0/s"  # by arrival
        totals = dict(zip(topics.keys, column(topics, "total"), strict=True))
        assert totals["shipping.ShipmentScheduled"] == "99,000"
        written = dict(zip(topics.keys, column(topics, "written"), strict=True))
        assert written["shipping.ShipmentScheduled"] == ago(NOW - 95, NOW)  # not last_seen
        width = next(c.width for c in topics.shown_columns if c.key == "trend")
        assert width is not None and width > 20
        trends = dict(zip(topics.keys, column(topics, "trend"), strict=True))
        assert trends["shipping.ShipmentScheduled"] == spark(tuple(range(60)), width)
        dlq = by_name["shipping.ShipmentScheduled.DLT"]
        assert trends[dlq.topic] == spark(dlq.by_timestamp.history, width)
        kinds = dict(zip(topics.keys, column(topics, "kind"), strict=True))
        assert {name for name, kind in kinds.items() if kind == "DLQ"} == {dlq.topic}
        parts = dict(zip(topics.keys, column(topics, "partitions"), strict=True))
        assert parts["notifications.CustomerNotified"] == "1"
        head = text_of(screen.query_one("#tp-head", Line), width=118)
        assert "events 61.5/s total 183,402" in head  # by record time, not the 999/s read
        assert "dead letters 0.7/s total 212" in head
        assert "catching up 87%, 12,000 to go" in head


async def test_event_types_by_record_time_with_schema_version_shares() -> None:
    app = make_app(FakeView(catching_up()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        types = screen.query_one("#tp-types", SnapshotTable)
        assert types.keys == [
            "OrderPlaced",
            "CustomerNotified",
            "PaymentAuthorized",
            "ShipmentScheduled",
            "StockReserved",  # 0.2/s by record time, though read at 300/s like the others
        ]
        cells = {
            key: dict(zip(("rate", "read", "total", "versions"), values, strict=True))
            for key, *values in zip(
                types.keys,
                column(types, "rate"),
                column(types, "read"),
                column(types, "total"),
                column(types, "versions"),
                strict=True,
            )
        }
        assert cells["StockReserved"] == {
            "rate": "0.2/s",
            "read": "300.0/s",
            "total": "7,000",
            "versions": "unversioned <1% · v1 20% · v2 80%",
        }
        assert cells["OrderPlaced"]["versions"] == "v1 25% · v2 75%"
        assert cells["ShipmentScheduled"]["versions"] == "v2 100%"


async def test_enter_on_a_topic_shows_its_live_events() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        topics = screen.query_one("#tp-topics", SnapshotTable)
        assert topics.select_key("inventory.StockReserved")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert app.screen.focused is timeline
        assert timeline.filter_text == "inventory.StockReserved"
        assert set(column(timeline, "topic")) == {"inventory.StockReserved"}


async def test_enter_on_a_dead_letter_topic_lists_its_dead_letters() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        topics = screen.query_one("#tp-topics", SnapshotTable)
        assert topics.select_key("shipping.ShipmentScheduled.DLT")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
        dead = app.screen.query_one(SnapshotTable)
        assert dead.filter_text == "shipping.ShipmentScheduled.DLT" and dead.row_count == 4


async def test_enter_on_an_event_type_shows_its_live_events() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        await pilot.press("tab")  # to the event types
        types = screen.query_one("#tp-types", SnapshotTable)
        assert screen.focused is types
        assert types.select_key("PaymentAuthorized")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert timeline.filter_text == "PaymentAuthorized"
        assert timeline.row_count > 0
        assert set(column(timeline, "type")) == {"PaymentAuthorized"}


async def test_filter_narrows_the_focused_table() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await show(pilot, app)
        topics = screen.query_one("#tp-topics", SnapshotTable)
        await pilot.press("slash", *"shipping")
        await wait_for(pilot, lambda: topics.row_count == 2)
        assert set(topics.keys) == {"shipping.ShipmentScheduled", "shipping.ShipmentScheduled.DLT"}
        await pilot.press("enter", "escape")
        assert topics.row_count == 6 and app.screen is screen


@pytest.mark.parametrize("start", [[], ["2"], ["3"], ["4"], ["5"], ["2", "enter"]])
async def test_six_shows_throughput_from_every_screen(start: list[str]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*start)
        if start[-1:] == ["enter"]:
            await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        await pilot.press("6")
        assert app.screen is app.main_screens["throughput"]
        nav = app.screen.query_one(NavBar)
        assert " 6 Throughput " in text_of(nav, width=120)


async def test_the_palette_offers_the_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await palette_run(pilot, "screen throughput", "screen Throughput")
        await wait_for(pilot, lambda: isinstance(app.screen, ThroughputScreen))


async def test_narrow_terminal_keeps_names_rates_and_versions() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await show(pilot, app)
        topics = screen.query_one("#tp-topics", SnapshotTable)
        types = screen.query_one("#tp-types", SnapshotTable)
        keys = [c.key for c in topics.shown_columns]
        assert keys == ["topic", "kind", "rate", "trend", "read", "written"]
        assert [c.key for c in types.shown_columns] == ["type", "rate", "trend", "versions"]
        assert column(topics, "topic") == topics.keys  # every name in full
        assert "v1 25% · v2 75%" in column(types, "versions")
        for table in (topics, types):
            used = table.virtual_size.width
            assert used <= table.scrollable_content_region.width
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        assert "total" in [c.key for c in topics.shown_columns]
        width = next(c.width for c in topics.shown_columns if c.key == "trend")
        assert width is not None
        assert {len(cell) for cell in column(topics, "trend")} == {width}


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (119, 40), (120, 40), (160, 50)])
async def test_every_column_fits_the_terminal(size: tuple[int, int]) -> None:
    app = make_app(FakeView(catching_up()))
    async with app.run_test(size=size) as pilot:
        screen = await show(pilot, app)
        for table in screen.query(SnapshotTable):
            if not table.display:  # the ordering panel, without ordering checks
                continue
            used = table.virtual_size.width
            assert 0 < used <= table.scrollable_content_region.width, table.id
            trend = next(c.width for c in table.shown_columns if c.key == "trend")
            assert trend is not None and trend >= 10
