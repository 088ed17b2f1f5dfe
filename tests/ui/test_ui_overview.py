"""The overview: the live events follow the newest and their times stay current (also
paused), `c` and focus, the failed handlers' drill and widths, absolute times in the topics
panel, the palette's topic jump."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from fake_chain import DLQ_COORDS
from fakes import NOW, FakeView, make_app, make_snapshot, settings
from rich.text import Text
from uitools import palette_run, wait_for

from edamon.model.snapshot import DeadLetterGroup, Snapshot
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.rates import RateBar
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SIZE = (120, 40)


def local_time_of_day(t: float, *, millis: bool = False) -> str:
    """The absolute time a cell should show, computed here with datetime (not with the
    dashboard's own formatter): `10:00:01`, or `10:00:01.123` rounded to the millisecond."""
    if not millis:
        return datetime.fromtimestamp(t).strftime("%H:%M:%S")
    moment = datetime.fromtimestamp(round(t, 3))
    return f"{moment:%H:%M:%S}.{round(moment.microsecond / 1000):03d}"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def with_newer_events(snap: Snapshot, count: int, at: float) -> Snapshot:
    """`snap` with `count` new events at the head of its timeline, at time `at`."""
    head = snap.timeline[0]
    fresh = tuple(
        dataclasses.replace(head, coords=f"orders.OrderPlaced/0/{90_000 + i}", time=at)
        for i in range(count)
    )
    return dataclasses.replace(snap, timeline=(*reversed(fresh), *snap.timeline))


def overview(app: EdamonApp) -> OverviewScreen:
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    return screen


def cells(table: SnapshotTable, key: str) -> list[str]:
    """The plain text of one column, in display order."""
    return [plain(table.get_cell(row, key)) for row in table.keys]


def shows_chain_key(app: EdamonApp) -> bool:
    """Whether the footer (and the help) show `c` (the bindings checked by check_action)."""
    active = app.screen.active_bindings.values()
    return any(a.binding.action == "chain" and a.enabled for a in active)


async def test_a_paused_timeline_keeps_its_rows_but_their_times_move() -> None:
    view, clock = FakeView(), Clock()
    app = make_app(view, settings(), clock=clock, refresh=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        timeline = overview(app).query_one("#timeline", SnapshotTable)
        await pilot.press("p")
        rows = timeline.keys
        first = rows[0]
        assert plain(timeline.get_cell(first, "time")) == "now"

        clock.now += 12  # new events arrive while paused: the rows stay, their times age
        view.snap = with_newer_events(view.snap, 5, clock.now)
        await app.refresh_now()
        await pilot.pause()
        assert timeline.keys == rows
        assert plain(timeline.get_cell(first, "time")) == "12s ago"
        assert "PAUSED" in str(timeline.border_title)

        await pilot.press("t")  # absolute times, still paused
        await pilot.pause()
        assert timeline.keys == rows
        event = view.snap.timeline[5]  # the newest event when paused
        assert event.coords == first
        assert plain(timeline.get_cell(first, "time")) == local_time_of_day(event.time, millis=True)

        await pilot.press("p")  # resumed: the newer events come in
        await pilot.pause()
        assert timeline.keys[0] == "orders.OrderPlaced/0/90004"
        assert "PAUSED" not in str(timeline.border_title)


async def test_chain_key_acts_on_the_live_events_only() -> None:
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:  # wide enough for the sagas panel
        await pilot.pause()
        screen = overview(app)
        timeline = screen.query_one("#timeline", SnapshotTable)
        assert screen.focused is timeline and shows_chain_key(app)

        assert only_the_focused_panel_is_marked(screen)
        await pilot.press("tab")  # the topics panel: no flow under its cursor
        assert screen.focused is screen.query_one("#topics", SnapshotTable)
        await pilot.pause()
        assert not shows_chain_key(app) and only_the_focused_panel_is_marked(screen)
        await pilot.press("c")
        await pilot.pause()
        assert app.screen is screen  # not the chain of the (hidden) timeline cursor

        for name in ("groups", "failed", "sagas"):
            await pilot.press("tab")
            assert screen.focused is screen.query_one(f"#{name}", SnapshotTable)
            await pilot.press("c")
            await pilot.pause()
            assert app.screen is screen and not shows_chain_key(app)
            assert only_the_focused_panel_is_marked(screen)

        await pilot.press("tab", "down")  # back on the live events
        assert screen.focused is timeline and shows_chain_key(app)
        key = timeline.cursor_key
        snap = app.last_snapshot
        assert snap is not None
        event = next(e for e in snap.timeline if e.coords == key)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        chain = app.screen
        assert isinstance(chain, ChainScreen) and chain.correlation_id == event.correlation_id


def only_the_focused_panel_is_marked(screen: OverviewScreen) -> bool:
    """The focused panel (the one `c` and Enter act on) has the accent border and title
    colour; the other panels have neither."""
    focused = screen.focused
    assert isinstance(focused, SnapshotTable)
    marked = (focused.styles.border_top, focused.styles.border_title_color)
    panels = [table for table in screen.query(SnapshotTable) if table.display]
    return all(
        ((t.styles.border_top, t.styles.border_title_color) == marked) == (t is focused)
        for t in panels
    )


def with_look_alike_dead_letters(snap: Snapshot) -> Snapshot:
    """`snap` plus dead letters with the same exception as the first failed handler
    (shipping.ShipmentScheduled, group shipping, TimeoutException) from another source topic
    and from another consumer group."""
    first = next(r for r in snap.dead_letters if r.coords == DLQ_COORDS)
    others = (
        dataclasses.replace(
            first,
            coords="billing.InvoiceIssued.DLT/0/3",
            dlq_topic="billing.InvoiceIssued.DLT",
            original_topic="billing.InvoiceIssued",
            consumer_group="billing",
        ),
        dataclasses.replace(
            first, coords="shipping.ShipmentScheduled.DLT/0/30", consumer_group="audit"
        ),
    )
    groups = (
        *snap.dead_letter_groups,
        DeadLetterGroup("billing.InvoiceIssued", "billing", first.exception_class, 1, NOW, None),
        DeadLetterGroup(first.original_topic, "audit", first.exception_class, 1, NOW, None),
    )
    return dataclasses.replace(
        snap, dead_letters=(*snap.dead_letters, *others), dead_letter_groups=groups
    )


async def test_a_failed_handler_opens_exactly_its_dead_letters() -> None:
    view = FakeView(with_look_alike_dead_letters(make_snapshot()))
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        failed = overview(app).query_one("#failed", SnapshotTable)
        failed.focus()
        key = "shipping.ShipmentScheduled|shipping|java.util.concurrent.TimeoutException"
        assert failed.select_key(key)
        await pilot.press("enter")
        screen = app.main_screens["deadletters"]
        await wait_for(pilot, lambda: app.screen is screen and screen.ready)
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        # The group's two rows (DLQ_COORDS and the third one), not the look-alikes.
        assert set(table.all_keys) == {DLQ_COORDS, "shipping.ShipmentScheduled.DLT/0/15"}
        title = Text.from_markup(str(table.border_title)).plain
        assert "failed handler shipping.ShipmentScheduled · shipping · TimeoutException" in title
        assert table.filter_text == ""  # not a text filter: exact
        await pilot.press("escape")  # all dead letters again, still on the screen
        assert app.screen is screen and len(table.all_keys) == len(view.snap.dead_letters)


async def test_absolute_times_fit_the_topics_last_column() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        topics = overview(app).query_one("#topics", SnapshotTable)
        snap = app.last_snapshot
        assert snap is not None
        seen = {t.topic: t.last_seen for t in snap.throughput.topics}
        expected = [local_time_of_day(seen[key] or 0) for key in topics.keys]
        assert expected and cells(topics, "last") == expected


def with_long_names(snap: Snapshot) -> Snapshot:
    """`snap` whose failed handlers have a consumer group wider than the group column."""
    groups = tuple(
        dataclasses.replace(g, consumer_group="shipping-service-consumers")
        for g in snap.dead_letter_groups
    )
    return dataclasses.replace(snap, dead_letter_groups=groups)


async def test_a_wide_failed_handlers_panel_shows_group_and_exception_in_full() -> None:
    view = FakeView(with_long_names(make_snapshot()))
    app = make_app(view)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await app.refresh_now()  # laid out: the panel's width is known
        await pilot.pause()
        failed = overview(app).query_one("#failed", SnapshotTable)
        groups = sorted(view.snap.dead_letter_groups, key=lambda g: -g.last_seen)
        assert cells(failed, "group") == ["shipping-service-consumers"] * len(groups)
        exceptions = [(g.exception_class or "?").rsplit(".", 1)[-1] for g in groups]
        assert cells(failed, "exception") == exceptions
        assert cells(failed, "topic") == [g.original_topic for g in groups]

        await pilot.resize_terminal(100, 40)  # no room for all: the names share what there is
        await pilot.pause()
        await app.refresh_now()
        await pilot.pause()
        widths = {c.key: c.width or 0 for c in failed.shown_columns}
        needs = {"topic": max(len(g.original_topic or "?") for g in groups), "group": 26}
        needs["exception"] = max(len(e) for e in exceptions)
        cut = {key: widths[key] for key in needs if widths[key] < needs[key]}
        assert cut and max(cut.values()) - min(cut.values()) <= 1  # cut alike, none a stub
        # A name shown whole needs no more than the cut ones were given.
        assert all(needs[key] <= max(cut.values()) for key in needs.keys() - cut.keys())
        assert widths["count"] == len("count") and widths["last"] == len("last seen")


async def test_the_palettes_topic_jump_focuses_the_filtered_live_events() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = overview(app)
        await pilot.press("tab")  # focus on the topics panel
        assert screen.focused is screen.query_one("#topics", SnapshotTable)
        await palette_run(pilot, "topic inventory.StockReserved", "topic inventory.StockReserved")
        timeline = screen.query_one("#timeline", SnapshotTable)
        await wait_for(pilot, lambda: app.screen is screen and screen.focused is timeline)
        assert timeline.filter_text == "inventory.StockReserved"
        await pilot.press("escape")  # clears the filter of the focused live events
        assert timeline.filter_text == "" and app.screen is screen
        await pilot.press("enter")  # and Enter opens the chain of the event under its cursor
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))


