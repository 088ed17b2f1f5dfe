"""The redrive engine's logic on the in-process MemoryBroker (the Kafka behaviour itself is
covered against a real broker in tests/kafka/test_redrive.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any

import pytest

from edamon.actions.ledger import Ledger, RetryResult
from edamon.actions.plan import Action, Outcome
from edamon.actions.redrive import ReadOnlyError, Redriver
from edamon.actions.scan import read_dead_letters
from edamon.broker.memory import MemoryBroker
from edamon.config import Settings
from edamon.model.deadletter import DeadLetter
from edamon.model.records import TP, RawRecord

DLQ = "orders.DLT"
TARGET = "orders"
LEDGER = "edamon.retries"


def spring_headers(topic: str = TARGET) -> list[tuple[str, bytes]]:
    return [
        ("event-type", b"OrderPlaced"),
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-original-offset", struct.pack(">q", 5)),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]


async def setup(
    count: int = 3, *, settings: Settings | None = None, **broker_kwargs: object
) -> tuple[MemoryBroker, Redriver, list[DeadLetter]]:
    broker = MemoryBroker(clock=lambda: 1_800_000_000.0, **broker_kwargs)  # type: ignore[arg-type]
    await broker.create_topic(DLQ)
    await broker.create_topic(TARGET, 3)
    for i in range(count):
        await broker.produce(DLQ, f"order-{i}".encode(), f'{{"n": {i}}}'.encode(), spring_headers())
    settings = settings or Settings()
    ledger = Ledger(LEDGER)
    await ledger.load(broker)
    dead = await read_dead_letters(broker, settings, [DLQ], timeout_s=5)
    redriver = Redriver(broker, settings, ledger, user="tester", clock=lambda: 1_900_000_000.0)
    return broker, redriver, dead


async def records(broker: MemoryBroker, topic: str) -> list[RawRecord]:
    tps = [
        TP(t.name, p)
        for t in await broker.list_topics()
        if t.name == topic
        for p in range(t.partitions)
    ]
    if not tps:
        return []
    tailer = broker.tailer()
    await tailer.assign(dict.fromkeys(tps, 0))
    out = await tailer.fetch(10_000, 10)
    await tailer.close()
    return sorted(out, key=lambda r: r.timestamp_ms)


async def test_sends_the_full_value_with_retry_headers_and_records_the_ledger() -> None:
    broker, redriver, dead = await setup(2)
    truncated = [
        dataclasses.replace(dl, record=dataclasses.replace(dl.record, value=dl.record.value[:3]))
        for dl in dead
    ]
    calls: list[tuple[int, int]] = []
    plan = redriver.plan(truncated)
    summary = await redriver.execute(plan, rate=1000, progress=lambda d, t: calls.append((d, t)))

    assert summary.ok and summary.aborted is None
    assert [r.outcome for r in summary.results] == [Outcome.SENT, Outcome.SENT]
    assert calls == [(1, 2), (2, 2)]
    sent = await records(broker, TARGET)
    assert sorted(r.value for r in sent) == [b'{"n": 0}', b'{"n": 1}']
    for result in summary.results:
        copy = next(
            r
            for r in sent
            if (r.partition, r.offset) == (result.target_partition, result.target_offset)
        )
        assert copy.headers == (
            ("event-type", b"OrderPlaced"),
            ("edamon-retry-of", result.coords.encode()),
            ("edamon-retry-at", b"2030-03-17T17:46:40.000Z"),
            ("edamon-retry-attempt", b"1"),
        )
        entry = redriver.ledger.get(result.coords)
        assert entry is not None
        assert (entry.result, entry.target_coords, entry.by, entry.attempt, entry.at) == (
            RetryResult.SENT,
            result.target_coords,
            "tester",
            1,
            1_900_000_000.0,
        )
    # The DLQ keeps its records; the ledger topic was created and holds both attempts.
    assert len(await records(broker, DLQ)) == 2
    assert len(await records(broker, LEDGER)) == 2


async def test_read_only_refuses_before_anything_is_sent() -> None:
    broker, redriver, dead = await setup(1, settings=Settings(read_only=True))
    with pytest.raises(ReadOnlyError, match="read-only"):
        await redriver.execute(redriver.plan(dead), rate=100)
    assert await records(broker, TARGET) == []
    assert LEDGER not in {t.name for t in await broker.list_topics()}


@pytest.mark.parametrize("stop", [True, False])
async def test_failed_send_loses_nothing_and_is_recorded(stop: bool) -> None:
    broker, redriver, dead = await setup(3)
    broker.fail_produce(TARGET)
    summary = await redriver.execute(redriver.plan(dead), rate=1000, stop_on_failure=stop)

    expected = [Outcome.FAILED] + [Outcome.NOT_ATTEMPTED if stop else Outcome.FAILED] * 2
    assert [r.outcome for r in summary.results] == expected
    assert "injected fault" in (summary.results[0].reason or "")
    assert not summary.ok
    assert (summary.aborted is not None) == stop
    assert len(await records(broker, DLQ)) == 3
    assert await records(broker, TARGET) == []
    entry = redriver.ledger.get(dead[0].coords)
    assert entry is not None and entry.result is RetryResult.FAILED
    assert entry.reason is not None and "injected fault" in entry.reason
    assert (redriver.ledger.get(dead[2].coords) is None) == stop

    # The failure does not count as a retry: the next run sends, as attempt 2.
    broker.clear_produce_failures()
    again = await redriver.execute(redriver.plan(dead), rate=1000)
    assert [r.outcome for r in again.results] == [Outcome.SENT] * 3
    assert again.results[0].attempt == 2


async def test_missing_target_topic_fails_with_reason() -> None:
    broker, redriver, _ = await setup(0)
    await broker.produce(DLQ, b"k", b"v", spring_headers("nowhere"))
    dead = await read_dead_letters(broker, redriver.settings, [DLQ], timeout_s=5)
    summary = await redriver.execute(redriver.plan(dead), rate=1000)
    assert summary.results[0].outcome is Outcome.FAILED
    assert summary.results[0].reason == "target topic nowhere does not exist"
    entry = redriver.ledger.get(dead[0].coords)
    assert entry is not None and entry.status == "failed: target topic nowhere does not exist"


async def test_gone_or_replaced_records_are_refused() -> None:
    broker, redriver, dead = await setup(3, max_records_per_partition=3)
    # Two more records trim the oldest ones away (like retention).
    for _ in range(2):
        await broker.produce(DLQ, b"x", b"y", spring_headers())
    stranger = dataclasses.replace(
        dead[2], record=dataclasses.replace(dead[2].record, key=b"someone-else")
    )
    summary = await redriver.execute(redriver.plan([dead[0], stranger]), rate=1000)
    assert [r.outcome for r in summary.results] == [Outcome.REFUSED, Outcome.REFUSED]
    assert "no longer exists" in (summary.results[0].reason or "")
    assert "not the selected dead letter" in (summary.results[1].reason or "")
    assert await records(broker, TARGET) == []
    assert redriver.ledger.get(dead[0].coords) is None


async def test_already_retried_is_skipped_unless_forced() -> None:
    broker, redriver, dead = await setup(1)
    plan = redriver.plan(dead)
    assert (await redriver.execute(plan, rate=1000)).ok
    # The same plan again (e.g. a double click): the ledger now says sent.
    second = await redriver.execute(plan, rate=1000)
    assert second.results[0].outcome is Outcome.SKIPPED
    forced = await redriver.execute(redriver.plan(dead, force=True), rate=1000)
    assert forced.results[0].outcome is Outcome.SENT and forced.results[0].attempt == 2
    assert len(await records(broker, TARGET)) == 2


async def test_unwritable_ledger_stops_the_run() -> None:
    broker, redriver, dead = await setup(3)
    await redriver.ledger.ensure_topic()
    broker.fail_produce(LEDGER)
    summary = await redriver.execute(redriver.plan(dead), rate=1000, stop_on_failure=False)
    first = summary.results[0]
    assert first.outcome is Outcome.SENT and first.ledger_error is not None
    assert [r.outcome for r in summary.results[1:]] == [Outcome.NOT_ATTEMPTED] * 2
    assert summary.aborted is not None and "ledger" in summary.aborted
    assert not summary.ok
    assert len(await records(broker, TARGET)) == 1


async def test_cancel_stops_between_records() -> None:
    broker, redriver, dead = await setup(4)
    cancel = asyncio.Event()

    def progress(done: int, total: int) -> None:
        if done == 2:
            cancel.set()

    summary = await redriver.execute(
        redriver.plan(dead), rate=1000, progress=progress, cancel=cancel
    )
    assert [r.outcome for r in summary.results] == [Outcome.SENT] * 2 + [Outcome.NOT_ATTEMPTED] * 2
    assert summary.aborted == "cancelled"
    assert len(await records(broker, TARGET)) == 2


async def test_broker_down_before_start_sends_nothing() -> None:
    broker, redriver, dead = await setup(2)
    await broker.close()
    summary = await redriver.execute(redriver.plan(dead), rate=1000)
    assert [r.outcome for r in summary.results] == [Outcome.NOT_ATTEMPTED] * 2
    assert summary.aborted is not None and "closed" in summary.aborted


async def test_overlapping_runs_of_one_plan_send_once() -> None:
    broker, redriver, dead = await setup(3)
    real_produce = broker.produce

    async def slow_produce(*args: Any, **kwargs: Any) -> tuple[int, int]:
        await asyncio.sleep(0.01)  # a real send takes time: the other run gets to go
        return await real_produce(*args, **kwargs)

    broker.produce = slow_produce  # type: ignore[method-assign]
    plan = redriver.plan(dead)
    first, second = await asyncio.gather(
        redriver.execute(plan, rate=1000), redriver.execute(plan, rate=1000)
    )
    outcomes = sorted(r.outcome.value for r in (*first.results, *second.results))
    assert outcomes == ["sent"] * 3 + ["skipped"] * 3
    assert len(await records(broker, TARGET)) == 3


async def _sent_then_forced_failure() -> tuple[MemoryBroker, Redriver, list[DeadLetter]]:
    """A dead letter retried once (sent), then forced again and failed (target deleted): the
    ledger's latest entry for it is a failure, but it was retried."""
    broker, redriver, dead = await setup(1)
    first = await redriver.execute(redriver.plan(dead), rate=1000)
    assert [r.outcome for r in first.results] == [Outcome.SENT]
    broker.fail_produce(TARGET)
    again = await redriver.execute(redriver.plan(dead, force=True), rate=1000)
    assert [(r.outcome, r.attempt) for r in again.results] == [(Outcome.FAILED, 2)]
    broker.clear_produce_failures()
    latest = redriver.ledger.entry_for(dead[0].record)
    assert latest is not None and not latest.sent and latest.sent_count == 1
    return broker, redriver, dead


