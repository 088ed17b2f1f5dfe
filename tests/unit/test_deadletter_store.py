"""The collector's dead-letter store: bounded, grouped, one row per DLQ record."""

from __future__ import annotations

from builders import BASE_MS, event_value, spring_dlt_headers
from edamon.collector.deadletters import DeadLetterStore
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter
from edamon.model.records import RawRecord

DECODER = DeadLetterDecoder(EnvelopeDecoder(Settings().envelope))


def dead(offset: int, *, exception: str = "java.lang.IllegalStateException") -> DeadLetter:
    value = event_value(f"e{offset}", "PaymentProcessed", f"c{offset}", None, at_ms=BASE_MS)
    headers = spring_dlt_headers("payments", 0, offset, exception=exception)
    record = RawRecord("payments.DLT", 0, offset, BASE_MS + offset, b"k", value, tuple(headers))
    return DECODER.decode(record)


def test_keeps_the_newest_within_its_limit_and_counts_every_record_once() -> None:
    store = DeadLetterStore(limit=3)
    letters = [dead(i) for i in range(5)]
    assert all(store.add(dl) for dl in letters)
    assert not store.add(letters[-1])  # the same DLQ record again
    assert store.total == 5
    assert [dl.coords for dl in store] == [dl.coords for dl in letters[2:]]
    assert store.get(letters[0].coords) is None
    assert [row.coords for row in store.rows()] == [dl.coords for dl in reversed(letters[2:])]


def test_groups_by_source_group_and_exception_biggest_first() -> None:
    store = DeadLetterStore(limit=100)
    for i in range(3):
        store.add(dead(i, exception="TimeoutException"))
    store.add(dead(10, exception="NullPointerException"))
    groups = store.groups()
    assert [(g.exception_class, g.count) for g in groups] == [
        ("TimeoutException", 3),
        ("NullPointerException", 1),
    ]
    assert groups[0].original_topic == "payments" and groups[0].consumer_group == "payments"
    assert groups[0].last_seen == (BASE_MS + 2) / 1000.0


def test_a_wrapped_exception_is_grouped_and_shown_by_its_cause() -> None:
    """Spring wraps every handler failure in ListenerExecutionFailedException: grouped by the
    wrapper, every failed handler of a group would look the same."""
    wrapper = "org.springframework.kafka.listener.ListenerExecutionFailedException"
    store = DeadLetterStore(limit=100)
    for offset, cause in enumerate(["java.net.SocketTimeoutException"] * 2 + ["x.InvalidAddress"]):
        letter = dead(offset, exception=wrapper)
        extra = (("kafka_dlt-exception-cause-fqcn", cause.encode()),)
        record = letter.record
        store.add(DECODER.decode(RawRecord(*record_fields(record), record.headers + extra)))
    groups = store.groups()
    assert [(g.exception_class, g.count) for g in groups] == [
        ("java.net.SocketTimeoutException", 2),
        ("x.InvalidAddress", 1),
    ]
    row = store.rows()[0]
    assert (row.exception_class, row.cause_class) == (wrapper, "x.InvalidAddress")
    assert row.failure_class == "x.InvalidAddress"


def record_fields(record: RawRecord) -> tuple[str, int, int, int, bytes | None, bytes | None]:
    return (
        record.topic,
        record.partition,
        record.offset,
        record.timestamp_ms,
        record.key,
        record.value,
    )
