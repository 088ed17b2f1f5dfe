"""The immutable snapshot the collector produces and every view reads.

One snapshot type flows through: the dashboard draws it, `edamon collect --json` prints it.
Nothing in here holds markup or references collector internals. Times are epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edamon.model.alerts import AlertView
from edamon.model.ordering import OrderingView
from edamon.model.status import (
    ConnectionState,
    GroupStatus,
    NodeStatus,
    PartitionStatus,
    SagaState,
)

SNAPSHOT_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ConnectionView:
    state: ConnectionState
    cluster: str
    """Bootstrap servers (or `in-memory demo`)."""
    message: str = ""
    """Why we are not connected, or the last error; empty when all is well."""
    brokers: int = 0
    since: float = 0.0
    registry: ConnectionState | None = None
    """The schema registry's state (None: no registry configured)."""
    registry_message: str = ""
    """Why the registry is not answering; empty when all is well."""


@dataclass(frozen=True, slots=True)
class CatchUpView:
    """Progress of the initial catch-up to the log end, and the collector's own lag."""

    caught_up: bool
    records_behind: int
    percent: float
    """0..100 of the records between the start position and the end seen at start-up."""


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Counts per 1-second bucket, oldest first, ending at the snapshot time."""

    total: int
    """All events counted since start (not only in the window)."""
    rate: float
    """Events/s over the last few seconds."""
    history: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TopicThroughput:
    topic: str
    partitions: int
    is_dlq: bool
    by_arrival: RateSeries
    """By the time edamon read each record; records read while catching up count at their
    record timestamp (history, not a burst of the read rate)."""
    by_timestamp: RateSeries
    """By record timestamp (as the producer or the broker set it)."""
    last_seen: float | None
    """When the newest record of the topic arrived (for history: when it was written)."""
    last_record: float | None = None
    """The newest record timestamp of the topic (at most its arrival): when the topic was last
    written, also for records read while catching up."""


@dataclass(frozen=True, slots=True)
class EventTypeThroughput:
    event_type: str
    series: RateSeries
    """By arrival (records read while catching up: at their record timestamp)."""
    versions: tuple[tuple[int | None, int], ...]
    """(schema version, count) pairs, most recent versions last."""
    by_timestamp: RateSeries
    """By record timestamp: the rate the events were produced at, also for records read while
    catching up (they fall in the seconds they were written, not in the second they were read)."""


@dataclass(frozen=True, slots=True)
class ThroughputView:
    window_s: int
    events: RateSeries
    """All ordinary topics, by arrival."""
    dead_letters: RateSeries
    """All DLQ topics, by arrival."""
    topics: tuple[TopicThroughput, ...]
    event_types: tuple[EventTypeThroughput, ...]
    events_by_timestamp: RateSeries
    """All ordinary topics, by record timestamp."""
    dead_letters_by_timestamp: RateSeries
    """All DLQ topics, by record timestamp."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    """None: the group has no commit on this partition ("no commit")."""
    end: int | None
    lag: int | None
    lag_seconds: float | None
    status: PartitionStatus
    trend: tuple[int, ...]
    """Offset lag at recent samples, oldest first."""
    member: str | None = None


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    state: str
    """Group state as the broker describes it (best effort; KIP-848 groups may say Dead)."""
    members: int
    status: GroupStatus
    worst: PartitionStatus
    total_lag: int
    max_lag_seconds: float | None
    trend: tuple[int, ...]
    """Total lag at recent samples, oldest first."""
    partitions: tuple[PartitionLag, ...]
    """Not-OK partitions first, worst status first, then the most lag; OK ones by topic and
    partition (`edamon.model.lag.partition_order`)."""
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LagHealth:
    """The lag sampler's own health."""

    interval_s: float = 0.0
    """The configured sampling interval (lag.interval_s)."""
    samples: int = 0
    """Samples taken since the collector started."""
    cycle_p50_s: float | None = None
    """Median time one sample took (recent samples); None before the first."""
    cycle_p99_s: float | None = None
    requests_per_sample: int | None = None
    """Requests the last sample sent (groups, offsets, descriptions, end offsets)."""
    groups: int = 0
    """Consumer groups tracked."""
    partitions: int = 0
    """Group-partitions tracked (those with a commit)."""
    late: int = 0
    """Samples that could not start on time because the one before took too long."""
    keeping_up: bool = True
    """False while samples take longer than the interval."""


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    coords: str
    dlq_topic: str
    time: float
    original_topic: str | None
    original_coords: str | None
    consumer_group: str | None
    exception_class: str | None
    message: str | None
    attempts: int | None
    convention: str
    correlation_id: str | None
    event_id: str | None
    event_type: str | None
    retry: str | None = None
    """Ledger status: None (never retried), "sent", "failed: <reason>"."""
    retried_at: float | None = None
    retried_by: str | None = None
    cause_class: str | None = None
    """The exception's cause, when the DLQ headers name one (Spring, SmallRye...)."""

    @property
    def failure_class(self) -> str | None:
        """The cause when there is one (what the handler threw), else the exception."""
        return self.cause_class or self.exception_class


