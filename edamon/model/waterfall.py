"""The waterfall (Jaeger's trace view), without any UI: tree layout, critical path, bars, axis.

Everything here is pure and iterative (no recursion), so trees of many thousands of rows and
graphs with cycles are safe. The UI turns the strings into widgets; nothing here holds markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)

EIGHTHS = "▏▎▍▌▋▊▉█"
"""Right ends of a bar in eighths of a cell: EIGHTHS[k - 1] covers k/8 of the cell."""
MARKER = "▏"
"""A zero-length span: one thin mark at its position."""


@dataclass(frozen=True, slots=True)
class Layout(Generic[N]):
    """A forest laid out in preorder (parent before children). Indexes refer to `order`."""

    order: tuple[N, ...]
    depth: tuple[int, ...]
    parent: tuple[int, ...]
    """Index of the parent row, -1 for a top row."""
    children: tuple[tuple[int, ...], ...]


def layout(
    tops: Iterable[N],
    children: Callable[[N], Iterable[N]],
    key: Callable[[N], tuple[float, str]],
) -> Layout[N]:
    """Lay out the graph reachable from `tops` (in the given order) in preorder, children sorted
    by `key`. Each node appears once: a node already placed is skipped, so cycles terminate
    (the edge that closes a cycle is dropped). Iterative: depth is not limited by the stack."""
    order: list[N] = []
    depth: list[int] = []
    parent: list[int] = []
    kids: list[list[int]] = []
    seen: set[N] = set()
    for top in tops:
        if top in seen:
            continue
        seen.add(top)
        stack: list[tuple[N, int, int]] = [(top, 0, -1)]
        while stack:
            node, level, parent_index = stack.pop()
            index = len(order)
            order.append(node)
            depth.append(level)
            parent.append(parent_index)
            kids.append([])
            if parent_index >= 0:
                kids[parent_index].append(index)
            fresh = [c for c in children(node) if c not in seen]
            if fresh:
                seen.update(fresh)
                fresh.sort(key=key, reverse=True)
                stack.extend((c, level + 1, index) for c in fresh)
    return Layout(tuple(order), tuple(depth), tuple(parent), tuple(tuple(k) for k in kids))


def subtree_ends(times: Sequence[float], parent: Sequence[int]) -> list[float]:
    """Latest time in each row's subtree, for rows in preorder (children after parents)."""
    ends = list(times)
    for index in range(len(ends) - 1, -1, -1):
        up = parent[index]
        if up >= 0 and ends[index] > ends[up]:
            ends[up] = ends[index]
    return ends


def critical_path(
    top: int,
    starts: Sequence[float],
    ends: Sequence[float],
    parent: Sequence[int],
    children: Sequence[Sequence[int]],
) -> set[int]:
    """Jaeger's critical path over a tree of spans [start, end] (end = latest in the subtree).

    From `top`: take the child that finished last, mark the gap from its end to the parent's end
    as critical and descend into it; with no such child the span itself is critical; then step
    back to the parent and take the child that finished before the returning child started.
    Iterative; every child is entered at most once. Returns the rows with a critical section.
    """
    by_end: dict[int, list[int]] = {}
    cursor: dict[int, int] = {}
    critical: set[int] = set()
    current, bound = top, None
    while True:
        ordered = by_end.get(current)
        if ordered is None:
            ordered = sorted(children[current], key=lambda i: (-ends[i], i))
            by_end[current] = ordered
        j = cursor.get(current, 0)
        if bound is not None:  # children sorted by end, latest first; bounds only decrease
            while j < len(ordered) and ends[ordered[j]] >= bound:
                j += 1
        cursor[current] = j
        if j < len(ordered):
            child = ordered[j]
            cursor[current] = j + 1
            if ends[child] != (ends[current] if bound is None else bound):
                critical.add(current)  # the gap between the child's end and ours
            current, bound = child, None
            continue
        critical.add(current)
        if current == top or parent[current] < 0:
            return critical
        current, bound = parent[current], starts[current]


def frac(t: float, start: float, end: float) -> float:
    """Position of `t` in [start, end] as 0..1 (clamped); 0.0 when the span is empty."""
    if not end > start:
        return 0.0
    return min(1.0, max(0.0, (t - start) / (end - start)))


def bar(start_frac: float, end_frac: float, width: int) -> str:
    """A bar over `width` cells from `start_frac` to `end_frac` (0..1, clamped), padded to
    exactly `width`. Full cells start at the cell holding the start; the right end uses eighths
    (▏▎▍▌▋▊▉█). A zero-length span is a single ▏ at its position; a non-empty span shows at
    least one eighth."""
    if width <= 0:
        return ""
    lo = min(1.0, max(0.0, start_frac))
    hi = min(1.0, max(lo, end_frac))
    cell = min(width - 1, int(lo * width))
    if hi <= lo:
        return (" " * cell + MARKER).ljust(width)
    eighths = max(1, math.floor(hi * width * 8 + 0.5) - cell * 8)
    full, part = divmod(eighths, 8)
    text = " " * cell + "█" * full + (EIGHTHS[part - 1] if part else "")
    return text[:width].ljust(width)


_STEPS = sorted(
    {m * 10.0**k for k in range(-4, 2) for m in (1, 2, 5)}
    | {15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0}
    | {86400.0 * d for d in (1, 2, 7, 14, 30, 60, 90, 180, 365)}
)
"""Tick steps in seconds: 1-2-5 from 0.1 ms to 50 s, then round clock units."""
TICK_SPACING = 10
"""At least this many cells from one tick to the next (a label plus some air)."""


def time_axis(start: float, end: float, width: int) -> str:
    """A ruler of `width` cells with offset labels (+0ms, +20ms, +40ms ... +1.0s ...) at the
    smallest round step that leaves room between labels, at any span from a fraction of a
    millisecond to months. When not even one step fits, the ends: `+0ms` and the span.

    Each label starts at its tick (the last is pulled inside the ruler); labels that would
    overlap are left out."""
    if width <= 0:
        return ""
    span = max(0.0, end - start)
    if span <= 0:
        return "+0ms"[:width].ljust(width)
    for step in _STEPS:
        if step > span * (1 + 1e-9):
            break
        ticks = int(span / step * (1 + 1e-9))
        longest = max(len(_label(k * step)) for k in (1, ticks))
        if step / span * width >= max(TICK_SPACING, longest + 2):
            return _ruler([k * step for k in range(ticks + 1)], span, width)
    return _ruler([0.0, span], span, width)


def _label(offset: float) -> str:
    return "+" + human_duration(offset)


def _ruler(offsets: Sequence[float], span: float, width: int) -> str:
    cells = [" "] * width
    free = 0
    for offset in offsets:
        label = _label(offset)
        col = min(round(offset / span * width), width - len(label))
        if col >= free and col >= 0:
            cells[col : col + len(label)] = label
            free = col + len(label) + 1
    if free == 0:  # not even "+0ms" fits: as much of it as fits
        return "+0ms"[:width].ljust(width)
    return "".join(cells)


def human_duration(seconds: float) -> str:
    """850ms, 1.2s, 42.0s, 3m05s, 2h01m, 3d04h; under 10ms one decimal (2.5ms); negative
    durations get a leading minus."""
    if seconds < 0:
        return "-" + human_duration(-seconds)
    ms = seconds * 1000.0
    if ms < 9.95 and ms != int(ms):
        return f"{ms:.1f}ms"
    if round(ms) < 1000:
        return f"{round(ms)}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    minutes = round(seconds / 60)
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    hours = round(seconds / 3600)
    return f"{hours // 24}d{hours % 24:02d}h"
