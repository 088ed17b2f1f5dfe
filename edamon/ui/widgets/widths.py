"""Column widths for a table of a given width: pure logic (no Textual).

The rule users of k9s and lazygit expect: columns of numbers and short words get what their
content needs (no more: `lag` needs 5 cells for `1,512`, not the 7 it was given), and the room
they leave is shared by the text columns (names), the narrowest first, so no name is cut to a
stub while another is shown whole with room to spare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Want:
    """What one column asks of the table's width (padding not counted)."""

    need: int
    """The cells its widest cell (or its label) takes."""
    cap: int | None = None
    """The most it gets (None: no limit)."""
    share: int = 0
    """0: a fixed column, as wide as it needs (up to `cap`). 1, 2, ...: a text column that
    shares the room the fixed ones leave; at equal widths, 1 is served first."""
    least: int = 1
    """The fewest cells a text column gets, room or not."""


def allocate(room: int, wants: Sequence[Want], fill: int | None = None) -> list[int]:
    """The width of each column in `room` cells.

    Fixed columns get what they need (up to their cap). Text columns start at their `least`
    and are widened a cell at a time, the narrowest first (ties by `share`, then by order),
    until each shows its widest cell or the room runs out: a long name is cut before a short
    one is. What is left after that goes to the column `fill` (an index), up to its cap; the
    rest stays blank. When the room is too small, text columns keep their `least` and the
    widths add up to more than `room` (the table scrolls sideways)."""
    widths = [
        _capped(max(w.need, 1), w.cap) if not w.share else _capped(w.least, w.cap) for w in wants
    ]
    left = room - sum(widths)
    text = sorted((i for i, w in enumerate(wants) if w.share), key=lambda i: (wants[i].share, i))
    while left > 0:
        hungry = [i for i in text if widths[i] < _capped(wants[i].need, wants[i].cap)]
        if not hungry:
            break
        level = min(widths[i] for i in hungry)
        for i in hungry:
            if widths[i] == level and left > 0:
                widths[i] += 1
                left -= 1
    if fill is not None and left > 0:
        cap = wants[fill].cap
        widths[fill] += left if cap is None else max(0, min(left, cap - widths[fill]))
    return widths


def _capped(width: int, cap: int | None) -> int:
    return width if cap is None else min(width, cap)
