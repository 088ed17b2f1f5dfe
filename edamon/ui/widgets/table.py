"""A DataTable that is updated in place from fresh rows, by key (never cleared)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[Cell, ...]
Item = TypeVar("Item", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key, its label and an optional fixed width."""

    key: str
    label: str | Text
    width: int | None = None


def plain(cell: Cell) -> str:
    """The text of a cell without styles."""
    return cell.plain if isinstance(cell, Text) else cell


class LiveTable(DataTable[Cell]):
    """Rows are identified by key; `sync()` adds, updates (only changed cells) and removes rows
    so the cursor stays on the same row and the scroll position is kept. `filter_text` hides
    rows whose text does not contain it (case-insensitive)."""

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
        self.filter_text = ""
        self._cells: dict[str, Row] = {}
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

    def set_title(self, title: str) -> None:
        """Set the border title (markup allowed); the active filter is shown after it."""
        if title != self.title:
            self.title = title
            self._update_title()

    def replace_last_column(self, label: str | Text, width: int | None) -> None:
        """Give the last column a new label and width; its cells are redrawn at the next
        `sync()` (e.g. a waterfall's bar column after a resize)."""
        last = self.spec[-1]
        self.remove_column(last.key)
        self.add_column(label, key=last.key, width=width)
        self.spec = (*self.spec[:-1], Column(last.key, label, width))
        for key, cells in self._cells.items():
            self._cells[key] = (*cells[:-1], _STALE)

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
        """Make the table show `rows` (key, cells) in this order.

        The filter matches the key, the cells' text and `search(key)`: the full values of
        cells that are shown shortened (called only while a filter is set)."""
        self._all_rows = list(rows)
        self._search = search
        wanted: dict[str, Row] = {}
        for key, cells in self._visible(rows):
            wanted.setdefault(key, cells)
        cursor_key = self.cursor_key
        for key in [key for key in self._cells if key not in wanted]:
            self.remove_row(key)
            del self._cells[key]
        columns = [column.key for column in self.spec]
        for key, cells in wanted.items():
            old = self._cells.get(key)
            if old is None:
                first, *rest = cells
                stored: Row = (_owned(first), *rest)
                self.add_row(*stored, key=key)
                self._cells[key] = stored
                continue
            merged = list(old)
            for index, (before, after) in enumerate(zip(old, cells, strict=True)):
                if not _same(before, after):
                    value = _owned(after) if index == 0 else after
                    self.update_cell(key, columns[index], value, update_width=False)
                    merged[index] = value
            self._cells[key] = tuple(merged)
        order = list(wanted)
        if self.keys != order:
            self._reorder(order)
        if cursor_key is not None and cursor_key in wanted:
            index = self.get_row_index(cursor_key)
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort() only hands row values to the key function; the first cell of each
        # row is an object this table owns (see _owned), so its identity names the row.
        rank = {id(self._cells[key][0]): index for index, key in enumerate(order)}
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
