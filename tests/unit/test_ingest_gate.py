"""The ingest gate: the dashboard holds it from a key press to its frame; ingest waits at it,
never longer than the hold's bound. With the collector on an in-memory broker: a held gate
keeps fetched records out of the state until it opens, and nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib

from builders import event_value
from edamon.broker.memory import MemoryBroker
from edamon.collector.collector import INGEST_SLICE, Collector
from edamon.collector.gate import IngestGate
from edamon.config import Settings
from edamon.model.records import RawRecord


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_open_gate_does_not_wait() -> None:
    gate = IngestGate()
    assert not gate.held
    await gate.wait()
    assert gate.waited_s == 0.0 and gate.holds == 0


async def test_a_held_gate_waits_until_released() -> None:
    gate = IngestGate(max_hold_s=60)
    gate.hold()
    assert gate.held
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    gate.release()
    await asyncio.wait_for(waiter, 5)
    assert not gate.held and gate.holds == 1 and gate.waited_s > 0


async def test_a_hold_nobody_releases_opens_by_itself() -> None:
    gate = IngestGate(max_hold_s=0.05)
    gate.hold()
    await asyncio.wait_for(gate.wait(), 5)  # a forgotten release costs a pause, not ingest
    assert not gate.held


def test_holding_a_held_gate_keeps_the_first_deadline() -> None:
    clock = Clock()
    gate = IngestGate(max_hold_s=0.25, clock=clock)
    gate.hold()
    clock.now += 0.2
    gate.hold()  # a second key before the first one's frame
    assert gate.held and gate.holds == 1
    clock.now += 0.1
    assert not gate.held  # 0.3 s after the first hold: run out, however many keys followed
    gate.release()
    gate.hold()  # a new hold after it opened starts a new deadline
    assert gate.held and gate.holds == 2


async def test_a_hold_right_after_a_release_is_kept_and_ingest_passes_once() -> None:
    gate = IngestGate(max_hold_s=60)
    gate.hold()  # key 1
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0.01)
    gate.release()  # key 1's frame is out ...
    gate.hold()  # ... and key 2 comes in the same turn of the loop
    await asyncio.wait_for(waiter, 5)  # one slice passes
    assert gate.held and gate.holds == 2  # key 2's hold is not undone by the waiter
    second = asyncio.create_task(gate.wait())
    await asyncio.sleep(0.01)
    assert not second.done()  # the next slice waits for key 2's frame
    gate.release()
    await asyncio.wait_for(second, 5)


def test_a_hold_after_one_that_ran_out_unwaited_holds_again() -> None:
    clock = Clock()
    gate = IngestGate(max_hold_s=0.25, clock=clock)
    gate.hold()
    clock.now += 1  # ran out; nobody released it, nobody waited
    gate.hold()
    assert gate.held and gate.holds == 2


async def test_the_collector_ingests_only_when_the_gate_opens() -> None:
    broker = MemoryBroker()
    await broker.create_topic("orders.OrderPlaced")
    config = Settings.model_validate({"topics": {"start_from": "earliest", "refresh_s": 0.1}})
    collector = Collector(broker, config)
    gate = collector.ingest_gate
    gate.max_hold_s = 60
    run = asyncio.create_task(collector.run())

    async def until(condition: object) -> None:
        async with asyncio.timeout(10):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.01)

    try:
        await broker.produce("orders.OrderPlaced", b"o-1", event_value("e-1", "OrderPlaced", "c-1"))
        await until(lambda: collector.snapshot().totals.events == 1)
        gate.hold()  # a key press
        for n in range(2, 6):
            value = event_value(f"e-{n}", "OrderPlaced", f"c-{n}")
            await broker.produce("orders.OrderPlaced", b"o", value)
        await asyncio.sleep(0.3)  # the tail loop fetches meanwhile, and waits at the gate
        assert collector.snapshot().totals.events == 1
        gate.release()  # its frame is out
        await until(lambda: collector.snapshot().totals.events == 5)
        assert gate.waited_s > 0
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await broker.close()


async def test_a_large_fetch_is_ingested_in_slices() -> None:
    broker = MemoryBroker()
    await broker.create_topic("orders.OrderPlaced")
    for n in range(1200):
        value = event_value(f"e-{n}", "OrderPlaced", f"c-{n}")
        await broker.produce("orders.OrderPlaced", b"o", value)
    config = Settings.model_validate({"topics": {"start_from": "earliest"}})
    collector = Collector(broker, config)
    sizes: list[int] = []
    ingest = collector.state.ingest

    def counting(records: list[RawRecord], now: float) -> None:
        sizes.append(len(records))
        ingest(records, now)

    collector.state.ingest = counting  # type: ignore[method-assign]
    run = asyncio.create_task(collector.run())
    try:
        async with asyncio.timeout(10):
            while collector.snapshot().totals.events < 1200:
                await asyncio.sleep(0.01)
    finally:
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await broker.close()
    assert sum(sizes) == 1200 and max(sizes) <= INGEST_SLICE < 1200
