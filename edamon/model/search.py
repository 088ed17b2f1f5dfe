"""What a search of Kafka's history reports (issue 16): its query, progress per topic, what it
did not scan, and the flows it found as ChainViews (the same trees the live collector shows).

Served by `GET /v1/searches/{id}` and printed by `edamon find --json`; the engine is
`edamon.search`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from edamon.model.snapshot import SNAPSHOT_SCHEMA_VERSION, ChainView

__all__ = [
    "SEARCH_FIELDS",
    "SNAPSHOT_SCHEMA_VERSION",
    "SearchDoc",
    "SearchField",
    "SearchPass",
    "SearchQuery",
    "SearchState",
    "TopicScan",
    "id_prefix",
]

SearchField = Literal["correlation_id", "event_id", "aggregate_id", "key", "header", "json_path"]
SEARCH_FIELDS: tuple[SearchField, ...] = (
    "correlation_id",
    "event_id",
    "aggregate_id",
    "key",
    "header",
    "json_path",
)

_ID_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]*")
ID_PREFIX_MIN = 6
"""Hex digits an id prefix needs (the dashboard shows ids by their first 8)."""
WHOLE_ID_HEX = 32
"""Hex digits of a whole uuid: a value with as many is an id, not a prefix."""


def id_prefix(by: SearchField, value: str) -> bool:
    """Whether a correlation or event id search matches the ids that start with `value`: a
    short id as the dashboard shows them (`5a402706`, lower-case hex, from 6 hex
    digits to fewer than a uuid's 32, dashes allowed). Other values are matched whole."""
    if by not in ("correlation_id", "event_id") or _ID_PREFIX.fullmatch(value) is None:
        return False
    digits = len(value) - value.count("-")
    return ID_PREFIX_MIN <= digits < WHOLE_ID_HEX


SearchState = Literal["running", "done", "budget", "cancelled", "failed"]
"""`budget`: stopped by the record or time budget (what was found is shown)."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to find, where and when. `value` is compared exactly (header: `name=value`;
    a correlation or event id also by its start when it is a short id, see `id_prefix`;
    json_path: `$.payload.orderId=8812`)."""

    by: SearchField
    value: str
    from_ms: int
    """Start of the range (epoch ms): `offsets_for_times` bounds every partition."""
    until_ms: int | None = None
    """End of the range (epoch ms); None: now (the end offsets when the search starts)."""
    topics: tuple[str, ...] = ()
    """Topics to read; empty: every tailed topic and DLQ (the collector's topic rules)."""
    full_scan: bool = False
    """A key search reads every partition, not only the one the key hashes to."""
    widen: bool = True
    """Found events pull in their whole flow (a second pass by correlation id)."""
    budget_records: int = 5_000_000
    budget_seconds: float = 120.0
    max_flows: int = 20
    """Flows kept (and widened); more matches are counted, not kept."""
    rate: float | None = None
    """Records read per second at most (None: as fast as the broker gives them), to spare a
    busy cluster."""


@dataclass(frozen=True, slots=True)
class TopicScan:
    topic: str
    partitions: tuple[int, ...]
    """Partitions read."""
    partitions_total: int
    estimate: int
    """Records in range in the partitions read (end − start offsets)."""
    scanned: int
    done: bool


@dataclass(frozen=True, slots=True)
class SearchPass:
    """One read of the range: the search itself, then the widening by correlation id."""

    by: SearchField
    values: tuple[str, ...]
    topics: tuple[TopicScan, ...]
    scanned: int
    estimate: int
    matched: int
    complete: bool


@dataclass(frozen=True, slots=True)
class SearchDoc:
    id: str
    state: SearchState
    query: SearchQuery
    from_ms: int
    until_ms: int
    """The range read (until: resolved at the start)."""
    started: float
    finished: float | None
    passes: tuple[SearchPass, ...]
    scanned: int
    estimate: int
    matched: int
    """Records that matched (both passes, each record once)."""
    flows_found: int
    """Flows matched, also those beyond `max_flows` (not kept)."""
    undecodable: int
    """Matching candidates (records holding the text searched for) that did not decode."""
    undecodable_by_reason: tuple[tuple[str, int], ...]
    not_scanned: tuple[str, ...]
    """What was not read, one sentence each (other partitions of a key search, a budget)."""
    notes: tuple[str, ...]
    flows: tuple[ChainView, ...]
    error: str | None = None
    schema_version: int = SNAPSHOT_SCHEMA_VERSION

    @property
    def found(self) -> bool:
        return bool(self.flows)
