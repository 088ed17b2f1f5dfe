"""Header stripping and the retry trail added to redriven records."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from edamon.actions.headers import RETRY_AT, RETRY_ATTEMPT, RETRY_OF, HeaderPolicy, iso_utc

SPRING = [
    ("kafka_dlt-original-topic", b"orders"),
    ("kafka_dlt-original-partition", struct.pack(">i", 2)),
    ("kafka_dlt-original-offset", struct.pack(">q", 42)),
    ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
    ("kafka_dlt-exception-stacktrace", b"at x.y.Z"),
]
CONNECT = [
    ("__connect.errors.topic", b"orders"),
    ("__connect.errors.partition", b"0"),
    ("__connect.errors.offset", b"7"),
    ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
]
X_ORIGINAL = [
    ("x-original-topic", b"orders"),
    ("x-exception-message", b"boom"),
    ("x-handler", b"OrderHandler"),
    ("x-retry-count", b"3"),
]
APP = [("event-type", b"OrderPlaced"), ("correlation-id", b"c-1"), ("event-type", b"again")]
TRACE = [
    ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("tracestate", b"k=v"),
    ("baggage", b"user=1"),
]
PREVIOUS = [(RETRY_OF, b"orders.DLT/0/1"), (RETRY_AT, b"2026-01-01T00:00:00.000Z")]

DEFAULT_STRIP = ["traceparent", "tracestate", "baggage"]


def test_kept_removes_every_dlq_convention_trace_and_old_retry_headers() -> None:
    policy = HeaderPolicy(DEFAULT_STRIP)
    headers = [*APP[:1], *SPRING, *TRACE, *CONNECT, *APP[1:], *X_ORIGINAL, *PREVIOUS]
    assert policy.kept(headers) == tuple(APP)


def test_kept_preserves_order_and_repeats_of_other_headers() -> None:
    headers = [("b", b"1"), ("a", b"2"), ("b", b"3"), ("kafka_dlt-original-topic", b"t")]
    assert HeaderPolicy([]).kept(headers) == (("b", b"1"), ("a", b"2"), ("b", b"3"))


def test_strip_list_is_case_insensitive_and_configurable() -> None:
    headers = [("Traceparent", b"x"), ("x-replicator", b"dc1"), ("keep", b"y")]
    assert HeaderPolicy(["traceparent", "X-Replicator"]).kept(headers) == (("keep", b"y"),)
    # Not in the list: kept (only DLQ headers are always removed).
    assert HeaderPolicy([]).kept(headers) == tuple(headers)


def test_stripped_names_each_once_in_first_seen_order() -> None:
    policy = HeaderPolicy(DEFAULT_STRIP)
    headers = [*TRACE[:1], *SPRING[:2], *APP, ("kafka_dlt-original-topic", b"again")]
    assert policy.stripped(headers) == (
        "traceparent",
        "kafka_dlt-original-topic",
        "kafka_dlt-original-partition",
    )


def test_retry_headers_append_the_trail() -> None:
    policy = HeaderPolicy(DEFAULT_STRIP)
    at = datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=UTC).timestamp()
    built = policy.retry_headers(
        [*APP, *SPRING, *TRACE, *PREVIOUS], retry_of="orders.DLT/0/5", at=at, attempt=3
    )
    assert built == (
        *APP,
        (RETRY_OF, b"orders.DLT/0/5"),
        (RETRY_AT, b"2026-11-26T10:00:00.123Z"),
        (RETRY_ATTEMPT, b"3"),
    )


def test_iso_utc_millisecond_precision() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1.9996) == "1970-01-01T00:00:01.999Z"
