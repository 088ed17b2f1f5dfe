"""The lag sampler keeps a period, not a pause: samples start on a clock, a slow one is
followed at once (never by a burst) and counted late; lag points carry the time their end
offsets were read; the sampler's health says what it costs. And `guarded` keeps a
cancellation that arrives together with the answer (Python 3.11's wait_for lost it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from edamon.broker.base import BrokerError
from edamon.broker.kafka_client import guarded
from edamon.broker.memory import MemoryBroker
from edamon.collector.lagsampler import LagSampler
from edamon.config import KafkaSettings, LagSettings
from edamon.model.records import TP

TOPIC = "orders.OrderPlaced"


class SlowBroker(MemoryBroker):
    """A MemoryBroker whose end-offset requests take `ends_take` (simulated) seconds each,
    on the clocks the test hands to the sampler."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.ends_take: list[float] = []

    def seconds(self) -> float:
        """The simulated clock (wall and monotonic alike)."""
        return self.now

    async def end_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        self.now += self.ends_take.pop(0) if self.ends_take else 0.0
        return await super().end_offsets(tps)


async def committed_group(broker: MemoryBroker, offset: int) -> None:
    await broker.create_topic(TOPIC, 1)
    member = broker.group_consumer("billing", [TOPIC])
    await member.fetch(10, 0)  # joins: partition 0 is assigned
    await member.commit({TP(TOPIC, 0): offset})


async def test_samples_start_on_a_clock_and_late_ones_are_counted() -> None:
    broker = SlowBroker()
    await committed_group(broker, 0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        broker.now += seconds

    sampler = LagSampler(
        broker, LagSettings(interval_s=1.0), clock=broker.seconds, monotonic=broker.seconds,
        sleep=sleep,
    )  # fmt: skip
    broker.ends_take = [0.3, 0.3, 1.7, 0.2]  # each sample's time goes into its end offsets
    keeping_up = []
    for _ in range(4):
        await sampler.sample({TOPIC: 1})
        await sampler.wait_next()
        keeping_up.append(sampler.health().keeping_up)
    # 0.3 s samples sleep to the next tick; the 1.7 s one overran its tick: the next starts at
    # once, and the clock goes on from there (3.7 s, then 4.7 s), no catching up in a burst
    assert slept == [0.7, 0.7, 0.0, 0.8]
    assert keeping_up == [True, True, False, True]
    health = sampler.health()
    assert (health.samples, health.late, health.interval_s) == (4, 1, 1.0)
    assert (health.groups, health.partitions) == (1, 1)
    assert health.cycle_p50_s == pytest.approx(0.3)
    assert health.cycle_p99_s == pytest.approx(1.7)
    assert health.requests_per_sample == 0  # nothing goes over a network in memory


async def test_lag_seconds_are_as_of_when_end_offsets_were_read() -> None:
    broker = SlowBroker()
    await committed_group(broker, 1)
    await broker.produce(TOPIC, b"k", b"v")  # end 1: the consumer is caught up
    sampler = LagSampler(broker, LagSettings(), clock=broker.seconds, monotonic=broker.seconds)
    broker.ends_take = [5.0]  # first end offsets arrive 5 s after the sample started
    await sampler.sample({TOPIC: 1})  # started at 1000, ends read at 1005: (end 1, t 1005)
    for _ in range(3):
        await broker.produce(TOPIC, b"k", b"v")
    broker.now = 1100.0
    broker.ends_take = [1.0]
    views, ends = await sampler.sample({TOPIC: 1})  # ends read at 1101: (end 4, t 1101)
    assert ends == {TP(TOPIC, 0): 4}
    row = views[0].partitions[0]
    assert (row.committed, row.end, row.lag) == (1, 4, 3)
    # the log end was at 1 when read at t=1005; now (the second read) is 1101
    assert row.lag_seconds == pytest.approx(96.0)


async def test_guarded_keeps_a_cancellation_that_arrives_with_the_answer() -> None:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[int] = loop.create_future()
    task = asyncio.create_task(guarded(answer, KafkaSettings(), "a call"))
    await asyncio.sleep(0)  # the task now waits inside guarded()
    answer.set_result(7)  # the answer and the cancellation in the same turn of the loop
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class RecordingBroker(MemoryBroker):
    """A MemoryBroker that records each end-offsets request, and refuses the ones that ask
    for a partition in `gone` (as Kafka does for a partition that no longer exists)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[TP]] = []
        self.gone: set[TP] = set()

    async def end_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        self.asked.append(sorted(tps))
        if self.gone.intersection(tps):
            raise BrokerError(f"no such topic partition: {sorted(self.gone)[0]}")
        return await super().end_offsets(tps)


async def test_end_offsets_of_the_last_samples_partitions_come_with_the_commits() -> None:
    """The end offsets the last sample needed are asked for while committed offsets are
    fetched; partitions a group newly committed on are asked for after; a request refused
    because a partition is gone is asked again for the partitions needed now."""
    broker = RecordingBroker()
    orders, audit = "orders.OrderPlaced", "audit.Entries"
    await broker.create_topic(orders, 2)
    await broker.create_topic(audit, 1)
    billing = broker.group_consumer("billing", [orders])
    await billing.fetch(10, 0)
    await billing.commit({TP(orders, 0): 0})
    sampler = LagSampler(broker, LagSettings())
    o0, o1, a0 = TP(orders, 0), TP(orders, 1), TP(audit, 0)

    await sampler.sample({orders: 2, audit: 1})
    assert broker.asked == [[o0, o1]]  # nothing known yet: after the commits

    auditor = broker.group_consumer("auditor", [audit])
    await auditor.fetch(10, 0)
    await auditor.commit({a0: 0})
    await broker.produce(audit, b"k", b"v")
    broker.asked.clear()
    views, ends = await sampler.sample({orders: 2, audit: 1})
    assert broker.asked == [[o0, o1], [a0]]  # the new partition right after
    assert ends == {o0: 0, o1: 0, a0: 1}
    rows = {v.group: v.partitions for v in views}
    assert [(r.partition, r.end, r.lag) for r in rows["auditor"]] == [(0, 1, 1)]

    broker.asked.clear()
    await sampler.sample({orders: 2, audit: 1})
    assert broker.asked == [[a0, o0, o1]]  # one request, with the commits

    broker.gone = {o1}  # refused: asked again for what is needed now
    broker.asked.clear()
    views, ends = await sampler.sample({orders: 1, audit: 1})
    assert broker.asked == [[a0, o0, o1], [a0, o0]]
    assert ends == {a0: 1, o0: 0}
    assert {v.group for v in views} == {"billing", "auditor"}
