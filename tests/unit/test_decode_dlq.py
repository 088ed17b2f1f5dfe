"""Dead-letter headers of every convention (conventions §2) and DeadLetterDecoder."""

from __future__ import annotations

import json
import struct

import pytest

from edamon.config import EnvelopeSettings
from edamon.decode.dlq import (
    DLQ_HEADER_PREFIXES,
    DeadLetterDecoder,
    is_dlq_header,
    parse_dead_letter_headers,
)
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.records import Header, RawRecord

TS = 1_795_687_200_123
NPE = "java.lang.NullPointerException"
LEFE = "org.springframework.kafka.listener.ListenerExecutionFailedException"
STACK = "java.lang.IllegalStateException: boom\n\tat com.example.Handler.on(Handler.java:42)\n"


def i32(n: int) -> bytes:
    return struct.pack(">i", n)


def i64(n: int) -> bytes:
    return struct.pack(">q", n)


def big_integer(n: int) -> bytes:
    """Java's BigInteger.valueOf(n).toByteArray(): minimal big-endian two's complement."""
    length = max(1, (n.bit_length() + 8) // 8)
    return n.to_bytes(length, "big", signed=True)


def spring_dlt(topic: str, partition: bytes, offset: bytes, message: str) -> list[Header]:
    return [
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", partition),
        ("kafka_dlt-original-offset", offset),
        ("kafka_dlt-original-timestamp", i64(TS)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", b"payments"),
        ("kafka_dlt-exception-fqcn", LEFE.encode()),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", message.encode()),
        ("kafka_dlt-exception-stacktrace", STACK.encode()),
    ]


# -- Spring DeadLetterPublishingRecoverer ---------------------------------------------------


def test_spring_dlt_binary_ints() -> None:
    headers = [
        ("event-type", b"OrderPlaced"),
        *spring_dlt("orders", i32(4), i64(9_000_000_001), "boom"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "spring-dlt"
    assert info.original_topic == "orders"
    assert info.original_partition == 4
    assert info.original_offset == 9_000_000_001
    assert info.original_coords == "orders/4/9000000001"
    assert info.original_timestamp_ms == TS
    assert info.consumer_group == "payments"
    assert info.exception_class == LEFE
    assert info.cause_class == "java.lang.IllegalStateException"
    assert info.exception_message == "boom"
    assert info.stacktrace == STACK
    assert info.attempts is None
    assert info.problems == ()


def test_spring_dlt_text_ints() -> None:
    info = parse_dead_letter_headers(spring_dlt("orders", b"12", b"4096", "boom"))
    assert (info.original_partition, info.original_offset) == (12, 4096)
    assert info.problems == ()


def test_binary_int_made_of_digit_bytes_would_read_as_text() -> None:
    # 4 bytes that are all ASCII digits are text ("1234"), by the rule; 4 others are binary.
    info = parse_dead_letter_headers(spring_dlt("orders", b"1234", i64(1), "x"))
    assert info.original_partition == 1234
    info = parse_dead_letter_headers(spring_dlt("orders", i32(0x3132), i64(0x0909), "x"))
    assert (info.original_partition, info.original_offset) == (0x3132, 0x0909)


def test_spring_repeated_keys_origin_from_first_failure_from_last() -> None:
    hop1 = spring_dlt("orders", i32(2), i64(100), "first failure")
    hop2 = spring_dlt("orders-retry-0", i32(0), i64(7), "second failure")
    hop2[6] = ("kafka_dlt-exception-fqcn", NPE.encode())
    info = parse_dead_letter_headers(hop1 + hop2)
    assert (info.original_topic, info.original_partition, info.original_offset) == (
        "orders",
        2,
        100,
    )
    assert info.exception_message == "second failure"
    assert info.exception_class == NPE
    assert info.attempts == 2  # no attempts header: two exception messages


def test_spring_key_exception_variants() -> None:
    headers = [
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", i32(0)),
        ("kafka_dlt-original-offset", i64(5)),
        ("kafka_dlt-key-exception-fqcn", b"org.apache.kafka.common.errors.SerializationException"),
        ("kafka_dlt-key-exception-message", b"bad key"),
        ("kafka_dlt-key-exception-stacktrace", b"trace"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.exception_class == "org.apache.kafka.common.errors.SerializationException"
    assert info.exception_message == "bad key"
    assert info.stacktrace == "trace"


# -- Spring @RetryableTopic -----------------------------------------------------------------


def retryable(attempts: bytes) -> list[Header]:
    return [
        ("kafka_original-topic", b"payments"),
        ("kafka_original-partition", i32(1)),
        ("kafka_original-offset", i64(77)),
        ("kafka_original-consumer-group", b"payment-service"),
        ("kafka_exception-fqcn", LEFE.encode()),
        ("kafka_exception-cause-fqcn", b"com.example.CardDeclined"),
        ("kafka_exception-message", b"card declined"),
        ("kafka_exception-stacktrace", b"at ..."),
        ("retry_topic-original-timestamp", big_integer(TS)),
        ("retry_topic-attempts", attempts),
        ("retry_topic-backoff-timestamp", big_integer(TS + 2000)),
    ]


@pytest.mark.parametrize("attempts", [i32(3), b"\x03", b"3"])
def test_spring_retryable_topic(attempts: bytes) -> None:
    info = parse_dead_letter_headers(retryable(attempts))
    assert info.convention == "spring-retry"
    assert info.original_coords == "payments/1/77"
    assert info.consumer_group == "payment-service"
    assert info.exception_class == LEFE
    assert info.cause_class == "com.example.CardDeclined"
    assert info.exception_message == "card declined"
    assert info.original_timestamp_ms == TS  # 6-byte BigInteger
    assert len(big_integer(TS)) == 6
    assert info.attempts == 3
    assert info.problems == ()


def test_retry_topic_with_spring_dlt_group_header_is_still_spring_retry() -> None:
    # Some Spring versions name the retry topics' group header kafka_dlt-original-consumer-group.
    headers = [h for h in retryable(i32(2)) if h[0] != "kafka_original-consumer-group"]
    headers.append(("kafka_dlt-original-consumer-group", b"payment-service"))
    info = parse_dead_letter_headers(headers)
    assert info.convention == "spring-retry"
    assert info.consumer_group == "payment-service"
    assert info.original_coords == "payments/1/77"


def test_explicit_attempts_beat_counting_messages() -> None:
    hop1 = retryable(b"\x02")
    hop2 = retryable(i32(4))
    info = parse_dead_letter_headers(hop1 + hop2)
    assert info.attempts == 4  # the latest attempts header, not the 2 messages


def test_spring_dlt_is_preferred_and_other_conventions_fill_gaps() -> None:
    headers = [
        *retryable(i32(3)),
        ("kafka_dlt-original-topic", b"payments-retry-1"),
        ("kafka_dlt-exception-message", b"final failure"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "spring-dlt"
    assert info.original_topic == "payments-retry-1"
    assert info.exception_message == "final failure"
    assert info.original_partition == 1  # only the retry headers have it
    assert info.attempts == 3


# -- other frameworks -----------------------------------------------------------------------


def test_kafka_connect() -> None:
    headers = [
        ("__connect.errors.topic", b"inventory"),
        ("__connect.errors.partition", b"2"),
        ("__connect.errors.offset", b"31337"),
        ("__connect.errors.connector.name", b"jdbc-sink"),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.class.name", b"org.apache.kafka.connect.json.JsonConverter"),
        ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", b"Converting byte[] to Kafka Connect data failed"),
        ("__connect.errors.exception.stacktrace", b"org.apache...DataException: ..."),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "kafka-connect"
    assert info.original_coords == "inventory/2/31337"
    assert info.exception_class == "org.apache.kafka.connect.errors.DataException"
    assert info.exception_message == "Converting byte[] to Kafka Connect data failed"
    assert info.stacktrace == "org.apache...DataException: ..."
    assert info.handler == "jdbc-sink"
    assert info.problems == ()


def test_kafka_streams_kip_1034() -> None:
    headers = [
        ("__streams.errors.exception", b"java.lang.IllegalStateException: bad state: really"),
        ("__streams.errors.message", b"bad state: really"),
        ("__streams.errors.stacktrace", STACK.encode()),
        ("__streams.errors.topic", b"clicks"),
        ("__streams.errors.partition", b"0"),
        ("__streams.errors.offset", b"12"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "kafka-streams"
    assert info.original_coords == "clicks/0/12"
    assert info.exception_class == "java.lang.IllegalStateException"
    assert info.exception_message == "bad state: really"
    assert info.stacktrace == STACK


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        # `exception.toString()`: the class, then the message
        (
            b"org.apache.kafka.common.errors.SerializationException: bad: x",
            "org.apache.kafka.common.errors.SerializationException",
        ),
        # text before ": " with spaces is no class name: kept whole, not cut there
        (b"Error deserializing key/value: offset 12", "Error deserializing key/value: offset 12"),
        (b"java.lang.IllegalStateException", "java.lang.IllegalStateException"),
    ],
)
def test_kafka_streams_exception_header_is_cut_only_after_a_class_name(
    exception: bytes, expected: str
) -> None:
    info = parse_dead_letter_headers([("__streams.errors.exception", exception)])
    assert info.exception_class == expected


@pytest.mark.parametrize(
    ("partition", "offset"),
    [(i32(-1), i64(-1)), (i32(-(2**31)), i64(-(2**63))), (b"\xff\xff\xff\xfe", i64(-42))],
)
def test_spring_binary_numbers_are_signed(partition: bytes, offset: bytes) -> None:
    """Java ints and longs are signed: -1 (no partition, e.g. a record never consumed) must not
    read as 4294967295 or 2**64 - 1."""
    info = parse_dead_letter_headers(spring_dlt("orders", partition, offset, "boom"))
    assert info.original_partition == int.from_bytes(partition, "big", signed=True) < 0
    assert info.original_offset == struct.unpack(">q", offset)[0] < 0
    assert info.problems == ()


@pytest.mark.parametrize("prefix", ["source", "original"])
def test_karafka(prefix: str) -> None:
    headers = [
        (f"{prefix}_topic", b"shipments"),
        (f"{prefix}_partition", b"5"),
        (f"{prefix}_offset", b"2048"),
        (f"{prefix}_consumer_group", b"shipping"),
        (f"{prefix}_attempts", b"4"),
        ("source_trace_id", b"9b1c7f2e"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "karafka"
    assert info.original_coords == "shipments/5/2048"
    assert info.consumer_group == "shipping"
    assert info.attempts == 4


def test_smallrye() -> None:
    headers = [
        ("dead-letter-reason", b"Validation failed: missing currency"),
        ("dead-letter-cause", b"missing currency"),
        ("dead-letter-exception-class-name", b"jakarta.validation.ValidationException"),
        ("dead-letter-cause-class-name", b"java.lang.IllegalArgumentException"),
        ("dead-letter-topic", b"orders"),
        ("dead-letter-partition", b"1"),
        ("dead-letter-offset", b"99"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "smallrye"
    assert info.original_coords == "orders/1/99"
    assert info.exception_class == "jakarta.validation.ValidationException"
    assert info.cause_class == "java.lang.IllegalArgumentException"
    assert info.exception_message == "Validation failed: missing currency"


def test_hand_made_x_original_case_insensitive() -> None:
    headers = [
        ("X-Original-Topic", b"orders"),
        ("x-original-partition", b"0"),
        ("x-original-offset", b"15"),
        ("x-exception-message", b"timeout calling stock service"),
        ("x-exception-fqcn", b"TimeoutError"),
        ("x-exception-stacktrace", b"Traceback ..."),
        ("x-handler", b"inventory.reserve_stock"),
        ("x-retry-count", b"3"),
    ]
    info = parse_dead_letter_headers(headers)
    assert info.convention == "x-original"
    assert info.original_coords == "orders/0/15"
    assert info.exception_class == "TimeoutError"
    assert info.exception_message == "timeout calling stock service"
    assert info.stacktrace == "Traceback ..."
    assert info.handler == "inventory.reserve_stock"
    assert info.attempts == 3


def test_no_dlq_headers() -> None:
    info = parse_dead_letter_headers([("event-type", b"OrderPlaced"), ("traceparent", b"00-x")])
    assert info.convention == "none"
    assert info.original_coords is None
    assert (info.exception_class, info.exception_message, info.attempts) == (None, None, None)
    assert info.problems == ()
    assert parse_dead_letter_headers([]).convention == "none"


# -- undecodable headers become problems ----------------------------------------------------


def test_undecodable_headers_become_problems() -> None:
    headers = [
        ("kafka_dlt-original-topic", b"orders"),
        ("kafka_dlt-original-partition", b"\x00\x01\x02"),  # 3 bytes, not digits
        ("kafka_dlt-original-offset", b""),
        ("kafka_dlt-exception-message", b"bad \xff byte"),
        ("x-original-partition", b"7"),  # a lower-priority convention fills the gap
    ]
    info = parse_dead_letter_headers(headers)
    assert info.original_topic == "orders"
    assert info.original_partition == 7
    assert info.original_offset is None
    assert info.exception_message == "bad \ufffd byte"
    assert len(info.problems) == 3
    joined = "\n".join(info.problems)
    assert "kafka_dlt-original-partition: 3 bytes" in joined
    assert "kafka_dlt-original-offset: empty" in joined
    assert "kafka_dlt-exception-message: not valid UTF-8" in joined


def test_null_header_values_are_ignored() -> None:
    headers = [("kafka_dlt-original-topic", None), ("kafka_dlt-exception-message", b"m")]
    info = parse_dead_letter_headers(headers)  # type: ignore[arg-type]
    assert info.convention == "spring-dlt"
    assert info.original_topic is None
    assert info.exception_message == "m"


# -- is_dlq_header --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "kafka_dlt-original-topic",
        "kafka_dlt-original-timestamp-type",
        "kafka_dlt-key-exception-message",
        "kafka_original-offset",
        "kafka_exception-stacktrace",
        "kafka_key-exception-fqcn",
        "retry_topic-attempts",
        "retry_topic-backoff-timestamp",
        "__connect.errors.stage",
        "__streams.errors.exception",
        "source_topic",
        "source_attempts",
        "source_trace_id",
        "original_consumer_group",
        "dead-letter-cause",
        "x-original-topic",
        "X-Exception-Message",
        "x-handler",
        "x-retry-count",
    ],
)
def test_is_dlq_header(name: str) -> None:
    assert is_dlq_header(name)


@pytest.mark.parametrize(
    "name",
    [
        "traceparent",
        "event-type",
        "correlation-id",
        "kafka_correlationId",
        "ce_id",
        "content-type",
        "source",
        "x-request-id",
    ],
)
def test_is_not_dlq_header(name: str) -> None:
    assert not is_dlq_header(name)


def test_prefixes_are_a_tuple_of_lower_case_strings() -> None:
    assert isinstance(DLQ_HEADER_PREFIXES, tuple)
    assert all(p == p.lower() and is_dlq_header(p + "anything") for p in DLQ_HEADER_PREFIXES)


# -- DeadLetterDecoder ----------------------------------------------------------------------


def dlq_record(value: bytes | None, headers: list[Header]) -> RawRecord:
    return RawRecord("orders.DLT", 0, 3, TS + 5000, b"order-42", value, tuple(headers))


def test_dead_letter_decoder_with_a_decodable_event() -> None:
    event = {
        "eventId": "ev-1",
        "eventType": "OrderPlaced",
        "metadata": {"correlationId": "corr-1", "causationId": "cmd-1"},
        "payload": {"blob": "z" * 500},
    }
    value = json.dumps(event).encode()
    headers = [("event-type", b"OrderPlaced"), *spring_dlt("orders", i32(0), i64(41), "boom")]
    decoder = DeadLetterDecoder(EnvelopeDecoder(EnvelopeSettings(keep_value_bytes=100)))
    rec = dlq_record(value, headers)
    dead = decoder.decode(rec)
    assert dead.record is rec  # the whole value stays for a redrive
    assert dead.info.original_coords == "orders/0/41"
    assert dead.envelope is not None
    assert dead.envelope.event_id == "ev-1"
    assert dead.envelope.truncated is True
    assert dead.correlation_id == "corr-1"
    assert dead.decode_error is None
    assert dead.coords == "orders.DLT/0/3"


@pytest.mark.parametrize(("value", "why"), [(b"{poison", "not JSON"), (None, "empty value")])
def test_dead_letter_decoder_with_an_undecodable_value(value: bytes | None, why: str) -> None:
    decoder = DeadLetterDecoder(EnvelopeDecoder(EnvelopeSettings()))
    dead = decoder.decode(dlq_record(value, spring_dlt("orders", i32(1), i64(2), "parse")))
    assert dead.envelope is None
    assert dead.decode_error == why
    assert dead.info.exception_message == "parse"
    assert dead.correlation_id is None
