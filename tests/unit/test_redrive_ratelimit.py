"""The redrive rate limiter, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from edamon.actions.ratelimit import RateLimiter


class FakeClock:
    """A clock whose sleep advances time instantly and records each sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def _acquire_times(limiter: RateLimiter, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        assert await limiter.acquire()
        times.append(clock.now)
    return times


async def test_spacing_at_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    times = await _acquire_times(limiter, clock, 20)
    assert times[0] == 1000.0
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap == pytest.approx(0.1) for gap in gaps)
    assert times[-1] - times[0] == pytest.approx(1.9)


async def test_idle_time_does_not_bank_more_than_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, burst=3, clock=clock, sleep=clock.sleep)
    clock.now += 60  # a long pause
    times = await _acquire_times(limiter, clock, 5)
    start = times[0]
    # Three at once (the burst), then one every 0.5 s.
    assert [t - start for t in times] == pytest.approx([0, 0, 0, 0.5, 1.0])


async def test_slow_caller_is_not_delayed() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        assert await limiter.acquire()
        clock.now += 1.0  # the work itself takes longer than the interval
    assert clock.sleeps == []


async def test_cancel_while_waiting_returns_false_without_a_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.001, clock=clock)  # real sleep: 1000 s interval
    cancel = asyncio.Event()
    assert await limiter.acquire(cancel)
    waiting = asyncio.ensure_future(limiter.acquire(cancel))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    cancel.set()
    assert await asyncio.wait_for(waiting, 1.0) is False
    assert limiter.delay() > 0


async def test_already_cancelled_returns_false_at_once() -> None:
    cancel = asyncio.Event()
    cancel.set()
    assert await RateLimiter(1).acquire(cancel) is False


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_invalid_arguments(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst=burst)
