"""The waterfall's time ruler at every scale: short chains get millisecond ticks too."""

from __future__ import annotations

from itertools import pairwise

import pytest

from edamon.model.waterfall import TICK_SPACING, time_axis


def test_a_45ms_chain_gets_20ms_ticks() -> None:
    assert time_axis(0.0, 0.045, 26).split() == ["+0ms", "+20ms", "+40ms"]
    assert time_axis(0.0, 0.05, 80).split() == ["+0ms", "+10ms", "+20ms", "+30ms", "+40ms", "+50ms"]
    assert time_axis(0.0, 0.003, 40).split() == ["+0ms", "+1ms", "+2ms", "+3ms"]
    assert time_axis(0.0, 0.0004, 40).split() == ["+0ms", "+0.1ms", "+0.2ms", "+0.3ms"]


def test_too_narrow_for_a_step_shows_both_ends() -> None:
    assert time_axis(10.0, 10.045, 16) == "+0ms       +45ms"
    assert time_axis(0.0, 0.2, 10) == "+0ms      "  # "+200ms" does not fit beside it
    assert time_axis(0.0, 1.0, 3) == "+0m"


@pytest.mark.parametrize("width", [16, 26, 40, 80, 160])
@pytest.mark.parametrize(
    "span", [0.0004, 0.003, 0.012, 0.03, 0.045, 0.08, 0.2, 1.5, 45.0, 3 * 3600.0, 86_400.0 * 10]
)
def test_every_span_gets_a_second_label_and_room_between_labels(width: int, span: float) -> None:
    axis = time_axis(0.0, span, width)
    assert len(axis) == width and axis.startswith("+0ms")
    labels = axis.split()
    assert len(labels) >= 2, axis
    starts = [i for i, ch in enumerate(axis) if ch == "+"]
    if len(labels) > 2:  # ticks at a round step: evenly spaced, well apart (last may be pulled in)
        gaps = [b - a for a, b in pairwise(starts[:-1])]
        assert min(gaps) >= TICK_SPACING - 1 and max(gaps) - min(gaps) <= 1, axis
