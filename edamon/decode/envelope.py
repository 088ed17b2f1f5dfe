"""Kafka record -> Envelope, or Undecodable with a short, stable reason.

Recognised in this order (conventions §1):

1. CloudEvents binary mode: a `ce_specversion` header; attributes in `ce_*` headers, the value
   is the data (any bytes, may be empty).
2. CloudEvents structured mode: `content-type` starts with `application/cloudevents`; the value
   is the whole JSON event.
3. The configured locations (`EnvelopeSettings`): per field, dotted JSON paths into the value,
   `header:NAME` (UTF-8 header, last one wins) or `key:` (the record key), tried in order.

`decode()` never raises, whatever the bytes and headers.

Speed and memory (the collector decodes every record it reads): values are parsed with orjson
and the configured fields read straight from the object when a field's first location is a JSON
key (anything else, or a value orjson would read differently from the standard library, takes
the exact path); decoded records keep interned topics and header names, and ids, record keys
and short headers that repeat (a flow's correlation id, a parent's event id) share one object.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from json.scanner import make_scanner
from typing import Any

from orjson import JSONDecodeError as _FastError
from orjson import loads as _fast_loads

from edamon.config import EnvelopeSettings
from edamon.decode.timeparse import MS_THRESHOLD, parse_int, parse_time
from edamon.model.envelope import Envelope, EnvelopeFormat, Undecodable
from edamon.model.records import Header, RawRecord

__all__ = ["EnvelopeDecoder", "parse_traceparent"]

_intern = sys.intern
_loads = json.loads
# typeshed types make_scanner's argument as the scanner class itself; it takes a decoder.
_ScanOnce = Callable[[str, int], tuple[Any, int]]
_scan: _ScanOnce = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_JSON_SPACE = " \t\n\r"
_LEADING_SPACE = " \t\n\r\ufeff"
"""JSON whitespace; a leading UTF-8 byte order mark is tolerated too."""

_JSON1, _JSON2, _JSON, _HEADER, _KEY = 0, 1, 2, 3, 4
"""Location kinds: one JSON key, a two-key path, a longer dotted path, a header, the key."""

Location = tuple[int, Any]
JsonObject = dict[str, Any]
HeaderMap = dict[str, bytes]

_NO_HEADERS: HeaderMap = {}
_CE_PREFIX = b"application/cloudevents"
_SCHEMA_VERSION = re.compile(r"(?:[vV]|/)(\d{1,9})/?\Z")
_TRACEPARENT = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z", re.S
)
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16

_FAST_SIZE = 1600
"""Values up to this size nest at most 800 deep, where orjson (limit 1024) and the standard
parser (the recursion limit) agree; a larger value is checked for brackets first."""
_BIG = 9.2e18
"""orjson reads integers outside [-2**63, 2**64) as floats, the standard parser exactly: a float
this large in a field means the record is decoded again the exact way."""
_MEMO_LIMIT = 1 << 17
"""Entries per sharing memo (ids, keys, headers); a full memo starts again empty."""
_SHARED_MAX = 64
"""Longest record key or header value shared between records."""

_new = object.__new__


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of a frozen dataclass, in the order of `names` (all its fields).

    A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
    directly builds the same object in half the time, on this hot path."""
    if getattr(cls, "__slots__", None) != names:
        raise RuntimeError(f"{cls.__name__}'s fields changed: update {__name__}, which sets them")
    return tuple(vars(cls)[name].__set__ for name in names)


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
) = _setters(
    Envelope,
    (
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
    ),
)
_set_topic, _set_partition, _set_offset, _set_timestamp, _set_key, _set_value, _set_headers = (
    _setters(RawRecord, ("topic", "partition", "offset", "timestamp_ms", "key", "value", "headers"))
)


class _Inexact(Exception):
    """A field holds a float that may be an integer orjson could not read exactly."""


def _compile(locations: Sequence[str]) -> tuple[Location, ...]:
    compiled: list[Location] = []
    for raw in locations:
        text = raw.strip()
        if text.startswith("header:"):
            name = text[len("header:") :]
            if name:
                compiled.append((_HEADER, name))
        elif text == "key:":
            compiled.append((_KEY, None))
        elif text:
            path = tuple(part for part in text.split(".") if part)
            if len(path) == 1:
                compiled.append((_JSON1, path[0]))
            elif len(path) == 2:
                compiled.append((_JSON2, path))
            elif path:
                compiled.append((_JSON, path))
    return tuple(compiled)


