"""Process-wide tuning of the garbage collector for a long-running collector.

The collector keeps hundreds of thousands of long-lived, mostly acyclic objects (envelopes,
records). CPython's cyclic GC would traverse all of them again and again: with the default
thresholds that took ~30% of ingest CPU (bench/state.py), and with a raised generation-0
threshold alone a generation-1 pass over a large young generation paused the loop for ~0.5 s.
So the collector's process (`edamon serve`, the dashboard's embedded child, `collect`) raises
the threshold *and* freezes the survivors once a second (`gc.freeze()`: they move to the
permanent generation, which collections skip); the dashboard's process keeps CPython's
defaults. Acyclic garbage is still freed by reference counting, frozen or not.

Cyclic garbage that happens to be alive-looking (not yet collected) at a freeze would be kept
for good: so every DEFROST_EVERY_S the
permanent generation is released and collected once (one pause, ~0.5 s per 200,000 retained
events on the reference machine) before freezing again. Memory stays bounded.
"""

from __future__ import annotations

import gc
import time

GC_THRESHOLD = (50_000, 20, 10)
DEFROST_EVERY_S = 600.0

_freezing = False
_defrosted_at = 0.0


def tune_gc() -> None:
    """Raise the generation-0 threshold and let `freeze_survivors()` work (process-wide: the
    command line calls it; library users and tests keep CPython's defaults)."""
    global _freezing, _defrosted_at
    gc.set_threshold(*GC_THRESHOLD)
    _freezing = True
    _defrosted_at = time.monotonic()


def freeze_survivors() -> None:
    """Move every object alive now to the permanent generation, if `tune_gc()` was called;
    every DEFROST_EVERY_S, first release and collect what was frozen. The collector calls this
    once a second."""
    global _defrosted_at
    if not _freezing:
        return
    now = time.monotonic()
    if now - _defrosted_at >= DEFROST_EVERY_S:
        _defrosted_at = now
        gc.unfreeze()
        gc.collect()
    gc.freeze()
