"""Waterfall helpers: bars with sub-cell ends, the time axis, durations, layout, critical path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edamon.model.waterfall import (
    EIGHTHS,
    bar,
    critical_path,
    frac,
    human_duration,
    layout,
    subtree_ends,
    time_axis,
)


def test_full_half_and_partial_bars() -> None:
    assert bar(0.0, 1.0, 10) == "█" * 10
    assert bar(0.0, 0.5, 10) == "█" * 5 + " " * 5
    assert bar(0.0, 0.55, 10) == "█" * 5 + "▌" + " " * 4
    assert bar(0.25, 0.5, 8) == "  ██    "  # full cells from the cell holding the start
    assert bar(0.3, 0.6, 10) == "   ███    "


@pytest.mark.parametrize("eighths", range(1, 8))
def test_right_end_in_eighths(eighths: int) -> None:
    assert bar(0.0, (16 + eighths) / 80, 10) == "██" + EIGHTHS[eighths - 1] + " " * 7
    assert EIGHTHS[eighths - 1] == "▏▎▍▌▋▊▉"[eighths - 1]


def test_zero_length_and_tiny_spans_show_a_marker() -> None:
    assert bar(0.3, 0.3, 10) == "   ▏      "
    assert bar(1.0, 1.0, 10) == "         ▏"
    assert bar(0.0, 0.0, 3) == "▏  "
    assert bar(0.5, 0.5001, 10) == "     ▏    "  # under an eighth: still visible
    assert bar(0.8, 0.2, 10) == "        ▏ "  # end before start: a point at the start


def test_clamping_and_degenerate_widths() -> None:
    assert bar(-1.0, 2.0, 5) == "█████"
    assert bar(1.5, 3.0, 4) == "   ▏"
    assert bar(0.0, 1.0, 0) == ""
    assert bar(0.0, 1.0, -3) == ""
    assert bar(0.0, 1.0, 1) == "█"


@given(
    st.floats(min_value=-2, max_value=3, allow_nan=False),
    st.floats(min_value=-2, max_value=3, allow_nan=False),
    st.integers(min_value=1, max_value=200),
)
def test_bar_is_always_exactly_width(start: float, end: float, width: int) -> None:
    text = bar(start, end, width)
    assert len(text) == width
    assert text.strip(" ")  # something is always drawn
    assert set(text) <= set(" █" + EIGHTHS)


def test_frac_guards_an_empty_span_and_clamps() -> None:
    assert frac(5.0, 0.0, 10.0) == 0.5
    assert frac(3.0, 3.0, 3.0) == 0.0
    assert frac(-1.0, 0.0, 10.0) == 0.0
    assert frac(11.0, 0.0, 10.0) == 1.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.0025, "2.5ms"),
        (0.85, "850ms"),
        (0.9996, "1.0s"),
        (1.2, "1.2s"),
        (42.0, "42.0s"),
        (59.96, "1m00s"),
        (185.0, "3m05s"),
        (3599.6, "1h00m"),
        (7260.0, "2h01m"),
        (90_000.0, "1d01h"),
        (-1.5, "-1.5s"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_time_axis_labels() -> None:
    axis = time_axis(100.0, 101.0, 40)
    assert len(axis) == 40
    assert axis.startswith("+0ms")
    assert axis.split() == ["+0ms", "+500ms", "+1.0s"]
    assert axis.index("+500ms") == 20
    assert axis.endswith("+1.0s")  # the last label is pulled inside the ruler
    assert time_axis(5.0, 5.0, 12) == "+0ms        "
    assert time_axis(0.0, 1.0, 0) == ""
    long = time_axis(0.0, 3 * 3600.0, 80)
    assert len(long) == 80 and long.split()[:2] == ["+0ms", "+30m00s"]


@pytest.mark.parametrize("width", [3, 8, 17, 40, 99, 160])
@pytest.mark.parametrize("span", [0.004, 0.9, 12.0, 600.0, 86_400.0 * 3])
def test_time_axis_labels_fit_and_never_touch(width: int, span: float) -> None:
    axis = time_axis(0.0, span, width)
    assert len(axis) == width
    labels = axis.split()
    assert all(label.startswith("+") for label in labels)
    assert "++" not in axis  # labels never run into each other


def test_layout_orders_parent_first_and_survives_cycles() -> None:
    graph = {"r": ["b", "a"], "a": ["x"], "b": [], "x": ["r"], "y": ["z"], "z": ["y"]}
    times = {"r": 0.0, "a": 1.0, "b": 2.0, "x": 3.0, "y": 4.0, "z": 5.0}
    tree = layout(["r", "y", "z"], lambda n: graph[n], lambda n: (times[n], n))
    assert tree.order == ("r", "a", "x", "b", "y", "z")
    assert tree.depth == (0, 1, 2, 1, 0, 1)
    assert tree.parent == (-1, 0, 1, 0, -1, 4)
    assert tree.children[0] == (1, 3)
    assert subtree_ends([0.0, 1.0, 3.0, 2.0, 4.0, 5.0], tree.parent) == [3.0, 3.0, 3.0, 2.0, 5, 5]


def test_critical_path_on_index_tree() -> None:
    # 0 [0..10] with children 1 [1..4], 2 [2..6] (child 3 [5..6]), 4 [7..10]
    starts = [0.0, 1.0, 2.0, 5.0, 7.0]
    ends = [10.0, 4.0, 6.0, 6.0, 10.0]
    parent = [-1, 0, 0, 2, 0]
    children = [[1, 2, 4], [], [3], [], []]
    # 4 ends last; before it starts (7): 2 (ends 6); before 2 starts (2): nothing (1 ends at 4)
    assert critical_path(0, starts, ends, parent, children) == {0, 4, 2, 3}
    assert critical_path(1, starts, ends, parent, children) == {1}


def test_a_child_ending_exactly_when_the_next_starts_is_not_before_it() -> None:
    """Jaeger's rule (findLastFinishingChildSpan: end < the returning child's start): a sibling
    that ends at the very moment the critical one starts did not hold it up."""
    # 0 [0..10] with children 1 [0..4], 2 [4..10], 3 [1..3.999]
    starts = [0.0, 0.0, 4.0, 1.0]
    ends = [10.0, 4.0, 10.0, 3.999]
    parent = [-1, 0, 0, 0]
    children: list[list[int]] = [[1, 2, 3], [], [], []]
    # 2 ends last; before it starts (4): not 1 (ends at 4), but 3 (ends just before)
    assert critical_path(0, starts, ends, parent, children) == {0, 2, 3}
    ends[3] = 4.0  # now both end as 2 starts: neither came before it
    assert critical_path(0, starts, ends, parent, children) == {0, 2}
