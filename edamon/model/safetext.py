"""Text from records made safe to show on a terminal.

Anyone who can write to a tailed topic chooses the bytes of its records: ids, types, keys,
headers, payloads, DLQ exception messages and stack traces, even the topic names a DLQ header
points to. Written to a terminal as they are, control characters set the window title, clear
the screen, move the cursor over other rows or (OSC 52, OSC 8) reach the clipboard and make
links; bidi overrides and invisible characters make one text read as another. Every view
(the dashboard, the CLI's human output) shows record text only through this module:

- `sanitize`: one string, with every dangerous character written as a visible escape
  (`\\x1b`, `\\u202e`); single-line unless asked (a newline would break a table row);
- `sanitized`: a copy of any model value (the frozen dataclasses of model/, tuples, dicts) with
  every string in it sanitized; bytes stay bytes (they are shown through `bytes_text`);
- `bytes_text`, `payload_text`: bytes as safe text (UTF-8 when printable, else hex; a
  Java-serialized value is named as such).

Pure: no I/O, no UI library.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

_DANGEROUS = (
    "\x00-\x1f\x7f-\x9f"  # C0, DEL, C1 (ESC, CSI 0x9b, OSC 0x9d...)
    "\u00ad\u061c\u180e"  # soft hyphen, Arabic letter mark, Mongolian vowel separator
    "\u200b-\u200f"  # zero-width space/joiners, LRM, RLM
    "\u2028-\u202e"  # line and paragraph separators, bidi embeddings and overrides
    "\u2060-\u2069"  # word joiner, invisible operators, bidi isolates
    "\ufeff\ufff9-\ufffb"  # zero-width no-break space, interlinear annotations
    "\ud800-\udfff"  # lone surrogates (a JSON \\ud800 escape): not even encodable
    "\U000e0000-\U000e007f"  # tag characters (invisible ASCII look-alikes)
)
_SINGLE_LINE = re.compile(f"[{_DANGEROUS}]")
_MULTI_LINE = re.compile(f"(?![\\t\\n])[{_DANGEROUS}]")
"""As `_SINGLE_LINE`, but tabs and newlines stay (stack traces, pretty-printed JSON)."""

MULTILINE_FIELDS = frozenset({"stacktrace", "exception_message"})
"""Dataclass fields whose text keeps its lines (shown in detail panes, never in a table row)."""

UNKNOWN = "unknown"
"""What every view (dashboard, CLI) shows for a consumer group or an original topic that a
dead letter's headers do not name."""

JAVA_SERIALIZED = b"\xac\xed"
"""The magic of Java's ObjectOutputStream (followed by a 2-byte version, 00 05)."""

HEX_LIMIT = 64
"""Bytes shown as hex before an ellipsis."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code == 0x0D:
        return "\\r"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def sanitize(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character (C0, DEL, C1), bidi control, zero-width and
    line-separator character, lone surrogate and tag character written as a visible escape
    (`\\x1b`, `\\n`, `\\u202e`). With `multiline`, newlines and tabs stay (a CR before a newline
    is dropped). Text with nothing to escape comes back as the same object."""
    if multiline:
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
        pattern = _MULTI_LINE
    else:
        pattern = _SINGLE_LINE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def is_safe(text: str) -> bool:
    """Whether `text` is shown as it is on one line (nothing in it `sanitize` would escape)."""
    return _SINGLE_LINE.search(text) is None


def sanitized(value: T) -> T:
    """A copy of `value` with every string in it sanitized (see `sanitize`): strings, tuples
    (named tuples too), lists, dicts, and frozen dataclasses, recursively. Parts with nothing
    to escape are returned as they are (no copy); bytes stay bytes. A string field named in
    MULTILINE_FIELDS keeps its lines (`SafeWalk`: the same with a memory). Raises TypeError
    for a type it does not know (so that a new kind of value cannot slip through unsanitized)."""
    return _Walker(None, 0, None).walk(value, False)  # type: ignore[no-any-return]


class SafeWalk:
    """`sanitized` with a memory: dataclass instances met in earlier calls (the collector's
    snapshots share most rows from one to the next) are not walked again.

    `originals` maps each escaped string back to the text it came from, so that a view can
    ask the collector about an id it was shown (the collector knows the original)."""

    def __init__(self, originals_limit: int = 10_000, memory_limit: int = 200_000) -> None:
        self._memory: dict[int, list[Any]] = {}
        """id(original) -> [original, copy, generation last used]; the original is held, so
        its id is not reused while the entry lives."""
        self._generation = 0
        self._memory_limit = memory_limit
        self._limit = originals_limit
        self.originals: dict[str, str] = {}

    def __call__(self, value: T) -> T:
        self._generation += 1
        result = _Walker(self._memory, self._generation, self._remember).walk(value, False)
        if len(self._memory) > self._memory_limit:  # forget what recent calls did not meet
            recent = self._generation - 2
            self._memory = {k: v for k, v in self._memory.items() if v[2] >= recent}
        return result  # type: ignore[no-any-return]

    def once(self, value: T) -> T:
        """`value` sanitized without the memory (one-off answers: a chain, an event, a dead
        letter), remembering originals all the same."""
        return _Walker(None, 0, self._remember).walk(value, False)  # type: ignore[no-any-return]

    def original(self, text: str) -> str:
        """The text `text` was made from (itself when it needed no escaping)."""
        return self.originals.get(text, text)

    def _remember(self, safe: str, original: str) -> None:
        if len(self.originals) >= self._limit:
            self.originals.clear()
        self.originals[safe] = original


