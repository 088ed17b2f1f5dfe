"""A broker restart mid-run: the collector resumes from the positions it reached, counting no
record twice. Uses a broker of its own (the session broker is shared by other tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from outage_helpers import own_broker

from builders import event_value
from edamon.broker.kafka import KafkaBroker
from edamon.collector.collector import Collector
from edamon.config import load_settings
from edamon.model.status import ConnectionState

pytestmark = pytest.mark.kafka

__all__ = ["own_broker"]  # the fixture, imported for the tests below


async def produce(bootstrap: str, topic: str, first: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(first, first + count):
            value = event_value(f"r{i}", "Tick", f"flow-{i % 7}")
            await producer.send_and_wait("restart.Ticks", value, key=f"k{i}".encode())
    finally:
        await producer.stop()


async def mark_the_end(bootstrap: str, topic: str, partitions: int) -> None:
    """One last event on each partition of `topic`: once the collector has counted all of them
    it has read every partition to its end, so any record it would read twice has been read."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for partition in range(partitions):
            value = event_value(f"end-{partition}", "Tick", "end")
            await producer.send_and_wait(topic, value, key=b"end", partition=partition)
    finally:
        await producer.stop()


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.1)


async def ticks_and_collector(
    bootstrap: str, count: int, *, timeout_s: float, refresh_s: float | None = None
) -> Collector:
    """`restart.Ticks` (3 partitions) with `count` events, and a collector (not yet running)
    reading it from the earliest offset with short client timeouts."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("restart.Ticks", 3, 1)])
    await admin.close()
    await produce(bootstrap, "restart.Ticks", 0, count)
    topics: dict[str, Any] = {"include": [r"restart\..*"], "start_from": "earliest"}
    if refresh_s is not None:
        topics["refresh_s"] = refresh_s
    kafka = {
        "bootstrap_servers": bootstrap,
        "request_timeout_s": timeout_s,
        "connect_timeout_s": timeout_s,
    }
    overrides = {"kafka": kafka, "topics": topics, "lag": {"interval_s": 0.5}}
    settings = load_settings(None, overrides, use_default_path=False)
    return Collector(KafkaBroker(settings.kafka), settings)


async def test_broker_restart_resumes_without_double_counting(own_broker: Any) -> None:
    bootstrap = own_broker.bootstrap
    collector = await ticks_and_collector(bootstrap, 60, timeout_s=3)
    task = asyncio.create_task(collector.run())
    try:
        await until(lambda: collector.snapshot().totals.events == 60, 30, "the first 60 events")
        await asyncio.to_thread(own_broker.restart, 2.0)
        await produce(bootstrap, "restart.Ticks", 60, 40)
        await mark_the_end(bootstrap, "restart.Ticks", 3)
        await until(lambda: collector.snapshot().totals.events >= 103, 60, "100 events and ends")
        totals = collector.snapshot().totals
        assert totals.events == 103
        assert totals.duplicates == 0
        assert collector.records_read == 103
        await until(
            lambda: collector.snapshot().connection.state.value == "connected", 30, "reconnected"
        )
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_session_lost_in_an_outage_resumes_when_the_broker_is_back(
    own_broker: Any,
) -> None:
    """Down long enough for the collector's session to fail (a topic refresh times out): the
    collector says "connecting…", and when the broker is back a new session reads on from the
    positions reached."""
    bootstrap = own_broker.bootstrap
    collector = await ticks_and_collector(bootstrap, 30, timeout_s=2, refresh_s=0.5)
    states: set[ConnectionState] = set()

    async def watch() -> None:
        while True:
            states.add(collector.snapshot().connection.state)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(collector.run())
    watcher = asyncio.create_task(watch())
    try:
        await until(lambda: collector.snapshot().totals.events == 30, 30, "the first 30 events")
        states.clear()
        await asyncio.to_thread(own_broker.restart, 8.0)
        assert not task.done(), f"the collector stopped: {task.exception()!r}"
        assert ConnectionState.CONNECTING in states, f"the session did not end: saw {states}"
        await produce(bootstrap, "restart.Ticks", 30, 20)
        await mark_the_end(bootstrap, "restart.Ticks", 3)
        await until(lambda: collector.snapshot().totals.events >= 53, 90, "50 events and ends")
        totals = collector.snapshot().totals
        assert totals.events == 53
        assert totals.duplicates == 0
        assert collector.records_read == 53
    finally:
        watcher.cancel()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
