"""Stopping an aiokafka consumer never hangs its caller (edamon.broker.kafka_groups._stop)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from edamon.broker import kafka_groups


class _Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class _HangingConsumer:
    """What a consumer whose fetch task swallowed its cancellation does on stop(): wait."""

    def __init__(self) -> None:
        self._client = _Client()
        self.stop_cancelled = False

    async def stop(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.stop_cancelled = True
            raise


class _StoppingConsumer:
    def __init__(self) -> None:
        self._client = _Client()
        self.stopped = False

    async def stop(self) -> None:
        await asyncio.sleep(0.01)
        self.stopped = True


async def test_a_hanging_stop_is_abandoned_and_its_client_closed() -> None:
    consumer = _HangingConsumer()
    started = time.monotonic()
    await kafka_groups._stop(consumer, timeout_s=0.2)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert consumer._client.closed
    await asyncio.sleep(0)  # the abandoned stop() sees its cancellation
    assert consumer.stop_cancelled


async def test_a_stop_in_time_leaves_the_client_to_it() -> None:
    consumer = _StoppingConsumer()
    await kafka_groups._stop(consumer, timeout_s=5)  # type: ignore[arg-type]
    assert consumer.stopped
    assert not consumer._client.closed


async def test_the_callers_cancellation_still_propagates() -> None:
    consumer: Any = _HangingConsumer()
    task = asyncio.create_task(kafka_groups._stop(consumer, timeout_s=30))
    await asyncio.sleep(0.05)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the caller's cancellation was swallowed")
    await asyncio.sleep(0)
    assert consumer.stop_cancelled
