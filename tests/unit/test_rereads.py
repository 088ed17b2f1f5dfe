"""What the detail pane shows for an event whose record was dropped from memory."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from builders import event_record
from edamon.broker.base import BrokerUnavailable
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter, drop_dead_letter_body
from edamon.model.envelope import Envelope, drop_record_data
from edamon.model.records import RawRecord
from edamon.ui.rereads import (
    DEAD_READING,
    GONE,
    KEPT,
    READING,
    REPLACED,
    DeadLetterRereads,
    Rereads,
)


def dropped(offset: int = 0) -> tuple[Envelope, RawRecord]:
    record = event_record("orders.OrderPlaced", offset, f"e{offset}", "OrderPlaced", "c")
    env = EnvelopeDecoder(Settings().envelope).decode(record)
    assert isinstance(env, Envelope)
    drop_record_data(env)
    return env, record


class Log:
    """Answers reads from a dict of records by coords (a stand-in for the view's read)."""

    def __init__(self, *records: RawRecord) -> None:
        self.records = {r.coords: r for r in records}
        self.asked: list[str] = []

    async def read(self, coords: str) -> RawRecord | None:
        self.asked.append(coords)
        return self.records.get(coords)


async def test_reading_then_the_full_record() -> None:
    env, record = dropped()
    log = Log(record)
    rereads = Rereads(log.read, keep_value_bytes=16_384)
    shown, note, start = rereads.lookup(env)
    assert (shown, note, start) == (env, READING, True)
    assert rereads.lookup(env) == (env, READING, False)  # one read, not one per redraw
    await rereads.read(env)
    shown, note, start = rereads.lookup(env)
    assert note is None and not start and not shown.dropped
    assert shown.record == record and not shown.truncated
    assert shown.event_id == env.event_id
    assert log.asked == [record.coords]


async def test_a_long_value_is_cut_as_the_collector_cuts_it() -> None:
    env, record = dropped()
    rereads = Rereads(Log(record).read, keep_value_bytes=20)
    rereads.lookup(env)
    await rereads.read(env)
    shown, _, _ = rereads.lookup(env)
    assert shown.truncated and shown.record.value == (record.value or b"")[:20]


async def test_gone_and_replaced_records_are_said_so() -> None:
    env, record = dropped()
    other = dataclasses.replace(record, timestamp_ms=record.timestamp_ms + 1, value=b"{}")
    gone = Rereads(Log().read, keep_value_bytes=100)
    gone.lookup(env)
    await gone.read(env)
    assert gone.lookup(env) == (env, GONE, False)
    replaced = Rereads(Log(other).read, keep_value_bytes=100)
    replaced.lookup(env)
    await replaced.read(env)
    assert replaced.lookup(env) == (env, REPLACED, False)


@pytest.mark.parametrize(
    ("error", "note"),
    [
        (
            BrokerUnavailable("broker 127.0.0.1:9 unreachable"),
            "Could not read the record from Kafka: broker 127.0.0.1:9 unreachable",
        ),
        # A bug below must not leave "reading…" shown for good.
        (KeyError("partition 7"), "Could not read the record: KeyError: 'partition 7'"),
    ],
)
async def test_a_failure_is_shown_then_asked_again_after_the_selection_moves(
    error: Exception, note: str
) -> None:
    env, _ = dropped()

    async def failing(coords: str) -> RawRecord | None:
        raise error

    rereads = Rereads(failing, keep_value_bytes=100)
    rereads.lookup(env)
    await rereads.read(env)
    assert rereads.lookup(env) == (env, note, False)
    rereads.forget_failures()
    assert rereads.lookup(env)[2]  # a new read starts


async def test_a_cancelled_read_is_forgotten() -> None:
    env, _ = dropped()

    async def never(coords: str) -> RawRecord | None:
        await asyncio.Event().wait()
        return None

    rereads = Rereads(never, keep_value_bytes=100)
    rereads.lookup(env)
    task = asyncio.create_task(rereads.read(env))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rereads.lookup(env) == (env, READING, True)


async def test_keeps_only_the_last_records_read() -> None:
    pairs = [dropped(i) for i in range(KEPT + 5)]
    log = Log(*(record for _, record in pairs))
    rereads = Rereads(log.read, keep_value_bytes=16_384)
    for env, _ in pairs:
        rereads.lookup(env)
        await rereads.read(env)
    assert rereads.lookup(pairs[-1][0])[1] is None  # still known
    assert rereads.lookup(pairs[0][0])[2]  # forgotten: read again


# -- dead letters ------------------------------------------------------------------------


def dead_letter_pair(offset: int = 3) -> tuple[DeadLetter, DeadLetter]:
    """(the dead letter with its body dropped, the same one decoded whole)."""
    from builders import spring_dlt_headers

    decoder = DeadLetterDecoder(EnvelopeDecoder(Settings().envelope))
    base = event_record("orders.OrderPlaced.DLT", offset, f"e{offset}", "OrderPlaced", "c")
    record = dataclasses.replace(base, headers=tuple(spring_dlt_headers("orders", 0, offset)))
    held = decoder.decode(record)
    drop_dead_letter_body(held)
    return held, decoder.decode(record)


async def test_a_dropped_dead_letter_is_shown_whole_once_read() -> None:
    held, whole = dead_letter_pair()
    assert held.dropped and held.info.stacktrace is None and held.record.value is None
    asked: list[str] = []

    async def read(coords: str) -> DeadLetter | None:
        asked.append(coords)
        return whole

    rereads = DeadLetterRereads(read)
    shown, note, start = rereads.lookup(held)
    assert (shown, note, start) == (held, DEAD_READING, True)
    assert rereads.lookup(held) == (held, DEAD_READING, False)  # one read at a time
    await rereads.read(held)
    assert rereads.lookup(held) == (whole, None, False)
    assert asked == [held.coords]
    assert rereads.lookup(whole) == (whole, None, False)  # a kept one is never read


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(None, GONE), ("replaced", REPLACED), (BrokerUnavailable("broker down"), "broker down")],
)
async def test_a_dead_letter_read_that_fails_says_why_and_is_asked_again(
    answer: object, expected: str
) -> None:
    held, whole = dead_letter_pair()

    async def read(coords: str) -> DeadLetter | None:
        if isinstance(answer, Exception):
            raise answer
        if answer == "replaced":
            later = dataclasses.replace(whole.record, timestamp_ms=whole.record.timestamp_ms + 1)
            return dataclasses.replace(whole, record=later)
        return None

    rereads = DeadLetterRereads(read)
    rereads.lookup(held)
    await rereads.read(held)
    _shown, note, start = rereads.lookup(held)
    assert note is not None and expected in note and not start
    rereads.forget_failures()
    assert rereads.lookup(held)[2] is isinstance(answer, Exception)  # only failures again
