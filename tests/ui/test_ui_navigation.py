"""Navigation: main screens are Textual modes, each with its own stack; number keys, drill-ins
and Esc go where they always went; screens ask the app by typed messages and never reach into
another screen."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest
from fakes import MAIN_CHAIN, make_app
from textual.app import App
from uitools import settle, wait_for

import edamon.ui
from edamon.ui.app import GC_THRESHOLD, EdamonApp
from edamon.ui.messages import FocusTopic, OpenChain, ShowDeadLetters, ShowScreen
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable

SIZE = (120, 40)
SCREENS = Path(edamon.ui.__file__).parent / "screens"
MAIN = {"overview", "chains", "deadletters", "sagas", "lag", "throughput"}


async def test_each_main_screen_is_a_mode_with_its_own_stack() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_mode == "overview"
        await pilot.press("2")
        assert app.current_mode == "chains" and isinstance(app.screen, ChainsScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        assert [type(s) for s in app.screen_stack] == [ChainsScreen, ChainScreen]
        await pilot.press("1")
        assert app.current_mode == "overview" and app.screen_stack == [app.screen]


async def test_esc_goes_back_through_drill_ins_and_main_screens_as_one_history() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "enter")  # the chains, then a chain
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        chain = app.screen
        await pilot.press("3")
        assert isinstance(app.screen, DeadLettersScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is chain)  # the chain left open, as it was
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainsScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("escape")  # the bottom: nothing further back
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_going_to_a_screen_left_earlier_forgets_what_came_after_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "3", "2")  # as down one stack: back to the chains
        assert app.history == ["overview"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_the_app_handles_what_screens_ask_for() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.screen
        overview.post_message(ShowScreen("lag", select="billing"))
        await wait_for(pilot, lambda: isinstance(app.screen, LagScreen))
        overview.post_message(ShowDeadLetters(filter_text="shipping"))
        await wait_for(pilot, lambda: isinstance(app.screen, DeadLettersScreen))
        table = app.screen.query_one(SnapshotTable)
        assert table.filter_text == "shipping"
        app.screen.post_message(FocusTopic("orders.OrderPlaced"))
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert timeline.filter_text == "orders.OrderPlaced"
        app.screen.post_message(OpenChain(MAIN_CHAIN))
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))


def test_no_screen_reaches_into_another_screen() -> None:
    """Screens import no other main screen (helpers, such as a cell's text, are shared), never
    read the app's screens, and ask the app to navigate only by messages."""
    reaching = []
    for path in sorted(SCREENS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("edamon.ui.screens.") and name in MAIN:
                    screens = [a.name for a in node.names if a.name.endswith("Screen")]
                    if screens and name != path.stem:
                        reaching.append(f"{path.name}:{node.lineno} imports {screens}")
            if isinstance(node, ast.Attribute) and node.attr in (
                "main_screens",
                "get_screen",
                "go",
                "go_back",
                "open_chain",
                "focus_topic",
                "screen_stack",
            ):
                owner = ast.unparse(node.value)
                if owner in ("self.edamon", "self.app", "app"):
                    reaching.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
    assert reaching == []


async def test_a_screen_switch_draws_without_textuals_50_ms_repaint_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Textual's switch_mode holds every repaint for 50 ms (App.delay_update); the number keys
    and Esc switch inside batch_update instead and skip that hold. Textual's own switch (and
    the command palette) keep it."""
    holds: list[float] = []
    hold = App.delay_update

    def record(self: App[object], delay: float = 0.05) -> None:
        holds.append(delay)
        hold(self, delay)

    monkeypatch.setattr(App, "delay_update", record)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        holds.clear()
        await pilot.press("2", "3", "escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        assert holds == []
        app.switch_mode("lag")
        assert holds == [0.05]


async def test_the_dashboard_process_freezes_its_startup_heap_out_of_the_gc() -> None:
    """`edamon` runs the dashboard with tune_gc: once the screens are composed, what is alive
    is frozen and generation 0 is larger (full collections took 72 ms every 1.6 s)."""
    before = gc.get_threshold()
    app = make_app()
    app_tuned = make_app()
    try:
        async with app.run_test(size=SIZE):
            assert gc.get_threshold() == before and gc.get_freeze_count() == 0
        app_tuned = EdamonApp(app_tuned.source, app_tuned.settings, refresh=False, tune_gc=True)
        async with app_tuned.run_test(size=SIZE):
            assert gc.get_threshold() == GC_THRESHOLD
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
