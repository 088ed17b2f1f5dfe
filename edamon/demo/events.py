"""The demo's messages: the JSON envelope (conventions §1), topic names, the OrderPlaced
upcaster and the deterministic dice every decision is rolled with."""

from __future__ import annotations

import calendar
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from edamon.model.records import Header

# Event types, by the bounded context whose topic carries them in the choreographed flow.
CONTEXTS: dict[str, str] = {
    "OrderPlaced": "orders",
    "StockReserved": "inventory",
    "StockReservationFailed": "inventory",
    "StockReleased": "inventory",
    "PaymentProcessed": "payments",
    "PaymentFailed": "payments",
    "ShipmentScheduled": "shipping",
    "CheckoutStarted": "checkout",
}
COMMANDS = ("ReserveStock", "ChargePayment", "ScheduleShipment", "RefundPayment", "ReleaseStock")
"""Commands the checkout orchestrator sends (one topic each)."""
REPLIES = (
    "StockReserved",
    "StockReservationFailed",
    "PaymentCharged",
    "PaymentDeclined",
    "ShipmentScheduled",
    "ShipmentFailed",
    "PaymentRefunded",
    "StockReleased",
)
"""Replies to the orchestrator, all on its reply channel `<prefix>checkout.replies`."""

DEFAULT_CURRENCY = "USD"
"""What the upcaster gives an OrderPlaced v1, which had no currency."""
RETRY_HEADER = "edamon-retry-of"
"""Set by edamon's DLQ redrive on the republished record."""

_REQUIRED = ("eventId", "eventType", "aggregateId", "occurredAt", "version", "payload", "metadata")


class PoisonMessage(ValueError):
    """A record whose value is not a valid envelope."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event or command in the demo's envelope."""

    event_id: str
    event_type: str
    aggregate_id: str
    occurred_at: float
    version: int
    payload: dict[str, Any]
    correlation_id: str
    causation_id: str
    user_id: str

    def to_json(self) -> bytes:
        """The envelope as compact UTF-8 JSON, in the field order of conventions §1."""
        return json.dumps(
            {
                "eventId": self.event_id,
                "eventType": self.event_type,
                "aggregateId": self.aggregate_id,
                "occurredAt": iso_time(self.occurred_at),
                "version": self.version,
                "payload": self.payload,
                "metadata": {
                    "correlationId": self.correlation_id,
                    "causationId": self.causation_id,
                    "userId": self.user_id,
                },
            },
            separators=(",", ":"),
        ).encode()

    def headers(self, service: str) -> tuple[Header, ...]:
        """`event-type` and `correlation-id` (conventions §1), plus the producing `service`."""
        return (
            ("event-type", self.event_type.encode()),
            ("correlation-id", self.correlation_id.encode()),
            ("service", service.encode()),
        )

    @classmethod
    def from_json(cls, value: bytes | None) -> Event:
        """Parse an envelope; PoisonMessage if the value is not one."""
        if value is None:
            raise PoisonMessage("the record has no value")
        try:
            data = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PoisonMessage(f"invalid JSON: {exc}") from None
        if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
            raise PoisonMessage("not an event envelope (fields missing)")
        meta = data["metadata"]
        if not isinstance(meta, dict) or not isinstance(data["payload"], dict):
            raise PoisonMessage("not an event envelope (payload or metadata not an object)")
        try:
            return cls(
                event_id=str(data["eventId"]),
                event_type=str(data["eventType"]),
                aggregate_id=str(data["aggregateId"]),
                occurred_at=parse_iso(str(data["occurredAt"])),
                version=int(data["version"]),
                payload=data["payload"],
                correlation_id=str(meta.get("correlationId", "")),
                causation_id=str(meta.get("causationId", "")),
                user_id=str(meta.get("userId", "")),
            )
        except (TypeError, ValueError) as exc:
            raise PoisonMessage(f"bad envelope field: {exc}") from None


def iso_time(epoch: float) -> str:
    """`2026-11-26T10:00:00.123Z` (UTC, milliseconds)."""
    millis = int(epoch * 1000)
    seconds, ms = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def parse_iso(text: str) -> float:
    """Inverse of iso_time (ValueError if the text is not in that shape)."""
    if not text.endswith("Z") or len(text) != 24:
        raise ValueError(f"not an ISO UTC time with milliseconds: {text!r}")
    struct = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(struct) + int(text[20:23]) / 1000


def upcast(event: Event) -> tuple[Event, bool]:
    """OrderPlaced v1 -> v2 (adds `currency`, default USD); other events unchanged.

    Returns the event and whether it was upcast."""
    if event.event_type == "OrderPlaced" and event.version == 1:
        payload = dict(event.payload)
        payload.setdefault("currency", DEFAULT_CURRENCY)
        return replace(event, version=2, payload=payload), True
    return event, False


class Topics:
    """Topic names of a demo run with prefix `prefix` (e.g. `demo.`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.replies = f"{prefix}checkout.replies"
        self.shipping_dlq = f"{prefix}shipping.dlq"

    def event(self, event_type: str) -> str:
        """`<prefix><context>.<EventType>`, e.g. `demo.orders.OrderPlaced`."""
        return f"{self.prefix}{CONTEXTS[event_type]}.{event_type}"

    def command(self, command_type: str) -> str:
        """`<prefix>commands.<Command>`, e.g. `demo.commands.ReserveStock`."""
        return f"{self.prefix}commands.{command_type}"

    @staticmethod
    def spring_dlt(source: str) -> str:
        """Spring's dead-letter topic for `source`: `<source>.DLT`."""
        return f"{source}.DLT"

    def business(self) -> list[str]:
        """Every event, command and reply topic (not the dead-letter topics)."""
        return (
            [self.event(t) for t in CONTEXTS] + [self.command(c) for c in COMMANDS] + [self.replies]
        )


class Dice:
    """Deterministic chances and ids derived from the seed and a name, so a decision about an
    event does not depend on the order in which concurrent services happen to run."""

    def __init__(self, seed: int) -> None:
        self._key = str(seed).encode()[:64]

    def _digest(self, parts: tuple[str, ...], size: int) -> bytes:
        return hashlib.blake2b(
            "\x1f".join(parts).encode(), digest_size=size, key=self._key
        ).digest()

    def chance(self, *parts: str) -> float:
        """A number in [0, 1) fixed by the seed and `parts`."""
        return int.from_bytes(self._digest(parts, 8), "big") / 2.0**64

    def uuid(self, *parts: str) -> str:
        """A version-4 UUID fixed by the seed and `parts`."""
        return str(uuid.UUID(bytes=self._digest(parts, 16), version=4))
