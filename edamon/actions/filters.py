"""Selecting dead letters: by DLQ topic, original topic, consumer group, exception, time.

Filter text is `key=value`, one per `--filter` flag (the CLI) or entry (the UI):

- `dlq-topic=orders.DLT`, `original-topic=orders.*`, `group=billing`: exact names or shell
  globs (`*`, `?`, `[...]`);
- `exception=Timeout`: a case-insensitive substring of the exception class or its cause class;
  `exception=/Timeout(Exception)?$/` (between slashes): a regular expression searched in both;
- `since=15m` / `until=2h`: a duration ago (s, m, h, d) or an ISO 8601 time, compared to the
  time the record reached the DLQ (its timestamp).

Values of one key are alternatives (OR); different keys must all match (AND).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from edamon.decode.timeparse import parse_iso
from edamon.model.deadletter import DeadLetter
from edamon.model.timespec import parse_duration

__all__ = ["FILTER_KEYS", "DeadLetterFilter", "FilterError", "parse_filters"]

FILTER_KEYS = ("dlq-topic", "original-topic", "group", "exception", "since", "until")


class FilterError(ValueError):
    """A filter that cannot be understood; the message says which and why."""


def _name_matcher(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True)
class DeadLetterFilter:
    """A predicate over dead letters; the empty filter matches everything."""

    dlq_topics: tuple[str, ...] = ()
    original_topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    """Substrings (case-insensitive) or `/regex/`."""
    since: float | None = None
    """Epoch seconds, inclusive."""
    until: float | None = None
    """Epoch seconds, exclusive."""
    _dlq: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _original: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _group: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _exception: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_dlq", _name_matcher(self.dlq_topics))
        object.__setattr__(self, "_original", _name_matcher(self.original_topics))
        object.__setattr__(self, "_group", _name_matcher(self.groups))
        compiled: list[re.Pattern[str]] = []
        for text in self.exceptions:
            if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
                try:
                    compiled.append(re.compile(text[1:-1]))
                except re.error as exc:
                    raise FilterError(
                        f"exception={text}: invalid regular expression: {exc}"
                    ) from None
            else:
                compiled.append(re.compile(re.escape(text), re.IGNORECASE))
        object.__setattr__(self, "_exception", tuple(compiled))

    @property
    def empty(self) -> bool:
        return not (
            self.dlq_topics
            or self.original_topics
            or self.groups
            or self.exceptions
            or self.since is not None
            or self.until is not None
        )

    def specs(self) -> tuple[str, ...]:
        """The filter as `key=value` texts that `parse_filters` turns back into the same
        filter at any later time: `since` and `until` as ISO 8601 UTC times (to the
        microsecond), not as durations ago (what another process, e.g. a shard member, is
        asked with). Each bound is rounded up to the microsecond: both keep a time at or above
        them out of `until` and in `since`, and a record's time is whole milliseconds, so the
        same records pass. A bound beyond what ISO 8601 writes (before year 1, after 9999)
        becomes that limit: an early `since` or a late `until` keeps every record as before,
        an early `until` or a late `since` keeps none, as here."""
        texts = [f"dlq-topic={p}" for p in self.dlq_topics]
        texts += [f"original-topic={p}" for p in self.original_topics]
        texts += [f"group={p}" for p in self.groups]
        texts += [f"exception={p}" for p in self.exceptions]
        for key, bound in (("since", self.since), ("until", self.until)):
            if bound is not None:
                texts.append(f"{key}={_iso_ceil(bound)}")
        return tuple(texts)

    def matches(self, dead_letter: DeadLetter) -> bool:
        """True if `dead_letter` passes every part of the filter."""
        info = dead_letter.info
        if self._dlq is not None and not self._dlq.match(dead_letter.record.topic):
            return False
        if self._original is not None and not (
            info.original_topic and self._original.match(info.original_topic)
        ):
            return False
        if self._group is not None and not (
            info.consumer_group and self._group.match(info.consumer_group)
        ):
            return False
        if self._exception:
            names = [name for name in (info.exception_class, info.cause_class) if name]
            if not any(p.search(name) for p in self._exception for name in names):
                return False
        if self.since is not None or self.until is not None:
            when = dead_letter.record.timestamp_ms / 1000.0
            if self.since is not None and when < self.since:
                return False
            if self.until is not None and when >= self.until:
                return False
        return True

    def matcher(self) -> Callable[[DeadLetter], bool]:
        """`matches`, remembering its answer for the names it tests (DLQ topic, source topic,
        group, exception, cause): over a whole store, where a few handlers failed thousands of
        times, one regex test per distinct failure instead of one per dead letter. The time
        bounds are still tested on each. For one pass over a store (the memory is not
        bounded by anything but the names seen)."""
        seen: dict[tuple[str | None, ...], bool] = {}
        since, until = self.since, self.until
        names_only = replace(self, since=None, until=None)

        def keep(dead_letter: DeadLetter) -> bool:
            info = dead_letter.info
            key = (
                dead_letter.record.topic,
                info.original_topic,
                info.consumer_group,
                info.exception_class,
                info.cause_class,
            )
            found = seen.get(key)
            if found is None:
                found = seen[key] = names_only.matches(dead_letter)
            if found and (since is not None or until is not None):
                when = dead_letter.record.timestamp_ms / 1000.0
                return (since is None or when >= since) and (until is None or when < until)
            return found

        return keep

    def apply(self, dead_letters: Iterable[DeadLetter]) -> list[DeadLetter]:
        """The dead letters that match, in their order."""
        if self.empty:
            return list(dead_letters)
        return [dl for dl in dead_letters if self.matches(dl)]


def _parse_time(key: str, text: str, now: float) -> float:
    value = text.strip()
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    moment = parse_iso(value)
    if moment is None:
        raise FilterError(
            f"{key}={text}: expected a duration ago (30s, 15m, 2h, 1d) or an ISO 8601 time"
        )
    return moment


def parse_filters(specs: Iterable[str], *, now: float) -> DeadLetterFilter:
    """Build a filter from `key=value` texts (see the module doc). Raises FilterError."""
    values: dict[str, list[str]] = {key: [] for key in FILTER_KEYS}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip().lower().replace("_", "-")
        if not sep or not value:
            raise FilterError(f"filter {spec!r} is not key=value (keys: {', '.join(FILTER_KEYS)})")
        if key not in values:
            raise FilterError(f"unknown filter key {key!r} (keys: {', '.join(FILTER_KEYS)})")
        values[key].append(value)
    since = until = None
    if values["since"]:
        since = max(_parse_time("since", v, now) for v in values["since"])
    if values["until"]:
        until = min(_parse_time("until", v, now) for v in values["until"])
    return DeadLetterFilter(
        dlq_topics=tuple(values["dlq-topic"]),
        original_topics=tuple(values["original-topic"]),
        groups=tuple(values["group"]),
        exceptions=tuple(values["exception"]),
        since=since,
        until=until,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST = datetime(1, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _iso_ceil(seconds: float) -> str:
    """`seconds` since the epoch as ISO 8601 UTC, rounded up to the microsecond (integer
    arithmetic: the product with 10**6 is not exact), held within years 1 to 9999."""
    if not math.isfinite(seconds):
        moment = _LAST if seconds > 0 else _FIRST
        return moment.isoformat(timespec="microseconds")
    micros = round(seconds * 1_000_000)
    if micros / 1_000_000 < seconds:
        micros += 1
    try:
        moment = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        moment = _LAST if micros > 0 else _FIRST
    return min(max(moment, _FIRST), _LAST).isoformat(timespec="microseconds")
