"""SnapshotTable: a table on Textual's Line API that draws only the rows in view, from a row
source; keys, mouse, cursor, filter and strip cache. Also the footer that is rebuilt only when
its keys change, and what a screen switch draws from memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import pytest
from fakes import MAIN_CHAIN, NOW, FakeView, make_app, make_snapshot, settings
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.geometry import Region
from uitools import wait_for

from edamon.ui.app import EdamonApp
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.bars import KeyBar
from edamon.ui.widgets.snapshot_table import (
    Column,
    ListRows,
    Row,
    RowSource,
    SnapshotTable,
    fit_cell,
    plain,
)

COLUMNS = [Column("name", "name", 20), Column("n", Text("n", justify="right"), 6)]


class TableApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = COLUMNS

    def compose(self) -> ComposeResult:
        yield SnapshotTable(self.COLUMNS, id="table", title="Rows")


def _rows(n: int, prefix: str = "k") -> list[tuple[str, Row]]:
    return [(f"{prefix}{i}", (f"row {prefix}{i}", str(i))) for i in range(n)]


def screen_text(table: SnapshotTable) -> list[str]:
    """The table's lines as drawn (inside its border)."""
    width, height = table.size
    return [strip.text for strip in table.render_lines(Region(0, 0, width, height))]


class CountingRows:
    """A row source of `n` rows that counts the rows it is asked for and the queries."""

    def __init__(self, n: int, prefix: str = "k") -> None:
        self.n = n
        self.prefix = prefix
        self.asked = 0
        self.queries: list[str] = []

    def __len__(self) -> int:
        return self.n

    def rows(self, start: int, stop: int) -> Sequence[tuple[str, Row | None]]:
        stop = min(stop, self.n)
        self.asked += max(0, stop - start)
        return [(f"{self.prefix}{i}", (f"row {i}", str(i))) for i in range(start, stop)]

    def index(self, key: str) -> int | None:
        number = key.removeprefix(self.prefix)
        return int(number) if number.isdigit() and int(number) < self.n else None

    def keys(self) -> list[str]:
        return []

    def query(self, text: str) -> RowSource:
        self.queries.append(text)
        if not text:
            return self
        wanted = [i for i in range(self.n) if text in f"row {i}"]
        return ListRows.of_pairs([(f"{self.prefix}{i}", (f"row {i}", str(i))) for i in wanted])


# --- drawing only what is visible ------------------------------------------------------------


async def test_a_redraw_asks_for_the_rows_in_view_whatever_the_number_of_rows() -> None:
    asked = {}
    for n in (1_000, 1_000_000):
        app = TableApp()
        async with app.run_test(size=(60, 22)) as pilot:
            table = app.query_one(SnapshotTable)
            source = CountingRows(n)
            table.sync(source)
            await pilot.pause()
            source.asked = 0
            table.refresh()
            await pilot.pause()
            asked[n] = source.asked
            lines = screen_text(table)
            assert "row 0" in lines[1] and f"row {table.page_height() - 1}" in lines[-1]
    page = 22 - 1  # the terminal, less the header
    assert asked[1_000] == asked[1_000_000]
    assert 0 < asked[1_000_000] <= 2 * page  # the rows drawn (and the cursor's), not all


async def test_rows_are_drawn_aligned_and_cut_to_their_columns() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(SnapshotTable)
        right = Text("7", justify="right")
        table.sync([("a", ("a name much longer than twenty", right)), ("b", ("short", "1234"))])
        await pilot.pause()
        lines = screen_text(table)
        assert lines[0].startswith(" " + "name".ljust(20) + "  " + "n".rjust(6) + " ")
        assert lines[1].startswith(" a name much longer … " + " " + "7".rjust(6) + " ")
        assert lines[2].startswith(" " + "short".ljust(20) + "  " + "1234".ljust(6) + " ")


async def test_the_cursor_on_the_first_row_follows_the_newest_elsewhere_keeps_its_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        rows = _rows(300)
        table.sync(rows)
        await pilot.pause()
        assert table.cursor_key == "k0"
        newer = _rows(5, prefix="n")
        table.sync(newer + rows)
        assert table.cursor_key == "n0"  # on the first row: follows the newest
        assert table.select_key("k60")
        table.sync(_rows(50, prefix="m") + newer + rows)
        assert table.cursor_key == "k60" and table.cursor_row == 115  # stays on its row
        table.sync([row for row in rows if row[0] != "k60"])
        assert table.cursor_row == 115 and table.cursor_key == "k116"  # gone: same place


