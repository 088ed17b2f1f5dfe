"""Live tables under a moving stream, columns that fit the terminal, the help in 80x24."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
from fakes import NOW, FakeView, make_app, make_snapshot, settings
from rich.text import Text
from textual.app import App, ComposeResult

from edamon.ui.screens.help import HelpScreen
from edamon.ui.widgets.snapshot_table import Column, SnapshotTable, fit_cell, plain


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


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


class TableApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = [Column("name", "name"), Column("rate", "rate")]

    def compose(self) -> ComposeResult:
        yield SnapshotTable(self.COLUMNS, id="table")


async def test_a_value_wider_than_its_column_widens_it() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync([("a", ("topic-a", "0/s"))])
        await pilot.pause()
        table.sync([("a", ("topic-a", "12.3k/s"))])
        await pilot.pause()
        assert {c.key: c.width for c in table.shown_columns}["rate"] == len("12.3k/s")


async def test_most_rows_replaced_at_once_keep_the_cursor_on_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync([(f"k{i}", (f"row {i}", "1/s")) for i in range(50)])
        await pilot.pause()
        table.move_cursor(row=10)
        kept = [("k10", ("row 10", "1/s"))]
        fresh = [(f"n{i}", (f"new {i}", "2/s")) for i in range(40)]
        table.sync(fresh[:5] + kept + fresh[5:])
        await pilot.pause()
        assert table.keys == [key for key, _ in fresh[:5] + kept + fresh[5:]]
        assert table.cursor_key == "k10" and table.cursor_row == 5
        assert plain(table.get_cell("n0", "name")) == "new 0"


def test_cells_wider_than_a_fixed_width_are_cut_with_an_ellipsis() -> None:
    assert fit_cell("demo.commands.ChargePayment.DLT", 16, "middle") == "demo…Payment.DLT"
    assert fit_cell("demo.commands.ChargePayment.DLT", 16) == "demo.commands.C…"
    cut = fit_cell(Text("ListenerExecutionFailedException", style="red"), 10)
    assert isinstance(cut, Text) and cut.plain == "ListenerE…" and cut.style == "red"
    assert fit_cell("short", 10) == "short"


def _overflow(table: SnapshotTable) -> int:
    """Cells by which the table's columns exceed its width (0: every column fits)."""
    used = table.virtual_size.width
    return max(0, used - table.scrollable_content_region.width)


@pytest.mark.parametrize("size", [(80, 24), (80, 40), (100, 30), (100, 40), (120, 40), (160, 50)])
@pytest.mark.parametrize("screen", ["1", "2", "4", "5"])
async def test_every_column_fits_the_terminal(size: tuple[int, int], screen: str) -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press(screen)
        await pilot.pause()
        tables = [t for t in app.screen.query(SnapshotTable) if t.display and t.size.width]
        assert tables
        assert {t.id: _overflow(t) for t in tables} == {t.id: 0 for t in tables}


async def test_narrow_overview_shows_fewer_columns_and_a_summary_line() -> None:
    app = make_app(FakeView(make_snapshot()), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        topics = app.screen.query_one("#topics", SnapshotTable)
        assert [c.key for c in topics.shown_columns] == ["topic", "rate", "trend"]
        summary = app.screen.query_one("#summary")
        assert summary.display and "failed handler" in str(summary.render())
        await pilot.resize_terminal(140, 45)
        await pilot.pause()
        assert [c.key for c in topics.shown_columns] == ["topic", "rate", "trend", "last"]
        assert not summary.display


async def test_the_help_fits_80x24_without_scrolling() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        screen: Any = app.screen
        assert isinstance(screen, HelpScreen)
        box = screen.query_one("#help-box")
        assert box.region.x >= 0 and box.region.right <= 80
        assert box.max_scroll_y == 0 and box.max_scroll_x == 0
        keys = {key for _, key, _ in screen.rows}
        assert "↑↓←→" in keys  # cursor moves share one line
