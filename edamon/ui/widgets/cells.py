"""Table cells: columns, cutting a cell to its width, rows built once or on demand, and a fast
path for rendering one-line cells."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from edamon.ui.format import shorten_middle

Cell = str | Text
Row = tuple[Cell, ...]
Item = TypeVar("Item", bound=Hashable)
T = TypeVar("T")


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


class LazyRows(Sequence[tuple[str, Row]], Generic[T]):
    """Table rows whose cells are built only when asked for: `LiveTable.sync()` reads every
    key but builds the cells of the rows it shows (all of them while a filter is set)."""

    def __init__(
        self, items: Sequence[T], key: Callable[[T], str], cells: Callable[[T], Row]
    ) -> None:
        self.items = items
        self._key = key
        self._cells = cells

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> tuple[str, Row]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, Row]]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, Row] | Sequence[tuple[str, Row]]:
        if isinstance(index, slice):
            return LazyRows(self.items[index], self._key, self._cells)
        item = self.items[index]
        return self._key(item), self._cells(item)

    def keys(self) -> list[str]:
        """Every row's key, in order, without building cells."""
        key = self._key
        return [key(item) for item in self.items]


def matching_rows(
    rows: Sequence[tuple[str, Row]],
    filter_text: str,
    search: Callable[[str], str] | None,
    limit: int | None,
) -> dict[str, tuple[int, Row | None]]:
    """The rows a table shows, in order: the first row of each key whose key, cells' text or
    `search(key)` contains `filter_text` (case-insensitive), at most `limit`; each with its
    index in `rows` and its cells if they had to be built (to be searched)."""
    found: dict[str, tuple[int, Row | None]] = {}
    needle = filter_text.lower()
    if not needle:
        keys = rows.keys() if isinstance(rows, LazyRows) else [key for key, _ in rows]
        for i, key in enumerate(keys):
            if key not in found:
                found[key] = (i, None)
                if limit is not None and len(found) >= limit:
                    break
        return found
    for i, (key, cells) in enumerate(rows):
        if key in found:
            continue
        text = " ".join([key, *(plain(cell) for cell in cells), search(key) if search else ""])
        if needle in text.lower():
            found[key] = (i, cells)
            if limit is not None and len(found) >= limit:
                break
    return found


# --- rendering --------------------------------------------------------------------------------

_JUSTIFY = frozenset({None, "default", "left", "right", "center"})


def render_text_cell(
    console: Console,
    cell: object,
    width: int,
    padding: int,
    pre_style: Style,
    post_style: Style,
) -> list[Segment] | None:
    """The one line of a DataTable cell `width` cells wide (its padding included), as Rich
    renders `Styled(Padding(cell, (0, padding)), pre_style, post_style)` one line high without
    wrapping (what DataTable does); None when `cell` is not a Text that fits on that line.

    Rich's general path (measuring, wrapping, cropping, shaping) costs ~150 µs a cell, and
    DataTable renders every visible cell again after any change to its table: this builds the
    same segments from the Text's spans in a few µs."""
    if not isinstance(cell, Text) or cell.justify not in _JUSTIFY:
        return None
    inner = width - 2 * padding
    text = cell.plain
    length = cell.cell_len
    if inner < 1 or length > inner or "\n" in text or "\t" in text:
        return None
    justify = cell.justify or "default"
    if justify in ("right", "center") and text != text.rstrip():
        return None  # Rich strips trailing space before it justifies: let it
    # rich.text.Lines.justify() pads a line that fits with spaces that are part of the text (in
    # its base style); "default" leaves the room to the crop after rendering (unstyled).
    excess = inner - length
    left = excess if justify == "right" else excess // 2 if justify == "center" else 0
    right = excess - left
    base = console.get_style(cell.style, default=Style.null()) if cell.style else None
    segments: list[Segment] = []
    if padding:
        segments.append(Segment(" " * padding))
    if left:
        segments.append(Segment(" " * left, base))
    if cell.spans:
        # Text.__rich_console__ joins its lines into one Text, whose spans start with the
        # base style: render that, so that styles combine in the same order.
        segments.extend(Text("\n").join([cell]).render(console) if base else cell.render(console))
    elif text:
        segments.append(Segment(text, base))
    if right:
        segments.append(Segment(" " * right, None if justify == "default" else base))
    if padding:
        segments.append(Segment(" " * padding))
    # Segment.apply_style(segments, pre_style, post_style), as textual's Styled does it.
    styled: list[Segment] = []
    done: dict[Style | None, Style | None] = {}
    for segment in segments:
        style = segment.style
        if style in done:
            final = done[style]
        else:
            final = style
            if pre_style:
                final = pre_style + final
            if post_style:
                final = final + post_style if final else post_style
            done[style] = final
        styled.append(Segment(segment.text, final))
    return styled


def same_cell(a: Cell, b: Cell) -> bool:
    """Whether two cells look the same (text, base style and spans)."""
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


def owned_cell(cell: Cell) -> Text:
    """A fresh Text object for a row's first cell, unique to its row."""
    return Text(cell) if isinstance(cell, str) else cell.copy()
