"""A token bucket that spaces actions at a given rate (the DLQ redrive's rate limit).

The clock and the sleep are injectable, so the limiter is tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]

_EPSILON = 1e-9
"""Token fractions this close to a whole token count as one (float rounding of the refill)."""


class RateLimiter:
    """At most `rate` acquisitions per second on average, with bursts of at most `burst`.

    With the default `burst=1` this is plain spacing: the first `acquire()` returns at once,
    each later one waits until `1/rate` seconds after the previous one. `n` acquisitions thus
    take at least `(n - burst) / rate` seconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._interval = 1.0 / self.rate
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now

    def delay(self) -> float:
        """Seconds until the next acquisition may proceed (0 when it may proceed now)."""
        self._refill(self._clock())
        if self._tokens >= 1.0 - _EPSILON:
            return 0.0
        return (1.0 - self._tokens) * self._interval

    async def acquire(self, cancel: asyncio.Event | None = None) -> bool:
        """Wait for a token and take it. Returns False (without taking one) if `cancel` gets set
        while waiting."""
        while True:
            if cancel is not None and cancel.is_set():
                return False
            wait = self.delay()
            if wait <= 0.0:
                self._tokens = max(0.0, self._tokens - 1.0)
                return True
            if cancel is None:
                await self._sleep(wait)
            else:
                await self._wait_or_cancel(wait, cancel)

    async def _wait_or_cancel(self, seconds: float, cancel: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waiter = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
