"""The envelope's JSON fields read without building the whole value (the decoder's batch path).

`FieldReader` turns the configured locations into a msgspec struct type holding only the
top-level keys they read (a key read only as `key.sub` becomes a nested struct of those
subkeys): msgspec parses the value and skips everything else (the payload) without making a
Python object for it. One call per value; `read` returns the roots as a tuple (absent or null:
None), `lead` says where a field's lead location sits in it, and `as_object` rebuilds the roots
as the dict the locations read when a field needs its other locations.

msgspec reads what the standard parser reads, with three differences the caller guards against
before trusting a result: it does not check that skipped strings are valid UTF-8 (the decoder
sends values that are not ASCII the exact way), it rejects numbers out of the double range and
lone surrogates (an error here: the exact way again), and it reads integers of any size (as the
standard parser does; orjson does not). Measured on bench/stages.py's records: about 0.9 µs
per value against orjson.loads' 1.3 µs for the whole object, and no payload objects to free.

The underscored names are internal to `edamon.decode`: `envelope` imports them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from edamon.decode.locations import (
    _BIG,
    _HEADER,
    _JSON,
    _JSON1,
    _JSON2,
    HeaderMap,
    Location,
    _Inexact,
    _text,
    _walk,
)

__all__ = ["FieldReader", "ReadError", "RootLocation", "first", "then"]

ReadError = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
"""What `FieldReader.read` raises for a value it does not read (the exact path decides)."""

FieldLead = tuple[int, type | None, str | None]
"""Where a field's lead location is in `read`'s tuple: (root index, nested struct type or
None, attribute of that struct or None); (-1, None, None) when the lead is no JSON key."""


class FieldReader:
    """Reads the JSON roots of `fields` (compiled locations, see `locations._compile`)."""

    def __init__(self, fields: Sequence[tuple[Location, ...]]) -> None:
        roots: dict[str, list[str] | None] = {}
        """Root key -> the subkeys read under it (None: read whole or deeper)."""
        for locations in fields:
            for kind, arg in locations:
                if kind == _JSON1:
                    roots[arg] = None
                elif kind == _JSON2:
                    root, sub = arg
                    if root not in roots:
                        roots[root] = []
                    subs = roots[root]
                    if subs is not None:
                        if sub.isdecimal():  # an index into a list: read it whole
                            roots[root] = None
                        elif sub not in subs:
                            subs.append(sub)
                elif kind == _JSON:
                    roots[arg[0]] = None
        self._names = tuple(roots)
        self._nested: dict[str, tuple[type, tuple[str, ...]]] = {}
        specs: list[tuple[str, Any, Any]] = []
        for index, (root, subs) in enumerate(roots.items()):
            if subs is None:
                specs.append((f"f{index}", Any, None))
                continue
            sub_struct = msgspec.defstruct(
                f"Sub{index}",
                [(f"s{j}", Any, None) for j in range(len(subs))],
                rename={f"s{j}": sub for j, sub in enumerate(subs)},
                gc=False,
            )
            self._nested[root] = (sub_struct, tuple(subs))
            specs.append((f"f{index}", sub_struct | None, None))
        root_struct = msgspec.defstruct(
            "Roots",
            specs,
            rename={f"f{index}": root for index, root in enumerate(roots)},
            gc=False,
        )
        self.parse: Callable[[bytes], msgspec.Struct] = msgspec.json.Decoder(root_struct).decode
        """The value as a struct of the roots (`read` without the tuple; `astuple` makes it)."""

    astuple = staticmethod(msgspec.structs.astuple)

    def read(self, value: bytes) -> tuple[Any, ...]:
        """The roots of a JSON object, in order (absent or null: None). Raises one of
        ReadError when the value is not an object, not JSON, or a root's type does not fit."""
        return self.astuple(self.parse(value))

    def lead(self, locations: tuple[Location, ...]) -> FieldLead:
        """Where a field's first location (a one- or two-key JSON path) is in `read`'s tuple.
        Raises LookupError for a two-key lead whose root another location reads deeper (the
        decoder then leaves the batch path aside)."""
        if locations and locations[0][0] == _JSON1:
            return self._names.index(locations[0][1]), None, None
        if locations and locations[0][0] == _JSON2:
            root, sub = locations[0][1]
            nested = self._nested.get(root)
            if nested is None:  # read whole (another location reads it deeper)
                raise LookupError(f"{root} is read whole")
            sub_struct, subs = nested
            return self._names.index(root), sub_struct, f"s{subs.index(sub)}"
        return -1, None, None

    def rest(self, locations: tuple[Location, ...]) -> tuple[RootLocation, ...]:
        """A field's locations after its lead, compiled for `first`."""
        out: list[RootLocation] = []
        names = self._names
        for kind, arg in locations:
            if kind == _JSON1:
                out.append((_ROOT, names.index(arg), None))
            elif kind == _JSON2:
                root, sub = arg
                nested = self._nested.get(root)
                if nested is None:
                    out.append((_SUBDICT, names.index(root), sub))
                else:
                    out.append((_SUB, names.index(root), (nested[0], f"s{nested[1].index(sub)}")))
            elif kind == _JSON:
                out.append((_DEEP, names.index(arg[0]), arg[1:]))
            elif kind == _HEADER:
                out.append((_HEAD, -1, arg))
            else:
                out.append((_RECORD_KEY, -1, None))
        return tuple(out)


RootLocation = tuple[int, int, Any]
"""A location compiled against `read`'s tuple: (kind, root index, argument); see `first`."""
_ROOT, _SUB, _SUBDICT, _DEEP, _HEAD, _RECORD_KEY = 0, 1, 2, 3, 4, 5


def first(
    rest: tuple[RootLocation, ...],
    roots: tuple[Any, ...],
    headers: HeaderMap,
    key: bytes | None,
    convert: Callable[[object], Any],
) -> Any:
    """`locations._first` (orjson's variant) over `read`'s tuple: the first location whose
    value converts to something. Raises _Inexact on a float beyond the exact integers."""
    for kind, index, arg in rest:
        if kind == _ROOT:
            found: object = roots[index]
        elif kind == _SUB:
            found = roots[index]
            found = getattr(found, arg[1]) if type(found) is arg[0] else None
        elif kind == _SUBDICT:
            found = roots[index]
            if type(found) is not dict:
                continue
            found = found.get(arg)
        elif kind == _DEEP:
            found = roots[index]
            found = None if found is None else _walk(found, arg)
        elif kind == _HEAD:
            found = _text(headers.get(arg))
        else:
            found = _text(key)
        if found is not None:
            if type(found) is float and not -_BIG < found < _BIG:
                raise _Inexact
            result = convert(found)
            if result is not None:
                return result
    return None


def then(
    found: Any,
    convert: Callable[[object], Any],
    rest: tuple[RootLocation, ...],
    roots: tuple[Any, ...],
    headers: HeaderMap,
    key: bytes | None,
) -> Any:
    """`locations._then` over `read`'s tuple: `found` (the lead's value) converted if it
    converts, else the first of the other locations."""
    if found is not None:
        if type(found) is float and not -_BIG < found < _BIG:
            raise _Inexact
        result = convert(found)
        if result is not None:
            return result
    return first(rest, roots, headers, key, convert)