async def test_the_plan_skips_a_dead_letter_sent_before_a_failed_forced_retry() -> None:
    """Skip on `retried` (ever sent), not on `sent` (the latest attempt): else a dead letter
    already redriven is sent a second time."""
    broker, redriver, dead = await _sent_then_forced_failure()
    plan = redriver.plan(dead)
    assert [item.action for item in plan.items] == [Action.SKIP]
    assert plan.items[0].reason == "already retried (attempt 2); use force to resend"
    summary = await redriver.execute(plan, rate=1000)
    assert [r.outcome for r in summary.results] == [Outcome.SKIPPED]
    assert len(await records(broker, TARGET)) == 1  # the first retry's copy, no other


async def test_the_send_decision_skips_it_too_when_the_ledger_learnt_it_after_planning() -> None:
    """The redrive decides again per record (another run may have retried it since the plan):
    the same rule there."""
    broker, redriver, dead = await setup(1)
    stale_plan = redriver.plan(dead)  # made before any retry: SEND
    assert [item.action for item in stale_plan.items] == [Action.SEND]
    await redriver.execute(redriver.plan(dead), rate=1000)
    broker.fail_produce(TARGET)
    await redriver.execute(redriver.plan(dead, force=True), rate=1000)
    broker.clear_produce_failures()
    summary = await redriver.execute(stale_plan, rate=1000)
    assert [(r.outcome, r.reason) for r in summary.results] == [
        (Outcome.SKIPPED, "already retried (attempt 2); use force to resend")
    ]
    assert len(await records(broker, TARGET)) == 1


async def test_a_plan_made_elsewhere_cannot_send_to_a_refused_target() -> None:
    _broker, redriver, dead = await setup(1)
    plan = redriver.plan(dead)
    aimed = dataclasses.replace(plan.items[0], target=LEDGER)
    summary = await redriver.execute(dataclasses.replace(plan, items=(aimed,)), rate=1000)
    assert [(r.outcome, r.reason) for r in summary.results] == [
        (Outcome.REFUSED, f"target {LEDGER} is edamon's retry ledger (dlq.ledger_topic)")
    ]
