"""The demo's clock: wall time, optionally sped up so tests simulate a minute in seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class DemoClock:
    """Simulated epoch seconds running `speed` times faster than real time.

    `now()` feeds the broker (record timestamps) and the envelopes (occurredAt); `sleep()`
    sleeps simulated seconds. With speed 1 and no start it is the wall clock.
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()
        self._start = time.time() if start is None else start

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._start + (self._monotonic() - self._origin) * self.speed

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of simulated time."""
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def real(self, seconds: float) -> float:
        """Real seconds that `seconds` of simulated time take."""
        return seconds / self.speed
