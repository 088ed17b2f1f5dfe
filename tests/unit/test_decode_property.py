"""Property tests: no bytes and no headers make the decoders raise, and results stay sane."""

from __future__ import annotations

import json
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edamon.config import EnvelopeSettings
from edamon.decode.dlq import CONVENTIONS, DeadLetterDecoder, parse_dead_letter_headers
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, Undecodable
from edamon.model.records import RawRecord

REASONS = {
    "empty value",
    "not UTF-8",
    "not JSON",
    "not a JSON object",
    "nested too deep",
    "Java-serialized (binary)",
    "no event id",
    "no event type",
}

INTERESTING_NAMES = [
    "kafka_dlt-original-topic",
    "kafka_dlt-original-partition",
    "kafka_dlt-original-offset",
    "kafka_dlt-original-timestamp",
    "kafka_dlt-exception-message",
    "kafka_dlt-exception-fqcn",
    "kafka_dlt-key-exception-message",
    "kafka_original-partition",
    "kafka_exception-message",
    "retry_topic-attempts",
    "retry_topic-original-timestamp",
    "__connect.errors.offset",
    "__connect.errors.exception.message",
    "__streams.errors.exception",
    "__streams.errors.partition",
    "source_partition",
    "original_offset",
    "source_attempts",
    "dead-letter-offset",
    "dead-letter-reason",
    "x-original-partition",
    "X-Retry-Count",
    "x-handler",
    "ce_specversion",
    "ce_id",
    "ce_type",
    "ce_time",
    "ce_dataschema",
    "ce_subject",
    "content-type",
    "traceparent",
    "event-id",
    "event-type",
    "correlation-id",
]

INTERESTING_VALUES = [
    b"",
    b"1.0",
    b"application/cloudevents+json; charset=UTF-8",
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"2026-11-26T10:00:00Z",
    b"12",
    b"-1",
    b"99999999999999999999999999",
    struct.pack(">i", -5),
    struct.pack(">q", 2**62),
    b"\x07",
    b"\xff" * 8,
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=15,
)
ENVELOPE_KEYS = [
    "eventId",
    "eventType",
    "id",
    "type",
    "occurredAt",
    "time",
    "version",
    "metadata",
    "data",
    "subject",
    "correlationid",
    "source",
]
envelope_like = st.dictionaries(st.sampled_from(ENVELOPE_KEYS), json_values, max_size=8)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj).encode()


values = st.one_of(
    st.none(),
    st.binary(max_size=200),
    envelope_like.map(_json_bytes),
    json_values.map(_json_bytes),
    st.tuples(envelope_like.map(_json_bytes), st.integers(0, 60)).map(lambda t: t[0][: t[1]]),
)
header_names = st.one_of(st.sampled_from(INTERESTING_NAMES), st.text(max_size=16))
header_values = st.one_of(st.sampled_from(INTERESTING_VALUES), st.binary(max_size=24), st.none())
header_lists = st.lists(st.tuples(header_names, header_values), max_size=10).map(tuple)
records = st.builds(
    RawRecord,
    topic=st.sampled_from(["orders.OrderPlaced", "orders.DLT", "t"]),
    partition=st.integers(0, 10),
    offset=st.integers(0, 2**40),
    timestamp_ms=st.integers(0, 2**42),
    key=st.one_of(st.none(), st.binary(max_size=16)),
    value=values,
    headers=header_lists,
)

SETTINGS = EnvelopeSettings(max_value_bytes=150, keep_value_bytes=40)
ENVELOPES = EnvelopeDecoder(SETTINGS)
DEAD_LETTERS = DeadLetterDecoder(ENVELOPES)


def _check_envelope_result(rec: RawRecord, result: Envelope | Undecodable) -> None:
    size = len(rec.value or b"")
    if isinstance(result, Undecodable):
        wire = rec.value is not None and rec.value[:1] == b"\x00" and len(rec.value) >= 5
        assert (
            result.reason in REASONS
            or result.reason == f"too large ({size} bytes)"
            # the Confluent wire format (a zero byte, a 4-byte schema id): with no registry here
            or (wire and result.reason.startswith(f"schema {int.from_bytes(rec.value[1:5])}"))
        ), result.reason
        assert result.record.coords == rec.coords
        return
    assert isinstance(result, Envelope)
    assert isinstance(result.event_id, str) and result.event_id
    assert isinstance(result.event_type, str) and result.event_type
    assert result.causation_id != result.event_id
    assert result.truncated == (size > SETTINGS.keep_value_bytes)
    assert len(result.record.value or b"") <= SETTINGS.keep_value_bytes
    assert result.record.coords == rec.coords
    assert result.occurred_at is None or isinstance(result.occurred_at, float)
    assert result.version is None or isinstance(result.version, int)


@settings(max_examples=300, deadline=None)
@given(records)
def test_envelope_decoder_never_raises(rec: RawRecord) -> None:
    _check_envelope_result(rec, ENVELOPES.decode(rec))


@settings(max_examples=300, deadline=None)
@given(header_lists)
def test_parse_dead_letter_headers_never_raises(headers: tuple[Any, ...]) -> None:
    info = parse_dead_letter_headers(headers)
    assert isinstance(info, DeadLetterInfo)
    assert info.convention in (*CONVENTIONS, "none")
    assert all(isinstance(problem, str) for problem in info.problems)
    for number in (info.original_partition, info.original_offset, info.attempts):
        assert number is None or isinstance(number, int)


@settings(max_examples=300, deadline=None)
@given(records)
def test_dead_letter_decoder_never_raises(rec: RawRecord) -> None:
    dead = DEAD_LETTERS.decode(rec)
    assert isinstance(dead, DeadLetter)
    assert dead.record is rec
    assert (dead.envelope is None) == (dead.decode_error is not None)
    if dead.envelope is not None:
        _check_envelope_result(rec, dead.envelope)
    else:
        assert dead.decode_error is not None
        _check_envelope_result(rec, Undecodable(rec, dead.decode_error))


ids = st.one_of(st.text(min_size=1, max_size=30), st.integers(0, 2**53))


@settings(max_examples=200, deadline=None)
@given(
    event_id=ids,
    event_type=st.text(min_size=1, max_size=30),
    correlation=ids,
    causation=ids,
    version=st.integers(0, 1000),
    at_ms=st.integers(10**12, 4 * 10**12),
    payload=json_values,
)
def test_seed_envelopes_round_trip(
    event_id: str | int,
    event_type: str,
    correlation: str | int,
    causation: str | int,
    version: int,
    at_ms: int,
    payload: Any,
) -> None:
    event = {
        "eventId": event_id,
        "eventType": event_type,
        "occurredAt": at_ms,
        "version": version,
        "payload": payload,
        "metadata": {"correlationId": correlation, "causationId": causation},
    }
    rec = RawRecord("orders.X", 0, 1, 0, b"agg", json.dumps(event).encode(), ())
    env = EnvelopeDecoder(EnvelopeSettings(max_value_bytes=10**6)).decode(rec)
    assert isinstance(env, Envelope)
    assert env.event_id == str(event_id)
    assert env.event_type == event_type
    assert env.correlation_id == str(correlation)
    assert env.causation_id == (None if str(causation) == str(event_id) else str(causation))
    assert env.version == version
    assert env.occurred_at == at_ms / 1000
    assert env.aggregate_id == "agg"
