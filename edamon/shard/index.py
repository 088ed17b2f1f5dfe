"""The compact index record a member writes to the repartition topic, and reading it back.

An event that decodes becomes a CloudEvents binary-mode record (every decoder reads it,
whatever the envelope locations are configured to): `ce_id`, `ce_type`, `ce_time` (epoch
seconds, exact and cheaper than RFC 3339 text; edamon reads both),
`ce_correlationid`, `ce_causationid`, `ce_subject` (aggregate id), `ce_source`, and a value of
at most `{"version": N}`. The source coordinates travel in `edamon-src` (`topic/partition/offset`),
the source record's key in `edamon-key`; the record timestamp is the source's. Anything else
(dead letters, ledger entries, records that did not decode or await their schema) is forwarded
whole (value and headers) with `edamon-src`: stage 2 decodes it as a single collector would.

The record's key is the correlation id (the event id when there is none): Kafka's partitioner
sends a whole flow to one partition of the index topic, so one member owns it.
"""

from __future__ import annotations

import orjson

from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.schemas import SchemaStore
from edamon.model.envelope import Envelope, Undecodable
from edamon.model.records import Header, RawRecord, parse_coords
from edamon.model.topics import TopicRules

IndexRecord = tuple[bytes, bytes | None, list[Header], int]
"""(key, value, headers, timestamp_ms) of a record to write to the index topic."""

SOURCE_HEADER = "edamon-src"
KEY_HEADER = "edamon-key"


class BadIndexRecord(ValueError):
    """An index record edamon did not write (no or a malformed `edamon-src`)."""


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8", errors="replace")


class IndexWriter:
    """Stage 1's transform: a source record -> its index record (`index_record`)."""

    def __init__(self, settings: Settings, schemas: SchemaStore | None = None) -> None:
        self.rules = TopicRules(
            settings.topics, ledger_topic=settings.dlq.ledger_topic, dlq_routes=settings.dlq.routes
        )
        self._decoder = EnvelopeDecoder(settings.envelope, schemas)
        self._dead = DeadLetterDecoder(self._decoder)

    def index_record(self, record: RawRecord) -> IndexRecord:
        rules = self.rules
        if record.topic == rules.ledger_topic:
            return forwarded_record(record, None)
        if rules.is_dlq(record.topic):
            return forwarded_record(record, self._dead.decode(record).correlation_id)
        decoded = self._decoder.decode(record)
        if isinstance(decoded, Undecodable):
            return forwarded_record(record, None)
        return event_record(decoded)


def event_record(env: Envelope) -> IndexRecord:
    """(key, value, headers, timestamp_ms) of the compact index record of a decoded event."""
    record = env.record
    headers: list[Header] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", env.event_id.encode()),
        ("ce_type", env.event_type.encode()),
        (SOURCE_HEADER, record.coords.encode()),
    ]
    if env.occurred_at is not None:  # epoch seconds: every decoder reads them, cheaply
        headers.append(("ce_time", repr(env.occurred_at).encode()))
    for name, text in (
        ("ce_correlationid", env.correlation_id),
        ("ce_causationid", env.causation_id),
        ("ce_subject", env.aggregate_id),
        ("ce_source", env.source),
    ):
        encoded = _text(text)
        if encoded is not None:
            headers.append((name, encoded))
    if record.key is not None:
        headers.append((KEY_HEADER, record.key))
    value = b"" if env.version is None else orjson.dumps({"version": env.version})
    key = (env.correlation_id or env.event_id).encode()
    return key, value, headers, record.timestamp_ms


def forwarded_record(record: RawRecord, correlation_id: str | None) -> IndexRecord:
    """(key, value, headers, timestamp_ms) of a record forwarded whole: keyed by its flow's
    correlation id when known, else by its coordinates."""
    headers = [*record.headers, (SOURCE_HEADER, record.coords.encode())]
    if record.key is not None:
        headers.append((KEY_HEADER, record.key))
    key = (correlation_id or record.coords).encode()
    return key, record.value, headers, record.timestamp_ms


def source_record(index: RawRecord) -> RawRecord:
    """The source record an index record stands for: its coordinates, timestamp and key, the
    index value and headers (edamon's own removed). Raises BadIndexRecord."""
    src: bytes | None = None
    key: bytes | None = None
    headers: list[Header] = []
    for name, value in index.headers:
        if name == SOURCE_HEADER:
            src = value
        elif name == KEY_HEADER:
            key = value
        else:
            headers.append((name, value))
    if src is None:
        raise BadIndexRecord(f"no {SOURCE_HEADER} header at {index.coords}")
    try:
        topic, partition, offset = parse_coords(src.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadIndexRecord(f"bad {SOURCE_HEADER} at {index.coords}: {exc}") from None
    return RawRecord(topic, partition, offset, index.timestamp_ms, key, index.value, tuple(headers))
