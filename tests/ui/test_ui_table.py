"""LiveTable's internals: the fast cell rendering, caches that leave no cyclic garbage, lazy
tables of hundreds of rows; the footer that is rebuilt only when its keys change; what a screen
switch draws from memory."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import weakref
from typing import ClassVar

import pytest
from fakes import NOW, FakeView, make_app, make_snapshot, settings
from rich.console import Console, JustifyMethod
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.geometry import Region
from textual.renderables.styled import Styled
from textual.widgets._footer import FooterKey
from uitools import wait_for

from edamon.ui.app import EdamonApp
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.bars import StableFooter
from edamon.ui.widgets.cells import LazyRows, Row, render_text_cell
from edamon.ui.widgets.fasttable import RinglessCache
from edamon.ui.widgets.table import Column, LiveTable

# --- the fast path for cells ------------------------------------------------------------------

CONSOLE = Console(width=200, color_system="truecolor")


def _rich_line(cell: Text, width: int, padding: int, pre: Style, post: Style) -> list[Segment]:
    """What DataTable renders for a one-line cell (Rich's general path)."""
    options = CONSOLE.options.update_dimensions(width, 1).update(no_wrap=True)
    styled = Styled(Padding(cell, (0, padding)), pre_style=pre, post_style=post)
    return CONSOLE.render_lines(styled, options)[0]


def _looks(segments: list[Segment]) -> list[tuple[str, Style | None]]:
    """Segments as they look on screen: empty ones dropped, neighbours of one style merged."""
    return [(s.text, s.style) for s in Segment.simplify(s for s in segments if s.text)]


JUSTIFY: list[JustifyMethod | None] = [None, "default", "left", "right", "center"]


def _cells() -> list[Text]:
    cells = []
    for text, style, justify in itertools.product(
        ["", "ok", "  x", "日本語", "order-123"], ["", "bold", "red on blue"], JUSTIFY
    ):
        cell = Text(text, style=style, justify=justify)
        cells.append(cell)
        if text:
            spanned = cell.copy()
            spanned.stylize("italic", 0, 1)
            spanned.append(" z", style="green")
            cells.append(spanned)
    return cells


@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("width", [3, 8, 16])
def test_fast_cells_look_as_rich_renders_them(width: int, padding: int) -> None:
    meta = Style.from_meta({"row": 3, "column": 1})
    pres = [Style(bgcolor="black") + meta, Style(color="white", bold=True) + meta]
    posts = [Style.null(), Style(color="yellow"), Style(bgcolor="red")]
    fast_ones = 0
    for cell, pre, post in itertools.product(_cells(), pres, posts):
        fast = render_text_cell(CONSOLE, cell, width, padding, pre, post)
        if fast is None:
            continue
        fast_ones += 1
        assert _looks(fast) == _looks(_rich_line(cell, width, padding, pre, post)), repr(cell)
    assert fast_ones > 0 or width - 2 * padding < 1


def test_cells_the_fast_path_does_not_take() -> None:
    plain, style = Style.null(), Style(bold=True)
    assert render_text_cell(CONSOLE, Text("too wide for it"), 8, 1, style, plain) is None
    assert render_text_cell(CONSOLE, Text("two\nlines"), 20, 1, style, plain) is None
    assert render_text_cell(CONSOLE, Text("a\tb"), 20, 1, style, plain) is None
    assert render_text_cell(CONSOLE, Text("full", justify="full"), 20, 1, style, plain) is None
    assert render_text_cell(CONSOLE, Text("ok  ", justify="right"), 20, 1, style, plain) is None
    assert render_text_cell(CONSOLE, "a str", 20, 1, style, plain) is None


class CellsApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = [
        Column("name", "name", 12),
        Column("count", Text("count", justify="right"), 6),
        Column("status", "status", 10),
        Column("note", "note"),
    ]

    def compose(self) -> ComposeResult:
        yield LiveTable(self.COLUMNS, id="table")


def _screen_lines(table: LiveTable) -> list[list[tuple[str, Style | None]]]:
    width, height = table.size
    return [_looks(list(strip)) for strip in table.render_lines(Region(0, 0, width, height))]


async def test_a_table_looks_the_same_drawn_the_fast_way() -> None:
    app = CellsApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(LiveTable)
        status = [Text("OK", style="green"), Text("ERR: STALL", style="bold red"), "n/a"]
        rows: list[tuple[str, Row]] = []
        for i in range(9):
            name = Text(f"group-{i}", style="bold")
            name.stylize("italic", 0, 5)
            cells = (name, Text(str(i * 7), justify="right"), status[i % 3], f"note {i}")
            rows.append((f"k{i}", cells))
        table.sync(rows)
        table.move_cursor(row=2)
        table.focus()
        await pilot.pause()
        fast = _screen_lines(table)
        table.fast_render = False
        table._clear_caches()
        assert _screen_lines(table) == fast


# --- caches -----------------------------------------------------------------------------------


class Value:
    """A cached value we can watch die."""


def test_a_cleared_cache_leaves_nothing_for_the_gc() -> None:
    cache: RinglessCache[int, Value] = RinglessCache(10)
    values = [Value() for _ in range(5)]
    for i, value in enumerate(values):
        cache[i] = value
    watch = [weakref.ref(value) for value in values]
    del values, value
    gc.disable()
    try:
        cache.clear()
        # Freed by reference counting alone: no ring of entries left for the cyclic GC.
        assert [ref() for ref in watch] == [None] * 5
    finally:
        gc.enable()
    cache[1] = Value()  # still a cache after clearing
    assert isinstance(cache.get(1), Value) and len(cache) == 1


# --- lazy tables ------------------------------------------------------------------------------


class LazyApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = [Column("name", "name", 20), Column("n", "n", 6)]

    def compose(self) -> ComposeResult:
        yield LiveTable(self.COLUMNS, id="table", lazy=True, max_rows=300)


def _rows(n: int, prefix: str = "k") -> list[tuple[str, Row]]:
    return [(f"{prefix}{i}", (f"row {prefix}{i}", str(i))) for i in range(n)]


async def test_a_lazy_table_holds_the_rows_near_the_view_and_takes_more_as_it_moves() -> None:
    app = LazyApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(LiveTable)
        table.focus()
        table.sync(_rows(400))  # at most 300 shown
        await pilot.pause()
        page = table.scrollable_content_region.height - 1
        held = table.row_count
        assert page <= held < 300
        assert len(table.all_keys) == 300 and table.all_keys[-1] == "k299"
        assert Text.from_markup(str(table.border_subtitle)).plain == f"1–{page} of 300"
        for _ in range(8):  # page down past the rows first held
            await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row >= held and table.row_count > table.cursor_row + page // 2
        assert table.cursor_key == f"k{table.cursor_row}"
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.row_count == 300 and table.cursor_key == "k299"
        assert not table.border_subtitle  # every row held: the scrollbar tells the truth
        await pilot.press("ctrl+home")
        table.sync(_rows(400))
        await pilot.pause()
        assert table.cursor_row == 0 and table.row_count == held  # back to the view's rows


async def test_a_lazy_table_filters_and_selects_rows_it_does_not_hold() -> None:
    app = LazyApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(LiveTable)
        table.sync(_rows(300))
        await pilot.pause()
        assert "k250" not in table.keys
        assert table.select_key("k250")
        await pilot.pause()
        assert table.cursor_key == "k250"
        assert not table.select_key("nope")
        table.set_filter("row k27")  # k27, k270..k279: found among every row given
        await pilot.pause()
        assert table.keys == ["k27", *(f"k27{i}" for i in range(10))]


async def test_a_lazy_table_keeps_a_chosen_row_far_down_as_rows_arrive_on_top() -> None:
    app = LazyApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(LiveTable)
        rows = _rows(300)
        table.sync(rows)
        await pilot.pause()
        assert table.select_key("k60")
        await pilot.pause()
        newer = _rows(50, prefix="n")  # 50 newer rows push k60 down to row 110
        table.sync(newer + rows)
        await pilot.pause()
        assert table.cursor_key == "k60" and table.cursor_row == 110
        table.move_cursor(row=0)  # on the first row the cursor follows the newest
        table.sync(_rows(3, prefix="m") + newer + rows)
        await pilot.pause()
        assert table.cursor_key == "m0"


async def test_lazy_rows_build_cells_only_for_the_rows_held() -> None:
    built: list[int] = []

    def cells(i: int) -> Row:
        built.append(i)
        return (f"row {i}", str(i))

    app = LazyApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(LiveTable)
        table.sync(LazyRows(range(300), key=lambda i: f"k{i}", cells=cells))
        await pilot.pause()
        assert sorted(built) == list(range(table.row_count))
        built.clear()
        table.set_filter("row 29")  # a filter reads every row
        assert set(built) == set(range(300))
        assert table.keys == ["k29", *(f"k29{i}" for i in range(10))]


async def test_marked_dead_letters_out_of_the_held_rows_are_still_targets() -> None:
    snap = make_snapshot()
    template = snap.dead_letters[0]
    many = tuple(
        dataclasses.replace(template, coords=f"shipping.DLT/0/{1000 - i}", time=NOW - i)
        for i in range(200)
    )
    view = FakeView(dataclasses.replace(snap, dead_letters=many))
    app = make_app(view, settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(LiveTable)
        assert table.row_count < 200
        await pilot.press("space", "ctrl+end", "space", "ctrl+home")
        await app.refresh_now()
        await pilot.pause()
        last = many[-1].coords
        assert last not in table.keys  # not held any more, still marked
        assert screen.targets() == [many[0].coords, last]


# --- the footer -------------------------------------------------------------------------------


async def test_the_footer_is_rebuilt_only_when_its_keys_change() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(StableFooter)
        await wait_for(pilot, lambda: bool(footer.query(FooterKey)))
        keys = list(footer.query(FooterKey))
        await pilot.press("2", "1")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert list(footer.query(FooterKey)) == keys  # the same widgets: not rebuilt
        assert "Open" in {key.description for key in keys}  # the focused table's Enter
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: list(footer.query(FooterKey)) != keys)
        assert "Open" not in {key.description for key in footer.query(FooterKey)}


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
        table = screen.query_one(LiveTable)
        assert table.row_count == len(view.snap.chains)  # drawn at once, from memory
        await pilot.pause()
        assert view.snapshots_taken == taken  # no request on the way


async def test_a_screen_shown_again_keeps_its_styles_unless_the_theme_changed() -> None:
    app = make_app(FakeView(), settings(), clock=lambda: NOW, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "1")
        chains = app.main_screens["chains"]
        table = chains.query_one(LiveTable)
        dark = table.styles.background
        refreshed: list[object] = []
        original = app.update_styles  # count the style refreshes of whole nodes

        def counting(node: DOMNode, animate: bool = True) -> None:
            refreshed.append(node)
            original(node, animate)

        app.update_styles = counting  # type: ignore[method-assign]
        await pilot.press("2", "1")
        assert chains not in refreshed  # same theme, same size: the styles it had still hold
        app.theme = "textual-light"  # while the chains screen is hidden
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert app.screen is chains and refreshed.count(chains) == 1
        assert table.styles.background != dark  # the light theme's, not the one it left with


def stale_nodes(app: EdamonApp, screen: DashboardScreen) -> list[DOMNode]:
    """Nodes of `screen` whose colours differ from a fresh style refresh."""

    def colours() -> list[tuple[DOMNode, str, str]]:
        nodes = screen.walk_children(with_self=True)
        return [(n, str(n.styles.background), str(n.styles.color)) for n in nodes]

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
        assert chains.query_one(LiveTable).row_count  # drawn once, hidden
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
