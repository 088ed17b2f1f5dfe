"""The event envelope decoded from a record, and what is kept of records that can't be decoded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edamon.model.records import RawRecord


class EnvelopeFormat(StrEnum):
    SEED = "seed"
    """edamon's default JSON envelope (eventId, eventType, metadata.correlationId...)."""
    CLOUDEVENTS_BINARY = "cloudevents-binary"
    CLOUDEVENTS_STRUCTURED = "cloudevents-structured"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded event. The payload is not kept parsed: `record.value` holds the bytes
    (possibly truncated, see `truncated`) and is parsed again on demand for display."""

    event_id: str
    event_type: str
    correlation_id: str | None
    causation_id: str | None
    aggregate_id: str | None
    occurred_at: float | None
    """Event time in epoch seconds, from the envelope; None when absent or unparseable."""
    version: int | None
    source: str | None
    """The producing service when known (CloudEvents `source`, or a configured field)."""
    trace_id: str | None
    """W3C trace id from `traceparent`, when present."""
    format: EnvelopeFormat
    record: RawRecord
    truncated: bool = False

    @property
    def time(self) -> float:
        """Best time for the event: occurredAt, else the record timestamp."""
        if self.occurred_at is not None:
            return self.occurred_at
        return self.record.timestamp_ms / 1000.0


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A record that could not be decoded: kept with the reason and its coordinates."""

    record: RawRecord
    reason: str
