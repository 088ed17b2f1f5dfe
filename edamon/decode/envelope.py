"""Kafka record -> Envelope, or Undecodable with a short, stable reason.

Recognised in this order (conventions §1):

1. CloudEvents binary mode: a `ce_specversion` header; attributes in `ce_*` headers, the value
   is the data (any bytes, may be empty).
2. CloudEvents structured mode: `content-type` starts with `application/cloudevents`; the value
   is the whole JSON event.
3. The configured locations (`EnvelopeSettings`): per field, dotted JSON paths into the value,
   `header:NAME` (UTF-8 header, last one wins) or `key:` (the record key), tried in order.

A value (or key) in the Confluent wire format (Avro, Protobuf, JSON Schema through a schema
registry: `wire`, `schemas`) is decoded first; the locations then read the decoded object as
they read a JSON one, and CloudEvents binary mode takes it as its data. So is a value (or key)
whose schema id comes in Apicurio's headers (`apicurio.value.globalId` or `.contentId`, a key's
in `apicurio.key.*`: edamon.decode.apicurio), its payload bare; the header wins over a leading
zero byte, as in Apicurio's deserializer. A record whose schema is not known yet comes back as
Undecodable with `awaiting` set: the schema is being fetched. (The batch paths leave to `decode`
every value that is not a plain JSON object, so a bare Avro or Protobuf payload; a JSON Schema
payload with Apicurio's headers is plain JSON and is read as such there, without its schema's
label.)

`decode()` never raises, whatever the bytes and headers.

Speed and memory (the collector decodes every record it reads): values are parsed with orjson
and the configured fields read straight from the object when a field's first location is a JSON
key (anything else, or a value orjson would read differently from the standard library, takes
the exact path); decoded records keep interned topics and header names, and ids, record keys
and short headers that repeat (a flow's correlation id, a parent's event id) share one object.

Rooms: `locations` (field locations and lookups, the converters), `parsing` (the value as a JSON
object, traceparent, dataschema), `keeping` (building the Envelope, keeping and sharing records).
This module holds the decoder and its three shapes; it is the import path of `EnvelopeDecoder`
and `parse_traceparent`.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edamon.config import EnvelopeSettings
from edamon.decode.apicurio import ID_HEADERS, avro_encoding, header_id
from edamon.decode.fields import FieldReader, FieldSpec, ReadError
from edamon.decode.keeping import _MEMO_LIMIT, _SHARED_MAX, RecordKeeper
from edamon.decode.locations import (
    HeaderMap,
    JsonObject,
    Lead,
    _as_id,
    _as_name,
    _compile,
    _first,
    _Inexact,
    _json_roots,
    _lead,
    _text,
    _then,
)
from edamon.decode.native import native_decoder
from edamon.decode.parsing import (
    _FAST_SIZE,
    _fast_object,
    _parse_object,
    _schema_version,
    parse_traceparent,
)
from edamon.decode.schemas import SchemaStore
from edamon.decode.timeparse import MS_THRESHOLD, parse_int, parse_time
from edamon.decode.wire import JsonSchema, WireError, jsonable, schema_id_of
from edamon.model.envelope import (
    Envelope,
    EnvelopeFormat,
    SchemaKey,
    SchemaRef,
    Undecodable,
    WireFormat,
    build_envelope,
    schema_key_text,
)
from edamon.model.records import FlawedRecord, Header, RawRecord, build_record

__all__ = ["EnvelopeDecoder", "parse_traceparent"]

_intern = sys.intern

_NO_HEADERS: HeaderMap = {}
_CE_PREFIX = b"application/cloudevents"
_NOT_READ = (*ReadError, _Inexact, ValueError, OverflowError)
"""What the batch path's parse and field reads raise for a value it leaves to `decode`: not an
object or not JSON, a root of an unexpected type, a float that may be an inexact integer, an id
of 5,000 digits..."""


class EnvelopeDecoder(RecordKeeper):
    """Turns records into Envelopes. Build once (locations are compiled here), call often."""

    def __init__(self, settings: EnvelopeSettings, schemas: SchemaStore | None = None) -> None:
        self._event_id = _compile(settings.event_id)
        self._event_type = _compile(settings.event_type)
        self._correlation = _compile(settings.correlation_id)
        self._causation = _compile(settings.causation_id)
        self._aggregate = _compile(settings.aggregate_id)
        self._occurred = _compile(settings.occurred_at)
        self._version = _compile(settings.version)
        self._source = _compile(settings.source)
        fields = (
            self._event_id,
            self._event_type,
            self._correlation,
            self._causation,
            self._aggregate,
            self._occurred,
            self._version,
            self._source,
        )
        self._leads: tuple[Lead, ...] = tuple(_lead(locations) for locations in fields)
        super().__init__(settings.keep_value_bytes)
        self._max_bytes = settings.max_value_bytes
        self.schemas = schemas if schemas is not None else SchemaStore(None)
        self._wire_keys = self.schemas.registry is not None
        """Keys are read in the wire format only with a registry (Avro/Protobuf keys)."""
        self._json_schemas: dict[int, JsonSchema] = {}
        self._roots = _json_roots(*fields)
        """The top-level fields the locations read: all a Protobuf payload needs converted."""
        self._parse: Callable[[bytes], Any] | None = None
        """The batch path's parser (None: `decode_many` decodes record by record)."""
        specs: tuple[FieldSpec, ...] = (
            (self._event_id, _as_id, "text", "no event id"),
            (self._event_type, _as_name, "name", "no event type"),
            (self._correlation, _as_id, "text", None),
            (self._causation, _as_id, "text", None),
            (self._aggregate, _as_id, "text", None),
            (self._occurred, parse_time, "time", None),
            (self._version, parse_int, "int", None),
            (self._source, _as_name, "name", None),
        )
        """The fields as both batch paths read them (the Python one and the accelerator)."""
        try:
            reader = FieldReader(fields)
            self._read_fields = reader.reader(specs)
            self._parse = reader.parse
        except (LookupError, ValueError):  # no batch path: a two-key lead whose root is read
            pass  # deeper too, or a JSON key msgspec can't name (a '"', '\\', a control character)
        self._native = native_decoder(
            settings.native,
            specs,
            self._max_bytes,
            settings.keep_value_bytes,
            self._wire_keys,
        )
        """The accelerator's batch decoder (edamon.decode.native), or None."""

    def decode(self, record: RawRecord) -> Envelope | Undecodable:
        """Decode one record. Never raises: failures come back as Undecodable(reason)."""
        if type(record) is FlawedRecord:  # e.g. a header name that is not UTF-8
            return self._undecodable(record, record.flaw)
        value = record.value
        size = len(value) if value else 0
        if size > self._max_bytes:
            return self._undecodable(record, f"too large ({size} bytes)")
        headers: HeaderMap = dict(record.headers) if record.headers else _NO_HEADERS
        key = record.key
        if headers and not ID_HEADERS.isdisjoint(headers):
            return self._wire(record, headers, True)
        if (size > 4 and value[0] == 0) or (  # type: ignore[index]
            self._wire_keys and key and len(key) > 4 and key[0] == 0
        ):
            return self._wire(record, headers)
        if "ce_specversion" in headers:
            return self._binary(record, headers)
        if not value:
            return self._undecodable(record, "empty value")
        if _structured_content(headers):
            return self._structured(record, headers, value, key)
        return self._configured(record, headers, value)

    def decode_many(self, records: Sequence[RawRecord]) -> list[Envelope | Undecodable]:
        """`decode` of each record, in order; the same results, faster for the usual record (a
        plain JSON object as the value, no CloudEvents headers): only the fields the locations
        read are parsed (`FieldReader`), and the envelope is built inline. Anything else, and
        any value the batch path does not read exactly as the standard parser would (not
        ASCII, numbers beyond a double, lone surrogates...), goes through `decode`. With the
        accelerator (edamon.decode.native), its one call per batch is the batch path."""
        native = self._native
        if native is not None:
            batch = records if type(records) is list else list(records)
            results, pending = native.decode(
                batch, self._ids, self._keys, self._headers, self._share_header
            )
            for index in pending:
                reason = results[index]
                record = batch[index]
                results[index] = (
                    self.decode(record) if reason is None else self._undecodable(record, reason)
                )
            return results
        parse = self._parse
        if parse is None:
            return [self.decode(record) for record in records]
        read_fields = self._read_fields
        decode = self.decode
        max_bytes = self._max_bytes
        wire_keys = self._wire_keys
        ids = self._ids
        keys = self._keys
        header_memo = self._headers
        share_header = self._share_header
        keep_bytes = self._keep_bytes
        last_topic: str | None = None
        kept_topic = ""
        seed = EnvelopeFormat.SEED
        out: list[Envelope | Undecodable] = []
        append = out.append
        for record in records:
            value = record.value
            if (
                type(record) is not RawRecord
                or not value
                or value[0] == 0
                or len(value) > max_bytes
                or not value.isascii()
                or (
                    len(value) > _FAST_SIZE
                    and value.count(b"{") + value.count(b"[") > _FAST_SIZE // 2
                )
            ):
                append(decode(record))
                continue
            key = record.key
            if wire_keys and key and len(key) > 4 and key[0] == 0:
                append(decode(record))
                continue
            raw_headers = record.headers
            headers: HeaderMap = dict(raw_headers) if raw_headers else _NO_HEADERS
            if headers:
                if "ce_specversion" in headers or not ID_HEADERS.isdisjoint(headers):
                    append(decode(record))  # CloudEvents binary, or a schema id (Apicurio)
                    continue
                content_type = headers.get("content-type") or headers.get("Content-Type")
                if content_type and content_type.lstrip()[:23].lower() == _CE_PREFIX:
                    append(decode(record))
                    continue
            try:
                fields = read_fields(parse(value), headers, key)
            except _NOT_READ:  # not read as the exact path would: let it decide
                append(decode(record))
                continue
            if isinstance(fields, str):  # no event id, or no event type
                append(self._undecodable(record, fields))
                continue
            (
                event_id,
                event_type,
                correlation,
                causation,
                aggregate,
                occurred,
                version,
                source,
            ) = fields
            # _build, inline
            trace_id = None
            traceparent = headers.get("traceparent")
            if traceparent is not None:
                trace_id = parse_traceparent(traceparent)
            if correlation is None:
                correlation = trace_id
            if len(ids) >= _MEMO_LIMIT:
                ids.clear()
            share = ids.setdefault
            event_id = share(event_id, event_id)
            if causation is not None:
                causation = None if causation == event_id else share(causation, causation)
            if correlation is not None:
                correlation = share(correlation, correlation)
            if aggregate is not None:
                aggregate = share(aggregate, aggregate)
            # _keep, inline: the topic interned once per run, the value cut, the key and
            # short headers shared with earlier records
            topic = record.topic
            if topic is not last_topic:
                last_topic = topic
                kept_topic = _intern(topic)
            truncated = len(value) > keep_bytes
            if truncated:
                value = value[:keep_bytes]
            if raw_headers:
                shared_headers: list[Header] = []
                for header in raw_headers:
                    shared = header_memo.get(header)
                    if shared is None:
                        shared = share_header(header)
                    shared_headers.append(shared)
                raw_headers = tuple(shared_headers)
            if key is not None and len(key) <= _SHARED_MAX:
                if len(keys) >= _MEMO_LIMIT:
                    keys.clear()
                key = keys.setdefault(key, key)
            append(
                build_envelope(
                    event_id,
                    event_type,
                    correlation,
                    causation,
                    aggregate,
                    occurred,
                    version,
                    source,
                    trace_id,
                    seed,
                    build_record(
                        kept_topic,
                        record.partition,
                        record.offset,
                        record.timestamp_ms,
                        key,
                        value,
                        raw_headers,
                    ),
                    truncated,
                    False,
                    None,
                )
            )
        return out

    # -- the three shapes -------------------------------------------------------------------

    def _configured(
        self, record: RawRecord, headers: HeaderMap, value: bytes
    ) -> Envelope | Undecodable:
        obj = _fast_object(value)
        if obj is not None:
            try:
                return self._fast(record, headers, obj)
            except _Inexact:
                pass
        return self._exact(record, headers, value)

    def _fast(
        self,
        record: RawRecord,
        headers: HeaderMap,
        obj: dict[Any, Any],
        schema: SchemaRef | None = None,
    ) -> Envelope | Undecodable:
        """`_exact` for an object orjson read: each field's lead location read inline and a
        value of the usual type taken as is; anything else goes through `_then`."""
        key = record.key
        get = obj.get
        k1, k2, rest = self._leads[0]
        found: Any = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        event_id = found
        if type(found) is not str or not found:
            event_id = _then(found, _as_id, rest, obj, headers, key)
            if event_id is None:  # orjson read the value, so the standard parser would too
                return self._undecodable(record, "no event id")
        k1, k2, rest = self._leads[1]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        event_type: str | None
        if type(found) is str and found:
            event_type = _intern(found)
        else:
            event_type = _then(found, _as_name, rest, obj, headers, key)
            if event_type is None:
                return self._undecodable(record, "no event type")
        k1, k2, rest = self._leads[2]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        correlation = found
        if type(found) is not str or not found:
            correlation = _then(found, _as_id, rest, obj, headers, key)
        k1, k2, rest = self._leads[3]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        causation = found
        if type(found) is not str or not found:
            causation = _then(found, _as_id, rest, obj, headers, key)
        k1, k2, rest = self._leads[4]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        aggregate = found
        if type(found) is not str or not found:
            aggregate = _then(found, _as_id, rest, obj, headers, key)
        k1, k2, rest = self._leads[5]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        occurred = None
        if type(found) is int:  # epoch s or ms: exact, orjson's integers fit a float
            occurred = float(found)
            if occurred > MS_THRESHOLD:
                occurred /= 1000.0
        elif type(found) is str:
            occurred = parse_time(found)
        if occurred is None:
            occurred = _then(found, parse_time, rest, obj, headers, key)
        k1, k2, rest = self._leads[6]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        version = found
        if type(found) is not int:
            version = _then(found, parse_int, rest, obj, headers, key)
        k1, k2, rest = self._leads[7]
        found = get(k1)
        if k2 is not None:
            found = found.get(k2) if type(found) is dict else None
        source: str | None
        if type(found) is str and found:
            source = _intern(found)
        else:
            source = _then(found, _as_name, rest, obj, headers, key)
        if version is None and schema is not None:  # the registry's version
            version = schema.version
        return self._build(
            record,
            headers,
            event_id,
            event_type,
            correlation,
            causation,
            aggregate,
            occurred,
            version,
            source,
            EnvelopeFormat.SEED,
            None,
            schema,
        )

    def _exact(self, record: RawRecord, headers: HeaderMap, value: bytes) -> Envelope | Undecodable:
        parsed = _parse_object(value)
        obj: JsonObject | None = None
        error: str | None = None
        if isinstance(parsed, str):
            error = parsed
        else:
            obj = parsed
        key = record.key
        event_id = _first(self._event_id, obj, headers, key, _as_id)
        if event_id is None:
            return self._undecodable(record, error or "no event id")
        event_type = _first(self._event_type, obj, headers, key, _as_name)
        if event_type is None:
            return self._undecodable(record, error or "no event type")
        return self._build(
            record,
            headers,
            event_id,
            event_type,
            _first(self._correlation, obj, headers, key, _as_id),
            _first(self._causation, obj, headers, key, _as_id),
            _first(self._aggregate, obj, headers, key, _as_id),
            _first(self._occurred, obj, headers, key, parse_time),
            _first(self._version, obj, headers, key, parse_int),
            _first(self._source, obj, headers, key, _as_name),
            EnvelopeFormat.SEED,
            None,
        )

    def _binary(
        self,
        record: RawRecord,
        headers: HeaderMap,
        wire: tuple[JsonObject | None, bytes | None, SchemaRef | None] | None = None,
    ) -> Envelope | Undecodable:
        """`wire`: the data, key and schema already decoded from the wire format."""
        event_id = _text(headers.get("ce_id"))
        if event_id is None:
            return self._undecodable(record, "no event id")
        event_type = _text(headers.get("ce_type"))
        if event_type is None:
            return self._undecodable(record, "no event type")
        schema: SchemaRef | None = None
        if wire is None:
            data = self._data_object(record.value)
            key = record.key
        else:
            data, key, schema = wire
        version = _first(self._version, data, _NO_HEADERS, None, parse_int)
        if version is None:
            version = _schema_version(_text(headers.get("ce_dataschema")))
        if version is None and schema is not None:
            version = schema.version
        correlation = _text(headers.get("ce_correlationid"))
        if correlation is None:
            correlation = _first(self._correlation, data, headers, key, _as_id)
        causation = _text(headers.get("ce_causationid"))
        if causation is None:
            causation = _first(self._causation, data, headers, key, _as_id)
        return self._build(
            record,
            headers,
            event_id,
            _intern(event_type),
            correlation,
            causation,
            _text(headers.get("ce_subject")) or _text(key),
            parse_time(_text(headers.get("ce_time"))),
            version,
            _as_name(_text(headers.get("ce_source"))),
            EnvelopeFormat.CLOUDEVENTS_BINARY,
            None,
            schema,
        )

    def _structured(
        self, record: RawRecord, headers: HeaderMap, value: bytes, key: bytes | None
    ) -> Envelope | Undecodable:
        """A CloudEvents structured-mode value; `key`: the record's, or decoded through a
        schema registry."""
        event = _parse_object(value)
        if isinstance(event, str):
            return self._undecodable(record, event)
        event_id = _as_id(event.get("id"))
        if event_id is None:
            return self._undecodable(record, "no event id")
        event_type = _as_name(event.get("type"))
        if event_type is None:
            return self._undecodable(record, "no event type")
        data = event.get("data")
        data_obj: JsonObject | None = data if type(data) is dict else None
        version = _first(self._version, data_obj, _NO_HEADERS, None, parse_int)
        if version is None:
            version = _schema_version(event.get("dataschema"))
        correlation = _as_id(event.get("correlationid"))
        if correlation is None:
            correlation = _first(self._correlation, data_obj, headers, key, _as_id)
        causation = _as_id(event.get("causationid"))
        if causation is None:
            causation = _first(self._causation, data_obj, headers, key, _as_id)
        trace_id = None
        if "traceparent" not in headers:
            traceparent = event.get("traceparent")
            if type(traceparent) is str:
                trace_id = parse_traceparent(traceparent.encode("utf-8", "replace"))
        return self._build(
            record,
            headers,
            event_id,
            event_type,
            correlation,
            causation,
            _as_id(event.get("subject")) or _text(key),
            parse_time(event.get("time")),
            version,
            _as_name(event.get("source")),
            EnvelopeFormat.CLOUDEVENTS_STRUCTURED,
            trace_id,
        )

    # -- the Confluent wire format -----------------------------------------------------------

    def _wire(
        self, record: RawRecord, headers: HeaderMap, apicurio: bool = False
    ) -> Envelope | Undecodable:
        """A record whose value or key is in the wire format (or, `apicurio`, may have its
        schema id in Apicurio's headers): both decoded (or the reason, or the schema awaited),
        then read like JSON (or as CloudEvents binary data)."""
        value = record.value
        key = record.key
        key_id = header_id(headers, "key") if apicurio else None
        found: _Read | None = None
        if key_id is not None and key:
            found = self._apicurio_read(key, key_id, headers, "key")
        elif self._wire_keys and key and len(key) > 4 and key[0] == 0:
            found = self._wire_read(key)
        if found is not None:
            if not isinstance(found, tuple):
                return self._wire_failed(record, headers, found, "key ")
            key = _key_bytes(found[0])
        schema: SchemaRef | None = None
        error: str | None = None
        obj: Any = None
        value_id = header_id(headers, "value") if apicurio else None
        found = None
        if value_id is not None and value:
            found = self._apicurio_read(value, value_id, headers, "value")
        elif value and len(value) > 4 and value[0] == 0:
            found = self._wire_read(value)
        if found is not None:
            if not isinstance(found, tuple):
                return self._wire_failed(record, headers, found, "")
            obj, schema, plain = found
            if type(obj) is not dict:
                obj, error = None, f"schema {schema.schema_id}: not a record"
            elif plain and key is record.key and "ce_specversion" not in headers:
                try:  # JSON types only, the record key as it is: JSON's fast path
                    return self._fast(record, headers, obj, schema)
                except _Inexact:
                    pass
        elif "ce_specversion" in headers:
            obj = self._data_object(value)
        elif not value:
            return self._undecodable(record, "empty value")
        elif _structured_content(headers):  # only the key came through the registry
            return self._structured(record, headers, value, key)
        else:
            parsed = _parse_object(value)
            obj, error = (None, parsed) if isinstance(parsed, str) else (parsed, None)
        if "ce_specversion" in headers:
            return self._binary(record, headers, (obj, key, schema))
        return self._object(record, headers, obj, key, schema, error)

    def _wire_read(self, data: bytes) -> _Read:
        """(payload, schema, whether the payload holds JSON types only); else the schema id to
        wait for, or the reason it can't decode."""
        schema_id = schema_id_of(data)
        if schema_id is None:
            return "not in the wire format (shorter than 5 bytes)"
        store = self.schemas
        compiled = store.get(schema_id)
        try:
            if compiled is not None:
                return (*compiled.decode(data, self._roots), compiled.plain)
            if data[5:6] == b"{":  # JSON Schema: plain JSON, no schema needed to read it
                generic = self._json_schemas.get(schema_id)
                if generic is None:
                    generic = self._json_schemas[schema_id] = JsonSchema(schema_id)
                    if store.registry is not None:
                        store.want(schema_id)  # for its subject and version, later
                return (*generic.decode(data), True)
        except WireError as exc:
            return f"schema {schema_id}: {exc}"
        return _Awaited(schema_id)

    def _apicurio_read(
        self,
        data: bytes,
        found: tuple[str, int] | str,
        headers: HeaderMap,
        part: Literal["value", "key"],
    ) -> _Read:
        """`_wire_read` of a bare payload whose schema id came in Apicurio's headers (`found`:
        the id, or the reason its header is malformed)."""
        if isinstance(found, str):
            return found
        compiled = self.schemas.get(found)
        if compiled is None:
            return _Awaited(found)
        if compiled.format is WireFormat.AVRO:
            reason = avro_encoding(headers, part)
            if reason is not None:
                return reason
        try:
            return (*compiled.decode(data, self._roots), compiled.plain)
        except WireError as exc:
            return f"{schema_key_text(found)}: {exc}"

    def _wire_failed(
        self, record: RawRecord, headers: HeaderMap, found: _Awaited | str, part: str
    ) -> Envelope | Undecodable:
        """The reason, or (an unknown schema id) the record awaiting its schema."""
        if isinstance(found, str):
            return self._undecodable(record, part + found)
        schema_id = found.key
        reason = part + self.schemas.want(schema_id)
        if self.schemas.registry is None:  # never known: the headers may still say enough
            result = self._object(record, headers, None, record.key, None, reason)
            if isinstance(result, Undecodable) or not part:
                return result
            return self._undecodable(record, reason)
        return self._undecodable(record, reason, awaiting=schema_id)

    def _object(
        self,
        record: RawRecord,
        headers: HeaderMap,
        obj: JsonObject | None,
        key: bytes | None,
        schema: SchemaRef | None,
        error: str | None,
    ) -> Envelope | Undecodable:
        """`_exact` on a decoded object (Avro/Protobuf values may hold times and UUIDs)."""
        event_id = _first(self._event_id, obj, headers, key, _any_id)
        if event_id is None:
            return self._undecodable(record, error or "no event id")
        event_type = _first(self._event_type, obj, headers, key, _as_name)
        if event_type is None:
            return self._undecodable(record, error or "no event type")
        version = _first(self._version, obj, headers, key, parse_int)
        if version is None and schema is not None:
            version = schema.version
        return self._build(
            record,
            headers,
            event_id,
            event_type,
            _first(self._correlation, obj, headers, key, _any_id),
            _first(self._causation, obj, headers, key, _any_id),
            _first(self._aggregate, obj, headers, key, _any_id),
            _first(self._occurred, obj, headers, key, _any_time),
            version,
            _first(self._source, obj, headers, key, _as_name),
            EnvelopeFormat.SEED,
            None,
            schema,
        )

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _data_object(value: bytes | None) -> JsonObject | None:
        """Binary-mode data as a JSON object when it looks like one; else None (not an error)."""
        if not value or value.lstrip()[:1] != b"{":
            return None
        parsed = _parse_object(value)
        return parsed if type(parsed) is dict else None


