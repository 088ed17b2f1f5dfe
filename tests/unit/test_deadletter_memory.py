"""Dead letters' memory is bounded in bytes: the newest keep their bodies, older ones keep what
their rows show, and the whole body comes back by reading the record again."""

from __future__ import annotations

import gc
import tracemalloc

from builders import BASE_MS, event_value
from edamon.collector.state import CollectorState
from edamon.collector.view import StateView
from edamon.config import Settings
from edamon.model.records import RawRecord

TRACE_BYTES = 100_000
MESSAGE = "payment gateway timeout " * 40  # 960 characters


def dead_letter_record(offset: int) -> RawRecord:
    """A Spring dead letter with a 100 KB stack trace (each one its own bytes)."""
    trace = (f"java.lang.IllegalStateException #{offset}\n" + "\tat a.B.c(B.java:1)\n" * 5000)[
        :TRACE_BYTES
    ]
    headers = (
        ("kafka_dlt-original-topic", b"payments"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", MESSAGE.encode()),
        ("kafka_dlt-exception-stacktrace", trace.encode()),
    )
    value = event_value(f"e{offset}", "PaymentRequested", f"c{offset}", at_ms=BASE_MS)
    return RawRecord("payments.DLT", 0, offset, BASE_MS + offset, b"k", value, headers)


def state_with(memory_mb: float) -> CollectorState:
    settings = Settings()
    settings.retention.dead_letter_memory_mb = memory_mb
    return CollectorState(settings, cluster="test")


def ingested_bytes(state: CollectorState, count: int) -> int:
    """Bytes still allocated after ingesting `count` dead letters one at a time."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for offset in range(count):
            state.ingest([dead_letter_record(offset)], BASE_MS / 1000 + 60)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_two_thousand_dead_letters_with_100_kb_stack_traces_stay_within_the_budget() -> None:
    """Unbounded, 2,000 of them hold ~400 MB (each trace twice: header bytes and text). With
    8 MB for bodies, the state holds what it holds with no body at all (rows, chains: a few KB
    per dead letter, bounded by retention.max_dead_letters) plus about the 8 MB."""
    budget = 8 * 1024 * 1024
    skeletons = ingested_bytes(state_with(0), 2000)
    state = state_with(8)
    held = ingested_bytes(state, 2000)
    assert skeletons < 2000 * 5000, f"{skeletons / 1e6:.1f} MB without bodies"
    assert held - skeletons < budget * 1.25, f"{(held - skeletons) / 1e6:.1f} MB of bodies"
    letters = list(state.dead_letters())
    assert len(letters) == 2000
    kept = [dl for dl in letters if not dl.dropped]
    # The newest keep everything, the older ones what their rows show.
    assert 30 <= len(kept) <= 45, len(kept)
    assert kept == letters[-len(kept) :]
    newest = kept[-1]
    assert newest.info.stacktrace is not None and len(newest.info.stacktrace) == TRACE_BYTES
    assert newest.info.exception_message == MESSAGE
    old = letters[0]
    assert old.record.value is None and old.info.stacktrace is None
    assert old.info.exception_message == MESSAGE[:200] + "…"
    assert [name for name, _ in old.record.headers] == [name for name, _ in newest.record.headers]
    assert (old.record.key, old.info.original_topic) == (b"k", "payments")
    row = next(
        r for r in state.snapshot(BASE_MS / 1000 + 60).dead_letters if r.coords == old.coords
    )
    assert row.message == MESSAGE[:200] + "…" and row.original_topic == "payments"


def test_without_a_budget_the_same_dead_letters_hold_far_more() -> None:
    """The measurement can tell: 200 of them unbounded hold over 20 MB (the test above would
    need 200 MB for 2,000)."""
    state = state_with(1024)
    held = ingested_bytes(state, 200)
    assert held > 200 * TRACE_BYTES, f"{held / 1e6:.1f} MB"
    assert not any(dl.dropped for dl in state.dead_letters())


def test_a_budget_of_zero_keeps_no_body() -> None:
    state = state_with(0)
    state.ingest([dead_letter_record(i) for i in range(3)], BASE_MS / 1000 + 60)
    assert all(dl.dropped for dl in state.dead_letters())


class _Rereading(StateView):
    """A view whose broker still has the records (what the collector reads again)."""

    async def read_record(self, coords: str) -> RawRecord | None:
        return dead_letter_record(int(coords.rsplit("/", 1)[1]))


async def test_a_dropped_dead_letter_is_read_again_whole() -> None:
    state = state_with(0)
    state.ingest([dead_letter_record(7)], BASE_MS / 1000 + 60)
    dropped = state.dead_letter("payments.DLT/0/7")
    assert dropped is not None and dropped.dropped
    whole = await _Rereading(state).read_dead_letter("payments.DLT/0/7")
    assert whole is not None and not whole.dropped
    assert whole.info.stacktrace is not None and len(whole.info.stacktrace) == TRACE_BYTES
    assert whole.record.value == dead_letter_record(7).value
    assert whole.envelope is not None and whole.envelope.event_id == "e7"
