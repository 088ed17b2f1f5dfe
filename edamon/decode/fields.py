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
from operator import attrgetter
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

__all__ = ["FieldReader", "Getter", "ReadError", "RootLocation", "first", "then"]

ReadError = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
"""What `FieldReader.parse` raises for a value it does not read (the exact path decides)."""

Getter = Callable[[Any], Any]
"""A field's lead location read from the parsed struct (absent or null: None)."""


def _nothing(_: object) -> None:
    """The lead of a field whose first location is no JSON key (a header, the key)."""
    return None


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
        self._attrs: dict[str, str] = {}
        """Root key -> its attribute; `root.sub` -> the attribute path of a nested subkey."""
        specs: list[tuple[str, Any, Any]] = []
        for index, (root, subs) in enumerate(roots.items()):
            attr = self._attrs[root] = f"f{index}"
            if subs is None:
                specs.append((attr, Any, None))
                continue
            sub_struct = msgspec.defstruct(
                f"Sub{index}",
                [(f"s{j}", Any, None) for j in range(len(subs))],
                rename={f"s{j}": sub for j, sub in enumerate(subs)},
                gc=False,
            )
            for j, sub in enumerate(subs):
                self._attrs[f"{root}.{sub}"] = f"{attr}.s{j}"
            specs.append((attr, sub_struct, msgspec.field(default_factory=sub_struct)))
        root_struct = msgspec.defstruct(
            "Roots", specs, rename={attr: root for root, attr in self._attrs.items()}, gc=False
        )
        self.parse: Callable[[bytes], Any] = msgspec.json.Decoder(root_struct).decode
        """The value as a struct of the roots. Raises one of ReadError when the value is not
        an object, not JSON, or a root's type does not fit."""

    def lead(self, locations: tuple[Location, ...]) -> Getter:
        """A field's first location as a getter of the parsed struct when it is a one- or
        two-key JSON path, else `_nothing` (as `locations._lead`). Raises LookupError for a
        two-key lead whose root another location reads deeper (the decoder then leaves the
        batch path aside)."""
        if locations and locations[0][0] == _JSON1:
            return attrgetter(self._attrs[locations[0][1]])
        if locations and locations[0][0] == _JSON2:
            path = ".".join(locations[0][1])
            if path not in self._attrs:
                raise LookupError(f"{path}: its root is read whole")
            return attrgetter(self._attrs[path])
        return _nothing  # no lead read inline: the field's rest is all of its locations

    def rest(self, locations: tuple[Location, ...]) -> tuple[RootLocation, ...]:
        """A field's locations after its lead, compiled for `first`."""
        out: list[RootLocation] = []
        attrs = self._attrs
        for kind, arg in locations:
            if kind == _JSON1:
                out.append((_ATTR, attrgetter(attrs[arg])))
            elif kind == _JSON2:
                path = ".".join(arg)
                if path in attrs:
                    out.append((_ATTR, attrgetter(attrs[path])))
                else:  # the root is read whole: a dict, or something else (skipped)
                    out.append((_SUBDICT, (attrgetter(attrs[arg[0]]), arg[1])))
            elif kind == _JSON:
                out.append((_DEEP, (attrgetter(attrs[arg[0]]), arg[1:])))
            elif kind == _HEADER:
                out.append((_HEAD, arg))
            else:
                out.append((_RECORD_KEY, None))
        return tuple(out)


RootLocation = tuple[int, Any]
"""A location compiled against the parsed struct: (kind, argument); see `first`."""
_ATTR, _SUBDICT, _DEEP, _HEAD, _RECORD_KEY = 0, 1, 2, 3, 4


def first(
    rest: tuple[RootLocation, ...],
    roots: Any,
    headers: HeaderMap,
    key: bytes | None,
    convert: Callable[[object], Any],
) -> Any:
    """`locations._first` (orjson's variant) over the parsed struct: the first location whose
    value converts to something. Raises _Inexact on a float beyond the exact integers."""
    for kind, arg in rest:
        if kind == _ATTR:
            found: object = arg(roots)
        elif kind == _SUBDICT:
            found = arg[0](roots)
            if type(found) is not dict:
                continue
            found = found.get(arg[1])
        elif kind == _DEEP:
            found = arg[0](roots)
            found = None if found is None else _walk(found, arg[1])
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
    roots: Any,
    headers: HeaderMap,
    key: bytes | None,
) -> Any:
    """`locations._then` over the parsed struct: `found` (the lead's value) converted if it
    converts, else the first of the other locations."""
    if found is not None:
        if type(found) is float and not -_BIG < found < _BIG:
            raise _Inexact
        result = convert(found)
        if result is not None:
            return result
    return first(rest, roots, headers, key, convert)
