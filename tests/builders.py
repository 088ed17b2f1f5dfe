"""Builders of realistic records for tests (seed envelopes, DLQ records). No Kafka here."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

from edamon.model.records import Header, RawRecord

BASE_MS = 1_795_000_000_000  # a fixed clock: 2026-11-18


def iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def envelope(
    event_id: str,
    event_type: str,
    correlation_id: str,
    causation_id: str | None = None,
    *,
    aggregate_id: str = "order-1",
    at_ms: int = BASE_MS,
    version: int = 1,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "aggregateId": aggregate_id,
        "occurredAt": iso(at_ms),
        "version": version,
        "payload": payload or {"orderId": aggregate_id},
        "metadata": {"correlationId": correlation_id, "causationId": causation_id, "userId": "u-7"},
    }


def event_value(*args: Any, **kwargs: Any) -> bytes:
    return json.dumps(envelope(*args, **kwargs)).encode()


def event_headers(event_type: str, correlation_id: str) -> list[Header]:
    return [("event-type", event_type.encode()), ("correlation-id", correlation_id.encode())]


def event_record(
    topic: str,
    offset: int,
    event_id: str,
    event_type: str,
    correlation_id: str,
    causation_id: str | None = None,
    *,
    at_ms: int = BASE_MS,
    partition: int = 0,
    version: int = 1,
) -> RawRecord:
    return RawRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=at_ms,
        key=b"order-1",
        value=event_value(
            event_id, event_type, correlation_id, causation_id, at_ms=at_ms, version=version
        ),
        headers=tuple(event_headers(event_type, correlation_id)),
    )


def spring_dlt_headers(
    original_topic: str,
    partition: int,
    offset: int,
    *,
    group: str = "payments",
    exception: str = "java.lang.IllegalStateException",
    message: str = "payment gateway timeout",
) -> list[Header]:
    return [
        ("kafka_dlt-original-topic", original_topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-consumer-group", group.encode()),
        ("kafka_dlt-exception-fqcn", exception.encode()),
        ("kafka_dlt-exception-message", message.encode()),
        (
            "kafka_dlt-exception-stacktrace",
            f"{exception}: {message}\n\tat Handler.on(Handler.java:42)".encode(),
        ),
    ]


def x_original_headers(original_topic: str, partition: int, offset: int) -> list[Header]:
    return [
        ("x-original-topic", original_topic.encode()),
        ("x-original-partition", str(partition).encode()),
        ("x-original-offset", str(offset).encode()),
        ("x-exception-fqcn", b"ShipmentError"),
        ("x-exception-message", b"carrier API returned 503"),
        ("x-handler", b"shipping.schedule"),
        ("x-retry-count", b"3"),
    ]


def connect_headers(original_topic: str, partition: int, offset: int) -> list[Header]:
    return [
        ("__connect.errors.topic", original_topic.encode()),
        ("__connect.errors.partition", str(partition).encode()),
        ("__connect.errors.offset", str(offset).encode()),
        ("__connect.errors.connector.name", b"orders-sink"),
        ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", b"Converting byte[] to Kafka Connect data failed"),
    ]
