"""Helpers for tests/kafka/test_outages.py: a broker of the test's own that can be taken down
(or frozen) for a while, and plain-aiokafka readers to check what really reached the log."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kafka_helpers import load_harness


@pytest.fixture
def own_broker() -> Iterator[Any]:
    """A single-node broker for this test only (the session broker is shared; an outage of
    it would hit other tests)."""
    broker = load_harness().KafkaBroker(sasl=False)
    try:
        broker.start()
    except Exception as exc:  # noqa: BLE001 - any failure must fail the test, with the reason
        broker.stop()
        pytest.fail(f"could not start a Kafka broker of the test's own: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


def port_open(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


async def take_down(broker: Any, down_s: float) -> asyncio.Task[None]:
    """Stop the broker, and start it again `down_s` seconds later (data and port kept).

    Returns once the port refuses connections; await the returned task for the broker to be
    back. The restart runs in the loop's default executor: the harness starts the JVM with a
    parent-death signal bound to the starting thread, so that thread must outlive the call (a
    short-lived threading.Thread would take the new broker down with it when it ends).
    """
    back = asyncio.create_task(asyncio.to_thread(broker.restart, down_s))
    deadline = time.monotonic() + 30
    while port_open(broker.bootstrap):
        assert not back.done(), "the broker restarted before it was seen down"
        assert time.monotonic() < deadline, "the broker did not go down within 30 s"
        await asyncio.sleep(0.05)
    return back


@contextmanager
def frozen(broker: Any) -> Iterator[None]:
    """The broker's JVM stopped (SIGSTOP) for the block, resumed (SIGCONT) after it, whatever
    happens: its port still takes connections (the kernel completes them) but nothing is
    answered, as with a hung broker or a long GC pause. Keep it short: clients time out."""
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.pid, signal.SIGCONT)


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.1)


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
    finally:
        await admin.close()


async def send(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, within: float = 15.0) -> list[Any]:
    """Every record of partition 0 of `topic` up to its current end (a plain consumer)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[Any] = []
        deadline = time.monotonic() + within
        while await consumer.position(tp) < end:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit next-offsets for `group` (manual assignment, no join), then leave."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()
