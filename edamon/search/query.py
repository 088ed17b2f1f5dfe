"""Turning what the user typed into a SearchQuery, with clear errors (SearchError)."""

from __future__ import annotations

import json
import re
from typing import Any

from edamon.model.search import SearchField, SearchQuery
from edamon.model.timespec import MOMENT_HINT, resolve_moment

__all__ = ["JsonPath", "SearchError", "build_query", "parse_json_path", "resolve_range"]

MAX_VALUE = 1000
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\[\"([^\"]+)\"\]")
_PATH_HINT = "write it as $.payload.orderId=8812 (dotted names, [n] for a list item)"


class SearchError(ValueError):
    """A search that cannot run as asked; the message is fit to show."""


JsonPath = tuple[tuple[str | int, ...], Any, str]
"""(path segments, the value as JSON when it parses else the text, the text)."""


def parse_json_path(text: str) -> JsonPath:
    """`$.payload.orderId=8812` -> ((payload, orderId), 8812, "8812"). The leading `$` is
    optional; the value is compared as JSON when it parses as JSON (8812, "a", true), and
    also as text (so `=8812` finds "8812" too)."""
    spec, sep, raw = text.partition("=")
    spec = spec.strip()
    if not sep:
        raise SearchError(f"JSON path {text!r} has no `=value`; {_PATH_HINT}")
    if spec.startswith("$"):
        spec = spec[1:]
    if not spec.startswith((".", "[")):
        spec = "." + spec
    segments: list[str | int] = []
    pos = 0
    while pos < len(spec):
        match = _SEGMENT.match(spec, pos)
        if match is None:
            raise SearchError(f"malformed JSON path {text!r} at {spec[pos:][:20]!r}; {_PATH_HINT}")
        name, index, quoted = match.groups()
        segments.append(int(index) if index is not None else (name or quoted))
        pos = match.end()
    if not segments:
        raise SearchError(f"JSON path {text!r} names no field; {_PATH_HINT}")
    raw = raw.strip()
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return tuple(segments), value, raw


def resolve_range(
    since: str | None, start: str | None, until: str | None, now: float
) -> tuple[int, int | None]:
    """(from_ms, until_ms or None) from `--since 8h` or `--from/--until` (durations ago or
    ISO times); SearchError for a bad or future range."""
    if since is not None and start is not None:
        raise SearchError("give --since or --from, not both")
    spec = since if since is not None else start
    if spec is None:
        raise SearchError("a time range is needed: --since 8h, or --from TIME [--until TIME]")
    from_ms = _moment(spec, now, "--since" if since is not None else "--from")
    until_ms = _moment(until, now, "--until") if until is not None else None
    now_ms = round(now * 1000)
    if from_ms > now_ms:
        raise SearchError(f"the range starts in the future ({spec}); nothing was written yet")
    if until_ms is not None and until_ms <= from_ms:
        raise SearchError("--until must be after the start of the range")
    if until_ms is not None and until_ms > now_ms:
        until_ms = None  # up to now
    return from_ms, until_ms


def _moment(spec: str, now: float, option: str) -> int:
    if spec.strip().lower() == "earliest":  # the start of every partition
        return 0
    moment = resolve_moment(spec, now)
    if moment is None:
        raise SearchError(f"{option}: {spec.strip()!r} is not {MOMENT_HINT}")
    return moment


def build_query(
    by: SearchField,
    value: str,
    from_ms: int,
    until_ms: int | None = None,
    **options: Any,
) -> SearchQuery:
    """A checked SearchQuery (SearchError for an empty value, a header without `=`, a
    malformed JSON path)."""
    if not value or len(value) > MAX_VALUE:
        raise SearchError(
            f"the {by.replace('_', ' ')} to find must have 1 to {MAX_VALUE} characters"
        )
    if by == "header":
        name, sep, _ = value.partition("=")
        if not sep or not name:
            raise SearchError(f"--header takes name=value, not {value!r}")
    if by == "json_path":
        parse_json_path(value)
    topics = tuple(options.pop("topics", ()) or ())
    query = SearchQuery(by, value, from_ms, until_ms, topics, **options)
    if query.budget_records < 1 or query.budget_seconds <= 0 or query.max_flows < 1:
        raise SearchError("budgets and max flows must be positive")
    if query.rate is not None and query.rate <= 0:
        raise SearchError("the rate must be positive")
    return query
