"""The simulated system on the in-memory broker, on a sped-up clock (real asyncio).

Each run generates a fixed number of flows with a fixed seed and waits (polling, with a
timeout) until every service group has committed everything on its topics.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from edamon.broker.memory import MemoryBroker
from edamon.config import DemoSettings
from edamon.demo import DemoClock, DemoSystem
from edamon.demo.events import Event, PoisonMessage
from edamon.model.records import TP, RawRecord

START = 1_800_000_000.0
SPEED = 25.0


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def all_records(broker: MemoryBroker, topic: str) -> list[RawRecord]:
    [info] = [t for t in await broker.list_topics() if t.name == topic]
    tailer = broker.tailer()
    await tailer.assign({TP(topic, p): 0 for p in range(info.partitions)})
    out: list[RawRecord] = []
    while batch := await tailer.fetch(10_000, 0):
        out.extend(batch)
    await tailer.close()
    return sorted(out, key=lambda r: (r.partition, r.offset))


async def settled(system: DemoSystem, broker: MemoryBroker) -> bool:
    """Generator done, and every service (but the stopped one) committed up to the end."""
    if not system.generator_done.is_set():
        return False
    plan = system.topic_plan()
    for service in system.services:
        if service.stops_committing:
            continue
        tps = [TP(t, p) for t in service.topics for p in range(plan[t])]
        ends = await broker.end_offsets(tps)
        committed = await broker.committed_offsets(service.group)
        if any(committed.get(tp, 0) != end for tp, end in ends.items()):
            return False
    return True


@asynccontextmanager
async def demo(
    seed: int = 7, flows: int = 150, **overrides: Any
) -> AsyncIterator[tuple[DemoSystem, MemoryBroker]]:
    overrides.setdefault("handler_latency_ms", 0.0)  # business outcomes, not timing
    settings = DemoSettings(seed=seed, rate=10.0, slow_group="", **overrides)
    clock = DemoClock(speed=SPEED, start=START)
    broker = MemoryBroker(clock=clock.now)
    system = DemoSystem(broker, settings, clock=clock, max_flows=flows)
    task = asyncio.create_task(system.run())
    try:
        await wait_until(lambda: settled(system, broker), what="the demo to settle")
        yield system, broker
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await broker.close()


def decode(record: RawRecord) -> Event | None:
    try:
        return Event.from_json(record.value)
    except PoisonMessage:
        return None


async def test_flows_complete_fail_and_compensate() -> None:
    async with demo() as (system, _broker):
        outcomes = system.stats().outcomes
        for key in ("order.completed", "order.compensated", "order.rejected"):
            assert outcomes.get(key, 0) > 0, key
        for key in ("checkout.completed", "checkout.compensated", "checkout.rejected"):
            assert outcomes.get(key, 0) > 0, key
        # The counters agree with the services' own state.
        assert outcomes["order.completed"] == sum(
            1 for o in system.shipping.scheduled if o not in system.orchestrator.sagas
        )
        states = system.orchestrator.states
        assert states["COMPLETED"] == outcomes["checkout.completed"]
        assert states["COMPENSATED"] == outcomes["checkout.compensated"]
        # Compensations run in reverse order of the steps they undo.
        tails = {
            tuple(s.commands[-3:])
            for s in system.orchestrator.sagas.values()
            if s.state == "COMPENSATED"
        }
        assert ("ScheduleShipment", "RefundPayment", "ReleaseStock") in tails
        assert ("ReserveStock", "ChargePayment", "ReleaseStock") in tails


async def test_a_choreographed_flow_is_one_causal_chain() -> None:
    async with demo() as (system, broker):
        order = next(o for o in system.shipping.scheduled if o not in system.orchestrator.sagas)
        topics = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled"]
        chain = []
        for event_type in topics:
            records = await all_records(broker, system.bus.topics.event(event_type))
            events = {e.event_id: e for r in records if r.key == order.encode() if (e := decode(r))}
            assert len(events) == 1, event_type
            chain.extend(events.values())
        assert len({e.correlation_id for e in chain}) == 1
        assert chain[0].causation_id == chain[0].event_id
        for parent, child in itertools.pairwise(chain):
            assert child.causation_id == parent.event_id
            assert child.occurred_at >= parent.occurred_at


async def test_dead_letters_carry_both_header_conventions() -> None:
    async with demo() as (system, broker):
        topics = system.bus.topics
        spring, handmade = [], []
        for name in system.topic_plan():
            if name.endswith(".DLT"):
                spring.extend(await all_records(broker, name))
        handmade = await all_records(broker, topics.shipping_dlq)
        assert spring and handmade
        for dead in spring:
            h = dict(dead.headers)
            source = h["kafka_dlt-original-topic"].decode()
            assert dead.topic == source + ".DLT"
            (partition,) = struct.unpack(">i", h["kafka_dlt-original-partition"])
            (offset,) = struct.unpack(">q", h["kafka_dlt-original-offset"])
            original = await all_records(broker, source)
            [match] = [r for r in original if (r.partition, r.offset) == (partition, offset)]
            assert (match.key, match.value) == (dead.key, dead.value)
            assert h["kafka_dlt-original-consumer-group"] == system.payments.group.encode()
            assert b"\n\tat " in h["kafka_dlt-exception-stacktrace"]
            assert h["kafka_dlt-exception-message"]
        for dead in handmade:
            h = dict(dead.headers)
            source = h["x-original-topic"].decode()
            partition, offset = int(h["x-original-partition"]), int(h["x-original-offset"])
            [match] = [
                r
                for r in await all_records(broker, source)
                if (r.partition, r.offset) == (partition, offset)
            ]
            assert (match.key, match.value) == (dead.key, dead.value)
            assert h["x-handler"] == b"shipping.handlers.schedule_shipment"
            assert h["x-exception-stacktrace"].startswith(b"Traceback")
        transient = [
            d for d in handmade if dict(d.headers)["x-exception-fqcn"] == b"httpx.ReadTimeout"
        ]
        assert transient and all(dict(d.headers)["x-retry-count"] == b"2" for d in transient)
        stats = system.stats()
        assert stats.counters["dead_lettered"] == len(spring) + len(handmade)


async def test_poison_records_are_published_and_dead_lettered_by_payments() -> None:
    async with demo(poison_rate=0.05) as (system, broker):
        poison = 0
        for name in system.bus.topics.business():
            poison += sum(1 for r in await all_records(broker, name) if decode(r) is None)
        assert poison == system.stats().counters["poison_published"] > 0
        fqcns = set()
        for name in system.topic_plan():
            if name.endswith(".DLT"):
                for dead in await all_records(broker, name):
                    fqcns.add(dict(dead.headers)["kafka_dlt-exception-fqcn"])
        assert b"org.springframework.kafka.support.serializer.DeserializationException" in fqcns


async def test_duplicate_deliveries_are_never_processed_twice() -> None:
    async with demo(duplicate_rate=0.2) as (system, _broker):
        stats = system.stats()
        assert stats.counters["duplicates_published"] > 10
        assert system.duplicates_processed() == {}
        assert stats.services["inventory"]["duplicates_skipped"] > 0
        assert stats.services["payments"]["duplicates_skipped"] > 0
        # Analytics reads every business topic and never fails: it skips each duplicate once.
        assert (
            stats.services["analytics"]["duplicates_skipped"]
            == (stats.counters["duplicates_published"])
        )


async def test_order_placed_v1_and_v2_flow_and_are_upcast() -> None:
    async with demo(v1_share=0.5) as (system, broker):
        records = await all_records(broker, system.bus.topics.event("OrderPlaced"))
        raw = [json.loads(r.value) for r in records if decode(r) is not None]
        v1 = [d for d in raw if d["version"] == 1]
        assert v1 and all("currency" not in d["payload"] for d in v1)
        assert any(d["version"] == 2 and "currency" in d["payload"] for d in raw)
        stats = system.stats()
        assert stats.services["inventory"]["upcasted"] == stats.counters["v1_published"] > 0
        assert system.analytics.revenue.get("USD", 0) > 0


async def event_ids(system: DemoSystem, broker: MemoryBroker) -> set[str]:
    ids = set()
    for name in system.bus.topics.business():
        ids |= {e.event_id for r in await all_records(broker, name) if (e := decode(r))}
    return ids


async def test_the_same_seed_gives_the_same_run() -> None:
    runs = []
    for seed in (11, 11, 12):
        async with demo(seed=seed, flows=80) as (system, broker):
            stats = system.stats()
            keep = ("published", "duplicates_published", "poison_published", "dead_lettered")
            counts = {k: stats.counters.get(k, 0) for k in keep}
            runs.append((stats.outcomes, counts, await event_ids(system, broker)))
    assert runs[0] == runs[1]
    assert runs[0][2] != runs[2][2]


def redriven(dead: RawRecord, source: str) -> tuple[str, RawRecord]:
    """What edamon's redrive publishes: original key/value, DLQ headers removed, trail added."""
    kept = [(k, v) for k, v in dead.headers if not k.startswith(("kafka_dlt-", "x-"))]
    kept += [
        ("edamon-retry-of", dead.coords.encode()),
        ("edamon-retry-attempt", b"1"),
        ("edamon-retry-at", b"2027-01-15T08:00:00.000Z"),
    ]
    return source, RawRecord(source, 0, 0, 0, dead.key, dead.value, tuple(kept))


