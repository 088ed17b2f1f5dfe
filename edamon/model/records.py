"""A Kafka record as edamon sees it, independent of any client library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
