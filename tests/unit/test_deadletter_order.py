"""Dead letters in a snapshot are in time order across partitions, not in the order the
fetches brought them (a fetch returns one partition's batch, then the next one's)."""

from __future__ import annotations

from builders import BASE_MS, event_value, spring_dlt_headers
from edamon.collector.deadletters import DeadLetterStore
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter
from edamon.model.records import RawRecord

DECODER = DeadLetterDecoder(EnvelopeDecoder(Settings().envelope))


def dead(partition: int, offset: int, seconds: int) -> DeadLetter:
    value = event_value(f"e{partition}-{offset}", "PaymentProcessed", "c", None, at_ms=BASE_MS)
    headers = spring_dlt_headers("payments", 0, offset)
    at = BASE_MS + seconds * 1000
    return DECODER.decode(
        RawRecord("payments.DLT", partition, offset, at, b"k", value, tuple(headers))
    )


def test_rows_are_newest_first_across_partitions() -> None:
    store = DeadLetterStore(limit=100)
    # One fetch: partition 0's batch (written at 34 s and 36 s), then partition 1's (35 s, 37 s).
    for dl in (dead(0, 0, 34), dead(0, 1, 36), dead(1, 0, 35), dead(1, 1, 37)):
        store.add(dl)
    rows = store.rows()
    assert [row.coords for row in rows] == [
        "payments.DLT/1/1",
        "payments.DLT/0/1",
        "payments.DLT/1/0",
        "payments.DLT/0/0",
    ]
