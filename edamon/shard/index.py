"""The compact index record a member writes to the repartition topic, and reading it back.

An event that decodes becomes a CloudEvents binary-mode record (every decoder reads it,
whatever the envelope locations are configured to): `ce_id`, `ce_type`, `ce_time`,
`ce_correlationid`, `ce_causationid`, `ce_subject` (aggregate id), `ce_source`, and a value of
at most `{"version": N}`. The source coordinates travel in `edamon-src` (`topic/partition/offset`),
the source record's key in `edamon-key`; the record timestamp is the source's. Anything else
(dead letters, ledger entries, records that did not decode or await their schema) is forwarded
whole (value and headers) with `edamon-src`: stage 2 decodes it as a single collector would.

The record's key is the correlation id (the event id when there is none): Kafka's partitioner
sends a whole flow to one partition of the index topic, so one member owns it.
"""

from __future__ import annotations

import datetime as dt

import orjson

from edamon.model.envelope import Envelope
from edamon.model.records import Header, RawRecord, parse_coords

SOURCE_HEADER = "edamon-src"
KEY_HEADER = "edamon-key"


class BadIndexRecord(ValueError):
    """An index record edamon did not write (no or a malformed `edamon-src`)."""


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8", errors="replace")


def event_record(env: Envelope) -> tuple[bytes, bytes, tuple[Header, ...], int]:
    """(key, value, headers, timestamp_ms) of the compact index record of a decoded event."""
    record = env.record
    headers: list[Header] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", env.event_id.encode()),
        ("ce_type", env.event_type.encode()),
        (SOURCE_HEADER, record.coords.encode()),
    ]
    if env.occurred_at is not None:
        when = dt.datetime.fromtimestamp(env.occurred_at, dt.UTC)
        headers.append(("ce_time", when.isoformat(timespec="microseconds").encode()))
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
    return key, value, tuple(headers), record.timestamp_ms


def forwarded_record(
    record: RawRecord, correlation_id: str | None
) -> tuple[bytes, bytes | None, tuple[Header, ...], int]:
    """(key, value, headers, timestamp_ms) of a record forwarded whole: keyed by its flow's
    correlation id when known, else by its coordinates."""
    headers: tuple[Header, ...] = (*record.headers, (SOURCE_HEADER, record.coords.encode()))
    if record.key is not None:
        headers = (*headers, (KEY_HEADER, record.key))
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
