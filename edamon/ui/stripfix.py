"""A fix for a garbage leak in Textual 8's `Strip`, applied when the app module is imported.

`Strip.divide()`, `Strip.extend_cell_length()` and `Strip.crop_extend()` cache their result in
the strip itself; when the result is the strip unchanged (the usual case: a line already at the
width asked for, divided at its own end) the strip refers to itself. Each such line is then
freed only by the cyclic GC, and the dashboard renders thousands of lines a second: measured,
~2,700 cyclic objects per second under bench/ui.py, which `gc.freeze()` (see
edamon/collector/runtime.py) would otherwise keep until the next defrost. The wrappers return
the strip itself in exactly those cases, without caching; every other case goes to Textual's own
code, so the results are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.style import Style
from textual.strip import Strip

_divide = Strip.divide
_extend_cell_length = Strip.extend_cell_length
_crop_extend = Strip.crop_extend


def _divide_without_self_cache(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    length = self.cell_length
    wanted = [cut for cut in cuts if cut <= length]
    if wanted == [length]:
        return [self]
    return _divide(self, wanted)


def _extend_without_self_cache(self: Strip, cell_length: int, style: Style | None = None) -> Strip:
    if cell_length == self.cell_length:
        return self
    return _extend_cell_length(self, cell_length, style)


def _crop_extend_without_self_cache(
    self: Strip, start: int, end: int, style: Style | None
) -> Strip:
    if start <= 0 and end == self.cell_length:
        return self
    return _crop_extend(self, start, end, style)


def install() -> None:
    """Replace the three methods (idempotent)."""
    Strip.divide = _divide_without_self_cache  # type: ignore[method-assign]
    Strip.extend_cell_length = _extend_without_self_cache  # type: ignore[method-assign]
    Strip.crop_extend = _crop_extend_without_self_cache  # type: ignore[method-assign]
