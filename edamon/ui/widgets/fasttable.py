"""A DataTable with some of its internals made cheaper for live tables.

These override private DataTable methods and attributes (textual 8.2): each keeps DataTable's
own path for anything it does not handle, and tests/ui/test_ui_table.py checks them against
DataTable's own results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import CellCacheKey
from textual.widgets.data_table import RowKey

from edamon.ui.widgets.cells import Cell, render_text_cell

K = TypeVar("K")
V = TypeVar("V")

_CACHES = (
    "_row_render_cache",
    "_cell_render_cache",
    "_row_renderable_cache",
    "_line_cache",
    "_offset_cache",
    "_ordered_row_cache",
)


class RinglessCache(LRUCache[K, V]):
    """An LRUCache whose `clear()` leaves no cyclic garbage.

    LRUCache keeps its entries in a ring of [prev, next, key, value] lists, and its clear()
    drops the ring as it is: a cycle that reference counting cannot free, only the cyclic GC.
    DataTable clears its caches (up to 13,000 entries) on every clear() and style update
    (focus, screen switch), so the GC ran more often, and for longer."""

    def clear(self) -> None:
        for entry in self._cache.values():
            entry.clear()
        super().clear()


@dataclass(frozen=True, slots=True)
class _RowContext:
    ident: tuple[object, ...]
    key: RowKey
    rest: tuple[Any, ...]
    """The cell cache key after (row key, column key)."""
    cells: list[RenderableType]
    pre_style: Style
    post_style: Style


class FastTable(DataTable[Cell]):
    """DataTable, drawn and grown faster and leaving less garbage: see `_render_cell`,
    `_update_dimensions` and `RinglessCache`."""

    fast_render = True
    """Render one-line cells with `render_text_cell` (False: DataTable's own way, for tests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_row: _RowContext | None = None
        for name in _CACHES:
            setattr(self, name, RinglessCache(getattr(self, name).maxsize))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._last_row = None  # a row's context lives for one render at most
        return super().render_lines(crop)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        # DataTable renders each cell through Rich's general machinery (~150 µs a cell) and
        # renders every visible cell again after any change to the table: a full 120x40 table
        # took ~50 ms. Body cells of one-line rows take the fast path, which gives the same
        # segments; the header, fixed rows and columns and anything else take DataTable's.
        # Same cache and cache key as DataTable._render_cell.
        if (
            not self.fast_render
            or row_index < max(0, self.fixed_rows)
            or column_index < max(0, self.fixed_columns)
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        row = self._row_context(row_index, base_style, cursor, hover)
        if row is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key: CellCacheKey = (row.key, column_key, *row.rest)
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        line = render_text_cell(
            self.app.console,
            row.cells[column_index],
            width,
            self.cell_padding,
            # DataTable: (base + meta) + component; the same style, the meta of a cell added last.
            row.pre_style + Style.from_meta({"row": row_index, "column": column_index}),
            row.post_style,
        )
        if line is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines

    def _row_context(
        self, row_index: int, base_style: Style, cursor: bool, hover: bool
    ) -> _RowContext | None:
        """What every cell of a row shares when rendered (DataTable renders a row's cells one
        after another): worked out once per row, not once per cell. None: not one line high."""
        ident = (
            row_index,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        context = self._last_row
        if context is not None and context.ident == ident:
            return context
        row_key = self._row_locations.get_key(row_index)
        row = None if row_key is None else self.rows.get(row_key)
        if row_key is None or row is None or row.height != 1:
            return None
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        context = _RowContext(
            ident,
            row_key,
            ident[1:],
            self._get_row_renderables(row_index).cells,
            base_style + component_style,
            post_style,
        )
        self._last_row = context
        return context

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
