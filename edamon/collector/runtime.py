"""Process-wide tuning of the garbage collector for a long-running collector.

The collector keeps hundreds of thousands of long-lived, mostly acyclic objects (envelopes,
records). CPython's cyclic GC would traverse all of them again and again: with the default
thresholds that took ~30% of ingest CPU (bench/state.py), and with a raised generation-0
threshold alone a generation-1 pass over a large young generation paused the dashboard for
~0.5 s (bench/ui.py). So the `edamon` command raises the threshold *and* freezes the survivors
once a second (`gc.freeze()`: they move to the permanent generation, which collections skip).
Acyclic garbage is still freed by reference counting, frozen or not.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 10)

_freezing = False


def tune_gc() -> None:
    """Raise the generation-0 threshold and let `freeze_survivors()` work (process-wide: the
    command line calls it; library users and tests keep CPython's defaults)."""
    global _freezing
    gc.set_threshold(*GC_THRESHOLD)
    _freezing = True


def freeze_survivors() -> None:
    """Move every object alive now to the permanent generation, if `tune_gc()` was called.
    The collector calls this once a second."""
    if _freezing:
        gc.freeze()
