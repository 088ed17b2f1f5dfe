"""Partition-key ordering findings from the collector on the real broker: wrong keys, a topic
resized mid-stream, a re-produced old event, and a well-keyed stream with no findings."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from test_collector import settings_for, until

from builders import event_value
from edamon.broker.partitioner import key_partition
from edamon.model.ordering import Finding, SplitCause, TopicOrdering
from kafka_helpers import running_collector

pytestmark = pytest.mark.kafka


def _topic(collector: Any, topic: str) -> TopicOrdering | None:
    ordering = collector.snapshot().ordering
    if ordering is None:
        return None
    return next((t for t in ordering.topics if t.topic == topic), None)


async def test_keying_by_event_id_splits_aggregates_and_is_reported(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("order")
    topic = await make_topic(f"{prefix}.events", partitions=3)
    now_ms = int(time.time() * 1000)
    records = []
    for order in range(20):
        for step in range(3):
            eid = f"e-{order}-{step}"
            value = event_value(
                eid, "OrderUpdated", f"c-{order}", aggregate_id=f"order-{order}", at_ms=now_ms
            )
            records.append((eid.encode(), value))  # the bug: keyed by the event id
    await produce(topic, records)
    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(
            lambda: (t := _topic(collector, topic)) is not None and t.checked == 60,
            what="60 events checked",
        )
        found = _topic(collector, topic)
        assert found is not None
        assert found.key_mismatches == 60
        assert found.split_aggregates > 10  # 3 events on 3 partitions: most orders split
        split = next(e for e in found.examples if e.kind is Finding.SPLIT)
        assert split.detail.endswith(f"cause: {SplitCause.KEY_DIFFERS}")


async def test_a_partition_count_raised_mid_stream_is_noticed_and_named(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("resize")
    topic = await make_topic(f"{prefix}.events", partitions=2)
    keys = [f"order-{i}" for i in range(40)]
    moved = [k for k in keys if key_partition(k.encode(), 2) != key_partition(k.encode(), 5)]
    assert moved, "some keys map elsewhere after the resize (the premise of the test)"
    now_ms = int(time.time() * 1000)

    def batch(step: int) -> list[tuple[bytes, bytes]]:
        return [
            (
                k.encode(),
                event_value(f"{k}-{step}", "OrderUpdated", k, aggregate_id=k, at_ms=now_ms + step),
            )
            for k in keys
        ]

    for key, value in batch(0):
        await produce(topic, [(key, value)], partition=key_partition(key, 2))
    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(
            lambda: (t := _topic(collector, topic)) is not None and t.checked == 40,
            what="the first 40 events",
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(5)})
        finally:
            await admin.close()
        await until(
            lambda: any(
                c.topic == topic and (c.old, c.new) == (2, 5)
                for c in collector.snapshot().ordering.partition_changes  # type: ignore[union-attr]
            ),
            what="the resize noticed",
        )
        # a producer started after the resize puts each key where murmur2 % 5 says
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for key, value in batch(1):
                sent = await producer.send_and_wait(topic, value, key=key)
                assert sent.partition == key_partition(key, 5)  # it saw the new count
        finally:
            await producer.stop()
        await until(
            lambda: (t := _topic(collector, topic)) is not None and t.checked == 80,
            what="the next 40 events",
        )
        found = _topic(collector, topic)
        assert found is not None
        assert found.key_mismatches == 0
        assert found.split_aggregates == len(moved)
        assert found.partitions == 5
        splits = [e for e in found.examples if e.kind is Finding.SPLIT]
        assert splits
        assert all(e.detail.endswith(f"cause: {SplitCause.PARTITIONS_CHANGED}") for e in splits)
        assert any(f"{topic}: partitions 2 → 5" in n for n in collector.snapshot().notices)


async def test_a_reproduced_old_event_is_out_of_order_and_a_clean_stream_has_no_findings(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("clean")
    clean = await make_topic(f"{prefix}.orders", partitions=3)
    replayed = await make_topic(f"{prefix}.payments", partitions=1)
    now_ms = int(time.time() * 1000) - 600_000
    records = []
    for i in range(10_000):
        order = f"order-{i % 500}"
        value = event_value(
            f"e{i}", "OrderUpdated", f"c-{i % 500}", aggregate_id=order, at_ms=now_ms + i * 10
        )
        records.append((order.encode(), value))
    await produce(clean, records)
    history = [
        event_value(f"p{v}", "PaymentUpdated", "c-p", aggregate_id="pay-1", version=v, at_ms=t)
        for v, t in ((1, now_ms), (2, now_ms + 1000), (3, now_ms + 2000))
    ]
    await produce(replayed, [(b"pay-1", v) for v in history])
    # a retry path sends the v2 event again, as a new event after v3
    again = event_value(
        "p2-again", "PaymentUpdated", "c-p", aggregate_id="pay-1", version=2, at_ms=now_ms + 1000
    )
    await produce(replayed, [(b"pay-1", again)])
    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(
            lambda: (
                (a := _topic(collector, clean)) is not None
                and a.checked == 10_000
                and (b := _topic(collector, replayed)) is not None
                and b.checked == 4
            ),
            timeout=60,
            what="every event checked",
        )
        well_keyed = _topic(collector, clean)
        assert well_keyed is not None
        assert well_keyed.findings == 0
        assert well_keyed.examples == ()
        out = _topic(collector, replayed)
        assert out is not None
        assert out.out_of_order == 1
        (example,) = out.examples
        assert example.event_id == "p2-again"
        assert example.detail == "PaymentUpdated version 2 after version 3"
