"""The demo system on the real test broker (KafkaBroker), with a unique topic/group prefix."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress

import pytest

from edamon.broker.kafka import KafkaBroker
from edamon.config import DemoSettings, KafkaSettings
from edamon.demo import DemoSystem
from edamon.demo.events import Event
from edamon.model.records import TP, RawRecord
from kafka_helpers import UniqueName

pytestmark = pytest.mark.kafka

WITHIN_S = 90.0


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[KafkaBroker]:
    broker = KafkaBroker(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def read_all(broker: KafkaBroker, topic: str, partitions: int) -> list[RawRecord]:
    tps = [TP(topic, p) for p in range(partitions)]
    ends = await broker.end_offsets(tps)
    wanted = sum(ends.values())
    tailer = broker.tailer()
    out: list[RawRecord] = []
    deadline = time.monotonic() + 30
    try:
        await tailer.assign(dict.fromkeys(tps, 0))
        while len(out) < wanted:
            assert time.monotonic() < deadline, f"read {len(out)} of {wanted} from {topic}"
            out.extend(await tailer.fetch(1000, 200))
    finally:
        await tailer.close()
    return out


async def test_the_demo_runs_on_kafka(kafka: KafkaBroker, unique_name: UniqueName) -> None:
    prefix = unique_name("demo") + "."
    # No poison (the first dead letters must be transient ones) and no stopped group (a slow
    # group join must not make it stop before its first commit): both are unit-tested.
    settings = DemoSettings(
        prefix=prefix,
        seed=5,
        rate=10.0,
        transient_error_rate=0.15,
        poison_rate=0.0,
        stopped_group="",
    )
    system = DemoSystem(kafka, settings)
    plan = system.topic_plan()
    topics = system.bus.topics
    spring_dlt = topics.spring_dlt(topics.event("StockReserved"))
    task = asyncio.create_task(system.run())
    try:

        async def dead_letters_and_commits() -> bool:
            if task.done():
                return True  # surfaces the error below
            if not system.bus.counters["outcome.order.completed"]:
                return False
            for dlq in (spring_dlt, topics.shipping_dlq):
                ends = await kafka.end_offsets([TP(dlq, p) for p in range(plan[dlq])])
                if not sum(ends.values()):
                    return False
            for service in system.services:
                if not await kafka.committed_offsets(service.group):
                    return False
            return True

        await until(dead_letters_and_commits, "dead letters and commits of every group")
        assert not task.done(), task.exception()

        listed = {t.name: t.partitions for t in await kafka.list_topics()}
        assert {name: listed.get(name) for name in plan} == plan

        dead = await read_all(kafka, spring_dlt, plan[spring_dlt])
        originals = {
            (r.partition, r.offset): r
            for r in await read_all(kafka, topics.event("StockReserved"), 3)
        }
        for record in dead:
            h = dict(record.headers)
            assert h["kafka_dlt-original-topic"] == topics.event("StockReserved").encode()
            (partition,) = struct.unpack(">i", h["kafka_dlt-original-partition"])
            (offset,) = struct.unpack(">q", h["kafka_dlt-original-offset"])
            assert record.partition == partition
            original = originals[(partition, offset)]
            assert (original.key, original.value) == (record.key, record.value)
            assert h["kafka_dlt-original-consumer-group"] == system.payments.group.encode()
            assert h["kafka_dlt-exception-stacktrace"].count(b"\n\tat ") > 3

        shipped = await read_all(kafka, topics.shipping_dlq, plan[topics.shipping_dlq])
        for record in shipped:
            h = dict(record.headers)
            source = h["x-original-topic"].decode()
            assert source in plan and int(h["x-original-offset"]) >= 0
            assert h["x-handler"] and h["x-exception-fqcn"]

        for service in system.services:
            committed = await kafka.committed_offsets(service.group)
            assert {tp.topic for tp in committed} <= set(service.topics)
            assert sum(committed.values()) > 0

        async def own_client_ids() -> bool:
            """The services join under their own client ids (the lag screen's member column),
            not edamon's."""
            described = await kafka.describe_groups([s.group for s in system.services])
            return all(
                {m.client_id for m in info.members} == {service.client_id}
                for service, info in zip(system.services, described, strict=True)
            )

        await until(own_client_ids, "the services' own client ids in their groups")

        # Redrive one transient dead letter: the payments service now handles it.
        transient = next(
            r
            for r in dead
            if dict(r.headers)["kafka_dlt-exception-fqcn"].endswith(
                b"ListenerExecutionFailedException"
            )
        )
        order = Event.from_json(transient.value).aggregate_id
        assert system.payments.charged[order] + system.payments.declined[order] == 0
        headers = [(k, v) for k, v in transient.headers if not k.startswith("kafka_dlt-")]
        headers += [("edamon-retry-of", transient.coords.encode()), ("edamon-retry-attempt", b"1")]
        await kafka.produce(topics.event("StockReserved"), transient.key, transient.value, headers)

        async def handled() -> bool:
            return system.payments.charged[order] + system.payments.declined[order] == 1

        await until(handled, "the redriven record to be handled")
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    assert system.duplicates_processed() == {}
