"""The shapes of the HTTP API (`edamon serve`, /v1) beyond the snapshot's own dataclasses.

One source of truth: the service answers with these and with the dataclasses of
`edamon.model.snapshot` (what `collect --json` documents), serialised by pydantic's TypeAdapter;
the client (`edamon.client`) decodes the same types with the same adapters, and
docs/openapi.json is generated from them. Record bytes travel as `{"text": ...}` when printable
UTF-8, else `{"base64": ...}`, as `dlq show --json` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, NotRequired, TypeVar

from typing_extensions import TypedDict

from edamon.model.snapshot import (
    CatchUpView,
    ConnectionView,
    DeadLetterRow,
    Snapshot,
)

T = TypeVar("T")

API_VERSION = "v1"

PARTIAL_ANSWER = "shard: partial answer: "
"""How a notice that a shard group's answer misses a member's part begins (a member that did
not answer in time, or one rebuilding its flows): the merged snapshot's `notices` hold one
for each such member while it lasts (with the collector's own notices), a `DeadLetterPage`'s
`notices` only such ones."""


def partial_answers(notices: Sequence[str]) -> tuple[str, ...]:
    """The notices of `notices` that say the answer is partial (see PARTIAL_ANSWER)."""
    return tuple(notice for notice in notices if notice.startswith(PARTIAL_ANSWER))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: `items` are rows `offset`.. of the `total` rows that match."""

    total: int
    """Rows matching the filter (all pages)."""
    offset: int
    items: tuple[T, ...]


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """A page of dead letters (`/v1/dead-letters`): a `Page` of them, and, in a shard group
    (where it merges the members' own rows), what may be missing from it."""

    total: int
    """Rows matching the filter and the selection (all pages)."""
    offset: int
    items: tuple[DeadLetterRow, ...]
    notices: tuple[str, ...] = ()
    """Why rows may be missing from this page (a shard member that did not answer in time,
    or one rebuilding its flows); empty when the page is whole."""


@dataclass(frozen=True, slots=True)
class Health:
    """The service answers (it says nothing about the cluster: see Ready)."""

    status: str
    """Always `ok`."""
    version: str
    """edamon's version."""
    role: str
    """The caller's role: `viewer` or `operator`."""
    read_only: bool
    """Retries are refused (settings.read_only)."""


@dataclass(frozen=True, slots=True)
class Ready:
    """Whether the collector is connected to the cluster and caught up with the log ends."""

    ready: bool
    reason: str
    """Why not, when not ready; empty when ready."""
    connection: ConnectionView
    catchup: CatchUpView


@dataclass(frozen=True, slots=True)
class ListCounts:
    """Total rows of each list of the snapshot, before `Overview` capped them."""

    lag: int
    dead_letters: int
    """The dead letters `/v1/dead-letters` pages: every one the service holds, more than the
    snapshot lists (its newest 2,000); in a shard group, every one its members hold (the
    other members' counts as their last shares said)."""
    dead_letter_groups: int
    sagas: int
    saga_instances: int
    chains: int
    timeline: int
    topics: int
    event_types: int
    undecodable_samples: int


@dataclass(frozen=True, slots=True)
class Overview:
    """The snapshot with each row list cut to its first `rows` rows (the lag groups keep their
    partitions), and how many rows each list has in full: what a dashboard polls a few times
    a second. Pages of each list: the list endpoints."""

    snapshot: Snapshot
    counts: ListCounts
    rows: int
    """The cap applied to each list."""


class BytesValue(TypedDict, total=False):
    """Record bytes: `text` when printable UTF-8, else `base64`; one of the two keys."""

    text: str
    base64: str


class HeaderValue(TypedDict):
    """One record header, in record order (keys may repeat): its key and `text` or `base64`."""

    key: str
    text: NotRequired[str]
    base64: NotRequired[str]


class RecordDoc(TypedDict):
    """One Kafka record with its bytes."""

    coords: str
    """`topic/partition/offset`."""
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: BytesValue | None
    headers: list[HeaderValue]
    value: BytesValue | None


class EnvelopeDoc(TypedDict):
    """An event's decoded envelope fields (as `dlq show --json` writes them)."""

    event_id: str
    event_type: str
    correlation_id: str | None
    causation_id: str | None
    aggregate_id: str | None
    version: int | None
    source: str | None
    format: str
    """`seed`, `cloudevents-binary` or `cloudevents-structured`."""


class EventDoc(TypedDict):
    """One event: its envelope and its record. `record_dropped`: the collector no longer held
    the record's bytes and `record` was read again from Kafka (null when gone from Kafka)."""

    envelope: EnvelopeDoc
    coords: str
    """The record's address, `topic/partition/offset`."""
    timestamp_ms: int
    """The record's timestamp."""
    occurred_at: float | None
    trace_id: str | None
    value_truncated: bool
    """The value in `record` was cut at envelope.keep_value_bytes (not re-read)."""
    record_dropped: bool
    record: RecordDoc | None


class LedgerDoc(TypedDict):
    """The retry ledger's latest entry for a dead letter."""

    dead_letter: str
    target_topic: str | None
    target_partition: int | None
    target_offset: int | None
    result: str
    reason: str | None
    at: float
    by: str
    attempt: int
    sent_count: int
    record_timestamp_ms: int | None
    status: str
    retried: bool
    at_iso: str


class DeadLetterDoc(TypedDict):
    """One dead letter as `edamon dlq show --json` prints it."""

    coords: str
    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    time: str
    convention: str
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    original_timestamp_ms: int | None
    consumer_group: str | None
    exception_class: str | None
    cause_class: str | None
    exception_message: str | None
    attempts: int | None
    handler: str | None
    problems: list[str]
    key: BytesValue | None
    event: EnvelopeDoc | None
    decode_error: str | None
    retry: LedgerDoc | None
    stacktrace: NotRequired[str | None]
    headers: NotRequired[list[HeaderValue]]
    value: NotRequired[BytesValue | None]


@dataclass(frozen=True, slots=True)
class PlanItemDoc:
    """What a retry does with one dead letter."""

    coords: str
    action: str
    """`send`, `skip` (already retried, not forced) or `refuse` (no usable target)."""
    target: str | None
    source: str | None
    """How the target was found: `header` (the DLQ headers) or `route` (dlq.routes)."""
    reason: str | None
    """Why skipped or refused."""
    strip: tuple[str, ...]
    """Header names removed from the copy."""
    attempt: int
    already_retried: bool


@dataclass(frozen=True, slots=True)
class RetryPlanDoc:
    """A retry plan: what `POST /v1/retries` would do now. Sends nothing."""

    items: tuple[PlanItemDoc, ...]
    problems: tuple[tuple[str, str], ...]
    """(address, reason) of asked-for dead letters that could not be read (refused)."""
    force: bool
    targets: tuple[tuple[str, int], ...]
    """(target topic, dead letters to send there), most first."""
    stripped_headers: tuple[tuple[str, int], ...]
    rate: float
    """Records per second a run sends at most."""
    read_only: bool
    """The service refuses to run it (settings.read_only)."""
    ledger_error: str | None
    """The ledger could not be read: `skip` decisions use the retries known before."""
    notices: tuple[str, ...] = ()
    """Why dead letters the filters keep may be missing from this plan (in a shard group: a
    member that did not answer in time, one rebuilding its flows, or one holding more than a
    plan takes from it); empty when the plan is whole."""


@dataclass(frozen=True, slots=True)
class RetryItemDoc:
    """What became of one dead letter in a retry run."""

    coords: str
    outcome: str
    """`sent`, `skipped`, `refused`, `failed` or `not attempted`."""
    target_coords: str | None
    reason: str | None
    attempt: int | None
    ledger_error: str | None
    """The attempt could not be recorded in the ledger."""


@dataclass(frozen=True, slots=True)
class RetryJobDoc:
    """A retry run on the service: its progress, then its summary."""

    id: str
    state: str
    """`running`, `done` (ran to the end or stopped on a failure: see `aborted`),
    `cancelled` or `error`."""
    done: int
    """Plan items handled so far."""
    total: int
    """Items to send."""
    started_at: float
    elapsed_s: float
    plan: RetryPlanDoc
    aborted: str | None
    """Why the run stopped before the end (a failure, a cancel, an internal error)."""
    counts: tuple[tuple[str, int], ...]
    """(outcome, count), every outcome; empty while running."""
    results: tuple[RetryItemDoc, ...]
    """One per plan item and problem, in plan order, once finished."""


@dataclass(frozen=True, slots=True)
class ErrorDoc:
    """Every 4xx/5xx answer's body."""

    error: str
    """A short code: `bad_request`, `unauthorized`, `forbidden`, `read_only`, `not_found`,
    `conflict`, `too_large`, `unavailable`, `internal`."""
    message: str
    """What went wrong, for people."""


ROLE_VIEWER = "viewer"
ROLE_OPERATOR = "operator"


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` (`[::1]:8765` for IPv6) -> (host, port). Raises ValueError."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"not host:port (e.g. 127.0.0.1:8765; port 0: any free one): {text!r}")
    return host, int(port)
