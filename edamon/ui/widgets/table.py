"""A DataTable that is updated in place from fresh rows, by key (never cleared)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.markup import escape
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from edamon.ui.format import shorten_middle

Cell = str | Text
Row = tuple[Cell, ...]
Item = TypeVar("Item", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key, its label and an optional fixed width. A cell wider than a fixed
    width is cut with an ellipsis: at its end, or in its middle with `trim="middle"` (topic
    names, whose ends say the most)."""

    key: str
    label: str | Text
    width: int | None = None
    trim: str = "end"


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


MIN_GROW_WIDTH = 6
"""The narrowest a growing column gets (see `LiveTable.show_columns`)."""
NARROW = 120
"""Table screens narrower than this many columns show fewer, narrower columns."""
REBUILD_AT = 24
"""`sync()` rebuilds a table instead of removing rows when at least this many rows, and at
least half of them, go away at once."""


class LiveTable(DataTable[Cell]):
    """Rows are identified by key; `sync()` adds, updates (only changed cells) and removes rows
    so the cursor stays on the same row. `filter_text` hides rows whose text does not contain
    it (case-insensitive).

    With `follow_head` (the default), a cursor on the first row stays on the first row while
    rows arrive above it, like `tail -f` on a newest-first table; moved anywhere else, the cursor
    sticks to its row (key). With `max_rows`, only the first rows that pass the filter are
    shown (every row given is searched).

    Rows always carry a cell for every column of `columns` (the spec); `show_columns()` picks
    which of them are shown and how wide, e.g. fewer in a narrow terminal."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", key_display="⏎"),
    ]

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        classes: str | None = None,
        title: str = "",
        cell_padding: int = 1,
        follow_head: bool = True,
        max_rows: int | None = None,
    ) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            cell_padding=cell_padding,
            # Status colours in cells stay visible on the cursor row; only its background changes.
            cursor_foreground_priority="renderable",
        )
        self.spec = tuple(columns)
        self.title = title
        self.follow_head = follow_head
        self.max_rows = max_rows
        self.filter_text = ""
        self._shown: tuple[Column, ...] = self.spec
        self._index: tuple[int, ...] = tuple(range(len(self.spec)))
        self._layout: tuple[tuple[Column, ...], str | None] | None = None
        self._cells: dict[str, Row] = {}
        """The cells given for each shown row (before any cut to the column width)."""
        self._heads: dict[str, Cell] = {}
        """The object shown in each row's first cell: unique to its row (see `_reorder`)."""
        self._all_rows: list[tuple[str, Row]] = []
        self._search: Callable[[str], str] | None = None
        for column in self.spec:
            self.add_column(column.label, key=column.key, width=column.width)
        self._update_title()

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0 or not self.is_valid_row_index(self.cursor_row):
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns on screen, with the widths they have."""
        return self._shown

    def set_title(self, title: str) -> None:
        """Set the border title (markup allowed); the active filter is shown after it."""
        if title != self.title:
            self.title = title
            self._update_title()

    # --- columns ------------------------------------------------------------------------

    def show_columns(self, columns: Sequence[Column], grow: str | None = None) -> None:
        """Show only `columns` (keys of the spec, in this order, with these widths). `grow`
        names one of them that takes the width the others leave (at most its own width, if it
        has one); the others need a fixed width. Cheap when nothing changes: call it on every
        draw. Re-applied on resize."""
        layout = (tuple(columns), grow)
        if layout != self._layout:
            self._layout = layout
            self._apply_layout()

    def on_resize(self) -> None:
        if self._layout is not None and self._layout[1] is not None:
            self._apply_layout()

    def _apply_layout(self) -> None:
        assert self._layout is not None
        columns, grow = self._layout
        if grow is not None:
            pad = 2 * self.cell_padding
            # Inside the border, less one cell kept for the vertical scrollbar (so the layout
            # does not flip as rows come and go).
            room = self.content_region.width - 1
            used = sum(
                (c.width or cell_len(plain(c.label))) + pad for c in columns if c.key != grow
            )
            width = max(MIN_GROW_WIDTH, room - used - pad)
            columns = tuple(
                Column(c.key, c.label, min(width, c.width or width), c.trim) if c.key == grow else c
                for c in columns
            )
        self._set_shown(columns)

    def _set_shown(self, columns: tuple[Column, ...]) -> None:
        if columns == self._shown:
            return
        cursor_key = self.cursor_key
        # A different set of columns (a resize, rarely): rebuild the table, keep the cursor.
        self.clear(columns=True)
        self._cells.clear()
        self._heads.clear()
        position = {c.key: i for i, c in enumerate(self.spec)}
        self._index = tuple(position[c.key] for c in columns)
        self._shown = columns
        for column in columns:
            self.add_column(column.label, key=column.key, width=column.width)
        self.sync(self._all_rows, self._search)
        if cursor_key is not None and cursor_key in self._cells:
            self.move_cursor(row=self.get_row_index(cursor_key))

    def replace_last_column(self, label: str | Text, width: int | None) -> None:
        """Give the last column a new label and width; its cells are redrawn at the next
        `sync()` (e.g. a waterfall's bar column after a resize)."""
        last = self._shown[-1]
        self.remove_column(last.key)
        self.add_column(label, key=last.key, width=width)
        column = Column(last.key, label, width, last.trim)
        self._shown = (*self._shown[:-1], column)
        self.spec = tuple(column if c.key == last.key else c for c in self.spec)
        for key, cells in self._cells.items():
            self._cells[key] = (*cells[:-1], _STALE)

    # --- rows ---------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Show only rows containing `text` (empty: all rows) and redraw from the last rows."""
        self.filter_text = text
        self._update_title()
        self.sync(self._all_rows, self._search)

    def _update_title(self) -> None:
        title = self.title
        if self.filter_text:
            title = f"{title}  [b]/{escape(self.filter_text)}[/b]"
        self.border_title = title

    def _visible(self, rows: Sequence[tuple[str, Row]]) -> Sequence[tuple[str, Row]]:
        needle = self.filter_text.lower()
        if not needle:
            return rows
        search = self._search
        return [
            (key, cells)
            for key, cells in rows
            if needle
            in " ".join(
                [key, *(plain(cell) for cell in cells), search(key) if search else ""]
            ).lower()
        ]

    def sync(
        self, rows: Sequence[tuple[str, Row]], search: Callable[[str], str] | None = None
    ) -> None:
        """Make the table show `rows` (key, cells for every column of the spec) in this order.

        The filter matches the key, the cells' text and `search(key)`: the full values of
        cells that are shown shortened (called only while a filter is set)."""
        self._all_rows = list(rows)
        self._search = search
        index = self._index
        every = len(index) == len(self.spec)
        wanted: dict[str, Row] = {}
        limit = self.max_rows
        for key, cells in self._visible(rows):
            if key not in wanted:
                wanted[key] = cells if every else tuple(cells[i] for i in index)
                if limit is not None and len(wanted) >= limit:
                    break
        cursor_key = self.cursor_key
        following = self.follow_head and self.cursor_row <= 0
        gone = [key for key in self._cells if key not in wanted]
        if len(gone) >= REBUILD_AT and 2 * len(gone) >= len(self._cells):
            # Most rows replaced (a fast stream): removing rows one by one costs a reindex
            # each; starting over is much cheaper. The cursor stays on its row, if kept.
            self._rebuild(wanted, None if following else cursor_key)
            return
        for key in gone:
            self.remove_row(key)
            del self._cells[key]
            del self._heads[key]
        shown = self._shown
        for key, cells in wanted.items():
            old = self._cells.get(key)
            if old is None:
                display = [
                    self._display(column, cell) for column, cell in zip(shown, cells, strict=True)
                ]
                display[0] = self._heads[key] = _owned(display[0])
                self.add_row(*display, key=key)
                self._cells[key] = cells
                continue
            for i, (before, after) in enumerate(zip(old, cells, strict=True)):
                if not _same(before, after):
                    column = shown[i]
                    value = self._display(column, after)
                    if i == 0:
                        value = self._heads[key] = _owned(value)
                    self.update_cell(
                        key, column.key, value, update_width=self._wider(column, value)
                    )
            self._cells[key] = cells
        order = list(wanted)
        if self.keys != order:
            self._reorder(order)
        if following:
            if self.cursor_row != 0 and self.row_count:
                self.move_cursor(row=0)
        elif cursor_key is not None and cursor_key in wanted:
            row = self.get_row_index(cursor_key)
            if row != self.cursor_row:
                self.move_cursor(row=row)

    def _rebuild(self, wanted: dict[str, Row], cursor_key: str | None) -> None:
        self.clear()
        self._cells.clear()
        self._heads.clear()
        shown = self._shown
        for key, cells in wanted.items():
            display = [
                self._display(column, cell) for column, cell in zip(shown, cells, strict=True)
            ]
            display[0] = self._heads[key] = _owned(display[0])
            self.add_row(*display, key=key)
            self._cells[key] = cells
        if cursor_key is not None and cursor_key in wanted:
            self.move_cursor(row=list(wanted).index(cursor_key))

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # DataTable measures every cell of every new row to size auto-width columns: with
        # only fixed-width columns (every `show_columns()` layout) there is nothing to measure,
        # and skipping it makes adding hundreds of rows several times cheaper. Rows are one
        # line high here, so only the virtual size needs updating.
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            width + self._row_label_column_width, self._total_row_height + header
        )

    @staticmethod
    def _display(column: Column, cell: Cell) -> Cell:
        return cell if column.width is None else fit_cell(cell, column.width, column.trim)

    def _wider(self, column: Column, value: Cell) -> bool:
        """Whether `value` is wider than its auto-sized column: then the column grows (it never
        shrinks: shrinking would measure the whole column, and a steady width reads better)."""
        if column.width is not None:
            return False
        width = value.cell_len if isinstance(value, Text) else cell_len(value)
        return width > self.columns[ColumnKey(column.key)].content_width

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort() only hands row values to the key function; the first cell of each
        # row is an object this table owns (see _owned), so its identity names the row.
        heads = self._heads
        rank = {id(heads[key]): i for i, key in enumerate(order)}
        self.sort(key=lambda values: rank[id(values[0])])