_PLAIN = (int, float, bool, bytes, type(None))
_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


_NUMBERS_ONLY = re.compile(r"(?:\b(?:int|float|bool|None|tuple|list)\b|[\s\[\],|.])*")
"""An annotation that can hold no text: numbers, flags, None, and tuples or lists of them
(`int | None`, `tuple[int, ...]`, `tuple[tuple[int | None, int], ...]`)."""


def _may_hold_text(field: dataclasses.Field[Any]) -> bool:
    annotation = field.type
    if isinstance(annotation, type):
        annotation = annotation.__name__
    return not (isinstance(annotation, str) and _NUMBERS_ONLY.fullmatch(annotation))


def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """The fields of dataclass `cls` that may hold text (a field typed as numbers only, e.g. a
    rate series' history, is never walked), and whether each keeps its lines."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(
            (f.name, f.name in MULTILINE_FIELDS)
            for f in dataclasses.fields(cls)
            if _may_hold_text(f)
        )
    return found


class _Walker:
    """One walk over a value (see `sanitized`), with an optional memory (see `SafeWalk`)."""

    __slots__ = ("generation", "memory", "remember")

    def __init__(
        self,
        memory: dict[int, list[Any]] | None,
        generation: int,
        remember: Callable[[str, str], None] | None,
    ) -> None:
        self.memory = memory
        self.generation = generation
        self.remember = remember

    def text(self, value: str, multiline: bool) -> str:
        safe = sanitize(value, multiline=multiline)
        if safe is not value and self.remember is not None:
            self.remember(safe, value)
        return safe

    def walk(self, value: Any, multiline: bool) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value, multiline)
        if kind in _PLAIN:
            return value
        if kind in _FIELDS:  # a dataclass met before (the common case: rows)
            return self.dataclass(value)
        if isinstance(value, Enum):  # an Enum's text is the program's
            return value
        if kind is tuple or isinstance(value, tuple):
            items = [self.walk(item, False) for item in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            make = getattr(kind, "_make", None)  # a named tuple
            return make(items) if make is not None else tuple(items)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.dataclass(value)
        if isinstance(value, str):  # a str subclass
            return self.text(str(value), multiline)
        if isinstance(value, list):
            return [self.walk(item, False) for item in value]
        if isinstance(value, dict):
            return {self.walk(k, False): self.walk(v, multiline) for k, v in value.items()}
        raise TypeError(f"cannot make a {kind.__name__} safe to show")

    def dataclass(self, value: Any) -> Any:
        fields = _fields(type(value))
        if not fields:  # numbers only
            return value
        memory = self.memory
        if memory is not None:
            seen = memory.get(id(value))
            if seen is not None and seen[0] is value:
                seen[2] = self.generation
                return seen[1]
        changes = {}
        for name, multiline in fields:
            old = getattr(value, name)
            kind = type(old)
            if kind is str:
                new = self.text(old, multiline)
            elif kind in _PLAIN:
                continue
            else:
                new = self.walk(old, multiline)
            if new is not old:
                changes[name] = new
        result = dataclasses.replace(value, **changes) if changes else value
        if memory is not None:
            memory[id(value)] = [value, result, self.generation]
        return result


def hexdump(value: bytes, limit: int = HEX_LIMIT) -> str:
    """`0x 00 00 00 03` (at most `limit` bytes, then an ellipsis)."""
    shown = value[:limit].hex(" ")
    return f"0x {shown}" + (" …" if len(value) > limit else "")


def binary_format(value: bytes) -> str | None:
    """The name of a binary format recognised by its first bytes, or None."""
    if value.startswith(JAVA_SERIALIZED):
        return "Java serialized object"
    return None


def bytes_text(value: bytes, limit: int = HEX_LIMIT) -> str:
    """Bytes (a key, a header value) as one safe line: the text when it is printable UTF-8,
    else hex, named when the format is known (`Java serialized object: 0x ac ed 00 05 …`)."""
    named = binary_format(value)
    if named is not None:
        return f"{named}: {hexdump(value, limit)}"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return hexdump(value, limit)
    if is_safe(text):
        return text
    return hexdump(value, limit)


def preview_text(value: bytes | None, limit: int = 80) -> str:
    """The start of a value that could not be decoded, as one safe line: named and hex when
    the format is known, else the text (undecodable bytes replaced, controls escaped)."""
    if value is None:
        return "(null)"
    if binary_format(value) is not None:
        return bytes_text(value, limit // 3)
    return sanitize(value[:limit].decode("utf-8", errors="replace"))


def payload_text(value: bytes, limit: int) -> tuple[str, str]:
    """A record value for a detail pane: (kind, safe multi-line text), kind being `json`
    (pretty-printed, 2-space indent), `text`, or `binary` (hex, named when known). Strings
    inside JSON keep their JSON escapes (`\\u001b`); anything else dangerous is escaped."""
    if binary_format(value) is not None:
        return "binary", bytes_text(value)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", hexdump(value)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        return "text", sanitize(text[:limit], multiline=True)
    try:
        pretty = json.dumps(data, indent=2, ensure_ascii=False)
    except RecursionError:
        return "text", sanitize(text[:limit], multiline=True)
    return "json", sanitize(pretty[:limit], multiline=True)


__all__ = [
    "JAVA_SERIALIZED",
    "MULTILINE_FIELDS",
    "UNKNOWN",
    "SafeWalk",
    "binary_format",
    "bytes_text",
    "hexdump",
    "is_safe",
    "payload_text",
    "preview_text",
    "sanitize",
    "sanitized",
]
