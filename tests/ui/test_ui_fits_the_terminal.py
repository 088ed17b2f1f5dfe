"""Every screen fits the terminal: columns at every size, fewer of them and a summary line on a
narrow overview, the help in 80x24 without scrolling."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import NOW, FakeView, make_app, make_snapshot, settings
from test_ui_ordering import view_with_findings
from textual.geometry import Region

from edamon.ui.screens.help import HelpScreen
from edamon.ui.widgets.bars import FilterBar, KeyBar, StatusLine
from edamon.ui.widgets.snapshot_table import SnapshotTable


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
        await pilot.resize_terminal(160, 45)
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


@pytest.mark.parametrize("screen", ["1", "2", "3", "4", "5", "6"])
async def test_the_status_line_and_the_filter_stay_on_screen_at_80x24(screen: str) -> None:
    """However tall a screen's body (the throughput screen's three tables), the status line
    sits above the keys, and the `/` filter above the status line."""
    app = make_app(view_with_findings(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(screen)
        await pilot.pause()
        shown = app.screen
        assert shown.query_one(StatusLine).region == Region(0, 22, 80, 1)
        assert shown.query_one(KeyBar).region == Region(0, 23, 80, 1)
        assert shown.max_scroll_y == 0  # nothing pushed below the terminal
        await pilot.press("slash")
        await pilot.pause()
        assert shown.query_one(FilterBar).region == Region(0, 21, 80, 1)
        assert shown.query_one(StatusLine).region == Region(0, 22, 80, 1)
