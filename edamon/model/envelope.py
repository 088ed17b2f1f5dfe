"""The event envelope decoded from a record, and what is kept of records that can't be decoded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from edamon.model.records import RawRecord, build_record, slot_builder


class EnvelopeFormat(StrEnum):
    SEED = "seed"
    """edamon's default JSON envelope (eventId, eventType, metadata.correlationId...)."""
    CLOUDEVENTS_BINARY = "cloudevents-binary"
    CLOUDEVENTS_STRUCTURED = "cloudevents-structured"


class WireFormat(StrEnum):
    """How a record written through a schema registry (the Confluent wire format: a zero
    byte, a 4-byte schema id, the payload; or Apicurio's id headers and a bare payload)
    encodes its payload."""

    AVRO = "avro"
    PROTOBUF = "protobuf"
    JSON_SCHEMA = "json-schema"


SchemaKey = int | tuple[str, int]
"""A schema as a record names it: a Confluent schema id (an int), or Apicurio's
("globalId" | "contentId", id) from its headers (edamon.decode.apicurio). Never equal to
each other, so one cache holds both."""


def schema_key_text(key: SchemaKey) -> str:
    """`schema 42`, `globalId 42` or `contentId 42`: how reasons and labels name a schema."""
    if isinstance(key, tuple):
        return f"{key[0]} {key[1]}"
    return f"schema {key}"


_WIRE_NAMES = {
    WireFormat.AVRO: "Avro",
    WireFormat.PROTOBUF: "Protobuf",
    WireFormat.JSON_SCHEMA: "JSON Schema",
}


@dataclass(frozen=True, slots=True)
class SchemaRef:
    """The registry schema a record's value was written with. One object per schema (and
    Protobuf message), shared by every envelope written with it."""

    format: WireFormat
    schema_id: int
    subject: str | None = None
    version: int | None = None
    """The subject's version of this schema, from the registry (None when not known)."""
    message: str | None = None
    """Protobuf: the full name of the message type."""
    read: Callable[[bytes], object] | None = field(default=None, compare=False, repr=False)
    """The whole record value (wire format) -> the payload as JSON-able data (raises
    ValueError when it does not decode, e.g. a truncated value)."""
    id_kind: str | None = None
    """`globalId` or `contentId` when the id came in Apicurio's headers; None for a Confluent
    schema id (the wire format's)."""

    @property
    def key(self) -> SchemaKey:
        """The id as the schema store keys it."""
        return self.schema_id if self.id_kind is None else (self.id_kind, self.schema_id)

    @property
    def label(self) -> str:
        """`Avro · schema 42 · subject orders-value v3` (Protobuf adds the message name); an
        id from Apicurio's headers is named as such: `Avro · globalId 7 · subject ...`."""
        parts = [_WIRE_NAMES[self.format]]
        if self.message:
            parts.append(self.message)
        parts.append(schema_key_text(self.key))
        if self.subject:
            subject = f"subject {self.subject}"
            if self.version is not None:
                subject += f" v{self.version}"
            parts.append(subject)
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded event. The payload is not kept parsed: `record.value` holds the bytes
    (possibly truncated, see `truncated`) and is parsed again on demand for display.

    Retained events beyond the record memory budget (`retention.record_memory_mb`) have their
    record's key, value and headers dropped (`dropped`): the record keeps its coordinates and
    timestamp, and a view reads the full record again from the broker when it is shown."""

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
    dropped: bool = False
    """The record's key, value and headers are no longer in memory (read them by coordinates)."""
    schema: SchemaRef | None = None
    """The registry schema of a value in the Confluent wire format (Avro, Protobuf, JSON
    Schema); None for plain JSON."""

    @property
    def time(self) -> float:
        """Best time for the event: occurredAt, else the record timestamp."""
        if self.occurred_at is not None:
            return self.occurred_at
        return self.record.timestamp_ms / 1000.0


def drop_record_data(env: Envelope) -> None:
    """Replace `env`'s record by one holding only coordinates and timestamp, in place (the
    chain that holds `env` keeps holding it).

    The one mutation of an envelope after it is published, done only by the state that owns it;
    readers see `dropped` and `record.value is None` together. On the ingest path (once per
    retained event), hence the slot setters rather than the dataclass constructor."""
    if env.dropped:
        return
    record = env.record
    _set_env_record(
        env,
        build_record(
            record.topic, record.partition, record.offset, record.timestamp_ms, None, None, ()
        ),
    )
    _set_env_dropped(env, True)


def dropped_copy(env: Envelope) -> Envelope:
    """`env` with its record's key, value and headers let go (coordinates and timestamp kept),
    `dropped` set: a new envelope, `env` is not changed."""
    if env.dropped:
        return env
    record = env.record
    return build_envelope(
        env.event_id,
        env.event_type,
        env.correlation_id,
        env.causation_id,
        env.aggregate_id,
        env.occurred_at,
        env.version,
        env.source,
        env.trace_id,
        env.format,
        build_record(
            record.topic, record.partition, record.offset, record.timestamp_ms, None, None, ()
        ),
        env.truncated,
        True,
        env.schema,
    )


def record_size(record: RawRecord) -> int:
    """About the bytes a record's key, value and headers hold (what `drop_record_data` lets
    go): header names and short values are mostly shared between records, so each header
    counts a flat HEADER_BYTES."""
    return len(record.value or b"") + len(record.key or b"") + HEADER_BYTES * len(record.headers)


HEADER_BYTES = 48


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A record that could not be decoded: kept with the reason and its coordinates."""

    record: RawRecord
    reason: str
    awaiting: SchemaKey | None = None
    """A schema the decoder does not know yet: the record decodes once it is fetched."""


_set_env_record = vars(Envelope)["record"].__set__
_set_env_dropped = vars(Envelope)["dropped"].__set__

build_envelope: Callable[
    [
        str,
        str,
        str | None,
        str | None,
        str | None,
        float | None,
        int | None,
        str | None,
        str | None,
        EnvelopeFormat,
        RawRecord,
        bool,
        bool,
        SchemaRef | None,
    ],
    Envelope,
]
ENVELOPE_SLOTS = (
    "event_id",
    "event_type",
    "correlation_id",
    "causation_id",
    "aggregate_id",
    "occurred_at",
    "version",
    "source",
    "trace_id",
    "format",
    "record",
    "truncated",
    "dropped",
    "schema",
)
"""Envelope's fields in their order (the fast builder and setters go by it)."""
build_envelope = slot_builder(Envelope, ENVELOPE_SLOTS)
"""Envelope(...) with every field given in order, faster (the decoder's batch path)."""
