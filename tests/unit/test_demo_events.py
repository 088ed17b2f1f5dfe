"""The demo's envelope, topic names, upcaster, dice and dead-letter headers (pure logic)."""

from __future__ import annotations

import json
import re
import struct

import pytest

from edamon.config import DemoSettings
from edamon.demo.events import Dice, Event, PoisonMessage, Topics, iso_time, parse_iso, upcast
from edamon.demo.faults import (
    MAX_ATTEMPTS,
    Faults,
    java_failure,
    python_failure,
    spring_dlt_headers,
    x_original_headers,
)
from edamon.model.records import RawRecord

T0 = 1_800_000_000.123


def order_placed(version: int = 2) -> Event:
    payload = {"orderId": "order-1", "items": [], "total": 10.5}
    if version == 2:
        payload["currency"] = "EUR"
    return Event("e-1", "OrderPlaced", "order-1", T0, version, payload, "c-1", "e-1", "u-7")


def test_envelope_has_exactly_the_conventional_shape() -> None:
    data = json.loads(order_placed().to_json())
    assert list(data) == [
        "eventId",
        "eventType",
        "aggregateId",
        "occurredAt",
        "version",
        "payload",
        "metadata",
    ]
    assert data["occurredAt"] == "2027-01-15T08:00:00.123Z"
    assert data["metadata"] == {"correlationId": "c-1", "causationId": "e-1", "userId": "u-7"}
    assert data["version"] == 2 and data["payload"]["currency"] == "EUR"
    headers = dict(order_placed().headers("orders"))
    assert headers["event-type"] == b"OrderPlaced" and headers["correlation-id"] == b"c-1"


def test_envelope_round_trips() -> None:
    event = order_placed()
    back = Event.from_json(event.to_json())
    assert back == Event(**{**_fields(event), "occurred_at": pytest.approx(T0, abs=1e-3)})


def _fields(event: Event) -> dict[str, object]:
    return {name: getattr(event, name) for name in Event.__slots__}


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"\xac\xed\x00\x05sr",
        b'{"eventId": "x", "eventType": "OrderPlaced", "payload": {',
        b"[1, 2]",
        b'{"eventId": "x"}',
    ],
)
def test_poison_values_are_rejected(value: bytes | None) -> None:
    with pytest.raises(PoisonMessage):
        Event.from_json(value)