def _walk(node: object, path: tuple[str, ...]) -> object:
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdecimal() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


def _text(raw: bytes | None) -> str | None:
    """A header value as UTF-8 text; None when absent, empty or not UTF-8."""
    if not raw:
        return None
    try:
        return raw.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return None


def _as_id(value: object) -> str | None:
    if type(value) is str:
        return value if value else None
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _as_name(value: object) -> str | None:
    if type(value) is str and value:
        return _intern(value)
    return None


def _first(
    locations: tuple[Location, ...],
    obj: JsonObject | None,
    headers: HeaderMap,
    key: bytes | None,
    convert: Callable[[object], Any],
    fast: bool = False,
) -> Any:
    """The first location whose value converts to something (not None). `fast`: `obj` came
    from orjson; raises _Inexact on a float it may have read differently."""
    for kind, arg in locations:
        if kind == _JSON1:
            if obj is None:
                continue
            found: object = obj.get(arg)
        elif kind == _JSON2:
            if obj is None:
                continue
            found = obj.get(arg[0])
            if type(found) is not dict:
                continue
            found = found.get(arg[1])
        elif kind == _HEADER:
            found = _text(headers.get(arg))
        elif kind == _JSON:
            if obj is None:
                continue
            found = _walk(obj, arg)
        else:
            found = _text(key)
        if found is not None:
            if fast and type(found) is float and not -_BIG < found < _BIG:
                raise _Inexact
            result = convert(found)
            if result is not None:
                return result
    return None


Lead = tuple[str | None, str | None, tuple[Location, ...]]


def _lead(locations: tuple[Location, ...]) -> Lead:
    """(key, subkey, rest): a field's first location when it is a one- or two-key JSON path,
    which the fast path reads inline, and the locations after it. Otherwise (None, None, all
    of them): `obj.get(None)` finds nothing."""
    if locations and locations[0][0] == _JSON1:
        return locations[0][1], None, locations[1:]
    if locations and locations[0][0] == _JSON2:
        return locations[0][1][0], locations[0][1][1], locations[1:]
    return None, None, locations


def _then(
    found: Any,
    convert: Callable[[object], Any],
    rest: tuple[Location, ...],
    obj: JsonObject,
    headers: HeaderMap,
    key: bytes | None,
) -> Any:
    """`_first` for an orjson object when the lead value `found` was not of the usual type:
    `found` converted if it converts, else the first of the other locations."""
    if found is not None:
        if type(found) is float and not -_BIG < found < _BIG:
            raise _Inexact
        result = convert(found)
        if result is not None:
            return result
    return _first(rest, obj, headers, key, convert, True)


def _fast_object(value: bytes) -> JsonObject | None:
    """The value as a JSON object read by orjson, or None to leave it to `_parse_object`."""
    if len(value) > _FAST_SIZE and value.count(b"{") + value.count(b"[") > _FAST_SIZE // 2:
        return None
    try:
        obj = _fast_loads(value)
    except _FastError:  # not JSON, or JSON only the standard parser takes (NaN, a BOM...)
        return None
    return obj if type(obj) is dict else None