async def test_a_redriven_dead_letter_is_processed_and_the_saga_finishes() -> None:
    async with demo(transient_error_rate=0.1) as (system, broker):
        topics = system.bus.topics
        source = topics.event("StockReserved")
        dlt = await all_records(broker, topics.spring_dlt(source))
        transient = [
            d
            for d in dlt
            if dict(d.headers)["kafka_dlt-exception-fqcn"].endswith(
                b"ListenerExecutionFailedException"
            )
        ]
        assert transient
        dead = transient[0]
        order = dead.key.decode() if dead.key else ""
        event = decode(dead)
        assert event is not None
        assert system.payments.charged[order] + system.payments.declined[order] == 0
        topic, again = redriven(dead, source)
        for _ in range(2):  # redriven twice: the second copy is a duplicate
            await broker.produce(topic, again.key, again.value, again.headers)

        async def finished() -> bool:
            return bool(system.shipping.scheduled[order] or system.inventory.released[order])

        await wait_until(finished, what=f"order {order} to finish after the redrive")
        assert system.payments.charged[order] + system.payments.declined[order] == 1
        followers = await all_records(broker, topics.event("PaymentProcessed"))
        followers += await all_records(broker, topics.event("PaymentFailed"))
        assert [e.causation_id for r in followers if (e := decode(r)) and e.aggregate_id == order]
        await wait_until(lambda: settled(system, broker), what="the demo to settle again")
        assert system.duplicates_processed() == {}

        shipped = await all_records(broker, topics.shipping_dlq)
        timeouts = [
            d for d in shipped if dict(d.headers)["x-exception-fqcn"] == b"httpx.ReadTimeout"
        ]
        assert timeouts
        dead = timeouts[0]
        shipping_order = dead.key.decode() if dead.key else ""
        assert system.shipping.scheduled[shipping_order] == 0
        topic, again = redriven(dead, dict(dead.headers)["x-original-topic"].decode())
        await broker.produce(topic, again.key, again.value, again.headers)

        async def shipped_now() -> bool:
            return system.shipping.scheduled[shipping_order] == 1

        await wait_until(shipped_now, what="the redriven shipment")


async def test_run_for_a_duration_cleans_up_its_tasks() -> None:
    clock = DemoClock(speed=SPEED, start=START)
    broker = MemoryBroker(clock=clock.now)
    system = DemoSystem(broker, DemoSettings(seed=1, rate=20.0), clock=clock)
    started = time.monotonic()
    await system.run(duration_s=5.0)
    assert time.monotonic() - started < 5.0  # simulated seconds, sped up
    assert system.flows > 20
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("demo-")]
    # Cancelling a running demo also cleans up.
    task = asyncio.create_task(system.run())
    await wait_until(_after(system, system.flows + 5), what="more flows")
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("demo-")]
    [group] = await broker.describe_groups([system.inventory.group])
    assert group.state == "Empty"  # consumers left their groups
    await broker.close()


def _after(system: DemoSystem, flows: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return system.flows >= flows

    return check
