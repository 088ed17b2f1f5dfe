"""The accelerator (`edamon_native`) against `decode` on JSON text written byte by byte:
escapes of every kind, whitespace orjson takes and rejects, numbers at and past every
boundary (i64, u64, doubles, the standard parser's 4,300 digits), duplicate keys, a root read
whole and as `root.sub`, broken text. Results are compared strictly (types too: 1 == 1.0 and
True == 1 in Python, not here), and what the accelerator shares must be shared as `decode`
shares it. Two named cases are ones this comparison caught (an integer the standard parser
refuses, headers in a list); the last test checks that no reference is kept, error paths
included."""

from __future__ import annotations

import dataclasses
import gc
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edamon.config import EnvelopeSettings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.envelope import Envelope, EnvelopeFormat, Undecodable
from edamon.model.records import RawRecord
from tests.unit.test_decode_batch import _native_mode, simple_headers
from tests.unit.test_decode_property import header_lists


def _strict(x: object) -> object:
    """`x` as nested (type, value) pairs: equal only when every field has the same type."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        fields = dataclasses.fields(x)
        return (type(x).__name__, tuple(_strict(getattr(x, f.name)) for f in fields))
    if type(x) is tuple or type(x) is list:
        return (type(x).__name__, tuple(_strict(item) for item in x))
    if type(x) is float:
        return ("float", x.hex())  # -0.0 and 0.0 differ
    return (type(x).__name__, x)


SETTINGS = [
    EnvelopeSettings(keep_value_bytes=40),
    # header and key leads, a root read whole and as root.sub, conversions from text
    EnvelopeSettings(
        event_id=["header:event-id", "metadata.id", "eventId"],
        event_type=["eventType", "metadata.v", "header:x"],
        correlation_id=["metadata.correlationId", "metadata", "header:correlation-id"],
        causation_id=["metadata.causationId", "metadata"],
        aggregate_id=["key:", "aggregateId", "id"],
        occurred_at=["metadata.at", "occurredAt", "header:source", "time"],
        version=["metadata.v", "header:event-id", "version", "key:"],
        source=["payload", "metadata.source", "source", "header:source"],
        keep_value_bytes=60,
    ),
    EnvelopeSettings(
        event_id=["id", "metadata.eventId", "eventId"],
        event_type=["metadata.type", "type", "eventType"],
        occurred_at=["time", "occurredAt", "metadata.at"],
        version=["version", "metadata"],
        keep_value_bytes=1,
    ),
]

ROOT_KEYS = ["eventId", "eventType", "metadata", "occurredAt", "version", "aggregateId"]
ROOT_KEYS += ["source", "payload", "id", "type", "time"]
SUB_KEYS = ["correlationId", "causationId", "source", "id", "at", "v", "eventId", "type"]

_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f"}
_SHORT |= {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@st.composite
def _char(draw: st.DrawFn, c: str) -> str:
    """One character of a JSON string, written one of the ways JSON allows (a surrogate
    code point alone: the escape JSON's grammar takes and orjson does not)."""
    code = ord(c)
    ways: list[str] = []
    if 0x20 <= code < 0x7F and c not in '"\\':
        ways += [c] * 4
    if code >= 0x80 and not 0xD800 <= code < 0xE000:
        ways.append(c)  # raw non-ASCII: the exact path's
    if c in _SHORT:
        ways.append(_SHORT[c])
    if code < 0x10000:
        ways += [f"\\u{code:04x}", f"\\u{code:04X}"]
    else:
        high = 0xD800 + ((code - 0x10000) >> 10)
        low = 0xDC00 + ((code - 0x10000) & 0x3FF)
        ways += [f"\\u{high:04x}\\u{low:04x}", f"\\u{high:04X}\\u{low:04x}"]
    return draw(st.sampled_from(ways))


_chars = st.one_of(
    *[st.characters(min_codepoint=0x20, max_codepoint=0x7E)] * 8,
    st.characters(max_codepoint=0x1F),
    st.sampled_from(['"', "\\", "/", "\x00", "\x7f", "\u00e9", "\U0001f600"]),
    st.characters(exclude_categories=["Cs"]),
)


@st.composite
def json_strings(draw: st.DrawFn, text: st.SearchStrategy[str] | None = None) -> str:
    chars = draw(st.lists(_chars, max_size=6) if text is None else text.map(list))
    return '"' + "".join(draw(_char(c)) for c in chars) + '"'


_BOUNDS = [0, 1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**20]
_BOUNDS += [100_000_000_000, 100_000_000_001, 9_200_000_000_000_000_000]
integers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**6), 10**6),
    st.sampled_from(_BOUNDS).flatmap(lambda b: st.sampled_from([b, -b, b - 1, -b + 1])),
    st.integers(-(2**70), 2**70),
).map(str)
numbers = st.one_of(
    *[integers] * 4,
    st.sampled_from(["-0", "0.0", "-0.0", "1E2", "1e+2", "1e-2", "2.5E-3", "1e400", "-1e400"]),
    st.sampled_from(["1.0", "1700000000123.0", "9.2e18", "1e308", "5e-324", "123456789.0e3"]),
    st.tuples(st.sampled_from([300, 308, 400, 640, 641, 4300, 4301]), st.integers(0, 2)).map(
        lambda t: ["1" + "0" * (t[0] - 1), "-" + "9" * t[0], "1" + "0" * t[0] + ".5"][t[1]]
    ),
)
literals = st.sampled_from(["true", "false", "null"])
WS = st.sampled_from(["", "", "", "", "", " ", "\n", "\t", "\r\n  ", " \t"])
"""JSON's whitespace (what orjson rejects comes in as a flaw)."""