def _parse_object(value: bytes) -> JsonObject | str:
    """The value as a JSON object, or the Undecodable reason."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if text[:1] != "{":
        text = text.lstrip(_LEADING_SPACE)
        if text[:1] != "{":  # not an object; tell "not JSON" from "some other JSON value"
            try:
                _loads(text)
            except (ValueError, RecursionError):
                return "not JSON"
            return "not a JSON object"
    try:
        # The scanner behind json.loads, called directly: saves a third of the parse time.
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return "not JSON"
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        return "not JSON"
    return obj  # type: ignore[no-any-return]


def parse_traceparent(raw: bytes | None) -> str | None:
    """The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), or None
    when absent or malformed (bad format, version ff, all-zero ids)."""
    if not raw or len(raw) > 512:
        return None
    match = _TRACEPARENT.match(raw.strip())
    if match is None:
        return None
    version, trace, span, _flags, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace == _ZERO_TRACE or span == _ZERO_SPAN:
        return None
    return trace.decode("ascii")


def _schema_version(dataschema: object) -> int | None:
    if type(dataschema) is not str or not dataschema:
        return None
    match = _SCHEMA_VERSION.search(dataschema)
    return int(match.group(1)) if match else None


class EnvelopeDecoder:
    """Turns records into Envelopes. Build once (locations are compiled here), call often."""

    def __init__(self, settings: EnvelopeSettings) -> None:
        self._event_id = _compile(settings.event_id)
        self._event_type = _compile(settings.event_type)
        self._correlation = _compile(settings.correlation_id)
        self._causation = _compile(settings.causation_id)
        self._aggregate = _compile(settings.aggregate_id)
        self._occurred = _compile(settings.occurred_at)
        self._version = _compile(settings.version)
        self._source = _compile(settings.source)
        self._leads: tuple[Lead, ...] = tuple(
            _lead(locations)
            for locations in (
                self._event_id,
                self._event_type,
                self._correlation,
                self._causation,
                self._aggregate,
                self._occurred,
                self._version,
                self._source,
            )
        )
        self._max_bytes = settings.max_value_bytes
        self._keep_bytes = settings.keep_value_bytes
        self._ids: dict[str, str] = {}
        self._keys: dict[bytes, bytes] = {}
        self._headers: dict[Header, Header] = {}

    def decode(self, record: RawRecord) -> Envelope | Undecodable:
        """Decode one record. Never raises: failures come back as Undecodable(reason)."""
        value = record.value
        size = len(value) if value else 0
        if size > self._max_bytes:
            return self._undecodable(record, f"too large ({size} bytes)")
        headers: HeaderMap = dict(record.headers) if record.headers else _NO_HEADERS
        if "ce_specversion" in headers:
            return self._binary(record, headers)
        if not value:
            return self._undecodable(record, "empty value")
        content_type = headers.get("content-type") or headers.get("Content-Type")
        if content_type and content_type.lstrip()[:23].lower() == _CE_PREFIX:
            return self._structured(record, headers, value)
        return self._configured(record, headers, value)

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
        self, record: RawRecord, headers: HeaderMap, obj: dict[Any, Any]
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
        if type(found) is str and found:
            source = _intern(found)
        else:
            source = _then(found, _as_name, rest, obj, headers, key)
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

    def _binary(self, record: RawRecord, headers: HeaderMap) -> Envelope | Undecodable:
        event_id = _text(headers.get("ce_id"))
        if event_id is None:
            return self._undecodable(record, "no event id")
        event_type = _text(headers.get("ce_type"))
        if event_type is None:
            return self._undecodable(record, "no event type")
        data = self._data_object(record.value)
        key = record.key
        version = _first(self._version, data, _NO_HEADERS, None, parse_int)
        if version is None:
            version = _schema_version(_text(headers.get("ce_dataschema")))
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
        )

    def _structured(
        self, record: RawRecord, headers: HeaderMap, value: bytes
    ) -> Envelope | Undecodable:
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
        key = record.key
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

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _data_object(value: bytes | None) -> JsonObject | None:
        """Binary-mode data as a JSON object when it looks like one; else None (not an error)."""
        if not value or value.lstrip()[:1] != b"{":
            return None
        parsed = _parse_object(value)
        return parsed if type(parsed) is dict else None

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
                name, value = header
                interned = _intern(name) if type(name) is str else name
                shared = header if interned is name else (interned, value)
                if value is None or len(value) <= _SHARED_MAX:
                    if len(memo) >= _MEMO_LIMIT:
                        memo.clear()
                    memo[shared] = shared
            if shared is not header:
                changed = True
            out.append(shared)
        return tuple(out) if changed else headers

    def _undecodable(self, record: RawRecord, reason: str) -> Undecodable:
        """Undecodable keeps the record with its value cut to keep_value_bytes (enough for a
        preview; the reason carries the real size when it was too large)."""
        return Undecodable(record=self._keep(record)[0], reason=reason)
