"""Parsing the parts of a record the envelope decoder reads as a whole.

The value as a JSON object, two ways: `_fast_object` (orjson, for the decoder's fast path) and
`_parse_object` (the standard library's scanner, exact, with a stable reason when it is not an
object); a W3C `traceparent` header's trace id; a CloudEvents `dataschema`'s version. Nothing
here raises on bad input.

The underscored names are internal to `edamon.decode`: `envelope` and `keeping` import them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

from orjson import JSONDecodeError as _FastError
from orjson import loads as _fast_loads

from edamon.decode.locations import JsonObject

__all__ = ["JAVA_SERIALIZED", "NESTED_TOO_DEEP", "parse_traceparent"]

JAVA_SERIALIZED = "Java-serialized (binary)"
"""The Undecodable reason of a value in Java's serialization format (stream magic AC ED): a
view shows such a value as hex, not as text."""
NESTED_TOO_DEEP = "nested too deep"
"""The Undecodable reason of JSON nested deeper than the parser goes (about 1,000 levels)."""
_JAVA_MAGIC = b"\xac\xed"

_loads = json.loads
# typeshed types make_scanner's argument as the scanner class itself; it takes a decoder.
_ScanOnce = Callable[[str, int], tuple[Any, int]]
_scan: _ScanOnce = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_JSON_SPACE = " \t\n\r"
_LEADING_SPACE = " \t\n\r\ufeff"
"""JSON whitespace; a leading UTF-8 byte order mark is tolerated too."""

_SCHEMA_VERSION = re.compile(r"(?:[vV]|/)(\d{1,9})/?\Z")
_TRACEPARENT = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\Z", re.S
)
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16

_FAST_SIZE = 1600
"""Values up to this size nest at most 800 deep, where orjson (limit 1024) and the standard
parser (the recursion limit) agree; a larger value is checked for brackets first."""


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
    if value[:2] == _JAVA_MAGIC:
        return JAVA_SERIALIZED
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if text[:1] != "{":
        text = text.lstrip(_LEADING_SPACE)
        if text[:1] != "{":  # not an object; tell "not JSON" from "some other JSON value"
            try:
                _loads(text)
            except RecursionError:
                return NESTED_TOO_DEEP
            except ValueError:
                return "not JSON"
            return "not a JSON object"
    try:
        # The scanner behind json.loads, called directly: saves a third of the parse time.
        obj, end = _scan(text, 0)
    except RecursionError:
        return NESTED_TOO_DEEP
    except (StopIteration, ValueError):
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
