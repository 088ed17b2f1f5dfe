"""The headers of a redriven record: the dead letter's, minus what the DLQ added, plus a trail.

Removed: every DLQ/error header of every convention (`is_dlq_header`), the configured
`dlq.strip_headers` (trace context by default: a retry is a new trace, not a span of the failed
one) and edamon's own `edamon-retry-*` headers of an earlier retry. Added, at the end:
`edamon-retry-of` (`<dlq topic>/<partition>/<offset>`), `edamon-retry-at` (ISO 8601 UTC) and
`edamon-retry-attempt` (decimal). Everything else keeps its order, repeats included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from edamon.decode.dlq import is_dlq_header
from edamon.model.chainnodes import RETRY_AT, RETRY_ATTEMPT
from edamon.model.chainnodes import RETRY_HEADER as RETRY_OF
from edamon.model.records import Header

__all__ = [
    "RETRY_AT",
    "RETRY_ATTEMPT",
    "RETRY_OF",
    "RETRY_PREFIX",
    "HeaderPolicy",
    "iso_utc",
]

RETRY_PREFIX = "edamon-retry-"


def iso_utc(epoch_s: float) -> str:
    """`2026-11-26T10:00:00.123Z` (milliseconds, UTC)."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class HeaderPolicy:
    """Decides which headers of a dead letter are dropped when it is redriven.

    `strip` names are matched case-insensitively (`Traceparent` is still trace context).
    """

    def __init__(self, strip: Iterable[str] = ()) -> None:
        self._strip = frozenset(name.lower() for name in strip)
        self._cache: dict[str, bool] = {}

    def drops(self, name: str) -> bool:
        """True if header `name` is removed from the redriven record."""
        cached = self._cache.get(name)
        if cached is None:
            lowered = name.lower()
            cached = (
                lowered.startswith(RETRY_PREFIX) or lowered in self._strip or is_dlq_header(name)
            )
            if len(self._cache) < 4096:
                self._cache[name] = cached
        return cached

    def stripped(self, headers: Sequence[Header]) -> tuple[str, ...]:
        """Names of the headers that will be removed, each once, in order of first appearance."""
        seen: dict[str, None] = {}
        for name, _ in headers:
            if name not in seen and self.drops(name):
                seen[name] = None
        return tuple(seen)

    def kept(self, headers: Sequence[Header]) -> tuple[Header, ...]:
        """The headers that stay, in their order."""
        return tuple(header for header in headers if not self.drops(header[0]))

    def retry_headers(
        self, headers: Sequence[Header], *, retry_of: str, at: float, attempt: int
    ) -> tuple[Header, ...]:
        """The headers of the redriven record: `kept(headers)` plus the three retry headers."""
        return (
            *self.kept(headers),
            (RETRY_OF, retry_of.encode("utf-8")),
            (RETRY_AT, iso_utc(at).encode("ascii")),
            (RETRY_ATTEMPT, str(attempt).encode("ascii")),
        )
