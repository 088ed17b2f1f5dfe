"""Ingest gives way to the person at the keyboard, for a moment.

Ingest and the dashboard share one event loop. A key press that lands while a batch of a few
thousand records is being ingested waits for it (tens of milliseconds); the hops a key takes
through the UI (key, action, redraw, frame) can each wait behind another batch. So the
dashboard holds the gate from a key press until the frame that shows its effect, and the
collector's tail loop waits at the gate before each ingest. Records are not dropped: the fetch
goes on, and the batch is ingested when the gate opens. A hold never lasts longer than
`max_hold_s`, whatever the holder does, so a holder that forgets to release costs a pause,
not the collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

MAX_HOLD_S = 0.25
"""A hold opens by itself after this long."""


class IngestGate:
    """Held by the view (`hold`/`release`), waited at by ingest (`wait`)."""

    def __init__(
        self, max_hold_s: float = MAX_HOLD_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_hold_s = max_hold_s
        self._clock = clock
        self._open = asyncio.Event()
        self._open.set()
        self._until = 0.0
        self.holds = 0
        """Holds so far (each `hold` on an open gate)."""
        self.waited_s = 0.0
        """Time ingest spent waiting at the gate, in all."""

    @property
    def held(self) -> bool:
        """True while a hold is on and has not run out."""
        return not self._open.is_set() and self._clock() < self._until

    def hold(self) -> None:
        """Close the gate until `release()` or `max_hold_s` from now. Holding a held gate
        keeps the first deadline: a stream of holds can't keep ingest waiting."""
        if not self.held:  # open, or the last hold ran out with nobody waiting
            self._open.clear()
            self._until = self._clock() + self.max_hold_s
            self.holds += 1

    def release(self) -> None:
        """Open the gate."""
        self._open.set()

    async def wait(self) -> None:
        """Return at once when the gate is open, else when it is released or the hold runs
        out. A hold that starts between the release and this waiter running again is left
        alone: the waiter passes once (one slice of ingest), and waits at it next time."""
        if self._open.is_set():
            return
        start = self._clock()
        remaining = self._until - start
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), remaining)
        if not self.held:
            self._open.set()  # ran out: open for everyone
        self.waited_s += self._clock() - start