class RowMemo(Generic[Item]):
    """Cells built from immutable (hashable) model rows, reused while a row is unchanged, so a
    redraw of thousands of rows builds only the new ones. Call `sweep()` after each redraw:
    rows not seen since the previous sweep are forgotten."""

    def __init__(self, build: Callable[[Item], Row]) -> None:
        self.build = build
        self._old: dict[Item, Row] = {}
        self._new: dict[Item, Row] = {}

    def __call__(self, item: Item) -> Row:
        cells = self._new.get(item)
        if cells is None:
            cells = self._old.get(item)
            if cells is None:
                cells = self.build(item)
            self._new[item] = cells
        return cells

    def sweep(self) -> None:
        """Forget the rows that were not asked for since the last sweep."""
        self._old, self._new = self._new, {}


_STALE = Text("\x00stale")
"""Stands for a cell whose column was replaced: never equal to a real cell."""


def _same(a: Cell, b: Cell) -> bool:
    if a is b:  # memoised cells (RowMemo) are the very same objects from tick to tick
        return True
    # Text.__eq__ ignores the base style; a status that changes colour must count as a change.
    if isinstance(a, Text):
        a_plain, a_style, a_spans = a.plain, a.style, a.spans
    else:
        a_plain, a_style, a_spans = a, "", []
    if isinstance(b, Text):
        return a_plain == b.plain and a_style == b.style and a_spans == b.spans
    return a_plain == b and not a_style and not a_spans


def _owned(cell: Cell) -> Text:
    """A fresh Text object for the first cell, unique to its row."""
    return Text(cell) if isinstance(cell, str) else cell.copy()
