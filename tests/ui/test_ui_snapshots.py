"""SVG snapshots of every main screen at 120x40 and at 80x24 (and of drill-ins), grouped by
screen, from fixed data and a fixed clock (no timers run).

Regenerate with `pytest --snapshot-update tests/ui` (one Python version) and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fakes import FakeView, make_app
from test_ui_ordering import view_with_findings
from test_ui_partial_answers import MISSING, many_dead_letters, with_page_notices
from test_ui_throughput import catching_up
from textual.pilot import Pilot
from uitools import settle

SnapCompare = Callable[..., bool]
WIDE = (120, 40)


async def _settle(pilot: Pilot[Any]) -> None:
    await settle(pilot)


def pressing(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Press `keys`, then wait for what they asked of the service (a chain, an event)."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


SMALL = (80, 24)


class TestOverview:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), terminal_size=WIDE, run_before=_settle)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), terminal_size=SMALL, run_before=_settle)


class TestChains:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("2"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("2"), terminal_size=SMALL)


class TestOneChain:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        # Enter opens the first (most recent) flow: the one with a dead letter and an orphan.
        assert snap_compare(make_app(), run_before=pressing("2", "enter"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("2", "enter"), terminal_size=SMALL)

    def test_event_selected(self, snap_compare: SnapCompare) -> None:
        presses = ["2", "enter", "down", "down", "down", "down"]
        assert snap_compare(make_app(), run_before=pressing(*presses), terminal_size=WIDE)


class TestDeadLetters:
    def test_wide_with_a_mark(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("3", "space"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("3"), terminal_size=SMALL)

    def test_filtered(self, snap_compare: SnapCompare) -> None:
        presses = ("3", "slash", *"Timeout", "enter")
        assert snap_compare(make_app(), run_before=pressing(*presses), terminal_size=WIDE)

    def test_a_partial_page(self, snap_compare: SnapCompare) -> None:
        """A shard group's page without a member's rows: the status line says so."""
        view = FakeView()
        many_dead_letters(view)
        app = make_app(view)
        with_page_notices(app, [MISSING])

        async def run(pilot: Pilot[Any]) -> None:
            await pressing("3")(pilot)
            await app.refresh_now()
            await settle(pilot)

        assert snap_compare(app, run_before=run, terminal_size=WIDE)


class TestSagas:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("4"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("4"), terminal_size=SMALL)


class TestLag:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("5", "down"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("5", "down"), terminal_size=SMALL)


class TestThroughput:
    def test_wide_catching_up(self, snap_compare: SnapCompare) -> None:
        app = make_app(FakeView(catching_up()))
        assert snap_compare(app, run_before=pressing("6"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        app = make_app(FakeView(catching_up()))
        assert snap_compare(app, run_before=pressing("6"), terminal_size=SMALL)


class TestOrdering:
    """The throughput screen's Ordering panel and the findings of one topic (Enter on it)."""

    def test_panel_small_terminal(self, snap_compare: SnapCompare) -> None:
        app = make_app(view_with_findings())
        assert snap_compare(app, run_before=pressing("6"), terminal_size=SMALL)

    def test_findings_wide(self, snap_compare: SnapCompare) -> None:
        app = make_app(view_with_findings())
        presses = ("6", "tab", "tab", "enter", "down", "down")
        assert snap_compare(app, run_before=pressing(*presses), terminal_size=WIDE)

    def test_findings_small_terminal(self, snap_compare: SnapCompare) -> None:
        app = make_app(view_with_findings())
        presses = ("6", "tab", "tab", "enter")
        assert snap_compare(app, run_before=pressing(*presses), terminal_size=SMALL)


class TestUndecodable:
    def test_wide(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("u"), terminal_size=WIDE)

    def test_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=pressing("u"), terminal_size=SMALL)


class TestHelp:
    def test_on_the_dead_letters(self, snap_compare: SnapCompare) -> None:
        presses = ("3", "question_mark")
        assert snap_compare(make_app(), run_before=pressing(*presses), terminal_size=WIDE)
