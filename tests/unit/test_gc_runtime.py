"""The collector's GC tuning keeps memory bounded: cyclic garbage frozen by mistake is freed at
the next defrost. Process-wide GC state is restored after each test."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from rich.segment import Segment
from textual.strip import Strip

from edamon.collector import runtime
from edamon.ui import stripfix


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    threshold = gc.get_threshold()
    monkeypatch.setattr(runtime, "_freezing", False)
    runtime.tune_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class Node:
    """A cyclic object we can watch die."""

    def __init__(self) -> None:
        self.me = self


def test_frozen_cyclic_garbage_is_freed_at_the_next_defrost(
    tuned: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node()
    freed = []
    watch = weakref.ref(node, lambda _: freed.append(True))
    runtime.freeze_survivors()  # node is alive: frozen
    del node
    gc.collect()
    assert watch() is not None  # frozen cycles are skipped by collections
    runtime.freeze_survivors()  # within DEFROST_EVERY_S: still kept
    assert watch() is not None
    monkeypatch.setattr(runtime, "_defrosted_at", runtime._defrosted_at - runtime.DEFROST_EVERY_S)
    runtime.freeze_survivors()
    assert watch() is None and freed == [True]


def test_strips_at_their_own_width_do_not_refer_to_themselves() -> None:
    stripfix.install()
    gc.collect()
    strip = Strip([Segment("hello "), Segment("world")], 11)
    assert strip.extend_cell_length(11) is strip
    assert strip.crop_extend(0, 11, None) is strip
    assert list(strip.divide([11])) == [strip]
    assert strip.extend_cell_length(13).cell_length == 13  # other cases: Textual's own code
    assert [s.cell_length for s in strip.divide([5, 11])] == [5, 6]
    del strip
    assert gc.collect() == 0  # nothing was left for the cyclic GC