async def test_a_table_that_does_not_follow_keeps_its_first_row() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.follow_head = False
        table.sync(_rows(10))
        await pilot.pause()
        table.sync(_rows(3, prefix="n") + _rows(10))
        assert table.cursor_key == "k0" and table.cursor_row == 3


async def test_keys_move_the_cursor_home_end_g_and_capital_g() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.focus()
        table.sync(_rows(300))
        await pilot.press("down", "down")
        assert table.cursor_key == "k2"
        await pilot.press("end")
        assert table.cursor_key == "k299"
        assert table.scroll_y == table.max_scroll_y  # the last row is in view
        assert "row k299" in screen_text(table)[-1]
        await pilot.press("home")
        assert table.cursor_key == "k0" and table.scroll_y == 0
        await pilot.press("G")
        assert table.cursor_key == "k299"
        await pilot.press("g")
        assert table.cursor_key == "k0"
        await pilot.press("pagedown")
        assert table.cursor_row == table.page_height()


async def test_enter_and_a_click_on_the_cursor_row_open_it() -> None:
    opened: list[str] = []

    class Opening(TableApp):
        def on_snapshot_table_row_selected(self, event: SnapshotTable.RowSelected) -> None:
            opened.append(event.row_key)

    app = Opening()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.focus()
        table.sync(_rows(30))
        await pilot.pause()
        await pilot.click(SnapshotTable, offset=(3, 3))  # the header, rows 0..2
        assert table.cursor_key == "k2" and opened == []
        await pilot.click(SnapshotTable, offset=(3, 3))
        await pilot.press("down", "enter")
        await pilot.pause()
        assert opened == ["k2", "k3"]


async def test_the_mouse_wheel_scrolls_the_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync(_rows(300))
        await pilot.pause()
        for _ in range(3):
            table.post_message(events.MouseScrollDown(table, 5, 5, 0, 0, 0, False, False, False))
        await wait_for(pilot, lambda: table.scroll_y > 0)
        top = round(table.scroll_y)
        assert f"row k{top} " in screen_text(table)[1]


async def test_a_filter_is_a_query_on_the_source() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        source = CountingRows(1_000)
        table.sync(source)
        table.set_filter("row 27")
        await pilot.pause()
        assert source.queries[-1] == "row 27"
        assert table.keys == ["k27", *(f"k27{i}" for i in range(10))]
        assert "/row 27" in str(table.border_title)
        table.set_filter("")
        assert table.row_count == 1_000


async def test_list_rows_build_cells_only_for_the_rows_drawn_and_filters_search_all() -> None:
    built: list[int] = []

    def cells(i: int) -> Row:
        built.append(i)
        return (f"row {i}", str(i))

    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync(ListRows(range(3000), key=lambda i: f"k{i}", cells=cells))
        await pilot.pause()
        assert set(built) <= set(range(2 * table.page_height()))
        built.clear()
        table.set_filter("row 2999")  # a filter reads every row
        assert set(built) == set(range(3000))
        assert table.keys == ["k2999"]


async def test_max_rows_cuts_what_is_shown_not_what_is_searched() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.max_rows = 100
        table.sync(_rows(300))
        await pilot.pause()
        assert table.row_count == 100
        table.set_filter("row k29")
        assert table.keys == ["k29", "k290", "k291", "k292", "k293", "k294", "k295",
                              "k296", "k297", "k298", "k299"]  # fmt: skip


async def test_a_changed_row_is_drawn_again_an_unchanged_one_from_the_cache() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        same = (Text("kept"), "1")
        table.sync([("a", same), ("b", ("before", "2"))])
        await pilot.pause()
        first = table.render_line(1)
        table.sync([("a", same), ("b", ("after", "2"))])
        assert table.render_line(1) is first  # the cached strip: same key, same cells
        assert "after" in table.render_line(2).text
        table.sync([("a", (Text("kept", style="red"), "1")), ("b", ("after", "2"))])
        assert table.render_line(1) is not first  # a new colour is a change


class AlarmApp(TableApp):
    CSS = ".-alarm SnapshotTable { background: red; }"


