"""Field locations and lookups: where the envelope decoder finds each field, and reading it.

A location is a dotted JSON path into the value, `header:NAME` (UTF-8 header, last one wins) or
`key:` (the record key); `_compile` turns a field's configured locations into tuples, `_first`
returns the first that converts, and `_lead`/`_then` serve the decoder's orjson fast path, which
reads a field's lead location inline. The converters (`_as_id`, `_as_name`, `_text`) turn what
was found into the field's type, or None.

The underscored names are internal to `edamon.decode`: `envelope` and `keeping` import them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["HeaderMap", "JsonObject", "Lead", "Location"]

_intern = sys.intern

_JSON1, _JSON2, _JSON, _HEADER, _KEY = 0, 1, 2, 3, 4
"""Location kinds: one JSON key, a two-key path, a longer dotted path, a header, the key."""

Location = tuple[int, Any]
JsonObject = dict[str, Any]
HeaderMap = dict[str, bytes]

_BIG = 9.2e18
"""orjson reads integers outside [-2**63, 2**64) as floats, the standard parser exactly: a float
this large in a field means the record is decoded again the exact way."""


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


def _json_roots(*fields: tuple[Location, ...]) -> frozenset[str]:
    """The top-level JSON keys the fields' locations read."""
    roots: set[str] = set()
    for locations in fields:
        for kind, arg in locations:
            if kind == _JSON1:
                roots.add(arg)
            elif kind in (_JSON2, _JSON):
                roots.add(arg[0])
    return frozenset(roots)


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
