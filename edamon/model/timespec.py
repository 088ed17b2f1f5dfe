"""Durations ("15m", "1h30m") and start positions ("latest", "2h", an ISO time) from text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "MOMENT_HINT",
    "StartKind",
    "StartPosition",
    "parse_duration",
    "resolve_moment",
    "resolve_start",
]

_UNITS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ("d", "h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_HINT = "use a number with a unit: 500ms, 10s, 15m, 2h, 1d, or combined like 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "500ms", "10s", "15m", "2h", "1d" or "1h30m".

    Units (d, h, m, s, ms) go from largest to smallest, each at most once; numbers may have a
    fraction ("1.5h"). Case and surrounding spaces are ignored. Raises ValueError otherwise.
    """
    body = text.strip().lower()
    if not body:
        raise ValueError(f"empty duration: {_HINT}")
    seconds = 0.0
    pos = 0
    last = -1
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f"not a duration: {text!r}; {_HINT}")
        number, unit = match.groups()
        rank = _ORDER.index(unit)
        if rank <= last:
            raise ValueError(
                f"not a duration: {text!r}; units must go from largest to smallest, "
                "each at most once"
            )
        last = rank
        seconds += float(number) * _UNITS[unit]
        pos = match.end()
    return seconds


StartKind = Literal["latest", "earliest", "timestamp"]


@dataclass(frozen=True, slots=True)
class StartPosition:
    """Where tailing starts: the log end, the log start, or the first record at/after a time."""

    kind: StartKind
    timestamp_ms: int | None = None
    """Epoch milliseconds; set exactly when kind is "timestamp"."""

    def __post_init__(self) -> None:
        if (self.kind == "timestamp") != (self.timestamp_ms is not None):
            raise ValueError("timestamp_ms is given exactly for kind 'timestamp'")

    @classmethod
    def at(cls, timestamp_ms: int) -> StartPosition:
        """The first record with a timestamp at or after `timestamp_ms`."""
        return cls("timestamp", max(0, timestamp_ms))

    def __str__(self) -> str:
        if self.timestamp_ms is None:
            return self.kind
        moment = datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


LATEST = StartPosition("latest")
EARLIEST = StartPosition("earliest")


def resolve_start(spec: str, now: float) -> StartPosition:
    """Turn a start spec into a position, relative to `now` (epoch seconds).

    "latest" / "earliest" (any case); a duration ("15m": that long before `now`); or an ISO 8601
    time or date ("2026-11-26T10:00:00Z", "2026-11-26 10:00", "2026-11-26"; no zone means UTC).
    Raises ValueError for anything else.
    """
    text = spec.strip()
    word = text.lower()
    if word == "latest":
        return LATEST
    if word == "earliest":
        return EARLIEST
    if not text:
        raise ValueError("empty start position: use latest, earliest, a duration or an ISO time")
    try:
        return StartPosition.at(round((now - parse_duration(text)) * 1000))
    except ValueError:
        pass  # not a duration: try a time
    seconds = parse_iso(text)
    if seconds is None:
        raise ValueError(
            f"not a start position: {spec!r}; use latest, earliest, a duration ago "
            "(30s, 15m, 2h) or an ISO 8601 time (2026-11-26T10:00:00Z)"
        )
    return StartPosition.at(round(seconds * 1000))


MOMENT_HINT = "a duration ago (30m, 8h, 1d) or a time (2026-12-07T03:00Z)"
"""What a point in time of a range takes (a search's since, from and until)."""


def resolve_moment(spec: str, now: float) -> int | None:
    """A point in time as epoch ms: a duration ago (relative to `now`, epoch seconds; not
    before the epoch) or an ISO 8601 time or date; None for anything else (MOMENT_HINT)."""
    text = spec.strip()
    try:
        return max(0, round((now - parse_duration(text)) * 1000))
    except ValueError:
        pass  # not a duration: try a time
    seconds = parse_iso(text)
    return None if seconds is None else round(seconds * 1000)


def parse_iso(text: str) -> float | None:
    """An ISO 8601 / RFC 3339 time or date (Z or offset, fractional seconds of any length) as
    epoch seconds; no offset means UTC. Unparseable (or absurdly long): None."""
    if not text or len(text) > 64:
        return None
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None