@dataclass(frozen=True, slots=True)
class DeadLetterGroup:
    """DLQ records grouped by source topic, consumer group and exception (the cause, when the
    DLQ headers name one: a framework's wrapper says nothing about what failed)."""

    original_topic: str | None
    consumer_group: str | None
    exception_class: str | None
    count: int
    last_seen: float
    sample_message: str | None


@dataclass(frozen=True, slots=True)
class SagaInstance:
    correlation_id: str
    saga: str
    state: SagaState
    step: int
    """Number of the current step, counted from 1 as the dashboard shows it (the step running,
    compensating, failed or stuck); for COMPLETED the number of steps."""
    step_name: str
    started: float
    updated: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class SagaSummary:
    saga: str
    counts: tuple[tuple[SagaState, int], ...]
    """Every state with its count, in SagaState order."""
    p50_s: float | None
    p95_s: float | None
    """Duration percentiles of finished instances."""


@dataclass(frozen=True, slots=True)
class ChainSummary:
    correlation_id: str
    root_type: str
    events: int
    start: float
    end: float
    duration_s: float
    dead_letters: int
    orphans: int
    has_loop: bool
    saga: str | None
    saga_state: SagaState | None
    last_update: float


@dataclass(frozen=True, slots=True)
class ChainNode:
    """One row of a chain, in waterfall order (parent before children, siblings by time)."""

    event_id: str
    event_type: str
    parent_id: str | None
    depth: int
    status: NodeStatus
    time: float
    offset_s: float
    """Seconds since the chain's start."""
    hop_s: float | None
    """Seconds since its parent."""
    topic: str | None
    coords: str | None
    source: str | None
    duplicates: int
    critical: bool
    dead_letter: str | None = None
    """Coords of the DLQ record when this node is a failed handler."""
    detail: str | None = None
    """Short explanation (exception message, loop note)."""
    wire_format: str | None = None
    """`avro`, `protobuf` or `json-schema` for a value in the Confluent wire format or with its
    schema id in Apicurio's headers (schema registry); None for plain JSON."""
    schema_id: int | None = None
    """The registry schema id of such a value."""
    schema_id_kind: str | None = None
    """`globalId` or `contentId` when `schema_id` came in Apicurio's headers; None for a
    Confluent schema id."""


@dataclass(frozen=True, slots=True)
class ChainView:
    summary: ChainSummary
    nodes: tuple[ChainNode, ...]
    loops: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineRow:
    time: float
    topic: str
    event_type: str
    event_id: str
    correlation_id: str | None
    coords: str
    dead_letter: bool = False


@dataclass(frozen=True, slots=True)
class UndecodableSample:
    coords: str
    reason: str
    time: float
    preview: str


@dataclass(frozen=True, slots=True)
class UndecodableView:
    count: int
    by_reason: tuple[tuple[str, int], ...]
    samples: tuple[UndecodableSample, ...]


@dataclass(frozen=True, slots=True)
class Totals:
    events: int
    duplicates: int
    dead_letters: int
    undecodable: int
    chains: int
    retained_events: int
    evicted_chains: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: float
    connection: ConnectionView
    catchup: CatchUpView
    throughput: ThroughputView
    lag: tuple[GroupLag, ...]
    """Worst groups first."""
    dead_letters: tuple[DeadLetterRow, ...]
    """Newest first."""
    dead_letter_groups: tuple[DeadLetterGroup, ...]
    sagas: tuple[SagaSummary, ...]
    saga_instances: tuple[SagaInstance, ...]
    """Most recently updated first."""
    chains: tuple[ChainSummary, ...]
    """Most recently updated first."""
    timeline: tuple[TimelineRow, ...]
    """Newest first."""
    undecodable: UndecodableView
    totals: Totals
    collector_lag: int = 0
    """Records between the collector's positions and the log ends."""
    notices: tuple[str, ...] = field(default=())
    """Recent warnings for the operator (e.g. a causation loop, an undecodable burst)."""
    ordering: OrderingView | None = None
    """Partition-key ordering findings per topic; None when `ordering.enabled` is false."""
    lag_health: LagHealth = LagHealth()
    """The lag sampler's own health."""
    alerts: tuple[AlertView, ...] = field(default=())
    """Active alerts of the configured rules (firing first, then pending)."""


@dataclass(frozen=True, slots=True)
class CollectDocument:
    """What `edamon collect --json` prints."""

    schema_version: int
    snapshot: Snapshot
    chain_trees: tuple[ChainView, ...]
    """Full trees (waterfall order) of the chains listed in the snapshot, up to a limit."""