@pytest.mark.parametrize("change", ["theme", "class"])
async def test_cached_rows_are_drawn_again_when_their_colours_change(change: str) -> None:
    # Textual tells a widget of every restyle, changed or not: the cached rows are kept only
    # while the colours they were drawn with stay the same.
    app = AlarmApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync(_rows(3))
        await pilot.pause()
        before = table.render_line(2)
        if change == "theme":
            app.theme = "textual-light"
        else:
            app.screen.add_class("-alarm")
        await pilot.pause()
        after = table.render_line(2)
        assert after.text == before.text and list(after) != list(before)
        if change == "class":
            backgrounds = {s.style.bgcolor.name for s in after if s.style and s.style.bgcolor}
            assert backgrounds == {"#ff0000"}


async def test_column_layouts_per_width_and_a_growing_column() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync([("a", ("alpha", "1"))])
        table.show_columns([Column("n", "n", 3), Column("name", "name")], grow="name")
        await pilot.pause()
        shown = {c.key: c.width for c in table.shown_columns}
        # 60 - the room kept for the scrollbar (1) - padding (4) - n (3)
        assert shown == {"n": 3, "name": 60 - 1 - 4 - 3}
        assert screen_text(table)[1].startswith(" 1    alpha")
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        assert {c.key: c.width for c in table.shown_columns}["name"] == 40 - 1 - 4 - 3


async def test_an_auto_width_column_grows_to_its_widest_cell_and_never_shrinks() -> None:
    class Auto(TableApp):
        COLUMNS: ClassVar[list[Column]] = [Column("name", "name"), Column("n", "n", 3)]

    app = Auto()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync([("a", ("a-much-longer-name", "1"))])
        await pilot.pause()
        assert table.shown_columns[0].width == len("a-much-longer-name")
        table.sync([("a", ("short", "1"))])
        assert table.shown_columns[0].width == len("a-much-longer-name")


# --- moving rows and widths -------------------------------------------------------------------


class TwoAutoColumns(App[None]):
    COLUMNS: ClassVar[list[Column]] = [Column("name", "name"), Column("rate", "rate")]

    def compose(self) -> ComposeResult:
        yield SnapshotTable(self.COLUMNS, id="table")


async def test_a_value_wider_than_its_column_widens_it() -> None:
    app = TwoAutoColumns()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(SnapshotTable)
        table.sync([("a", ("topic-a", "0/s"))])
        await pilot.pause()
        table.sync([("a", ("topic-a", "12.3k/s"))])
        await pilot.pause()
        assert {c.key: c.width for c in table.shown_columns}["rate"] == len("12.3k/s")


async def test_most_rows_replaced_at_once_keep_the_cursor_on_its_row() -> None:
    app = TwoAutoColumns()
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


# --- the footer -------------------------------------------------------------------------------


async def test_the_footer_is_redrawn_only_when_its_keys_change() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(KeyBar)
        await wait_for(pilot, lambda: bool(footer.shown))
        shown = footer.shown
        await pilot.press("2", "1")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert footer.shown is shown  # the same keys: nothing to redraw
        assert "Open" in {key.description for key in shown}  # the focused table's Enter
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: footer.shown != shown)
        assert "Open" not in {key.description for key in footer.shown}


async def test_the_footer_shows_its_keys_when_the_terminal_starts_unfocused() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.app_focus = False
        app.open_chain(MAIN_CHAIN)  # a chain, opened (composed) while the terminal is unfocused
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        footer = app.screen.query_one(KeyBar)
        await wait_for(pilot, lambda: "Export JSON" in {key.description for key in footer.shown})


