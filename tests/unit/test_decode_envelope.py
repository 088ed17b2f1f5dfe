"""EnvelopeDecoder: seed envelopes, configured locations, CloudEvents, traceparent, reasons."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from edamon.config import EnvelopeSettings
from edamon.decode.envelope import EnvelopeDecoder, parse_traceparent
from edamon.decode.timeparse import parse_int, parse_time
from edamon.model.envelope import Envelope, EnvelopeFormat, Undecodable
from edamon.model.records import Header, RawRecord

EVENT_ID = "6f1c2b4e-9a3d-4f7e-8c21-0d5b7a9e3f10"
CORRELATION = "0b7e2d4a-1c3f-4e5d-9a8b-7c6d5e4f3a2b"
CAUSATION = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01".encode()
T0 = datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=UTC).timestamp()


def seed(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": EVENT_ID,
        "eventType": "OrderPlaced",
        "aggregateId": "order-42",
        "occurredAt": "2026-11-26T10:00:00.123Z",
        "version": 2,
        "payload": {"orderId": "order-42", "total": 39.98, "currency": "USD"},
        "metadata": {"correlationId": CORRELATION, "causationId": CAUSATION, "userId": "u-7"},
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def record(
    value: bytes | None,
    headers: list[Header] | None = None,
    *,
    key: bytes | None = b"order-42",
    topic: str = "orders.OrderPlaced",
) -> RawRecord:
    return RawRecord(topic, 3, 1207, 1_795_687_200_500, key, value, tuple(headers or ()))


def js(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def decode(rec: RawRecord, **settings: Any) -> Envelope:
    result = EnvelopeDecoder(EnvelopeSettings(**settings)).decode(rec)
    assert isinstance(result, Envelope), result
    return result


def reason(rec: RawRecord, **settings: Any) -> str:
    result = EnvelopeDecoder(EnvelopeSettings(**settings)).decode(rec)
    assert isinstance(result, Undecodable), result
    return result.reason


# -- the seed envelope and configured locations ---------------------------------------------


def test_seed_envelope_all_fields() -> None:
    headers = [("event-type", b"OrderPlaced"), ("correlation-id", CORRELATION.encode())]
    env = decode(record(js(seed()), headers))
    assert env.event_id == EVENT_ID
    assert env.event_type == "OrderPlaced"
    assert env.correlation_id == CORRELATION
    assert env.causation_id == CAUSATION
    assert env.aggregate_id == "order-42"
    assert env.occurred_at == pytest.approx(T0)
    assert env.version == 2
    assert env.source is None
    assert env.trace_id is None
    assert env.format is EnvelopeFormat.SEED
    assert env.truncated is False
    assert env.record.coords == "orders.OrderPlaced/3/1207"


def test_aggregate_falls_back_to_record_key_and_source_to_metadata() -> None:
    value = seed(aggregateId=None)
    value["metadata"]["source"] = "order-service"
    env = decode(record(js(value), key=b"order-7"))
    assert env.aggregate_id == "order-7"
    assert env.source == "order-service"


def test_correlation_from_header_when_not_in_value() -> None:
    value = seed(metadata={"userId": "u-1"})
    env = decode(record(js(value), [("kafka_correlationId", b"corr-from-spring")]))
    assert env.correlation_id == "corr-from-spring"
    assert env.causation_id is None


def test_configured_header_key_and_dotted_locations() -> None:
    settings = {
        "event_id": ["header:x-event-id", "id"],
        "event_type": ["meta.kind.name"],
        "correlation_id": ["key:"],
        "causation_id": ["trail.0.id"],
        "aggregate_id": ["header:x-aggregate"],
        "occurred_at": ["meta.at"],
        "version": ["meta.schema"],
        "source": ["header:service"],
    }
    value = {
        "id": "ignored-because-header-wins",
        "meta": {"kind": {"name": "StockReserved"}, "at": 1_795_687_200_123, "schema": "3"},
        "trail": [{"id": "cause-1"}, {"id": "cause-2"}],
    }
    headers = [("x-event-id", b"ev-9"), ("x-aggregate", b"sku-1"), ("service", b"inventory")]
    env = decode(record(js(value), headers, key=b"corr-by-key"), **settings)
    assert env.event_id == "ev-9"
    assert env.event_type == "StockReserved"
    assert env.correlation_id == "corr-by-key"
    assert env.causation_id == "cause-1"
    assert env.aggregate_id == "sku-1"
    assert env.occurred_at == pytest.approx(1_795_687_200.123)
    assert env.version == 3
    assert env.source == "inventory"


def test_locations_are_tried_in_order_skipping_unusable_values() -> None:
    settings = {"event_id": ["header:missing", "eventId", "id"], "event_type": ["type"]}
    value = {"eventId": {"not": "an id"}, "id": 12345, "type": "Shipped"}
    env = decode(record(js(value)), **settings)
    assert env.event_id == "12345"  # the dict was skipped; a number id becomes a string
    assert env.event_type == "Shipped"


def test_last_header_value_wins_and_bad_utf8_header_is_skipped() -> None:
    settings = {"event_id": ["header:id", "header:id2"], "event_type": ["header:type"]}
    headers = [("id", b"first"), ("id", b"second"), ("type", b"A"), ("type", b"\xff\xfe")]
    env_or_not = EnvelopeDecoder(EnvelopeSettings(**settings)).decode(record(js({}), headers))
    assert isinstance(env_or_not, Undecodable)  # the last `type` is not UTF-8: no event type
    assert env_or_not.reason == "no event type"
    headers[-1] = ("type", b"B")
    env = decode(record(js({}), headers), **settings)
    assert (env.event_id, env.event_type) == ("second", "B")


def test_header_only_envelope_with_a_binary_value() -> None:
    headers = [("event-id", b"ev-1"), ("event-type", b"Pinged"), ("correlation-id", b"c-1")]
    env = decode(record(b"\x00\x01avro\xff", headers))
    assert (env.event_id, env.event_type, env.correlation_id) == ("ev-1", "Pinged", "c-1")
    assert env.version is None and env.occurred_at is None


def test_numeric_ids_become_strings() -> None:
    value = seed(eventId=9_007_199_254_740_993, metadata={"correlationId": 42.0})
    env = decode(record(js(value)))
    assert env.event_id == "9007199254740993"
    assert env.correlation_id == "42"


# -- causation, traceparent -----------------------------------------------------------------


def test_causation_equal_to_own_event_id_is_a_root() -> None:
    value = seed(metadata={"correlationId": CORRELATION, "causationId": EVENT_ID})
    assert decode(record(js(value))).causation_id is None


def test_traceparent_gives_trace_id_and_fallback_correlation() -> None:
    value = seed(metadata={"userId": "u-1"})
    env = decode(record(js(value), [("traceparent", TRACEPARENT)]))
    assert env.trace_id == TRACE
    assert env.correlation_id == TRACE


def test_trace_id_does_not_replace_a_real_correlation_id() -> None:
    env = decode(record(js(seed()), [("traceparent", TRACEPARENT)]))
    assert env.trace_id == TRACE
    assert env.correlation_id == CORRELATION


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage",
        b"00-" + TRACE.upper().encode() + b"-00f067aa0ba902b7-01",  # upper-case hex
        b"ff-" + TRACE.encode() + b"-00f067aa0ba902b7-01",  # version ff is invalid
        b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01",  # all-zero trace id
        b"00-" + TRACE.encode() + b"-0000000000000000-01",  # all-zero span id
        b"00-" + TRACE.encode() + b"-00f067aa0ba902b7-01-extra",  # v00 has nothing more
        b"00-" + TRACE[:-1].encode() + b"-00f067aa0ba902b7-01",  # short trace id
        b"\xff\xfe",
        b"",
    ],
)
def test_malformed_traceparent_is_ignored(raw: bytes) -> None:
    assert parse_traceparent(raw) is None
    value = seed(metadata={"userId": "u-1"})
    env = decode(record(js(value), [("traceparent", raw)]))
    assert env.trace_id is None
    assert env.correlation_id is None


def test_future_traceparent_version_may_carry_more_fields() -> None:
    assert parse_traceparent(b"01-" + TRACE.encode() + b"-00f067aa0ba902b7-01-abc") == TRACE


# -- CloudEvents ----------------------------------------------------------------------------


def ce_binary_headers(**extra: bytes) -> list[Header]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"ce-1"),
        ("ce_type", b"com.example.order.placed"),
        ("ce_source", b"/orders"),
        ("ce_time", b"2026-11-26T10:00:00.123456789Z"),
        ("content-type", b"application/avro"),
    ]
    headers += [(f"ce_{name}", value) for name, value in extra.items()]
    return headers


def test_cloudevents_binary_with_non_json_data() -> None:
    headers = ce_binary_headers(
        subject=b"order-9",
        correlationid=b"corr-ce",
        causationid=b"cause-ce",
        dataschema=b"https://schemas.example.com/order-placed/v3",
    )
    env = decode(record(b"\x02\x00binary-avro\xff", headers))
    assert env.format is EnvelopeFormat.CLOUDEVENTS_BINARY
    assert env.event_id == "ce-1"
    assert env.event_type == "com.example.order.placed"
    assert env.source == "/orders"
    assert env.occurred_at == pytest.approx(T0 + 0.000456)
    assert env.aggregate_id == "order-9"
    assert env.correlation_id == "corr-ce"
    assert env.causation_id == "cause-ce"
    assert env.version == 3


def test_cloudevents_binary_version_from_data_then_schema_path() -> None:
    headers = ce_binary_headers(dataschema=b"urn:schemas:order-placed/7")
    assert decode(record(js({"version": 5, "orderId": "o"}), headers)).version == 5
    assert decode(record(js({"orderId": "o"}), headers)).version == 7
    no_schema = ce_binary_headers(dataschema=b"https://example.com/order.json")
    assert decode(record(js({"orderId": "o"}), no_schema)).version is None


def test_cloudevents_binary_subject_falls_back_to_key_and_empty_data_is_fine() -> None:
    env = decode(record(None, ce_binary_headers(), key=b"order-5"))
    assert env.aggregate_id == "order-5"
    assert env.correlation_id is None


def test_cloudevents_binary_correlation_falls_back_to_configured_header_then_trace() -> None:
    headers = [*ce_binary_headers(), ("correlation-id", b"corr-header")]
    assert decode(record(b"x", headers)).correlation_id == "corr-header"
    headers = [*ce_binary_headers(), ("traceparent", TRACEPARENT)]
    env = decode(record(b"x", headers))
    assert (env.correlation_id, env.trace_id) == (TRACE, TRACE)


@pytest.mark.parametrize(
    ("missing", "why"), [("ce_id", "no event id"), ("ce_type", "no event type")]
)
def test_cloudevents_binary_without_id_or_type(missing: str, why: str) -> None:
    headers = [(k, v) for k, v in ce_binary_headers() if k != missing]
    assert reason(record(b"data", headers)) == why


def structured(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-2",
        "type": "com.example.payment.authorized",
        "source": "/payments",
        "time": "2026-11-26T11:00:00.123+01:00",
        "subject": "payment-3",
        "correlationid": "corr-s",
        "causationid": "cause-s",
        "dataschema": "https://schemas.example.com/payment/v4",
        "datacontenttype": "application/json",
        "data": {"amount": 10, "version": 6},
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/cloudevents+json; charset=UTF-8",
        b"application/cloudevents+json",
        b"Application/CloudEvents+JSON; charset=utf-8",
    ],
)
def test_cloudevents_structured(content_type: bytes) -> None:
    env = decode(record(js(structured()), [("content-type", content_type)], key=None))
    assert env.format is EnvelopeFormat.CLOUDEVENTS_STRUCTURED
    assert env.event_id == "ce-2"
    assert env.event_type == "com.example.payment.authorized"
    assert env.source == "/payments"
    assert env.occurred_at == pytest.approx(T0)
    assert env.aggregate_id == "payment-3"
    assert env.correlation_id == "corr-s"
    assert env.causation_id == "cause-s"
    assert env.version == 6


def test_cloudevents_structured_version_from_schema_and_trace_extension() -> None:
    event = structured(
        data={"amount": 1},
        correlationid=None,
        traceparent=f"00-{TRACE}-00f067aa0ba902b7-01",
    )
    env = decode(record(js(event), [("content-type", b"application/cloudevents+json")]))
    assert env.version == 4
    assert env.trace_id == TRACE
    assert env.correlation_id == TRACE


def test_cloudevents_structured_wins_over_configured_fields() -> None:
    event = {**structured(), "eventId": "seed-id", "eventType": "SeedType"}
    env = decode(record(js(event), [("content-type", b"application/cloudevents+json")]))
    assert (env.event_id, env.event_type) == ("ce-2", "com.example.payment.authorized")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (js(structured(id=None)), "no event id"),
        (js(structured(type=None)), "no event type"),
    ],
)
def test_cloudevents_structured_failures(value: bytes, why: str) -> None:
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
    assert reason(record(value, headers)) == why


# -- times and versions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-26T10:00:00.123Z", T0),
        ("2026-11-26T11:00:00.123+01:00", T0),
        ("2026-11-26T10:00:00.123000000Z", T0),
        ("2026-11-26T10:00:00.123", T0),  # no offset: UTC
        ("2026-11-26t10:00:00.123z", T0),
        (1_795_687_200_123, T0),  # ms
        (1_795_687_200.123, T0),  # s
        ("1795687200123", T0),
        ("not a time", None),
        ("2026-13-45T99:00:00Z", None),
        (True, None),
        (None, None),
        ({"at": 1}, None),
        (float("nan"), None),
        ("9" * 400, None),
    ],
)
def test_parse_time(raw: object, expected: float | None) -> None:
    got = parse_time(raw)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-6)


def test_unparseable_time_is_not_an_error() -> None:
    env = decode(record(js(seed(occurredAt="yesterday-ish"))))
    assert env.occurred_at is None
    assert env.time == pytest.approx(1_795_687_200.5)  # falls back to the record timestamp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(2, 2), ("2", 2), (" 12 ", 12), (3.0, 3), (3.5, None), ("v2", None), (True, None), ("", None)],
)
def test_parse_int(raw: object, expected: int | None) -> None:
    assert parse_int(raw) == expected


def test_version_falls_through_to_the_next_location() -> None:
    env = decode(record(js(seed(version="latest", schemaVersion="4"))))
    assert env.version == 4


# -- undecodable ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "empty value"),
        (b"", "empty value"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{oops", "not JSON"),
        (b'{"eventId": "a", "eventType": "B"} trailing', "not JSON"),
        (b"[" * 100_000, "nested too deep"),
        (b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, "nested too deep"),
        (b"[" * 10_000 + b"]" * 10_000, "nested too deep"),
        (b' {"payload": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested too deep"),
        (b"\xac\xed\x00\x05sr\x00\x11java.util.HashMap", "Java-serialized (binary)"),
        (b"\xac\xed\x00\x05t\x00\x05hello", "Java-serialized (binary)"),
        (b"[1, 2]", "not a JSON object"),
        (b'"OrderPlaced"', "not a JSON object"),
        (b"  42  ", "not a JSON object"),
        (js(seed(eventId=None)), "no event id"),
        (js(seed(eventId="")), "no event id"),
        (js(seed(eventType=None)), "no event type"),
        (js(seed(eventType=7)), "no event type"),
    ],
)
def test_undecodable_reasons(value: bytes | None, why: str) -> None:
    assert reason(record(value)) == why


def test_too_large_is_checked_first_and_names_the_size() -> None:
    value = js(seed(payload={"blob": "x" * 500}))
    got = EnvelopeDecoder(EnvelopeSettings(max_value_bytes=200, keep_value_bytes=50)).decode(
        record(value)
    )
    assert isinstance(got, Undecodable)
    assert got.reason == f"too large ({len(value)} bytes)"
    assert got.record.value == value[:50]  # only a preview is kept
    assert got.record.coords == "orders.OrderPlaced/3/1207"


def test_leading_whitespace_and_byte_order_mark_are_accepted() -> None:
    assert decode(record(b" \n" + js(seed()))).event_id == EVENT_ID
    assert decode(record("\ufeff".encode() + js(seed()))).event_id == EVENT_ID


# -- memory ---------------------------------------------------------------------------------


def test_long_values_are_truncated_and_flagged() -> None:
    value = js(seed(payload={"blob": "y" * 1000}))
    original = record(value)
    env = decode(original, keep_value_bytes=64)
    assert env.truncated is True
    assert env.record.value == value[:64]
    assert env.record.key == original.key
    assert env.record.headers == original.headers
    assert env.record.coords == original.coords
    assert env.record.timestamp_ms == original.timestamp_ms
    assert env.event_id == EVENT_ID  # decoded from the whole value before cutting


def test_short_values_keep_the_same_record_object() -> None:
    rec = record(js(seed()), topic=sys.intern("orders.OrderPlaced"))
    env = decode(rec)
    assert env.record is rec
    assert env.truncated is False


def test_repeated_strings_are_interned() -> None:
    decoder = EnvelopeDecoder(EnvelopeSettings())
    canonical_topic = sys.intern("".join(["orders.", "OrderPlaced", "-intern-test"]))
    fresh_topic = "".join(["orders.", "OrderPlaced", "-intern-test"])  # equal, another object
    assert fresh_topic is not canonical_topic
    value = js(seed(eventType="".join(["Order", "Placed"])))
    a = decoder.decode(record(value, topic=fresh_topic))
    b = decoder.decode(record(value, topic=fresh_topic))
    assert isinstance(a, Envelope) and isinstance(b, Envelope)
    assert a.event_type is b.event_type is sys.intern("OrderPlaced")
    assert a.record.topic is canonical_topic
    assert a.record.value == value and a.record.coords == "orders.OrderPlaced-intern-test/3/1207"


def test_a_value_of_exactly_max_value_bytes_is_decoded_one_more_is_too_large() -> None:
    limit = 400
    decoder = EnvelopeDecoder(EnvelopeSettings(max_value_bytes=limit, keep_value_bytes=50))
    base = js(seed(payload={"pad": ""}))
    exact = base.replace(b'"pad": ""', b'"pad": "' + b"x" * (limit - len(base)) + b'"')
    assert len(exact) == limit
    decoded = decoder.decode(record(exact))
    assert isinstance(decoded, Envelope) and decoded.event_id == EVENT_ID
    over = exact.replace(b'"pad": "', b'"pad": "x')
    assert len(over) == limit + 1
    too_large = decoder.decode(record(over))
    assert isinstance(too_large, Undecodable)
    assert too_large.reason == f"too large ({limit + 1} bytes)"