def _container(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(
        st.sampled_from(SUB_KEYS + ROOT_KEYS).flatmap(lambda k: json_strings(st.just(k))),
        json_strings(),
    )
    arrays = st.tuples(st.lists(st.tuples(WS, inner, WS), max_size=4), WS).map(
        lambda t: "[" + ",".join(a + v + b for a, v, b in t[0]) + t[1] + "]"
    )
    members = st.lists(st.tuples(WS, keys, WS, WS, inner, WS), max_size=4)
    objects = st.tuples(members, WS).map(
        lambda t: "{" + ",".join("".join(m[:3]) + ":" + "".join(m[3:]) for m in t[0]) + t[1] + "}"
    )
    return st.one_of(arrays, objects)


json_texts = st.recursive(
    st.one_of(json_strings(), json_strings(), numbers, literals), _container, max_leaves=8
)
"""Any JSON value as text, its strings and numbers written every way JSON allows."""
_read_values = st.one_of(*[json_strings()] * 3, integers, numbers, literals, json_texts)
"""What a read field holds: mostly a string or an integer."""
_metadata = st.lists(
    st.tuples(st.sampled_from(SUB_KEYS).flatmap(lambda k: json_strings(st.just(k))), _read_values),
    max_size=4,
).map(lambda members: "{" + ",".join(f"{k}:{v}" for k, v in members) + "}")

FLAWS = [b"\x0b", b"\x0c", b"\xc2\xa0", b"\x00", b"\x1f", b",", b"}", b"]", b":", b"0", b"-"]
FLAWS += [b".", b"e", b"+", b'"', b"\\", b"\\u", b"\\ud800", b"\\udc00", b"\\x", b"tru", b"NaN"]
FLAWS += [b"Infinity", b"01", b"\xef\xbb\xbf", b"\xff"]


@st.composite
def values(draw: st.DrawFn) -> bytes:
    """A JSON object of the configured roots (duplicates included) with their values written
    every way JSON allows; one time in four, one flaw somewhere (a character orjson rejects,
    a broken number, escape or literal, the text cut short or followed by more)."""
    members: list[str] = []
    if draw(st.integers(0, 3)):
        members.append('"eventId":' + draw(st.one_of(json_strings(), integers)))
    if draw(st.integers(0, 3)):
        members.append('"eventType":"T"')
    for _ in range(draw(st.integers(0, 5))):
        key = draw(st.one_of(_root_keys, _root_keys, json_strings()))
        value = draw(
            st.one_of(_metadata, _metadata, _read_values) if "meta" in key else _read_values
        )
        members.append(draw(WS) + key + draw(WS) + ":" + draw(WS) + value + draw(WS))
    order = draw(st.permutations(members))
    text = draw(WS) + "{" + ",".join(order) + draw(WS) + "}" + draw(WS)
    raw = text.encode("utf-8", "surrogatepass")
    flaw = draw(st.sampled_from([None] * 8 + ["insert", "replace", "cut", "tail"]))
    at = draw(st.integers(0, len(raw)))
    if flaw == "insert":
        raw = raw[:at] + draw(st.sampled_from(FLAWS)) + raw[at:]
    elif flaw == "replace":
        raw = raw[:at] + draw(st.sampled_from(FLAWS)) + raw[at + 1 :]
    elif flaw == "cut":
        raw = raw[:at]
    elif flaw == "tail":
        raw += draw(st.sampled_from([b"x", b",", b"}", b"\x00", b"{}", b" 1", b"\x0c"]))
    return raw


_root_keys = st.sampled_from(ROOT_KEYS).flatmap(lambda k: json_strings(st.just(k)))


record_lists = st.lists(
    st.builds(
        RawRecord,
        topic=st.sampled_from(["orders.OrderPlaced", "t"]),
        partition=st.integers(0, 3),
        offset=st.integers(0, 2**40),
        timestamp_ms=st.integers(0, 2**42),
        key=st.one_of(
            st.none(), st.sampled_from([b"order-1", b"7", b"", b"\xff", b"k" * 65]), st.binary()
        ),
        value=values(),
        headers=st.one_of(st.just(()), simple_headers, simple_headers, header_lists),
    ),
    max_size=6,
)


def _decoders(which: int) -> tuple[EnvelopeDecoder, EnvelopeDecoder]:
    configured = SETTINGS[which]
    native = configured.model_copy(update={"native": _native_mode("required")})
    exact = configured.model_copy(update={"native": "off"})
    return EnvelopeDecoder(native), EnvelopeDecoder(exact)


def _check(batch: list[RawRecord], which: int) -> list[Envelope | Undecodable]:
    native, exact = _decoders(which)
    assert native._native is not None
    results = native.decode_many(batch)
    expected = [exact.decode(record) for record in batch]
    assert [_strict(r) for r in results] == [_strict(e) for e in expected]
    _check_sharing(results)
    return results


def _check_sharing(results: list[Envelope | Undecodable]) -> None:
    """Equal ids, names, keys and short headers in one batch are one object (each kind its
    own memo), as `decode` keeps them."""
    seen: dict[str, dict[object, object]] = {"ids": {}, "names": {}, "keys": {}, "headers": {}}
    for result in results:
        kept: list[tuple[str, object]] = []
        if isinstance(result, Envelope):
            ids = (result.event_id, result.correlation_id, result.causation_id)
            kept += [("ids", i) for i in (*ids, result.aggregate_id) if i is not None]
            kept += [("names", n) for n in (result.event_type, result.source) if n is not None]
        record = result.record
        if record.key is not None and len(record.key) <= 64:
            kept.append(("keys", record.key))
        kept += [("headers", h) for h in record.headers if h[1] is None or len(h[1]) <= 64]
        for kind, obj in kept:
            assert seen[kind].setdefault(obj, obj) is obj, (kind, obj)


@settings(max_examples=600, deadline=None)
@given(record_lists, st.sampled_from(range(len(SETTINGS))))
def test_written_json_decodes_as_decode_does(batch: list[RawRecord], which: int) -> None:
    _check(batch, which)


def _record(value: bytes, headers: Any = (), key: bytes | None = None) -> RawRecord:
    return RawRecord("orders", 0, 7, 5, key, value, headers)


def test_an_integer_the_standard_parser_refuses_is_not_json() -> None:
    """orjson reads no integer past a double, the standard parser none of more than 4,300
    digits: such a value is not JSON to `decode`, wherever it is (here in the payload)."""
    for digits in ("1" + "0" * 4300, "-" + "9" * 5000):
        value = b'{"eventId":"e-1","eventType":"T","payload":[' + digits.encode() + b"]}"
        [result] = _check([_record(value)], 0)
        assert isinstance(result, Undecodable) and result.reason == "not JSON"
    # the integers the standard parser still reads are read the same either way
    value = b'{"eventId":"e-1","eventType":"T","payload":' + b"7" * 640 + b"}"
    [result] = _check([_record(value)], 0)
    assert isinstance(result, Envelope)


def test_headers_kept_in_a_list_stay_a_list() -> None:
    """`decode` keeps a record's headers as they came when none needed sharing (a list, from
    a caller that built the record by hand); so does the accelerator."""
    headers = [("x", b"1")]
    [result] = _check([_record(b'{"eventId":"e-1","eventType":"T"}', headers)], 0)
    assert isinstance(result, Envelope) and result.record.headers is headers  # type: ignore[comparison-overlap]


def test_odd_but_valid_json_is_read_the_same() -> None:
    seed = b'"eventId":"e","eventType":"T"'
    cases = [
        b'{"eventId":"\\ud83d\\uDE00\\u0000\\/","eventType":"T\\u0000"}',
        b'{"eventId":-0,"eventType":"T","version":-9223372036854775808}',
        b"{" + seed + b',"occurredAt":9007199254740993,"version":"  +7 "}',
        b"{" + seed + b',"occurredAt":100000000001,"payload":[1E400,-0.0,"\x7f"]}',
        b"{" + seed + b',"metadata":{"correlationId":"c"},"metadata":null}',
        b"{" + seed + b',"metadata":{"v":"1","v":null,"v":"2"}}',
        b"{" + seed + b',"metadata":"text","metadata":{"id":5}}',
        b" \r\n\t{" + seed + b"}\t\r\n ",
    ]
    for which in range(len(SETTINGS)):
        _check([_record(value, (), b"7") for value in cases], which)


def test_decoding_leaves_no_reference_behind() -> None:
    """What a decoded batch holds is given back when the results go: no reference the
    accelerator took is kept (its memos start empty each time)."""
    native, _ = _decoders(0)
    assert native._native is not None
    trace = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = (("traceparent", trace), ("source", b"billing"), ("x", b"y" * 100))
    value = (
        b'{"eventId":"e-1","eventType":"T","metadata":{"correlationId":"c-1","causationId":'
        b'"e-0"},"occurredAt":"2026-12-07T10:00:00Z","version":"3","aggregateId":7}'
    )
    batch = [
        _record(value, headers, b"k-1"),
        _record(b'{"eventId":"e-2","eventType":"T"}' + b" " * 80),
    ]
    watched: list[object] = [value, headers, *headers, b"k-1", RawRecord, Envelope]
    watched += [EnvelopeFormat.SEED, batch[0], batch[1], batch[1].value]
    share = native._share_header

    def refuse(header: tuple[str, bytes]) -> tuple[str, bytes]:
        raise LookupError(header)

    for _ in range(3):  # warm up: interned strings, caches
        native._native.decode(batch, {}, {}, {}, share)
    gc.collect()
    before = [sys.getrefcount(obj) for obj in watched]
    for _ in range(200):
        results, pending = native._native.decode(batch, {}, {}, {}, share)
        assert pending == [] and len(results) == 2
        del results
        # an error half way through a record (its ids shared, its record not built yet)
        with pytest.raises(LookupError):
            native._native.decode(batch, {}, {}, {}, refuse)
    gc.collect()
    assert [sys.getrefcount(obj) for obj in watched] == before
