"""A Kafka record as edamon sees it, independent of any client library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

Header = tuple[str, bytes]
"""One record header. Headers are kept as an ordered tuple: keys may repeat."""


class TP(NamedTuple):
    """A topic partition."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka record: coordinates, timestamp, key, value and headers in order."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()

    @property
    def coords(self) -> str:
        """`topic/partition/offset`, the address edamon uses for a record everywhere."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)

    def header(self, name: str) -> bytes | None:
        """The last value of header `name` (Kafka convention: the last one wins), or None."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None

    def header_text(self, name: str) -> str | None:
        value = self.header(name)
        if value is None:
            return None
        return value.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class FlawedRecord(RawRecord):
    """A record read whole whose form no decoder may trust, e.g. a header name that is not
    UTF-8 (Go and librdkafka clients can write one). Such a name is kept as its bytes shown
    escaped (`\\xff` for a byte that is not printable ASCII, `\\\\` for a backslash); `flaw` says
    what is wrong, e.g. `header name not UTF-8: \\xffid`. Counted as undecodable, never resent."""

    flaw: str = ""


def parse_coords(text: str) -> tuple[str, int, int]:
    """Parse `topic/partition/offset` (topic may itself contain '/'). Raises ValueError."""
    topic, sep1, rest = text.rpartition("/")
    topic2, sep2, part = topic.rpartition("/")
    if not (sep1 and sep2 and topic2):
        raise ValueError(f"not a record address (topic/partition/offset): {text!r}")
    try:
        return topic2, int(part), int(rest)
    except ValueError:
        raise ValueError(f"partition and offset must be integers: {text!r}") from None


def slot_descriptors(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The slot descriptors of a frozen slots dataclass, in the order of `names` (all its
    fields). Raises if the fields no longer match `names`."""
    if getattr(cls, "__slots__", None) != names:
        raise RuntimeError(f"{cls.__name__}'s fields changed: update the slot setters' callers")
    return tuple(vars(cls)[name] for name in names)


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot setters of a frozen slots dataclass, in the order of `names` (all its fields).

    A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
    directly on `object.__new__(cls)` builds the same object in half the time, which the hot
    paths (fetch, decode, record dropping) use. Raises if the fields no longer match `names`."""
    return tuple(descriptor.__set__ for descriptor in slot_descriptors(cls, names))


RECORD_SLOTS = ("topic", "partition", "offset", "timestamp_ms", "key", "value", "headers")
RECORD_SETTERS = slot_setters(RawRecord, RECORD_SLOTS)
"""RawRecord's slot setters: topic, partition, offset, timestamp_ms, key, value, headers."""


def slot_builder(cls: type, names: tuple[str, ...]) -> Callable[..., Any]:
    """A fast constructor of a frozen slots dataclass: `build(*values)` (every field, in the
    order of `names`) makes the object the dataclass's __init__ would, in about a third of its
    time (bench/stages.py's decode figures).

    A frozen dataclass's __init__ sets each field through object.__setattr__, and a slot
    setter is a call per field; `build` is a plain class with the same slots whose __init__
    sets them with ordinary attribute stores, then turns the object into a `cls` by
    `__class__` assignment, which CPython allows between two such layouts (same base, same
    slots in the same order). Raises if the fields no longer match `names`."""
    if getattr(cls, "__slots__", None) != names:
        raise RuntimeError(f"{cls.__name__}'s fields changed: update the slot builders' callers")
    params = ", ".join(names)
    body = "".join(f"        self.{name} = {name}\n" for name in names)
    namespace: dict[str, Any] = {"set_class": object.__setattr__, "cls": cls}
    # the source is built from the dataclass's own field names
    exec(
        f"class build:\n    __slots__ = {names!r}\n"
        f"    def __init__(self, {params}):\n{body}"
        f"        set_class(self, '__class__', cls)\n",
        namespace,
    )
    build: Callable[..., Any] = namespace["build"]
    return build


build_record: Callable[
    [str, int, int, int, bytes | None, bytes | None, tuple[Header, ...]], RawRecord
]
build_record = slot_builder(RawRecord, RECORD_SLOTS)
"""RawRecord(topic, partition, offset, timestamp_ms, key, value, headers), faster."""
