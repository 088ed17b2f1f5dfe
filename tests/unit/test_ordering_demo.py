"""The demo's ordering faults (shipping keys some events by event id; the replies topic grows
mid-run) seen by the collector, and a demo without them seen as clean. In-memory broker, on a
sped-up clock."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from test_demo_system import START, wait_until

from edamon.broker.memory import MemoryBroker
from edamon.collector.state import CollectorState
from edamon.config import DemoSettings, Settings
from edamon.demo import DemoClock, DemoSystem
from edamon.model.ordering import Finding, OrderingView, SplitCause
from edamon.model.records import TP, RawRecord


async def _read_all(broker: MemoryBroker) -> list[RawRecord]:
    topics = await broker.list_topics()
    tailer = broker.tailer()
    await tailer.assign({TP(t.name, p): 0 for t in topics for p in range(t.partitions)})
    out: list[RawRecord] = []
    while batch := await tailer.fetch(10_000, 0):
        out.extend(batch)
    await tailer.close()
    return out


async def _ordering_of_a_run(flows: int, **overrides: Any) -> tuple[OrderingView, DemoSystem]:
    overrides.setdefault("handler_latency_ms", 0.0)
    settings = DemoSettings(seed=11, rate=10.0, slow_group="", stopped_group="", **overrides)
    clock = DemoClock(speed=25.0, start=START)
    broker = MemoryBroker(clock=clock.now)
    system = DemoSystem(broker, settings, clock=clock, max_flows=flows)
    state = CollectorState(Settings(), cluster="demo")
    task = asyncio.create_task(system.run())
    try:
        await wait_until(
            lambda: _done(system, overrides.get("grow_partitions_after_s", 0) > 0),
            what="the demo to finish its flows",
        )
        await asyncio.sleep(0)
        topics = {t.name: t.partitions for t in await broker.list_topics()}
        state.set_partitions({**topics, system.bus.topics.replies: 3}, clock.now())
        state.set_partitions(topics, clock.now())  # what the collector's refresh would see
        state.ingest(await _read_all(broker), clock.now())
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await broker.close()
    view = state.snapshot(clock.now()).ordering
    assert view is not None
    return view, system


async def _done(system: DemoSystem, resize: bool) -> bool:
    if not system.generator_done.is_set():
        return False
    return not resize or system.bus.counters["partitions_added"] > 0


async def test_the_demo_shows_wrong_keys_split_orders_and_the_resize() -> None:
    view, system = await _ordering_of_a_run(80, wrong_key_rate=0.5, grow_partitions_after_s=4.0)
    replies = next(t for t in view.topics if t.topic == system.bus.topics.replies)
    assert replies.key_mismatches > 0
    assert replies.split_aggregates > 0
    assert replies.partitions == 5
    splits = [e for e in replies.examples if e.kind is Finding.SPLIT]
    assert any(str(SplitCause.KEY_DIFFERS) in e.detail for e in splits)
    assert [(c.topic, c.old, c.new) for c in view.partition_changes] == [
        (system.bus.topics.replies, 3, 5)
    ]
    # only the shipping service's events carry wrong keys
    mismatched = {
        e.event_type for t in view.topics for e in t.examples if e.kind is Finding.KEY_MISMATCH
    }
    assert mismatched
    assert mismatched <= {"ShipmentScheduled", "ShipmentFailed"}


async def test_a_demo_without_the_faults_has_no_ordering_findings() -> None:
    view, _ = await _ordering_of_a_run(80, wrong_key_rate=0.0, grow_partitions_after_s=0.0)
    assert view.topics, "the demo's events were checked"
    for topic in view.topics:
        assert (topic.key_mismatches, topic.missing_keys, topic.split_aggregates) == (0, 0, 0), (
            topic
        )
