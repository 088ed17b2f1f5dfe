"""A DataTable that is updated in place from fresh rows, by key (never cleared)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets.data_table import ColumnKey

from edamon.ui.widgets.cells import (
    Cell,
    Column,
    LazyRows,
    Row,
    RowMemo,
    fit_cell,
    matching_rows,
    owned_cell,
    plain,
    same_cell,
)
from edamon.ui.widgets.fasttable import FastTable

__all__ = [
    "MIN_GROW_WIDTH",
    "NARROW",
    "REBUILD_AT",
    "Cell",
    "Column",
    "LazyRows",
    "LiveTable",
    "Row",
    "RowMemo",
    "fit_cell",
    "plain",
]

MIN_GROW_WIDTH = 6
"""The narrowest a growing column gets (see `LiveTable.show_columns`)."""
NARROW = 120
"""Table screens narrower than this many columns show fewer, narrower columns."""
REBUILD_AT = 24
"""`sync()` rebuilds a table instead of removing rows when at least this many rows, and at
least half of them, go away at once."""


class LiveTable(FastTable):
    """Rows are identified by key; `sync()` adds, updates (only changed cells) and removes rows
    so the cursor stays on the same row. `filter_text` hides rows whose text does not contain
    it (case-insensitive).

    With `follow_head` (the default), a cursor on the first row stays on the first row while
    rows arrive above it, like `tail -f` on a newest-first table; moved anywhere else, the cursor
    sticks to its row (key). With `pin_limit`, a cursor that arriving rows have pushed down by
    more than that many rows since it last moved goes back to the first row (a lazy table
    holds every row above its cursor: a storm of arrivals would make each redraw dearer).
    With `max_rows`, only the first rows that pass the filter are
    shown (every row given is searched).

    With `lazy`, the table holds only the rows from the top to a page or two below the view
    (and the cursor); more come as the cursor or the view moves down, and the border shows
    which rows are in view out of how many. A redraw of a table of hundreds of rows then costs
    what a screenful costs. The filter still searches every row given; `select_key()` and
    `all_keys` reach rows not held yet.

    Rows always carry a cell for every column of `columns` (the spec); `show_columns()` picks
    which of them are shown and how wide, e.g. fewer in a narrow terminal.

    Enter opens the row under the cursor (the screen handles `RowSelected`); with
    `opens=False` there is nothing to open and Enter is neither shown nor bound. Home/End (and
    g/G) go to the first/last row, as ctrl+home/ctrl+end do."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", key_display="⏎"),
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]
    HELP_NAME: ClassVar[str] = "Table"
    """The heading of the table's keys in the help (`?`)."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        classes: str | None = None,
        title: str = "",
        cell_padding: int = 1,
        follow_head: bool = True,
        pin_limit: int | None = None,
        max_rows: int | None = None,
        lazy: bool = False,
        opens: bool = True,
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
        self.title: str | Content = title
        self.follow_head = follow_head
        self.pin_limit = pin_limit
        self._pushed = 0
        """Rows that arrived above the cursor since it last moved other than by `sync`."""
        self._synced_row = 0
        """Where `sync` left the cursor."""
        self.max_rows = max_rows
        self.lazy = lazy
        self.opens = opens
        self.filter_text = ""
        self._shown: tuple[Column, ...] = self.spec
        self._index: tuple[int, ...] = tuple(range(len(self.spec)))
        self._layout: tuple[tuple[Column, ...], str | None] | None = None
        self._cells: dict[str, Row] = {}
        """The cells given for each shown row (before any cut to the column width)."""
        self._heads: dict[str, Cell] = {}
        """The object shown in each row's first cell: unique to its row (see `_reorder`)."""
        self._all_rows: Sequence[tuple[str, Row]] = ()
        self._search: Callable[[str], str] | None = None
        self._all_keys: list[str] = []
        """Every row that passes the filter (at most max_rows), in order: held or not."""
        self._hold = 0
        """`lazy`: hold at least this many rows (set by `select_key` and ctrl+end)."""
        self._growing = False
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
        """Keys of the rows in the table, in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def all_keys(self) -> list[str]:
        """Keys of every row the table shows or would show as it scrolls (`lazy`), in order."""
        return list(self._all_keys)

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns on screen, with the widths they have."""
        return self._shown

    def set_title(self, title: str | Content) -> None:
        """Set the border title (a str is markup: record text goes in a Content, never in
        markup); the active filter is shown after it."""
        if title != self.title:
            self.title = title
            self._update_title()

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row `key` (taking it in if the table does not hold it yet);
        False if no row that passes the filter has that key."""
        if key not in self._cells:
            if key not in self._all_keys:
                return False
            self._hold = self._all_keys.index(key) + 1
            self.sync(self._all_rows, self._search)
        self.move_cursor(row=self.get_row_index(key))
        return True

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
        self._grow_if_needed()

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
        shown = Content.from_markup(title) if isinstance(title, str) else title
        if self.filter_text:
            shown = Content.assemble(shown, "  ", ("/" + self.filter_text, "bold"))
        self.border_title = shown

    def _page(self) -> int:
        """Rows in a screenful of the table (before it is laid out: of the terminal)."""
        height = self.scrollable_content_region.height or self.app.size.height
        return max(1, height - (self.header_height if self.show_header else 0))

    def _held(self, total: int, cursor_at: int) -> int:
        """How many of `total` rows a lazy table holds with its cursor at row `cursor_at`:
        down to a page below the view and the cursor, in whole pages, at least `_hold`."""
        if not self.lazy:
            return total
        page = self._page()
        need = max(int(self.scroll_y) + 2 * page, cursor_at + page + 1, self._hold)
        return min(total, -(-need // page) * page)

    def sync(
        self, rows: Sequence[tuple[str, Row]], search: Callable[[str], str] | None = None
    ) -> None:
        """Make the table show `rows` (key, cells for every column of the spec) in this order.

        The filter matches the key, the cells' text and `search(key)`: the full values of
        cells that are shown shortened (called only while a filter is set). Pass `LazyRows`
        for the cells to be built only for the rows the table holds (see `lazy`)."""
        self._all_rows = rows
        self._search = search
        candidates = matching_rows(rows, self.filter_text, search, self.max_rows)
        self._all_keys = list(candidates)
        cursor_key = self.cursor_key
        following = self.follow_head and self.cursor_row <= 0
        cursor_at = 0
        if not following and cursor_key is not None and cursor_key in candidates:
            cursor_at = self._all_keys.index(cursor_key)
            if self.pin_limit is not None:
                following, cursor_at = self._pushed_too_far(cursor_at)
        held = self._held(len(candidates), cursor_at)
        index = self._index
        every = len(index) == len(self.spec)
        wanted: dict[str, Row] = {}
        for key in self._all_keys[:held]:
            i, cells = candidates[key]
            if cells is None:
                cells = rows[i][1]
            wanted[key] = cells if every else tuple(cells[j] for j in index)
        self._show_position(held)
        gone = [key for key in self._cells if key not in wanted]
        if len(gone) >= REBUILD_AT and 2 * len(gone) >= len(self._cells):
            # Most rows replaced (a fast stream): removing rows one by one costs a reindex
            # each; starting over is much cheaper. The cursor stays on its row, if kept.
            self._rebuild(wanted, None if following else cursor_key)
            self._synced_row = self.cursor_row
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
                display[0] = self._heads[key] = owned_cell(display[0])
                self.add_row(*display, key=key)
                self._cells[key] = cells
                continue
            for i, (before, after) in enumerate(zip(old, cells, strict=True)):
                if not same_cell(before, after):
                    column = shown[i]
                    value = self._display(column, after)
                    if i == 0:
                        value = self._heads[key] = owned_cell(value)
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
        self._synced_row = self.cursor_row

    def _pushed_too_far(self, cursor_at: int) -> tuple[bool, int]:
        """(follow the head now, where the cursor goes): back to the first row once arrivals
        pushed the cursor down by more than `pin_limit` rows since it last moved."""
        if self.cursor_row != self._synced_row:  # the operator moved it
            self._pushed = 0
        self._pushed += max(0, cursor_at - self.cursor_row)
        assert self.pin_limit is not None
        if self._pushed > self.pin_limit:
            self._pushed = 0
            return True, 0
        return False, cursor_at

    def _rebuild(self, wanted: dict[str, Row], cursor_key: str | None) -> None:
        self.clear()
        self._cells.clear()
        self._heads.clear()
        shown = self._shown
        for key, cells in wanted.items():
            display = [
                self._display(column, cell) for column, cell in zip(shown, cells, strict=True)
            ]
            display[0] = self._heads[key] = owned_cell(display[0])
            self.add_row(*display, key=key)
            self._cells[key] = cells
        if cursor_key is not None and cursor_key in wanted:
            self.move_cursor(row=list(wanted).index(cursor_key))

    # --- lazy: growing as the view moves down -------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.lazy:
            self._show_position(len(self._cells))
            self._grow_if_needed()

    def watch_cursor_coordinate(
        self, old_coordinate: Coordinate, new_coordinate: Coordinate
    ) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        if self.lazy:
            if new_coordinate.row == 0:
                self._hold = 0  # back at the top: hold rows for the view again
            self._grow_if_needed()

    def _needs_more(self) -> bool:
        held, total = len(self._cells), len(self._all_keys)
        return held < total and self._held(total, self.cursor_row) > held

    def _grow_if_needed(self) -> None:
        if self.lazy and not self._growing and self._needs_more():
            self._growing = True
            self.call_next(self._grow)  # not from inside a watcher (or a sync)

    def _grow(self) -> None:
        self._growing = False
        if self._needs_more():
            self.sync(self._all_rows, self._search)

    def action_scroll_bottom(self) -> None:
        """ctrl+end: the last row, taking in every row first."""
        if self.lazy and len(self._cells) < len(self._all_keys):
            self._hold = len(self._all_keys)
            self.sync(self._all_rows, self._search)
        super().action_scroll_bottom()

    # DataTable's home/end only scroll sideways with a row cursor: here they go to the first
    # and the last row (left/right still scroll sideways).

    def action_scroll_home(self) -> None:
        """home: the first row."""
        self.action_scroll_top()

    def action_scroll_end(self) -> None:
        """end: the last row."""
        self.action_scroll_bottom()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor" and not self.opens:
            return False  # nothing to open: Enter is not shown (nor bound)
        return super().check_action(action, parameters)

    def _show_position(self, held: int) -> None:
        """A lazy table that does not hold every row says which rows are in view, of how many
        (its scrollbar covers only the rows held)."""
        total = len(self._all_keys)
        subtitle = ""
        if self.lazy and held < total:
            first = min(int(self.scroll_y), held - 1) + 1
            last = min(held, first + self._page() - 1)
            subtitle = f"[dim]{first:,}–{last:,} of {total:,}[/]"
        if (self.border_subtitle or "") != subtitle:
            self.border_subtitle = subtitle

    # --- cells --------------------------------------------------------------------------

    @staticmethod
    def _display(column: Column, cell: Cell) -> Cell:
        """The cell as shown: cut to its column, and always a Text (DataTable reads a str as
        markup, and record text is never markup: `[link=…]` would make a terminal link)."""
        shown = cell if column.width is None else fit_cell(cell, column.width, column.trim)
        return Text(shown) if isinstance(shown, str) else shown

    def _wider(self, column: Column, value: Cell) -> bool:
        """Whether `value` is wider than its auto-sized column: then the column grows (it never
        shrinks: shrinking would measure the whole column, and a steady width reads better)."""
        if column.width is not None:
            return False
        width = value.cell_len if isinstance(value, Text) else cell_len(value)
        return width > self.columns[ColumnKey(column.key)].content_width

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort() only hands row values to the key function; the first cell of each
        # row is an object this table owns (see owned_cell), so its identity names the row.
        heads = self._heads
        rank = {id(heads[key]): i for i, key in enumerate(order)}
        self.sort(key=lambda values: rank[id(values[0])])


_STALE = Text("\x00stale")
"""Stands for a cell whose column was replaced: never equal to a real cell."""
