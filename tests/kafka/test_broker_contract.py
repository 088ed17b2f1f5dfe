"""The Broker contract, run on MemoryBroker AND on KafkaBroker against the real test broker.

Every test here runs twice with the same scenario and the same expectations, so the in-memory
broker the demo (and many unit tests) rely on behaves like Kafka where it matters: offsets,
keyed partitions (murmur2), headers, timestamps, offsets for times, commits and groups.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from edamon.broker.base import Broker, BrokerError, GroupConsumer, GroupInfo, TopicInfo
from edamon.broker.kafka import KafkaBroker
from edamon.broker.memory import MemoryBroker
from edamon.broker.partitioner import key_partition
from edamon.config import KafkaSettings
from edamon.model.records import TP, RawRecord
from kafka_helpers import UniqueName

pytestmark = pytest.mark.kafka

WITHIN_S = 45.0
"""Group joins and rebalances on the real broker take seconds."""


@pytest.fixture(params=["memory", "kafka"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    impl: Broker
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        impl = KafkaBroker(KafkaSettings(bootstrap_servers=bootstrap))
    else:
        impl = MemoryBroker()
    await impl.start()
    try:
        yield impl
    finally:
        await impl.close()


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = WITHIN_S) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def fetch_n(reader: Any, count: int, within: float = WITHIN_S) -> list[RawRecord]:
    """Fetch until `count` records arrived (a Tailer or a GroupConsumer)."""
    out: list[RawRecord] = []
    deadline = time.monotonic() + within
    while len(out) < count:
        assert time.monotonic() < deadline, f"got {len(out)} of {count} records"
        out.extend(await reader.fetch(1000, 200))
    return out


async def test_topics_are_created_once_and_listed(broker: Broker, unique_name: UniqueName) -> None:
    name = unique_name("contract-topic")
    assert await broker.create_topic(name, 3) is True
    assert await broker.create_topic(name, 3) is False
    listed = {t.name: t for t in await broker.list_topics()}
    assert listed[name] == TopicInfo(name, 3, internal=False)


async def test_produce_offsets_and_keyed_partitions(
    broker: Broker, unique_name: UniqueName
) -> None:
    topic = unique_name("contract-keys")
    await broker.create_topic(topic, 3)
    keys = [b"order-1", b"order-1", b"order-2", b"order-1", b"order-3", b"order-2"]
    got = [await broker.produce(topic, key, b"v") for key in keys]
    expected: list[tuple[int, int]] = []
    seen: dict[int, int] = {}
    for key in keys:  # murmur2 like Kafka's default partitioner; offsets count per partition
        partition = key_partition(key, 3)
        expected.append((partition, seen.get(partition, 0)))
        seen[partition] = seen.get(partition, 0) + 1
    assert got == expected
    explicit = await broker.produce(topic, b"order-1", b"v", partition=2)
    assert explicit == (2, seen.get(2, 0))


async def test_tailer_reads_keys_values_headers_and_timestamps(
    broker: Broker, unique_name: UniqueName
) -> None:
    topic = unique_name("contract-tail")
    await broker.create_topic(topic, 1)
    sent = [
        (b"k0", b"first", (("h", b"1"),), 1_700_000_000_000),
        (b"k1", b"second", (("h", b"1"), ("h", b"2"), ("empty", b"")), 1_700_000_001_000),
        (b"k2", None, (), 1_700_000_002_000),  # tombstone
        (b"k3", b"\x00\xffbinary", (("bin", b"\x00\x01"),), 1_700_000_003_000),
    ]
    for key, value, headers, ts in sent:
        await broker.produce(topic, key, value, headers, partition=0, timestamp_ms=ts)
    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 1})
        records = await fetch_n(tailer, 3)
        assert [(r.offset, r.key, r.value, r.headers, r.timestamp_ms) for r in records] == [
            (i, *sent[i]) for i in (1, 2, 3)
        ]
        assert tailer.positions() == {TP(topic, 0): 4}
        started = time.monotonic()
        assert await tailer.fetch(100, 300) == []
        assert time.monotonic() - started >= 0.25
    finally:
        await tailer.close()


async def test_tailer_fetch_returns_as_soon_as_a_record_arrives(
    broker: Broker, unique_name: UniqueName
) -> None:
    topic = unique_name("contract-wake")
    await broker.create_topic(topic, 1)
    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 0})
        await tailer.fetch(10, 100)  # connected and positioned

        async def later() -> None:
            await asyncio.sleep(0.3)
            await broker.produce(topic, b"k", b"late")

        task = asyncio.create_task(later())
        started = time.monotonic()
        records = await tailer.fetch(10, 10_000)
        await task
        assert [r.value for r in records] == [b"late"]
        assert time.monotonic() - started < 5.0
    finally:
        await tailer.close()


async def test_end_beginning_and_time_offsets(broker: Broker, unique_name: UniqueName) -> None:
    topic = unique_name("contract-offsets")
    await broker.create_topic(topic, 2)
    for ts in (1_000, 2_000, 2_000, 3_000):
        await broker.produce(topic, None, b"v", partition=0, timestamp_ms=ts)
    tps = [TP(topic, 0), TP(topic, 1)]
    assert await broker.end_offsets(tps) == {TP(topic, 0): 4, TP(topic, 1): 0}
    assert await broker.beginning_offsets(tps) == {TP(topic, 0): 0, TP(topic, 1): 0}
    found = {at: await broker.offsets_for_time([TP(topic, 0)], at) for at in (0, 1500, 2000, 4000)}
    assert {at: o[TP(topic, 0)] for at, o in found.items()} == {0: 0, 1500: 1, 2000: 1, 4000: 4}
    assert await broker.offsets_for_time([TP(topic, 1)], 0) == {TP(topic, 1): 0}
    with pytest.raises(BrokerError):
        await broker.end_offsets([TP(topic, 5)])


async def describe(broker: Broker, group: str) -> GroupInfo:
    [info] = await broker.describe_groups([group])
    return info


async def test_group_consumer_commits_and_resumes(broker: Broker, unique_name: UniqueName) -> None:
    topic, group = unique_name("contract-group"), unique_name("contract-g")
    await broker.create_topic(topic, 2)
    for i in range(5):
        await broker.produce(topic, None, f"{i}".encode(), partition=i % 2)
    consumer = broker.group_consumer(group, [topic])
    try:
        assert len(await fetch_n(consumer, 5)) == 5
        await consumer.commit()
        assert await broker.committed_offsets(group) == {TP(topic, 0): 3, TP(topic, 1): 2}
        await consumer.commit({TP(topic, 0): 2})
        assert await broker.committed_offsets(group) == {TP(topic, 0): 2, TP(topic, 1): 2}
        with pytest.raises(BrokerError):
            await consumer.commit({TP(topic + "-other", 0): 1})
        assert group in await broker.list_groups()
        info = await describe(broker, group)
        assert (info.state, info.protocol_type, len(info.members)) == ("Stable", "consumer", 1)
        assert info.members[0].assignment == (TP(topic, 0), TP(topic, 1))
    finally:
        await consumer.close()

    async def empty() -> bool:
        info = await describe(broker, group)
        return info.state == "Empty" and info.members == ()

    await until(empty, "the group to be empty")
    # A new member resumes from the committed offsets: it re-reads offset 2 of partition 0.
    again = broker.group_consumer(group, [topic])
    try:
        resumed = await fetch_n(again, 1)
        assert [(r.partition, r.offset) for r in resumed] == [(0, 2)]
    finally:
        await again.close()
    assert (await describe(broker, unique_name("contract-nobody"))).state == "Dead"


async def test_two_members_split_the_partitions(broker: Broker, unique_name: UniqueName) -> None:
    topic, group = unique_name("contract-split"), unique_name("contract-g")
    await broker.create_topic(topic, 4)
    members: list[GroupConsumer] = [broker.group_consumer(group, [topic]) for _ in range(2)]

    async def split() -> bool:
        await asyncio.gather(*(m.fetch(100, 100) for m in members))
        info = await describe(broker, group)
        assigned = [set(m.assignment) for m in info.members]
        return (
            info.state == "Stable"
            and len(assigned) == 2
            and all(len(a) == 2 for a in assigned)
            and assigned[0] | assigned[1] == {TP(topic, p) for p in range(4)}
        )

    try:
        await until(split, "two members with two partitions each")
    finally:
        for member in members:
            await member.close()


async def scenario(broker: Broker, topic: str, group: str) -> dict[str, Any]:
    """Keyed records, a group that reads and commits them, and what the broker reports."""
    await broker.create_topic(topic, 3)
    placed = [
        await broker.produce(topic, f"order-{i % 4}".encode(), f"{i}".encode(), (("n", b"%d" % i),))
        for i in range(12)
    ]
    consumer = broker.group_consumer(group, [topic])
    try:
        records = await fetch_n(consumer, 12)
        await consumer.commit()
    finally:
        await consumer.close()
    tps = [TP(topic, p) for p in range(3)]
    return {
        "placed": placed,
        "records": sorted((r.partition, r.offset, r.key, r.value, r.headers) for r in records),
        "committed": sorted(
            (tp.partition, o) for tp, o in (await broker.committed_offsets(group)).items()
        ),
        "ends": sorted((tp.partition, o) for tp, o in (await broker.end_offsets(tps)).items()),
    }


async def test_memory_and_kafka_give_the_same_results(
    kafka_bootstrap: str, unique_name: UniqueName
) -> None:
    results = []
    for impl in (MemoryBroker(), KafkaBroker(KafkaSettings(bootstrap_servers=kafka_bootstrap))):
        await impl.start()
        try:
            results.append(await scenario(impl, unique_name("contract-same"), unique_name("g")))
        finally:
            await impl.close()
    assert results[0] == results[1]
    assert sum(o for _, o in results[0]["committed"]) == 12