async def test_rates_and_last_seen_are_by_arrival() -> None:
    """Live rates whatever timestamps producers set (MirrorMaker and Kafka Connect's DLQ keep
    the source's): the overview counts records when they arrived. (History read while
    catching up arrives "when it was written": the collector counts it so.)"""
    snap = make_snapshot()
    first = snap.throughput.topics[0]
    old_stamps = dataclasses.replace(first.by_timestamp, rate=0.0)
    live = dataclasses.replace(first.by_arrival, rate=100.0)
    topic = dataclasses.replace(
        first, by_timestamp=old_stamps, by_arrival=live, last_seen=NOW - 1, last_record=NOW - 600
    )
    throughput = dataclasses.replace(
        snap.throughput,
        topics=(topic, *snap.throughput.topics[1:]),
        events=dataclasses.replace(snap.throughput.events, rate=100.0),
        events_by_timestamp=dataclasses.replace(snap.throughput.events, rate=0.0),
    )
    app = make_app(FakeView(dataclasses.replace(snap, throughput=throughput)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        topics = overview(app).query_one("#topics", SnapshotTable)
        assert plain(topics.get_cell(first.topic, "rate")).strip() == "100.0/s"
        assert plain(topics.get_cell(first.topic, "last")).strip() == "1s ago"
        assert "events 100.0/s" in overview(app).query_one(RateBar).line_text(0)


def newer_events(view: FakeView, count: int, at: float) -> None:
    """`count` new events at the head of the timeline, at time `at`."""
    snap = view.snap
    head = snap.timeline[0]
    fresh = tuple(
        dataclasses.replace(head, coords=f"orders.OrderPlaced/0/{90_000 + i}", time=at)
        for i in range(count)
    )
    view.snap = dataclasses.replace(snap, timeline=(*reversed(fresh), *snap.timeline))


async def test_the_timeline_follows_new_events_and_its_times_stay_current() -> None:
    view, clock = FakeView(), Clock()
    app = make_app(view, settings(), clock=clock, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert timeline.cursor_row == 0
        for step in range(1, 4):  # events keep arriving while the operator watches
            clock.now += 1
            newer_events(view, 5, clock.now)
            await app.refresh_now()
            await pilot.pause()
            newest = f"orders.OrderPlaced/0/{90_000 + 4}"
            assert timeline.keys[0] == newest
            assert timeline.cursor_row == 0 and timeline.cursor_key == newest
            assert timeline.scroll_y == 0
            assert plain(timeline.get_cell(newest, "time")) == "now"
            del step
        clock.now += 12  # nothing new: the shown times age with the clock
        await app.refresh_now()
        assert plain(timeline.get_cell(timeline.keys[0], "time")) == "12s ago"

        await pilot.press("down")  # a chosen row sticks to its event
        chosen = timeline.cursor_key
        newer_events(view, 3, clock.now)
        await app.refresh_now()
        await pilot.pause()
        assert timeline.cursor_key == chosen and timeline.cursor_row > 1
