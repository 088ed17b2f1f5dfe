"""The demo's misbehaving consumer groups, on the in-memory broker with a sped-up clock: the
slow group lags in its slow phase and drains after it; the stopped group stops committing."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from pathlib import Path

from edamon.broker.memory import MemoryBroker
from edamon.collector.lagsampler import LagSampler
from edamon.config import DemoSettings, load_settings
from edamon.demo import DemoClock, DemoSystem
from edamon.demo.bus import SLOW_PHASE_S, STOP_COMMITTING_AFTER_S
from edamon.demo.bus import Service as DemoService
from edamon.model.records import TP
from edamon.model.status import GroupStatus

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.toml"


async def lag(broker: MemoryBroker, system: DemoSystem, service: DemoService) -> int:
    plan = system.topic_plan()
    tps = [TP(t, p) for t in service.topics for p in range(plan[t])]
    ends = await broker.end_offsets(tps)
    committed = await broker.committed_offsets(service.group)
    return sum(max(end - committed.get(tp, 0), 0) for tp, end in ends.items())


async def test_slow_group_lags_in_phases_and_stopped_group_stops_committing() -> None:
    clock = DemoClock(speed=40.0, start=1_800_000_000.0)
    broker = MemoryBroker(clock=clock.now)
    settings = DemoSettings(seed=3, rate=5.0, transient_error_rate=0, stuck_rate=0)
    system = DemoSystem(broker, settings, clock=clock)
    assert system.shipping.slow and system.analytics.stops_committing
    task = asyncio.create_task(system.run())
    samples: list[tuple[float, int, int]] = []
    deadline = time.monotonic() + 60
    try:
        while system.flows == 0:  # topics created, generator running
            assert time.monotonic() < deadline, "the demo did not start"
            await asyncio.sleep(0.01)
        while (elapsed := system.bus.elapsed()) < SLOW_PHASE_S[1] + 10:
            assert time.monotonic() < deadline, "the simulation is too slow"
            shipping = await lag(broker, system, system.shipping)
            committed = sum((await broker.committed_offsets(system.analytics.group)).values())
            samples.append((elapsed, shipping, committed))
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    start, end = SLOW_PHASE_S
    before = max(s for t, s, _ in samples if 2 < t < start - 1)
    during = max(s for t, s, _ in samples if start <= t < end)
    after = [s for t, s, _ in samples if t > end + 5]
    assert during > max(3 * before, 10), (before, during)
    assert after and min(after) <= before + 2  # drained once the slow phase ended
    # Analytics committed during its first seconds, then never again while records kept coming.
    early = [c for t, _, c in samples if t < STOP_COMMITTING_AFTER_S - 1]
    late = [c for t, _, c in samples if t > STOP_COMMITTING_AFTER_S + 2]
    assert early[-1] > 0
    assert len(set(late)) == 1
    assert await lag(broker, system, system.analytics) > 50
    await broker.close()


async def test_the_slow_group_shows_warn_in_its_slow_phase_under_its_own_client_id() -> None:
    """What `edamon demo` shows on the lag screen (its config, the in-memory broker, the lag
    sampler every 2 simulated seconds, sped up 10x): the slow group is OK before its slow
    phase and WARN (Burrow's rule, over the demo's window of 4 distinct offsets) before the
    phase ends at 45 s; measured 30-38 s over six seeds. Its partitions show the member the
    demo's shipping service joined as, not edamon."""
    settings = load_settings(CONFIG, {"demo": {"seed": 3}}, use_default_path=False)
    clock = DemoClock(speed=10.0, start=1_800_000_000.0)
    broker = MemoryBroker(clock=clock.now)
    system = DemoSystem(broker, settings.demo, clock=clock)
    sampler = LagSampler(
        broker, settings.lag, clock=clock.now, monotonic=clock.now, sleep=clock.sleep
    )
    task = asyncio.create_task(system.run())
    seen: list[tuple[float, GroupStatus, tuple[str | None, ...]]] = []
    deadline = time.monotonic() + 60
    try:
        while system.flows == 0:
            assert time.monotonic() < deadline, "the demo did not start"
            await asyncio.sleep(0.01)
        while (elapsed := system.bus.elapsed()) < SLOW_PHASE_S[1] + 1:
            assert time.monotonic() < deadline, "the simulation is too slow"
            plan = {topic.name: topic.partitions for topic in await broker.list_topics()}
            views, _ = await sampler.sample(plan)
            for view in views:
                if view.group == system.shipping.group:
                    seen.append((elapsed, view.status, tuple(p.member for p in view.partitions)))
            await sampler.wait_next()
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    start, end = SLOW_PHASE_S
    before = {status for t, status, _ in seen if t < start}
    assert before <= {GroupStatus.OK, GroupStatus.UNKNOWN}, seen
    warned = [t for t, status, _ in seen if status is GroupStatus.WARN]
    assert warned and start < warned[0] < end, seen
    members = {member for _, _, row in seen for member in row}
    assert members == {"shipping-service"}, members
    await broker.close()