@dataclass(frozen=True, slots=True)
class _Awaited:
    """A schema the store does not know yet (being fetched)."""

    key: SchemaKey


_Read = tuple[Any, SchemaRef, bool] | _Awaited | str
"""A wire-format read: (payload, schema, JSON types only), the schema awaited, or the reason."""


def _any_id(value: object) -> str | None:
    if isinstance(value, uuid.UUID):
        return str(value)
    return _as_id(value)


def _any_time(value: object) -> float | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    return parse_time(value)


def _key_bytes(key: object) -> bytes:
    """A decoded key as the text `key:` reads: a string or number as it is, a record with one
    field as that field, anything else as JSON."""
    if isinstance(key, dict) and len(key) == 1:
        key = next(iter(key.values()))
    if isinstance(key, str):
        return key.encode("utf-8", "replace")
    if isinstance(key, int | float | uuid.UUID):
        return str(key).encode("ascii")
    import json

    return json.dumps(jsonable(key), sort_keys=True).encode("utf-8")


def _structured_content(headers: HeaderMap) -> bool:
    """The content type says CloudEvents structured mode (`application/cloudevents…`)."""
    content_type = headers.get("content-type") or headers.get("Content-Type")
    return content_type is not None and content_type.lstrip()[:23].lower() == _CE_PREFIX
