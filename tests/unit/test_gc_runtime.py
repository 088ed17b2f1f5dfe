"""The collector's GC tuning keeps memory bounded: cyclic garbage frozen by mistake is freed at
the next defrost. Process-wide GC state is restored after each test."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from edamon.collector import runtime


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
