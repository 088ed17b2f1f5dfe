"""Keys and the help: Home/End (and g/G) on row tables and the causation tree, Enter and Esc
on the lag screen's partitions, the help's headings for every focusable widget."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

from fakes import make_app
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Tree
from uitools import text_of, wait_for

from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.help import HelpScreen, binding_rows
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.snapshot_table import Column, Row, SnapshotTable

SIZE = (120, 40)

# --- Home/End (and g/G) on row tables -----------------------------------------------------------


class RowsApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = [Column("name", "name", 20), Column("n", "n", 6)]

    def compose(self) -> ComposeResult:
        yield SnapshotTable(self.COLUMNS, id="table", max_rows=300)


def _rows(n: int) -> list[tuple[str, Row]]:
    return [(f"k{i}", (f"row k{i}", str(i))) for i in range(n)]


async def test_home_and_end_go_to_the_first_and_last_row_of_a_long_table() -> None:
    app = RowsApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.focus()
        table.sync(_rows(400))
        await pilot.pause()
        assert table.row_count == 300
        for last, first in (("end", "home"), ("G", "g")):
            await pilot.press(last)
            await pilot.pause()
            assert table.cursor_key == "k299" and table.row_count == 300, last
            await pilot.press(first)
            await pilot.pause()
            assert table.cursor_row == 0 and table.cursor_key == "k0", first


async def test_home_and_end_move_through_the_waterfall_and_the_causation_tree() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        await wait_for(pilot, lambda: screen.selected == "e-root")
        first, last = "e-root", screen.query_one("#waterfall", SnapshotTable).keys[-1]
        assert last != first
        tree = screen.query_one("#tree", Tree)
        waterfall = screen.query_one("#waterfall", SnapshotTable)
        for widget in (tree, waterfall):
            widget.focus()
            for key, wanted in (("end", last), ("home", first), ("G", last), ("g", first)):
                await pilot.press(key)
                await _wait_selected(pilot, screen, wanted)
                assert waterfall.cursor_key == wanted, (widget.id, key)
                assert tree.cursor_node is not None and tree.cursor_node.data == wanted


async def _wait_selected(pilot: Pilot[Any], screen: ChainScreen, event_id: str) -> None:
    await wait_for(pilot, lambda: screen.selected == event_id)


def test_g_and_shift_g_clash_with_no_key_of_any_screen() -> None:
    """g/G are the tables' (and the tree's) keys: no screen, modal or the app uses them."""
    import edamon.ui

    found = 0
    for module in pkgutil.walk_packages(edamon.ui.__path__, "edamon.ui."):
        for owner in vars(importlib.import_module(module.name)).values():
            if not isinstance(owner, type) or not issubclass(owner, Screen | App):
                continue
            if not owner.__module__.startswith("edamon."):
                continue
            found += 1
            for binding in owner.BINDINGS:
                keys = binding.key if isinstance(binding, Binding) else binding[0]
                assert not {"g", "G"} & set(keys.split(",")), owner
    assert found >= 10  # the app, every screen and modal


# --- the lag screen's partitions: no Enter; Esc goes up to the groups first --------------------


async def test_lag_partitions_offer_no_enter_and_esc_goes_back_to_the_groups_first() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LagScreen)
        groups = screen.query_one("#lag-groups", SnapshotTable)
        partitions = screen.query_one("#lag-partitions", SnapshotTable)
        assert screen.focused is groups and "enter" in screen.active_bindings
        await pilot.press("enter")  # a group opens its partitions
        assert screen.focused is partitions
        assert "enter" not in screen.active_bindings  # nothing to open: no ⏎ in the footer
        assert not [row for row in binding_rows(screen) if row[1] == "⏎"]
        cursor = partitions.cursor_row
        await pilot.press("enter")  # and Enter does nothing
        assert app.screen is screen and screen.focused is partitions
        assert partitions.cursor_row == cursor
        await pilot.press("escape")  # up to the groups, still on the lag screen
        assert app.screen is screen and screen.focused is groups
        await pilot.press("escape")  # then back
        assert isinstance(app.screen, OverviewScreen)


async def test_esc_on_filtered_partitions_clears_the_filter_first() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "enter", "slash", "x", "enter")
        screen = app.screen
        partitions = screen.query_one("#lag-partitions", SnapshotTable)
        assert screen.focused is partitions and partitions.filter_text == "x"
        await pilot.press("escape")
        assert partitions.filter_text == "" and screen.focused is partitions
        await pilot.press("escape")
        assert screen.focused is screen.query_one("#lag-groups", SnapshotTable)


# --- the help names every widget that can have focus ------------------------------------------


async def test_the_help_names_every_focusable_widget_of_every_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        headings: dict[str, set[str]] = {}
        for keys in (["1"], ["2"], ["2", "enter"], ["3"], ["4"], ["5"], ["u"]):
            await pilot.press(*keys)
            await pilot.pause()
            screen = app.screen
            chain = list(screen.focus_chain)
            assert chain, keys
            for widget in chain:
                widget.focus()
                await pilot.pause()
                sections = {row[0] for row in binding_rows(screen)}
                # the focused widget's own keys are listed under a heading of their own
                assert len(sections - {"This screen", "Everywhere"}) == 1, (keys, widget)
                assert type(widget).__name__ not in sections, (keys, widget)
                headings.setdefault(type(widget).__name__, set()).update(sections)
            await pilot.press("escape", "escape", "1")
        assert "Waterfall" in headings["WaterfallTable"]
        assert "Table" in headings["SnapshotTable"]
        assert "Pane" in headings["VerticalScroll"]


async def test_help_on_the_waterfall_lists_its_keys_under_a_human_heading() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        app.screen.query_one("#waterfall", SnapshotTable).focus()
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = text_of(help_screen.table, width=110)
        assert "WaterfallTable" not in text and "Waterfall" in text
        ends = [row for row in help_screen.rows if row[2] == "First/last"]
        assert ends == [("Waterfall", "home end ^home ^end g G", "First/last")]
