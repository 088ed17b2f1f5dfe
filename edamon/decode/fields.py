"""The envelope's JSON fields read without building the whole value (the decoder's batch path).

`FieldReader` turns the configured locations into a msgspec struct type holding only the
top-level keys they read (a key read only as `key.sub` becomes a nested struct of those
subkeys): msgspec parses the value and skips everything else (the payload) without making a
Python object for it (`parse`, one call per value). `reader` then writes one function that
reads every field from that struct, the headers and the key, each location inline (generated
for the configured locations, as a dataclass writes its `__init__`): per record, no getter calls
and no loop over a field's locations.

msgspec reads what the standard parser reads, with three differences the caller guards against
before trusting a result: it does not check that skipped strings are valid UTF-8 (the decoder
sends values that are not ASCII the exact way), it rejects numbers out of the double range and
lone surrogates (an error here: the exact way again), and it reads integers of any size (as the
standard parser does; orjson does not). Measured on bench/stages.py's records: about 0.9 µs
per value against orjson.loads' 1.3 µs for the whole object, and no payload objects to free.

The underscored names are internal to `edamon.decode`: `envelope` imports them.
"""

from __future__ import annotations

import sys
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
from edamon.decode.timeparse import MS_THRESHOLD

__all__ = ["FieldReader", "FieldSpec", "FieldsRead", "ReadError"]

ReadError = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
"""What `FieldReader.parse` raises for a value it does not read (the exact path decides)."""


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

    def reader(self, specs: Sequence[FieldSpec]) -> FieldsRead:
        """One function that reads every field of `specs` from the parsed struct, the headers
        and the key: `read(roots, headers, key)` returns the fields' values in order, or the
        `missing` reason of the first required field found nowhere.

        The function is generated for the configured locations, so that each is read inline
        (an attribute of the struct, a header) rather than through a getter and a loop over
        the locations per record: the same reads and conversions, in the same order, as
        `locations._first` (each location's value converted, the first that converts wins; a
        float beyond the exact integers raises `_Inexact`). The usual value of a field's lead
        location (a non-empty string for ids and names, an integer for versions and epoch
        times) is taken without a converter call. Raises LookupError for a two-key lead whose
        root another location reads deeper (the decoder then leaves the batch path aside)."""
        source = _Source(self._attrs)
        for spec in specs:
            source.field(spec)
        return source.compile(len(specs))


FieldSpec = tuple[tuple[Location, ...], Callable[[object], Any], str, str | None]
"""A field for `FieldReader.reader`: its compiled locations, its converter, the usual value of
its lead ("text", "name", "time" or "int": see `_Source.field`) and, when the field is
required, the reason given when it is missing (else None)."""

FieldsRead = Callable[[Any, HeaderMap, "bytes | None"], "tuple[Any, ...] | str"]
"""`FieldReader.reader`'s function: (roots, headers, key) -> the fields, or a missing reason."""


class _Source:
    """The source of a `FieldReader.reader` function, field by field. Only our own names
    (struct attributes `f0`, `f0.s1`, locals) are written into the code; configured strings
    (header names, subkeys, paths) are constants passed in its namespace."""

    def __init__(self, attrs: dict[str, str]) -> None:
        self._attrs = attrs
        self._lines: list[str] = []
        self._outs: list[str] = []
        """The local that holds each field's value, in order."""
        self._names: dict[str, object] = {
            "_BIG": _BIG,
            "_Inexact": _Inexact,
            "_text": _text,
            "_walk": _walk,
            "_intern": sys.intern,
            "MS_THRESHOLD": MS_THRESHOLD,
        }

    def _const(self, value: object) -> str:
        name = f"c{len(self._names)}"
        self._names[name] = value
        return name

    def _emit(self, depth: int, line: str) -> None:
        self._lines.append("    " * depth + line)

    def _read(self, depth: int, kind: int, arg: Any) -> None:
        """`v = ` the value at one location (None when absent), as `first` reads it."""
        attrs = self._attrs
        if kind == _JSON1:
            self._emit(depth, f"v = roots.{attrs[arg]}")
        elif kind == _JSON2 and ".".join(arg) in attrs:
            self._emit(depth, f"v = roots.{attrs['.'.join(arg)]}")
        elif kind == _JSON2:  # the root is read whole: a dict, or something else (skipped)
            self._emit(depth, f"v = roots.{attrs[arg[0]]}")
            self._emit(depth, f"v = v.get({self._const(arg[1])}) if type(v) is dict else None")
        elif kind == _JSON:
            self._emit(depth, f"v = roots.{attrs[arg[0]]}")
            self._emit(depth, f"v = None if v is None else _walk(v, {self._const(arg[1:])})")
        elif kind == _HEADER:
            self._emit(depth, f"v = _text(headers.get({self._const(arg)}))")
        else:
            self._emit(depth, "v = _text(key)")

    def _convert(self, depth: int, out: str, convert: str) -> None:
        """`out = convert(v)` when v is present, after `first`'s check of floats."""
        self._emit(depth, "if v is not None:")
        self._emit(depth + 1, "if type(v) is float and not -_BIG < v < _BIG:")
        self._emit(depth + 2, "raise _Inexact")
        self._emit(depth + 1, f"{out} = {convert}(v)")

    def field(self, spec: FieldSpec) -> None:
        locations, convert, usual, missing = spec
        out = f"x{len(self._outs)}"
        self._outs.append(out)
        conv = self._const(convert)
        rest = locations
        if locations and locations[0][0] in (_JSON1, _JSON2):
            kind, arg = locations[0]
            if kind == _JSON2 and ".".join(arg) not in self._attrs:
                raise LookupError(f"{'.'.join(arg)}: its root is read whole")
            rest = locations[1:]
            self._read(1, kind, arg)
            if usual == "time":  # epoch s or ms: exact, the struct's integers fit a float
                self._emit(1, f"{out} = None")
                self._emit(1, "if type(v) is int and -_BIG < v < _BIG:")
                self._emit(2, f"{out} = float(v)")
                self._emit(2, f"if {out} > MS_THRESHOLD:")
                self._emit(3, f"{out} /= 1000.0")
                self._emit(1, "else:")
                self._convert(2, out, conv)
            else:
                test, value = _USUAL[usual]
                self._emit(1, f"if {test}:")
                self._emit(2, f"{out} = {value}")
                self._emit(1, "else:")
                self._emit(2, f"{out} = None")
                self._convert(2, out, conv)
        else:
            self._emit(1, f"{out} = None")
        for kind, arg in rest:
            self._emit(1, f"if {out} is None:")
            self._read(2, kind, arg)
            self._convert(2, out, conv)
        if missing is not None:
            self._emit(1, f"if {out} is None:")
            self._emit(2, f"return {self._const(missing)}")

    def compile(self, count: int) -> FieldsRead:
        outs = self._outs
        assert len(outs) == count
        body = "\n".join(self._lines)
        code = f"def read(roots, headers, key):\n{body}\n    return ({', '.join(outs)},)\n"
        namespace = dict(self._names)
        exec(code, namespace)  # the source holds only our own names (see the class)
        read: FieldsRead = namespace["read"]  # type: ignore[assignment]
        return read


_USUAL = {
    "text": ("type(v) is str and v", "v"),
    "name": ("type(v) is str and v", "_intern(v)"),
    "int": ("type(v) is int", "v"),
}
"""The usual value of a field's lead location, taken as is (test, value), per `FieldSpec`."""
