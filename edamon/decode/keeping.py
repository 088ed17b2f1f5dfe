"""What a decoded record becomes: the Envelope built, ids shared, the record kept.

`RecordKeeper` is the envelope decoder's base: `_build` makes the Envelope (trace id from
`traceparent`, which also stands in for a missing correlation id) by setting its slots directly,
`_keep` keeps the record with its topic and header names interned, its value cut to
`keep_value_bytes`, and its key and short headers shared with earlier records, and
`_undecodable` keeps a record that could not be decoded. The sharing memos (ids, keys, headers)
start again empty when full, so memory stays bounded.

The underscored names are internal to `edamon.decode`: `envelope` imports them.
"""

from __future__ import annotations

import sys

from edamon.decode.locations import HeaderMap
from edamon.decode.parsing import parse_traceparent
from edamon.model.envelope import (
    ENVELOPE_SLOTS,
    Envelope,
    EnvelopeFormat,
    SchemaKey,
    SchemaRef,
    Undecodable,
)
from edamon.model.records import RECORD_SETTERS, Header, RawRecord, slot_setters

__all__ = ["RecordKeeper"]

_intern = sys.intern

_MEMO_LIMIT = 1 << 17
"""Entries per sharing memo (ids, keys, headers); a full memo starts again empty."""
_SHARED_MAX = 64
"""Longest record key or header value shared between records."""

_new = object.__new__


(
    _set_event_id,
    _set_event_type,
    _set_correlation_id,
    _set_causation_id,
    _set_aggregate_id,
    _set_occurred_at,
    _set_version,
    _set_source,
    _set_trace_id,
    _set_format,
    _set_record,
    _set_truncated,
    _set_dropped,
    _set_schema,
) = slot_setters(Envelope, ENVELOPE_SLOTS)
_set_topic, _set_partition, _set_offset, _set_timestamp, _set_key, _set_value, _set_headers = (
    RECORD_SETTERS
)


class RecordKeeper:
    """Builds envelopes and keeps their records, sharing what repeats between records."""

    def __init__(self, keep_bytes: int) -> None:
        self._keep_bytes = keep_bytes
        self._ids: dict[str, str] = {}
        self._keys: dict[bytes, bytes] = {}
        self._headers: dict[Header, Header] = {}

    def _build(
        self,
        record: RawRecord,
        headers: HeaderMap,
        event_id: str,
        event_type: str,
        correlation_id: str | None,
        causation_id: str | None,
        aggregate_id: str | None,
        occurred_at: float | None,
        version: int | None,
        source: str | None,
        fmt: EnvelopeFormat,
        trace_id: str | None,
        schema: SchemaRef | None = None,
    ) -> Envelope:
        """The envelope (trace id from `traceparent`, which also stands in for a missing
        correlation id), its ids shared with earlier envelopes', its record kept."""
        traceparent = headers.get("traceparent")
        if traceparent is not None:
            trace_id = parse_traceparent(traceparent)
        if correlation_id is None:
            correlation_id = trace_id
        ids = self._ids
        if len(ids) >= _MEMO_LIMIT:
            ids.clear()
        share = ids.setdefault
        event_id = share(event_id, event_id)
        if causation_id is not None:
            causation_id = None if causation_id == event_id else share(causation_id, causation_id)
        if correlation_id is not None:
            correlation_id = share(correlation_id, correlation_id)
        if aggregate_id is not None:
            aggregate_id = share(aggregate_id, aggregate_id)
        kept, truncated = self._keep(record)
        env: Envelope = _new(Envelope)
        _set_event_id(env, event_id)
        _set_event_type(env, event_type)
        _set_correlation_id(env, correlation_id)
        _set_causation_id(env, causation_id)
        _set_aggregate_id(env, aggregate_id)
        _set_occurred_at(env, occurred_at)
        _set_version(env, version)
        _set_source(env, source)
        _set_trace_id(env, trace_id)
        _set_format(env, fmt)
        _set_record(env, kept)
        _set_truncated(env, truncated)
        _set_dropped(env, False)
        _set_schema(env, schema)
        return env

    def _keep(self, record: RawRecord) -> tuple[RawRecord, bool]:
        """The record to keep: topic and header names interned, value cut to keep_value_bytes,
        record key and short headers shared with earlier records. The same object when it
        needs none of that."""
        topic = record.topic
        interned = _intern(topic) if type(topic) is str else topic
        value = record.value
        truncated = False
        if value is not None and len(value) > self._keep_bytes:
            value, truncated = value[: self._keep_bytes], True
        headers = record.headers
        if headers:
            headers = self._share_headers(headers)
        key = record.key
        if key is not None and len(key) <= _SHARED_MAX:
            keys = self._keys
            if len(keys) >= _MEMO_LIMIT:
                keys.clear()
            key = keys.setdefault(key, key)
        if not truncated and interned is topic and headers is record.headers and key is record.key:
            return record, False
        kept: RawRecord = _new(RawRecord)
        _set_topic(kept, interned)
        _set_partition(kept, record.partition)
        _set_offset(kept, record.offset)
        _set_timestamp(kept, record.timestamp_ms)
        _set_key(kept, key)
        _set_value(kept, value)
        _set_headers(kept, headers)
        return kept, truncated

    def _share_headers(self, headers: tuple[Header, ...]) -> tuple[Header, ...]:
        """Headers with interned names, short ones shared with earlier records; the same
        tuple when every header already is the shared one."""
        memo = self._headers
        out: list[Header] = []
        changed = False
        for header in headers:
            shared = memo.get(header)
            if shared is None:
                shared = self._share_header(header)
            if shared is not header:
                changed = True
            out.append(shared)
        return tuple(out) if changed else headers

    def _share_header(self, header: Header) -> Header:
        """A header not in the memo yet: its name interned, kept in the memo when short."""
        name, value = header
        interned = _intern(name) if type(name) is str else name
        shared = header if interned is name else (interned, value)
        if value is None or len(value) <= _SHARED_MAX:
            memo = self._headers
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[shared] = shared
        return shared

    def _undecodable(
        self, record: RawRecord, reason: str, awaiting: SchemaKey | None = None
    ) -> Undecodable:
        """Undecodable keeps the record with its value cut to keep_value_bytes (enough for a
        preview; the reason carries the real size when it was too large). A record `awaiting`
        a schema is kept whole: it is decoded again when the schema arrives."""
        if awaiting is not None:
            return Undecodable(record=record, reason=reason, awaiting=awaiting)
        return Undecodable(record=self._keep(record)[0], reason=reason)
