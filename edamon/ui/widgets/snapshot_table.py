"""SnapshotTable: a table on Textual's Line API that draws only the rows in view.

Built the way Textual's own `Log` widget is (`textual/widgets/_log.py`): a `ScrollView` whose
`render_line(y)` renders the one line at `y`, with a strip cache. The rows come from a
`RowSource`, which answers "rows i..j, and how many" (a list in memory, or pages of the
edamon service): a redraw costs what the rows in view cost, whatever the number of rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from edamon.ui.format import shorten_middle
from edamon.ui.widgets.widths import Want, allocate

Cell = str | Text
Row = tuple[Cell, ...]
Item = TypeVar("Item", bound=Hashable)
T = TypeVar("T")

MIN_GROW_WIDTH = 6
"""The narrowest a growing column gets (see `SnapshotTable.show_columns`)."""
MIN_NAME_WIDTH = 10
"""The narrowest a text column sharing the room gets, room or not (when its cells need as
much; never narrower than its label)."""
NARROW = 120
"""Table screens narrower than this many columns show fewer, narrower columns."""
AUTO_WIDTH_ROWS = 2000
"""Columns sized by their cells are measured over every row of lists in memory up to this
size (else over the rows in view): the short tables (lag, throughput, the overview's)."""
NEED_HOLD_S = 30.0
"""A column sized by its content shrinks only after its cells were narrower this long."""
STRIP_CACHE = 512
"""Rendered rows kept (a few screenfuls of every table on a screen)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key, its label and an optional fixed width. A cell wider than a fixed
    width is cut with an ellipsis: at its end, or in its middle with `trim="middle"` (topic
    names, whose ends say the most). Without a width, the column is as wide as its widest
    cell seen (it grows, never shrinks).

    In a layout with a growing column (`SnapshotTable.show_columns`), `fit` and `share` let
    the content decide (see `widths.allocate`): a `fit` column (numbers, short words) is as
    wide as its widest cell seen and its label, at most `width`; a `share` column (a name) gets
    a part of the room the others leave, up to its widest cell (and `width`, if given)."""

    key: str
    label: str | Text
    width: int | None = None
    trim: str = "end"
    fit: bool = False
    share: int = 0
    """0: not a text column that shares the room; 1, 2, ...: one (1 is served first)."""


def plain(cell: Cell) -> str:
    """The text of a cell without styles."""
    return cell.plain if isinstance(cell, Text) else cell


def fit_cell(cell: Cell, width: int, trim: str = "end") -> Cell:
    """`cell` cut to `width` cells with an ellipsis (at the end, or in the middle); a str
    stays a str, a Text keeps its styles."""
    if isinstance(cell, str):
        if cell_len(cell) <= width:
            return cell
        if trim == "middle":
            return shorten_middle(cell, width)
        cut = Text(cell)
        cut.truncate(width, overflow="ellipsis")
        return cut.plain
    if cell.cell_len <= width:
        return cell
    if trim == "middle" and not cell.spans:
        return Text(shorten_middle(cell.plain, width), style=cell.style, justify=cell.justify)
    cut = cell.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def _width_of(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


class RowMemo(Generic[Item]):
    """Cells built from immutable (hashable) model rows, reused while a row is unchanged: the
    very same cell objects come back, so the table's strip cache stays valid. Call `sweep()`
    after each redraw: rows not asked for since the previous sweep are forgotten."""

    def __init__(self, build: Callable[[Item], Row]) -> None:
        self.build = build
        self.old: dict[Item, Row] = {}
        self.new: dict[Item, Row] = {}

    def __call__(self, item: Item) -> Row:
        cells = self.new.get(item)
        if cells is None:
            cells = self.old.get(item)
            if cells is None:
                cells = self.build(item)
            self.new[item] = cells
        return cells

    def sweep(self) -> None:
        """Forget the rows that were not asked for since the last sweep."""
        self.old, self.new = self.new, {}


# --- row sources ----------------------------------------------------------------------------


class RowSource(Protocol):
    """What a SnapshotTable draws from: rows by position, how many, and a filter as a query
    (the source decides how: in memory, or on the service)."""

    def __len__(self) -> int:
        """How many rows."""
        ...

    def rows(self, start: int, stop: int) -> Sequence[tuple[str, Row | None]]:
        """Rows `start`..`stop` (fewer at the end): key and cells, or None for cells not
        loaded yet (drawn as a placeholder; the source asks for them)."""
        ...

    def index(self, key: str) -> int | None:
        """The position of the row `key`, if the source knows it."""
        ...

    def query(self, text: str) -> RowSource:
        """The rows that contain `text` (case-insensitive); empty text: all of them."""
        ...

    def keys(self) -> Sequence[str]:
        """The keys the source knows, in order (for a paged source: the pages it holds)."""
        ...


class ListRows(Generic[T]):
    """Rows over a sequence in memory: `key(item)` names a row (the first of each key wins),
    `cells(item)` builds its cells when the table asks for them. A query matches the key, the
    cells' text and `search(key)` (full values of cells shown shortened)."""

    def __init__(
        self,
        items: Sequence[T],
        key: Callable[[T], str],
        cells: Callable[[T], Row],
        search: Callable[[str], str] | None = None,
        limit: int | None = None,
    ) -> None:
        self.items = items
        self.key = key
        self.cells = cells
        self.search = search
        self.limit = limit
        self.order: list[int] = []
        """Positions in `items` of the rows, in order."""
        self.position: dict[str, int] = {}
        """Row key -> index in `order`."""
        for i, item in enumerate(items):
            k = key(item)
            if k not in self.position:
                self.position[k] = len(self.order)
                self.order.append(i)
                if limit is not None and len(self.order) >= limit:
                    break

    @classmethod
    def of_pairs(
        cls,
        pairs: Sequence[tuple[str, Row]],
        search: Callable[[str], str] | None = None,
        limit: int | None = None,
    ) -> ListRows[tuple[str, Row]]:
        """Rows given as (key, cells) pairs."""
        return ListRows(pairs, lambda pair: pair[0], lambda pair: pair[1], search, limit)

    def __len__(self) -> int:
        return len(self.order)

    def rows(self, start: int, stop: int) -> list[tuple[str, Row | None]]:
        items, key, cells = self.items, self.key, self.cells
        out: list[tuple[str, Row | None]] = []
        for i in self.order[max(0, start) : stop]:
            item = items[i]
            out.append((key(item), cells(item)))
        return out

    def index(self, key: str) -> int | None:
        return self.position.get(key)

    def keys(self) -> list[str]:
        return list(self.position)

    def query(self, text: str) -> ListRows[T]:
        """Every item searched (not only the first `limit`); at most `limit` matches."""
        needle = text.lower()
        if not needle:
            return self
        key, cells, search = self.key, self.cells, self.search
        found: list[T] = []
        seen: set[str] = set()
        for item in self.items:
            k = key(item)
            if k in seen:
                continue
            seen.add(k)
            words = [k, *(plain(cell) for cell in cells(item))]
            if search is not None:
                words.append(search(k))
            if needle in " ".join(words).lower():
                found.append(item)
                if self.limit is not None and len(found) >= self.limit:
                    break
        return ListRows(found, key, cells, search)


class Pages(Protocol[T]):
    """A list held elsewhere (the service), read by position (see source.RemoteList)."""

    filter: str

    def __len__(self) -> int: ...

    def item(self, index: int) -> T | None: ...

    def held(self) -> list[tuple[int, T]]: ...

    def set_filter(self, filter: str) -> None: ...


class PagedRows(Generic[T]):
    """Rows over `Pages`: the cells of the rows drawn are built from the rows fetched; a row
    not fetched yet is a placeholder. A query is the service's (`set_query`)."""

    def __init__(self, pages: Pages[T], key: Callable[[T], str], cells: Callable[[T], Row]):
        self.pages = pages
        self.key = key
        self.cells = cells

    def __len__(self) -> int:
        return len(self.pages)

    def rows(self, start: int, stop: int) -> list[tuple[str, Row | None]]:
        out: list[tuple[str, Row | None]] = []
        for i in range(max(0, start), min(stop, len(self.pages))):
            item = self.pages.item(i)
            out.append((f"…{i + 1}", None) if item is None else (self.key(item), self.cells(item)))
        return out

    def index(self, key: str) -> int | None:
        for i, item in self.pages.held():
            if self.key(item) == key:
                return i
        return None

    def keys(self) -> list[str]:
        return [self.key(item) for _, item in self.pages.held()]

    def query(self, text: str) -> PagedRows[T]:
        self.pages.set_filter(text)
        return self


# --- the table ----------------------------------------------------------------------------


class SnapshotTable(ScrollView, can_focus=True):
    """Rows identified by key, drawn from a `RowSource`; only the rows in view are rendered.

    `sync(source)` shows new rows (a snapshot). The cursor keeps its row (by key) as rows
    come and go; with `follow_head` (the default) a cursor on the first row stays on the
    first row as rows arrive above it, like `tail -f` on a newest-first table. `set_filter`
    turns the source into `source.query(text)`: a filter is a query on the source.
    `show_columns()` picks which of the spec's columns are shown and how wide (per width).

    Rendered rows are cached by (row key, width, cursor, focus, theme); a cached row is used
    while its cells are the same (RowMemo hands back the same objects for an unchanged row).

    Enter posts `RowSelected` (with `opens=False` there is nothing to open: Enter is neither
    shown nor bound); a click selects a row, a click on the cursor row opens it. Home/End
    (and g/G) go to the first/last row."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "snapshot-table--header",
        "snapshot-table--cursor",
    }
    DEFAULT_CSS = """
    SnapshotTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        & > .snapshot-table--header { text-style: bold; background: $panel; }
        & > .snapshot-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .snapshot-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", key_display="⏎"),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
        Binding("ctrl+home", "first_row", "First row", show=False),
        Binding("ctrl+end", "last_row", "Last row", show=False),
        Binding("g", "first_row", "First row", show=False),
        Binding("G", "last_row", "Last row", show=False),
        Binding("left", "cursor_left", "Left", show=False),
        Binding("right", "cursor_right", "Right", show=False),
    ]
    HELP_NAME: ClassVar[str] = "Table"
    """The heading of the table's keys in the help (`?`)."""

    class RowHighlighted(Message):
        """The cursor moved to another row (or the row under it changed key)."""

        def __init__(self, table: SnapshotTable, row_key: str | None, cursor_row: int) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key
            self.cursor_row = cursor_row

        @property
        def control(self) -> SnapshotTable:
            return self.table

    class RowSelected(Message):
        """Enter (or a click on the cursor row) on a row."""

        def __init__(self, table: SnapshotTable, row_key: str) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key

        @property
        def control(self) -> SnapshotTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        classes: str | None = None,
        title: str | Content = "",
        cell_padding: int = 1,
        follow_head: bool = True,
        max_rows: int | None = None,
        opens: bool = True,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.spec = tuple(columns)
        self.title: str | Content = title
        self.cell_padding = cell_padding
        self.follow_head = follow_head
        self.max_rows = max_rows
        self.opens = opens
        self.filter_text = ""
        self.show_header = True
        self.source: RowSource = ListRows.of_pairs(())
        """Every row given (before the filter)."""
        self.view: RowSource = self.source
        """The rows shown: `source.query(filter_text)`."""
        self.cursor_row = 0
        self.cursor_key: str | None = None
        """The key of the row under the cursor, or None when the table is empty."""
        self.shown: tuple[Column, ...] = self.spec
        self.shown_index: tuple[int, ...] | None = None
        """Where each shown column's cell is in a row (None: every column, in order)."""
        self.layout_spec: tuple[tuple[Column, ...], str | None] | None = None
        self.auto_widths: dict[str, int] = {}
        """Widths auto-width columns have grown to (never shrink)."""
        self.needs: dict[str, int] = {}
        """The widest cells of the columns whose widths follow the content (`measure_needs`)."""
        self.need_since: dict[str, float] = {}
        """When each need was last met by a cell (monotonic seconds)."""
        self.strips: LRUCache[tuple[object, ...], tuple[Row, Strip]] = LRUCache(STRIP_CACHE)
        """Rendered rows by (row key, width, cursor, focus, theme), with the cells drawn."""
        self.line_styles: LineStyles | None = None
        """The styles lines are drawn with; None once Textual restyles the table (checked at
        the next draw, see `current_styles`)."""
        self.strip_styles: LineStyles | None = None
        """The styles the cached strips were drawn with."""
        self.highlighted: str | None = None
        self.update_title()

    # --- what is shown ----------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self.view)

    @property
    def keys(self) -> list[str]:
        """Keys of the rows shown that the source knows, in order."""
        return list(self.view.keys())

    @property
    def all_keys(self) -> list[str]:
        """Same as `keys` (kept for callers that read every row shown)."""
        return self.keys

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns on screen, with the widths they have (auto widths resolved)."""
        return tuple(
            c if c.width is not None else Column(c.key, c.label, self.column_width(c), c.trim)
            for c in self.shown
        )

    @property
    def header_height(self) -> int:
        return 1 if self.show_header else 0

    def row(self, key: str) -> Row | None:
        """The cells of the row `key` (every shown column, before any cut)."""
        index = self.view.index(key)
        if index is None:
            return None
        found = self.view.rows(index, index + 1)
        return found[0][1] if found else None

    def get_cell(self, key: str, column: str) -> Cell:
        """The cell of row `key` in `column` as shown (cut to the column's width)."""
        cells = self.row(key)
        if cells is None:
            raise KeyError(key)
        for spec, cell in zip(self.shown_columns, self.cells_shown(cells), strict=True):
            if spec.key == column:
                return fit_cell(cell, spec.width or _width_of(cell), spec.trim)
        raise KeyError(column)

    def cells_shown(self, cells: Row) -> Row:
        """The cells of the shown columns, out of a row's cells for every column of the spec."""
        index = self.shown_index
        return cells if index is None else tuple(cells[i] for i in index)

    def set_shown(self, columns: tuple[Column, ...]) -> None:
        self.shown = columns
        position = {c.key: i for i, c in enumerate(self.spec)}
        index = tuple(position[c.key] for c in columns)
        self.shown_index = None if index == tuple(range(len(self.spec))) else index

    def set_title(self, title: str | Content) -> None:
        """Set the border title (a str is markup: record text goes in a Content, never in
        markup); the active filter is shown after it."""
        if title != self.title:
            self.title = title
            self.update_title()

    def update_title(self) -> None:
        title = self.title
        shown = Content.from_markup(title) if isinstance(title, str) else title
        if self.filter_text:
            shown = Content.assemble(shown, "  ", ("/" + self.filter_text, "bold"))
        self.border_title = shown

    # --- rows -------------------------------------------------------------------------------

    def sync(
        self,
        rows: RowSource | Sequence[tuple[str, Row]],
        search: Callable[[str], str] | None = None,
    ) -> None:
        """Show `rows`: a RowSource, or (key, cells for every column of the spec) pairs.
        `search(key)` adds text a filter matches (full values of shortened cells)."""
        if not isinstance(rows, ListRows) and isinstance(rows, Sequence):
            rows = ListRows.of_pairs(rows, search, self.max_rows)
        elif isinstance(rows, ListRows) and self.max_rows is not None and rows.limit is None:
            rows = ListRows(rows.items, rows.key, rows.cells, rows.search, self.max_rows)
        self.source = rows
        self.apply_view()

    def set_filter(self, text: str) -> None:
        """Show only rows containing `text` (empty: all rows)."""
        if text == self.filter_text:
            return
        self.filter_text = text
        self.update_title()
        self.apply_view()

    def apply_view(self) -> None:
        """Query the source with the filter, put the cursor back on its row, redraw."""
        self.view = self.source.query(self.filter_text)
        total = len(self.view)
        key = self.cursor_key
        if total == 0 or (self.follow_head and self.cursor_row == 0):
            row = 0
        else:
            found = self.view.index(key) if key is not None else None
            row = found if found is not None else min(self.cursor_row, total - 1)
        self.measure_auto_columns()
        self.update_size()
        self.place_cursor(row, scroll=False)
        self.refresh()

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row `key`; False if no row shown has that key."""
        index = self.view.index(key)
        if index is None:
            return False
        self.move_cursor(row=index)
        return True

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on row `row` (clamped) and scroll it into view."""
        self.place_cursor(row, scroll=True)

    def place_cursor(self, row: int, *, scroll: bool) -> None:
        total = len(self.view)
        row = max(0, min(row, total - 1)) if total else 0
        old_row = self.cursor_row
        self.cursor_row = row
        found = self.view.rows(row, row + 1) if total else []
        self.cursor_key = found[0][0] if found else None
        if scroll or old_row != row:
            top = round(self.scroll_y)
            self.scroll_cursor_into_view()
            if old_row != row and round(self.scroll_y) == top:
                # Only the two rows change: redraw their lines, not the whole table.
                for moved in (old_row, row):
                    self.refresh_lines(moved - top + self.header_height)
        if self.cursor_key != self.highlighted:
            self.highlighted = self.cursor_key
            self.post_message(self.RowHighlighted(self, self.cursor_key, row))

    def page_height(self) -> int:
        """Rows in a screenful of the table (before it is laid out: of the terminal)."""
        height = self.scrollable_content_region.height or self.app.size.height
        return max(1, height - self.header_height)

    def scroll_cursor_into_view(self) -> None:
        # force: rows that arrive in a sync can make the table taller than its view before
        # the layout gives it a scrollbar (until then Textual does not allow scrolling).
        page = self.page_height()
        top = round(self.scroll_y)
        row = self.cursor_row
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True, force=True)
        elif row >= top + page:
            self.scroll_to(y=row - page + 1, animate=False, immediate=True, force=True)

    # --- columns ------------------------------------------------------------------------

    def show_columns(self, columns: Sequence[Column], grow: str | None = None) -> None:
        """Show only `columns` (keys of the spec, in this order, with these widths). `grow`
        names one of them that takes the width the others leave (at most its own width, if it
        has one); the others need a fixed width. Cheap when nothing changes: call it on every
        draw. Applied again on resize."""
        layout = (tuple(columns), grow)
        if layout != self.layout_spec:
            self.layout_spec = layout
            self.apply_layout()

    def on_resize(self) -> None:
        if self.layout_spec is not None and self.layout_spec[1] is not None:
            self.apply_layout()
        self.update_size()

    def apply_layout(self) -> None:
        assert self.layout_spec is not None
        columns, grow = self.layout_spec
        if grow is not None and any(c.fit or c.share for c in columns):
            columns = self.share_room(columns, grow)
        elif grow is not None:
            pad = 2 * self.cell_padding
            # Inside the border, less one cell kept for the vertical scrollbar (so the layout
            # does not flip as rows come and go).
            room = self.content_region.width - 1
            used = sum(
                (c.width or cell_len(plain(c.label))) + pad for c in columns if c.key != grow
            )
            width = max(MIN_GROW_WIDTH, room - used - pad)
            # What the growing column leaves (it is at most its own width) goes to the names
            # cut in the middle (topics): a name shown whole says more than blank cells.
            grown = min(width, next((c.width for c in columns if c.key == grow), None) or width)
            names = [c.key for c in columns if c.trim == "middle" and c.width and c.key != grow]
            share = (width - grown) // len(names) if names else 0
            columns = tuple(
                Column(c.key, c.label, grown, c.trim)
                if c.key == grow
                else Column(c.key, c.label, (c.width or 0) + share, c.trim)
                if c.key in names
                else c
                for c in columns
            )
        if columns != self.shown:
            self.set_shown(columns)
            self.strips.clear()
            self.measure_auto_columns()
            self.update_size()
            self.refresh()

    def share_room(self, columns: tuple[Column, ...], grow: str) -> tuple[Column, ...]:
        """`columns` with widths from their content (`widths.allocate`): `fit` columns as wide
        as they need, `share` columns and `grow` sharing the rest by their widest cells seen,
        `grow` taking what is left (up to its width)."""
        self.measure_needs([c for c in columns if c.fit or c.share or c.key == grow])
        pad = 2 * self.cell_padding
        # Inside the border, less one cell kept for the vertical scrollbar (as apply_layout).
        room = self.content_region.width - 1 - pad * len(columns)
        wants: list[Want] = []
        for c in columns:
            label = cell_len(plain(c.label))
            need = max(label, self.needs.get(c.key, 0))
            if c.share or c.key == grow:
                least = max(MIN_GROW_WIDTH, label, min(need, MIN_NAME_WIDTH))
                wants.append(Want(need, c.width, c.share or len(columns), least))
            elif c.fit:
                wants.append(Want(need, c.width))
            else:
                wants.append(Want(c.width or need))
        keys = [c.key for c in columns]
        widths = allocate(room, wants, fill=keys.index(grow))
        return tuple(
            Column(c.key, c.label, width, c.trim, c.fit, c.share)
            for c, width in zip(columns, widths, strict=True)
        )

    def widest_cells(self, columns: Sequence[Column]) -> dict[str, int]:
        """The widest cell of each of `columns` (keys of the spec): over every row of a short
        list in memory, else over the rows in view (rows of a paged source are asked of the
        service when drawn: only those in view are)."""
        position = {c.key: i for i, c in enumerate(self.spec)}
        measured = [(c.key, position[c.key]) for c in columns]
        widest = dict.fromkeys((key for key, _ in measured), 0)
        total = len(self.view)
        if total <= AUTO_WIDTH_ROWS and isinstance(self.view, ListRows):
            start, stop = 0, total
        else:
            start = round(self.scroll_y)
            stop = start + self.page_height()
        for _, cells in self.view.rows(start, stop):
            if cells is None:
                continue
            for key, i in measured:
                width = _width_of(cells[i])
                if width > widest[key]:
                    widest[key] = width
        return widest

    def measure_needs(self, columns: Sequence[Column]) -> bool:
        """Update `needs` of `columns` from their widest cells: at once when a cell is wider,
        only after NEED_HOLD_S narrower (so a count going 1,512 → 0 → 1,512 does not move
        the columns each tick, and a `sampling` status seen at start does not hold its width
        for ever); True if a need changed."""
        now = time.monotonic()
        needs, since = self.needs, self.need_since
        changed = False
        for key, width in self.widest_cells(columns).items():
            held = needs.get(key)
            if (
                held is None
                or width > held
                or (width < held and now - since.get(key, now) >= NEED_HOLD_S)
            ):
                changed = changed or width != held
                needs[key] = width
            if width >= needs[key]:
                since[key] = now
        return changed

    def replace_last_column(self, label: str | Text, width: int | None) -> None:
        """Give the last column a new label and width (e.g. a waterfall's bar column after a
        resize); its cells are drawn anew from the next `sync()`."""
        last = self.shown[-1]
        column = Column(last.key, label, width, last.trim)
        self.spec = tuple(column if c.key == last.key else c for c in self.spec)
        self.set_shown((*self.shown[:-1], column))
        if self.layout_spec is not None:
            columns, grow = self.layout_spec
            self.layout_spec = (
                tuple(column if c.key == last.key else c for c in columns),
                grow,
            )
        self.auto_widths.pop(last.key, None)
        self.strips.clear()
        self.update_size()
        self.refresh()

    def column_width(self, column: Column) -> int:
        if column.width is not None:
            return column.width
        return max(self.auto_widths.get(column.key, 0), _width_of(column.label))

    def measure_auto_columns(self) -> None:
        """Grow auto-width columns to their widest cell: over every row of a short source,
        else over the rows in view. A layout whose widths follow the content (`fit`, `share`)
        is made again when what its columns need changes (`measure_needs`)."""
        auto = [c for c in self.shown if c.width is None]
        if auto:
            grew = False
            for key, width in self.widest_cells(auto).items():
                if width > self.auto_widths.get(key, 0):
                    self.auto_widths[key] = width
                    grew = True
            if grew:
                self.strips.clear()
        layout = self.layout_spec
        if layout is None or layout[1] is None:
            return
        columns, grow = layout
        sized = [c for c in columns if c.fit or c.share or c.key == grow]
        if any(c.fit or c.share for c in columns) and self.measure_needs(sized):
            self.apply_layout()

    def update_size(self) -> None:
        pad = 2 * self.cell_padding
        width = sum(self.column_width(c) + pad for c in self.shown)
        size = Size(width, len(self.view) + self.header_height)
        if size != self.virtual_size:
            self.virtual_size = size

    # --- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        # Textual calls this for every widget of a screen each time the screen is shown
        # again, whether or not a style changed: the strips are kept unless one did.
        super().notify_style_update()
        self.line_styles = None

    def current_styles(self) -> LineStyles:
        """The styles of this table's lines, computed once per restyle (Textual computes
        `rich_style` from every ancestor on each call); the strip cache is emptied only when
        they differ from those the strips were drawn with."""
        styles = self.line_styles
        if styles is None:
            base = self.rich_style
            styles = self.line_styles = LineStyles(
                base,
                base + self.get_component_rich_style("snapshot-table--header"),
                base + self.get_component_rich_style("snapshot-table--cursor"),
            )
            if styles != self.strip_styles:
                self.strips.clear()
                self.strip_styles = styles
        return styles

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if len(self.view) > AUTO_WIDTH_ROWS or not isinstance(self.view, ListRows):
            self.measure_auto_columns()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y < self.header_height:
            strip = self.header_strip()
        else:
            index = scroll_y + y - self.header_height
            found = self.view.rows(index, index + 1) if index < len(self.view) else []
            if not found:
                return Strip.blank(width, self.current_styles().base)
            key, cells = found[0]
            strip = self.row_strip(key, cells, index == self.cursor_row)
        if scroll_x == 0 and strip.cell_length == width:
            # Nothing to crop; crop_extend would also cache the strip in itself (a cycle
            # only the cyclic GC frees).
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, self.current_styles().base)

    def header_strip(self) -> Strip:
        styles = self.current_styles()
        ident = ("\x00header", self.virtual_size.width, self.has_focus, self.app.theme)
        cached = self.strips.get(ident)
        if cached is not None:
            return cached[1]
        labels = tuple(c.label for c in self.shown)
        strip = self.build_strip(labels, styles.header)
        self.strips[ident] = (labels, strip)
        return strip

    def row_strip(self, key: str, cells: Row | None, cursor: bool) -> Strip:
        styles = self.current_styles()
        ident = (key, self.virtual_size.width, cursor, self.has_focus, self.app.theme)
        cached = self.strips.get(ident)
        if cached is not None and cells is not None and same_row(cached[0], cells):
            return cached[1]
        style = styles.cursor if cursor else styles.base
        if cells is None:  # not loaded yet: a placeholder, never cached
            placeholder = (Text(key, style=PLACEHOLDER), "…")
            return self.build_strip(placeholder, style, pad_to_spec=True)
        strip = self.build_strip(self.cells_shown(cells), style)
        self.strips[ident] = (cells, strip)
        return strip

    def build_strip(self, cells: Row, style: Style, *, pad_to_spec: bool = False) -> Strip:
        """One line: each cell cut to its column, padded, justified; `style` under it all.
        Segments are built here, not by rendering a Text of the line: a cell without spans
        is one segment, and runs in the same style are one."""
        line = SegmentRun(style, self.app.console)
        pad = " " * self.cell_padding
        columns = self.shown
        if pad_to_spec:  # fewer cells than columns: the rest blank
            cells = (*cells, *([""] * (len(columns) - len(cells))))[: len(columns)]
        total = 0
        for column, cell in zip(columns, cells, strict=True):
            width = self.column_width(column)
            total += width + 2 * self.cell_padding
            shown = fit_cell(cell, width, column.trim)
            if isinstance(shown, str):
                line.add(pad + shown + " " * (width - cell_len(shown)) + pad)
                continue
            room = width - shown.cell_len
            justify = shown.justify
            left = room if justify == "right" else room // 2 if justify == "center" else 0
            line.add(pad + " " * left)
            line.add_text(shown)
            line.add(" " * (room - left) + pad)
        return Strip(line.segments(), total)

    # --- keys and mouse -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Nothing to open: Enter is neither shown nor bound.
        return not (action == "select_cursor" and not self.opens)

    def action_select_cursor(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_left(self) -> None:
        """A row cursor does not move sideways: the view scrolls."""
        self.scroll_left(animate=False)

    def action_cursor_right(self) -> None:
        self.scroll_right(animate=False)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self.page_height())

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self.page_height())

    def action_first_row(self) -> None:
        """home, g: the first row."""
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        """end, G: the last row."""
        self.move_cursor(row=len(self.view) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < self.header_height:
            return
        row = round(self.scroll_y) + offset.y - self.header_height
        if row >= len(self.view):
            return
        event.stop()
        if row == self.cursor_row and self.opens:
            self.action_select_cursor()
        else:
            self.move_cursor(row=row)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


PLACEHOLDER = Style(dim=True)
"""A row not loaded yet (not a component class: Textual restyles each of those on every
screen shown again)."""


@dataclass(frozen=True, slots=True)
class LineStyles:
    """The Rich styles a table's lines are drawn with."""

    base: Style
    header: Style
    cursor: Style


class SegmentRun:
    """The segments of one line over a base style: text added in the base style, or a
    cell's own styles on top of it; adjacent text in one style becomes one segment."""

    def __init__(self, base: Style, console: Console) -> None:
        self.base = base
        self.console = console
        self.done: list[Segment] = []
        self.text = ""
        self.style = base

    def add(self, text: str, style: Style | None = None) -> None:
        style = self.base if style is None else style
        if style is not self.style and self.text:
            self.done.append(Segment(self.text, self.style))
            self.text = ""
        self.style = style
        self.text += text

    def add_text(self, text: Text) -> None:
        """A cell's Text: its base style and spans over the line's style."""
        if not text.spans:
            own = text.style
            self.add(text.plain, self.base + self.console.get_style(own) if own else None)
            return
        for segment in text.render(self.console, end=""):
            own_style = segment.style
            self.add(segment.text, self.base + own_style if own_style else None)

    def segments(self) -> list[Segment]:
        if self.text:
            self.done.append(Segment(self.text, self.style))
            self.text = ""
        return self.done


def same_row(a: Row, b: Row) -> bool:
    """Whether two rows look the same (text, base style and spans of every cell)."""
    if a is b:
        return True
    if len(a) != len(b):
        return False
    return all(same_cell(x, y) for x, y in zip(a, b, strict=True))


def same_cell(a: Cell, b: Cell) -> bool:
    """Whether two cells look the same (text, base style and spans)."""
    if a is b:  # memoised cells (RowMemo) are the very same objects from tick to tick
        return True
    # Text.__eq__ ignores the base style; a status that changes colour must count as a change.
    if isinstance(a, Text):
        a_plain, a_style, a_spans, a_justify = a.plain, a.style, a.spans, a.justify
    else:
        a_plain, a_style, a_spans, a_justify = a, "", [], None
    if isinstance(b, Text):
        return (
            a_plain == b.plain
            and a_style == b.style
            and a_spans == b.spans
            and a_justify == b.justify
        )
    return a_plain == b and not a_style and not a_spans and a_justify is None
