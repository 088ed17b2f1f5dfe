"""MemoryBroker on its own: offsets, timestamps, partitioning, groups, tailers, faults.

The behaviour it shares with Kafka is also checked side by side with the real broker in
tests/kafka/test_broker_contract.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from edamon.broker.base import BrokerError, BrokerUnavailable
from edamon.broker.memory import MemoryBroker
from edamon.broker.partitioner import key_partition, murmur2
from edamon.model.records import TP

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def broker() -> MemoryBroker:
    return MemoryBroker(clock=FakeClock())


# Kafka's own test vectors (clients UtilsTest.testMurmur2), as signed Java ints.
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_MURMUR2.items())
def test_murmur2_matches_kafka_vectors(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected & 0xFFFFFFFF


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_key_partition_matches_the_kafka_default_partitioner(key: bytes, partitions: int) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)
    assert key_partition(key, partitions) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions


async def test_topics_are_created_once_and_listed(broker: MemoryBroker) -> None:
    assert await broker.create_topic("orders", 3) is True
    assert await broker.create_topic("orders", 5) is False
    assert await broker.create_topic("__consumer_offsets", 1) is True
    topics = await broker.list_topics()
    assert [(t.name, t.partitions, t.internal) for t in topics] == [
        ("__consumer_offsets", 1, True),
        ("orders", 3, False),
    ]
    with pytest.raises(BrokerError):
        await broker.create_topic("bad", 0)


async def test_produce_assigns_offsets_per_partition_and_keys_stick(broker: MemoryBroker) -> None:
    await broker.create_topic("t", 4)
    keyed = [await broker.produce("t", b"order-1", b"v") for _ in range(3)]
    partition = key_partition(b"order-1", 4)
    assert keyed == [(partition, 0), (partition, 1), (partition, 2)]
    explicit = await broker.produce("t", b"order-1", b"v", partition=(partition + 1) % 4)
    assert explicit == ((partition + 1) % 4, 0)
    unkeyed = [(await broker.produce("t", None, b"v"))[0] for _ in range(8)]
    assert sorted(set(unkeyed)) == [0, 1, 2, 3]  # spread round-robin
    with pytest.raises(BrokerError, match="no partition 4"):
        await broker.produce("t", None, b"v", partition=4)
    with pytest.raises(BrokerError, match="does not exist"):
        await broker.produce("missing", None, b"v")
    with pytest.raises(BrokerError, match="a key or a value"):
        await broker.produce("t", None, None)


async def test_auto_create_topics_creates_one_partition() -> None:
    broker = MemoryBroker(auto_create_topics=True)
    assert await broker.produce("new", b"k", b"v") == (0, 0)
    assert [(t.name, t.partitions) for t in await broker.list_topics()] == [("new", 1)]


async def test_timestamps_come_from_the_clock_unless_given() -> None:
    clock = FakeClock(T0)
    broker = MemoryBroker(clock=clock)
    await broker.create_topic("t")
    await broker.produce("t", None, b"a")
    clock.now = T0 + 1.5
    await broker.produce("t", None, b"b")
    await broker.produce("t", None, b"c", timestamp_ms=42)
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 0})
    records = await tailer.fetch(10, 0)
    assert [r.timestamp_ms for r in records] == [int(T0 * 1000), int(T0 * 1000) + 1500, 42]


async def test_offsets_end_beginning_and_for_time(broker: MemoryBroker) -> None:
    await broker.create_topic("t", 2)
    for ts in (100, 200, 200, 300):
        await broker.produce("t", None, b"v", partition=0, timestamp_ms=ts)
    tps = [TP("t", 0), TP("t", 1)]
    assert await broker.end_offsets(tps) == {TP("t", 0): 4, TP("t", 1): 0}
    assert await broker.beginning_offsets(tps) == {TP("t", 0): 0, TP("t", 1): 0}
    for at, expected in ((0, 0), (100, 0), (150, 1), (200, 1), (201, 3), (300, 3), (301, 4)):
        assert await broker.offsets_for_time([TP("t", 0)], at) == {TP("t", 0): expected}
    assert await broker.offsets_for_time([TP("t", 1)], 0) == {TP("t", 1): 0}
    with pytest.raises(BrokerError, match="no such topic partition: t/2"):
        await broker.end_offsets([TP("t", 2)])


async def test_offsets_for_time_with_out_of_order_timestamps(broker: MemoryBroker) -> None:
    await broker.create_topic("t")
    for ts in (500, 100, 700, 300):
        await broker.produce("t", None, b"v", timestamp_ms=ts)
    # The first record (in offset order) whose timestamp is >= the target.
    assert await broker.offsets_for_time([TP("t", 0)], 400) == {TP("t", 0): 0}
    assert await broker.offsets_for_time([TP("t", 0)], 600) == {TP("t", 0): 2}


async def test_tailer_reads_in_order_with_headers_and_limits(broker: MemoryBroker) -> None:
    await broker.create_topic("t", 2)
    headers = (("h", b"1"), ("h", b"2"), ("x", b""))
    for i in range(5):
        await broker.produce("t", b"k", f"v{i}".encode(), headers, partition=i % 2)
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 1, TP("t", 1): 0})
    first = await tailer.fetch(2, 0)
    rest = await tailer.fetch(100, 0)
    got = sorted((r.partition, r.offset, r.value) for r in first + rest)
    assert len(first) == 2
    assert got == [(0, 1, b"v2"), (0, 2, b"v4"), (1, 0, b"v1"), (1, 1, b"v3")]
    assert all(r.headers == headers and r.key == b"k" for r in first + rest)
    assert tailer.positions() == {TP("t", 0): 3, TP("t", 1): 2}
    await tailer.close()
    with pytest.raises(BrokerError):
        await tailer.fetch(1, 0)


async def test_tailer_fetch_waits_for_a_produce_instead_of_the_timeout() -> None:
    broker = MemoryBroker()
    await broker.create_topic("t")
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 0})

    async def later() -> None:
        await asyncio.sleep(0.05)
        await broker.produce("t", None, b"late")

    producer = asyncio.create_task(later())
    started = time.monotonic()
    records = await tailer.fetch(10, timeout_ms=5_000)
    elapsed = time.monotonic() - started
    await producer
    assert [r.value for r in records] == [b"late"]
    assert elapsed < 2.0


async def test_tailer_fetch_times_out_empty() -> None:
    broker = MemoryBroker()
    await broker.create_topic("t")
    await broker.create_topic("other")
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 0})

    async def noise() -> None:  # produce elsewhere: wakes the reader, which must wait on
        for _ in range(3):
            await asyncio.sleep(0.02)
            await broker.produce("other", None, b"x")

    task = asyncio.create_task(noise())
    started = time.monotonic()
    assert await tailer.fetch(10, timeout_ms=150) == []
    assert time.monotonic() - started >= 0.14
    await task


async def test_timed_out_and_cancelled_fetches_leave_no_waiters_behind() -> None:
    broker = MemoryBroker()
    await broker.create_topic("t")
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 0})
    for _ in range(5):
        assert await tailer.fetch(10, timeout_ms=1) == []
    task = asyncio.create_task(tailer.fetch(10, timeout_ms=10_000))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not broker._waiters  # an idle broker does not accumulate futures


async def test_single_group_member_gets_every_partition_and_commits(broker: MemoryBroker) -> None:
    await broker.create_topic("a", 2)
    await broker.create_topic("b", 1)
    for i in range(6):
        await broker.produce("a", None, f"{i}".encode())
    await broker.produce("b", None, b"x")
    consumer = broker.group_consumer("g", ["a", "b"])
    assert await broker.list_groups() == []  # a member joins on its first fetch
    records = await consumer.fetch(100, 0)
    assert len(records) == 7
    [info] = await broker.describe_groups(["g"])
    assert info.state == "Stable" and info.protocol_type == "consumer"
    assert [m.assignment for m in info.members] == [(TP("a", 0), TP("a", 1), TP("b", 0))]
    assert await broker.committed_offsets("g") == {}
    await consumer.commit()
    assert await broker.committed_offsets("g") == {TP("a", 0): 3, TP("a", 1): 3, TP("b", 0): 1}
    await consumer.commit({TP("a", 0): 1})
    assert (await broker.committed_offsets("g"))[TP("a", 0)] == 1
    with pytest.raises(BrokerError, match="not assigned"):
        await consumer.commit({TP("c", 0): 1})
    await consumer.close()
    [after] = await broker.describe_groups(["g"])
    assert (after.state, after.members) == ("Empty", ())
    assert await broker.list_groups() == ["g"]
    [unknown] = await broker.describe_groups(["nobody"])
    assert unknown.state == "Dead"


async def test_members_split_partitions_and_resume_from_commits(broker: MemoryBroker) -> None:
    await broker.create_topic("t", 4)
    for p in range(4):
        for i in range(3):
            await broker.produce("t", None, f"{p}-{i}".encode(), partition=p)
    one = broker.group_consumer("g", ["t"])
    two = broker.group_consumer("g", ["t"])
    got_one = await one.fetch(100, 0)
    got_two = await two.fetch(100, 0)
    [info] = await broker.describe_groups(["g"])
    assignments = [set(m.assignment) for m in info.members]
    assert len(assignments) == 2 and all(len(a) == 2 for a in assignments)
    assert assignments[0] | assignments[1] == {TP("t", p) for p in range(4)}
    assert assignments[0] & assignments[1] == set()
    # `one` read everything before `two` joined; `two` re-reads its share (nothing committed).
    assert len(got_one) == 12 and len(got_two) == 6
    await two.commit()
    await one.close()  # `two` takes over `one`'s partitions from the committed offset (none)
    again = await two.fetch(100, 0)
    assert {r.partition for r in again} == {TP("t", p).partition for p in range(4)} - {
        tp.partition for tp in assignments[1]
    }
    assert len(again) == 6
    await two.close()


async def test_group_member_waiting_gets_a_topic_created_later(broker: MemoryBroker) -> None:
    consumer = broker.group_consumer("g", ["late"])

    async def create_and_produce() -> None:
        await asyncio.sleep(0.05)
        await broker.create_topic("late", 2)
        await broker.produce("late", b"k", b"hello")

    task = asyncio.create_task(create_and_produce())
    records = await consumer.fetch(10, timeout_ms=5_000)
    await task
    assert [r.value for r in records] == [b"hello"]
    await consumer.close()


async def test_produce_fault_hook(broker: MemoryBroker) -> None:
    await broker.create_topic("t")
    await broker.create_topic("u")
    broker.fail_produce("t")
    with pytest.raises(BrokerError, match="injected"):
        await broker.produce("t", None, b"v")
    assert await broker.produce("u", None, b"v") == (0, 0)
    broker.fail_produce(None, BrokerUnavailable("down"))
    with pytest.raises(BrokerUnavailable, match="down"):
        await broker.produce("u", None, b"v")
    broker.clear_produce_failures()
    assert await broker.produce("t", None, b"v") == (0, 0)


async def test_retention_trims_old_records_and_readers_reset_to_beginning() -> None:
    broker = MemoryBroker(max_records_per_partition=10)
    await broker.create_topic("t")
    for i in range(25):
        await broker.produce("t", None, f"{i}".encode())
    [begin] = (await broker.beginning_offsets([TP("t", 0)])).values()
    [end] = (await broker.end_offsets([TP("t", 0)])).values()
    assert end == 25 and begin > 0 and end - begin <= 10
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 0})  # trimmed away: reads from the beginning
    records = await tailer.fetch(100, 0)
    assert records[0].offset == begin and records[-1].offset == 24
    assert records[0].value == f"{begin}".encode()


async def test_close_wakes_readers_and_start_reopens_with_the_data(broker: MemoryBroker) -> None:
    await broker.create_topic("t")
    await broker.produce("t", None, b"kept")
    consumer = broker.group_consumer("g", ["t"])
    await consumer.fetch(10, 0)
    await consumer.commit()
    tailer = broker.tailer()
    await tailer.assign({TP("t", 0): 1})
    waiting = asyncio.create_task(tailer.fetch(10, timeout_ms=10_000))
    await asyncio.sleep(0.01)
    await broker.close()
    with pytest.raises(BrokerUnavailable):
        await waiting
    with pytest.raises(BrokerUnavailable):
        await broker.list_topics()
    with pytest.raises(BrokerError):
        await consumer.fetch(10, 0)  # disconnected: out of the group
    await broker.start()
    assert await broker.end_offsets([TP("t", 0)]) == {TP("t", 0): 1}
    assert await broker.committed_offsets("g") == {TP("t", 0): 1}
    [info] = await broker.describe_groups(["g"])
    assert info.state == "Empty"