def test_iso_time_round_trip_and_format() -> None:
    text = iso_time(T0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert parse_iso(text) == pytest.approx(T0, abs=1e-3)
    with pytest.raises(ValueError):
        parse_iso("2027-01-15T08:00:00+00:00")


def test_upcaster_adds_usd_to_v1_only() -> None:
    up, changed = upcast(order_placed(version=1))
    assert changed and up.version == 2 and up.payload["currency"] == "USD"
    assert "currency" not in order_placed(version=1).payload  # the original is untouched
    same, changed = upcast(order_placed(version=2))
    assert not changed and same.payload["currency"] == "EUR"


def test_topic_names() -> None:
    topics = Topics("demo.")
    assert topics.event("OrderPlaced") == "demo.orders.OrderPlaced"
    assert topics.event("PaymentFailed") == "demo.payments.PaymentFailed"
    assert topics.command("ReserveStock") == "demo.commands.ReserveStock"
    assert topics.replies == "demo.checkout.replies"
    assert topics.spring_dlt("demo.commands.ChargePayment") == "demo.commands.ChargePayment.DLT"
    assert topics.shipping_dlq == "demo.shipping.dlq"
    assert len(set(topics.business())) == len(topics.business())


def test_dice_are_fixed_by_the_seed() -> None:
    a, b, other = Dice(1), Dice(1), Dice(2)
    assert a.chance("x", "y") == b.chance("x", "y")
    assert a.chance("x", "y") != other.chance("x", "y")
    assert a.chance("x", "y") != a.chance("x", "z")
    assert a.uuid("e") == b.uuid("e") and a.uuid("e") != a.uuid("f")
    assert a.uuid("e")[14] == "4"  # version 4
    rolls = [a.chance("roll", str(i)) for i in range(2000)]
    assert all(0 <= r < 1 for r in rolls)
    assert 0.45 < sum(rolls) / len(rolls) < 0.55


def record(headers: tuple[tuple[str, bytes], ...] = ()) -> RawRecord:
    return RawRecord("demo.orders.OrderPlaced", 2, 1234567, 1_700_000_000_000, b"k", b"v", headers)


def test_faults_follow_the_rates_and_spare_redriven_records() -> None:
    faults = Faults(DemoSettings(transient_error_rate=0.1, stuck_rate=0.2), Dice(5))
    plain = record()
    redriven = record((("edamon-retry-of", b"x.DLT/0/1"),))
    attempts = [faults.failing_attempts("svc", f"e{i}", plain) for i in range(3000)]
    assert 0.07 < attempts.count(MAX_ATTEMPTS) / 3000 < 0.13
    assert 0.07 < attempts.count(1) / 3000 < 0.13
    assert all(faults.failing_attempts("svc", f"e{i}", redriven) == 0 for i in range(3000))
    stuck = sum(faults.stuck("svc", f"e{i}", plain) for i in range(3000))
    assert 0.17 < stuck / 3000 < 0.23
    assert not any(faults.stuck("svc", f"e{i}", redriven) for i in range(3000))
    none = Faults(DemoSettings(transient_error_rate=0, duplicate_rate=0, poison_rate=0), Dice(5))
    assert not any(none.failing_attempts("s", f"e{i}", plain) for i in range(500))
    assert not any(none.duplicate(f"e{i}") or none.poison(f"e{i}") for i in range(500))


def test_spring_dlt_headers_are_binary_and_keep_the_originals() -> None:
    failure = java_failure("com.example.L", "onX", "java.net.SocketTimeoutException", "t/o", ())
    original = (("event-type", b"OrderPlaced"),)
    headers = spring_dlt_headers(record(original), "demo.payments", failure)
    assert headers[0] == original[0]
    got = dict(headers)
    assert got["kafka_dlt-original-topic"] == b"demo.orders.OrderPlaced"
    assert struct.unpack(">i", got["kafka_dlt-original-partition"]) == (2,)
    assert struct.unpack(">q", got["kafka_dlt-original-offset"]) == (1234567,)
    assert struct.unpack(">q", got["kafka_dlt-original-timestamp"]) == (1_700_000_000_000,)
    assert got["kafka_dlt-original-consumer-group"] == b"demo.payments"
    assert got["kafka_dlt-exception-fqcn"].endswith(b"ListenerExecutionFailedException")
    assert got["kafka_dlt-exception-cause-fqcn"] == b"java.net.SocketTimeoutException"
    trace = got["kafka_dlt-exception-stacktrace"].decode()
    assert "\n\tat org.springframework.kafka" in trace
    assert "Caused by: java.net.SocketTimeoutException: t/o" in trace


def test_x_original_headers_are_text() -> None:
    failure = python_failure("shipping.handlers.h", "httpx.ReadTimeout", "slow", ("a.b",))
    got = dict(x_original_headers(record(), "shipping.handlers.h", 2, failure))
    assert got["x-original-topic"] == b"demo.orders.OrderPlaced"
    assert got["x-original-partition"] == b"2"
    assert got["x-original-offset"] == b"1234567"
    assert got["x-exception-fqcn"] == b"httpx.ReadTimeout"
    assert got["x-exception-message"] == b"slow"
    assert got["x-handler"] == b"shipping.handlers.h"
    assert got["x-retry-count"] == b"2"
    trace = got["x-exception-stacktrace"].decode()
    assert trace.startswith("Traceback (most recent call last):")
    assert trace.endswith("httpx.ReadTimeout: slow")