async def test_the_footer_shows_the_keys_as_textuals_footer_and_a_click_presses_one() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(KeyBar)
        await wait_for(pilot, lambda: bool(footer.shown))
        line = footer.render().plain
        assert line.startswith(" ⏎ Open  / Filter  esc Back  p Pause ")
        assert " ? Help  : Palette  q Quit " in line
        assert footer.key_at(len(line) + 5) is None
        help_at = line.index(" ? Help")
        assert footer.key_at(help_at + 1) == footer.key_at(help_at + 5)
        await pilot.click(KeyBar, offset=(help_at + 1, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


# --- screen switches --------------------------------------------------------------------------


async def test_a_switch_draws_the_last_answer_without_asking_the_service() -> None:
    view = FakeView()
    app = make_app(view, settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        taken = view.snapshots_taken
        app.go("chains")
        screen = app.screen
        assert isinstance(screen, ChainsScreen)
        table = screen.query_one(SnapshotTable)
        assert table.row_count == len(view.snap.chains)  # drawn at once, from memory
        await pilot.pause()
        assert view.snapshots_taken == taken  # no request on the way


async def test_a_screen_shown_again_unchanged_draws_its_rows_from_the_cache() -> None:
    # Textual restyles every widget of a screen shown again (switch_mode): unchanged rows
    # must not be drawn again for it.
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        overview = app.screen
        tables = list(overview.query(SnapshotTable))
        drawn = [table.render_line(1) for table in tables]
        await pilot.press("2")
        await pilot.press("1")
        await wait_for(pilot, lambda: app.screen is overview)
        assert [table.render_line(1) for table in tables] == drawn
        assert all(a is b for a, b in zip(drawn, [t.render_line(1) for t in tables], strict=True))


def stale_nodes(app: EdamonApp, screen: DashboardScreen) -> list[DOMNode]:
    """Nodes of `screen` whose colours or borders differ from a fresh style refresh."""

    def colours() -> list[tuple[DOMNode, str, str, str]]:
        nodes = screen.walk_children(with_self=True)
        return [
            (n, str(n.styles.background), str(n.styles.color), str(n.styles.border)) for n in nodes
        ]

    before = colours()
    app.update_styles(screen, animate=False)
    return [b[0] for b, a in zip(before, colours(), strict=True) if b != a]


@pytest.mark.parametrize("theme", ["textual-light", "nord"])
async def test_every_screen_has_the_configured_theme(theme: str) -> None:
    config = settings()
    config.ui.theme = theme
    app = make_app(FakeView(), config, clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key, name in [("2", "chains"), ("3", "deadletters"), ("4", "sagas"), ("5", "lag")]:
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is app.main_screens[name]
            assert stale_nodes(app, app.main_screens[name]) == []
            await pilot.press("1")


async def test_a_screen_shown_again_is_restyled_only_when_its_style_inputs_changed() -> None:
    # Textual's switch_mode restyles every widget of the screen it shows; edamon skips that
    # when nothing the styles depend on changed while the screen was hidden.
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        overview = app.screen
        assert isinstance(overview, DashboardScreen)
        restyles: list[int] = []
        restyle = overview.update_node_styles

        def counting(animate: bool = True) -> None:
            restyles.append(1)
            restyle(animate)

        overview.update_node_styles = counting  # type: ignore[method-assign]

        async def away_and_back(change: Callable[[], object] = lambda: None) -> None:
            # By app.go, as the number keys do (a key pressed by Pilot also gives the
            # terminal its focus back).
            app.go("chains")
            await pilot.pause()
            change()
            await pilot.pause()
            app.go("overview")
            await wait_for(pilot, lambda: app.screen is overview)
            await pilot.pause()

        await away_and_back()
        assert restyles == []
        # The terminal loses focus while another screen is shown: Textual restyles only the
        # current screen for it, so the overview is restyled when shown.
        await away_and_back(lambda: setattr(app, "app_focus", False))
        assert restyles == [1]
        assert stale_nodes(app, overview) == []
        await away_and_back(lambda: setattr(app, "theme", "textual-light"))
        assert stale_nodes(app, overview) == []


async def test_a_screen_gone_back_to_draws_the_latest_snapshot() -> None:
    view = FakeView()
    app = make_app(view, settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        overview = app.screen
        await pilot.press("enter")  # into the selected chain
        await wait_for(pilot, lambda: app.screen is not overview)
        view.snap = make_snapshot(NOW + 5, extra_chain="c-new")
        await app.refresh_now()  # a tick while the chain is shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is overview)
        assert overview.drawn is app.last_snapshot


async def test_main_screens_are_composed_before_their_first_visit() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: all(s.ready for s in app.main_screens.values()))
        assert app.screen_stack == [app.main_screens["overview"]]
        chains = app.main_screens["chains"]
        assert chains.query_one(SnapshotTable).row_count  # drawn once, hidden
        await pilot.press("2")
        assert app.screen is chains


async def test_number_keys_on_a_modal_go_to_the_modal() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3", "question_mark", "1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "1")
        assert isinstance(app.screen, OverviewScreen)
