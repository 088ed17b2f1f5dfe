"""Where partition-key ordering is broken: keys that are not the aggregate id, aggregates split
across partitions, and events that arrive out of order within one partition.

Kafka orders records only within a partition, so event-driven systems key every event by its
aggregate id. `OrderingTracker.observe` is called once per decoded event (on the ingest path:
a dict lookup and a few comparisons for the usual, well-keyed event); its per-aggregate state is
bounded by `max_aggregates` (least recently seen dropped first, see `_rotate`), so the numbers
say what they cover (`tracked`, `forgotten`).

Versions compare only between events of one type: an envelope's `version` is usually the
event type's schema version (OrderPlaced v2, ShipmentScheduled v1), so "lower than before" means
something only for the same type; event time (`occurredAt`, beyond `tolerance_ms`) is compared
across all of an aggregate's events on a partition.

Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from edamon.model.envelope import Envelope

EXAMPLES_PER_TOPIC = 20
"""Examples kept per topic and kind of finding (the newest)."""


class Finding(StrEnum):
    KEY_MISMATCH = "key-mismatch"
    """The record's key is not the envelope's aggregate id."""
    MISSING_KEY = "missing-key"
    """The record has no key: Kafka's sticky partitioner scatters its aggregate."""
    SPLIT = "split-aggregate"
    """One aggregate's events on more than one partition of one topic."""
    OUT_OF_ORDER = "out-of-order"
    """Within one partition, an event older (version or time) than one read before it."""


class SplitCause(StrEnum):
    KEY_DIFFERS = "key differs from the aggregate id"
    NO_KEY = "no key"
    PARTITIONS_CHANGED = "partition count changed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OrderingExample:
    """One finding, with what an operator needs to look at it."""

    kind: Finding
    topic: str
    aggregate_id: str
    coords: str
    """`topic/partition/offset` of the record that showed the problem."""
    event_id: str
    event_type: str
    correlation_id: str | None
    detail: str
    """In words: the key, the partitions and the first record on each, or what came before."""


@dataclass(frozen=True, slots=True)
class TopicOrdering:
    topic: str
    checked: int
    """Events with an aggregate id looked at."""
    key_mismatches: int
    missing_keys: int
    split_aggregates: int
    """Aggregates seen on more than one partition (each counted once)."""
    out_of_order: int
    partitions: int | None
    """The topic's partition count as last seen, when known."""
    examples: tuple[OrderingExample, ...]
    """By kind (Finding's order), newest first within a kind; up to EXAMPLES_PER_TOPIC each."""

    @property
    def findings(self) -> int:
        return self.key_mismatches + self.missing_keys + self.split_aggregates + self.out_of_order


@dataclass(frozen=True, slots=True)
class PartitionChange:
    topic: str
    old: int
    new: int
    at: float
    """When edamon noticed the change (epoch seconds)."""


@dataclass(frozen=True, slots=True)
class OrderingView:
    topics: tuple[TopicOrdering, ...]
    """Topics with findings first (most findings first), then by name."""
    partition_changes: tuple[PartitionChange, ...]
    tracked: int
    """Aggregates whose state is held now."""
    max_aggregates: int
    forgotten: int
    """Aggregates dropped from the LRU: a split or out-of-order event of theirs goes unseen."""
    tolerance_ms: int


_Where = tuple[str, int, int, str, str, str, str | None]
"""topic, partition, offset, aggregate id, event id, event type, correlation id."""


def _example(kind: Finding, where: _Where, detail: str) -> OrderingExample:
    topic, partition, offset, aggregate_id, event_id, event_type, correlation_id = where
    return OrderingExample(
        kind,
        topic,
        aggregate_id,
        f"{topic}/{partition}/{offset}",
        event_id,
        event_type,
        correlation_id,
        detail,
    )


class _Topic:
    __slots__ = ("checked", "examples", "key_mismatches", "missing_keys", "out_of_order", "split")

    def __init__(self) -> None:
        self.checked = 0
        self.key_mismatches = 0
        self.missing_keys = 0
        self.split = 0
        self.out_of_order = 0
        self.examples: dict[Finding, deque[OrderingExample]] = {}

    def example(self, example: OrderingExample) -> None:
        kept = self.examples.get(example.kind)
        if kept is None:
            kept = self.examples[example.kind] = deque(maxlen=EXAMPLES_PER_TOPIC)
        kept.append(example)


_First = tuple[int, int, str, int | None, float | None, bool]
"""An aggregate seen once: `_Part`'s arguments (partition, offset, event type, version, time,
key ok)."""


class _Part:
    """What one partition has shown of one aggregate. The first partition's `_Part` is the
    aggregate's entry; `others` holds the rest once the aggregate is split (rare)."""

    __slots__ = (
        "key_ok",
        "offset",
        "others",
        "partition",
        "time",
        "version",
        "version_type",
    )

    def __init__(
        self,
        partition: int,
        offset: int,
        event_type: str,
        version: int | None,
        time: float | None,
        key_ok: bool,
    ) -> None:
        self.partition = partition
        self.offset = offset
        """Offset of the first record of the aggregate on this partition."""
        self.version_type = event_type
        """The event type `version` belongs to: versions of different types don't compare."""
        self.version = version
        self.time = time
        self.key_ok = key_ok
        self.others: dict[int, _Part] | None = None


class OrderingTracker:
    """Per (topic, aggregate id): the partitions it was seen on, and per partition the highest
    version and the last event time read. See the module doc."""

    def __init__(self, *, max_aggregates: int, tolerance_ms: int) -> None:
        if max_aggregates < 1:
            raise ValueError("max_aggregates must be at least 1")
        self._max = max_aggregates
        self._tolerance_ms = tolerance_ms
        self._tolerance = tolerance_ms / 1000.0
        self._half = max(1, max_aggregates // 2)
        self._young: dict[str, dict[str, _Part | _First]] = {}
        """topic -> aggregate id -> its state, for aggregates seen since the last rotation."""
        self._young_count = 0
        self._old: dict[str, dict[str, _Part | _First]] = {}
        """The generation before: an aggregate seen again moves back to the young one."""
        self._topics: dict[str, _Topic] = {}
        self._partitions: dict[str, int] = {}
        self._changes: list[PartitionChange] = []
        self._changed_topics: set[str] = set()
        self._forgotten = 0

    def topic_partitions(self, topic: str, count: int, at: float) -> PartitionChange | None:
        """Record a topic's partition count (from the cluster's metadata); returns the change
        when it differs from the count seen before."""
        old = self._partitions.get(topic)
        self._partitions[topic] = count
        if old is None or old == count:
            return None
        change = PartitionChange(topic, old, count, at)
        self._changes.append(change)
        self._changed_topics.add(topic)
        return change

    def observe(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        aggregate_id: str | None,
        version: int | None,
        occurred_at: float | None,
        event_id: str,
        event_type: str,
        correlation_id: str | None,
    ) -> None:
        """Look at one event (records of a partition in offset order)."""
        if not aggregate_id:
            return
        stats = self._topics.get(topic)
        if stats is None:
            stats = self._topics[topic] = _Topic()
        stats.checked += 1
        if key is None:
            key_ok = False
            stats.missing_keys += 1
            if stats.missing_keys <= EXAMPLES_PER_TOPIC or stats.missing_keys % 100 == 0:
                where = (
                    topic,
                    partition,
                    offset,
                    aggregate_id,
                    event_id,
                    event_type,
                    correlation_id,
                )
                stats.example(_example(Finding.MISSING_KEY, where, "no key"))
        else:
            key_ok = key == aggregate_id.encode("utf-8", "surrogatepass")
            if not key_ok:
                stats.key_mismatches += 1
                if stats.key_mismatches <= EXAMPLES_PER_TOPIC or stats.key_mismatches % 100 == 0:
                    where = (
                        topic,
                        partition,
                        offset,
                        aggregate_id,
                        event_id,
                        event_type,
                        correlation_id,
                    )
                    stats.example(
                        _example(
                            Finding.KEY_MISMATCH, where, f"key {key.decode('utf-8', 'replace')!r}"
                        )
                    )
        young = self._young.get(topic)
        if young is None:
            young = self._young[topic] = {}
        held = young.get(aggregate_id)
        if held is None:
            old = self._old.get(topic)
            if old is not None:
                held = old.pop(aggregate_id, None)
            if held is None:  # a new aggregate: a tuple (a _Part costs 5x more to make)
                young[aggregate_id] = (partition, offset, event_type, version, occurred_at, key_ok)
                self._held()
                return
            young[aggregate_id] = held
            self._held()
        if isinstance(held, tuple):  # its second event: now it needs state that changes
            first = young[aggregate_id] = _Part(*held)
        else:
            first = held
        if first.partition == partition:
            part = first
        else:
            others = first.others
            if others is None:
                others = first.others = {}
            found = others.get(partition)
            if found is None:
                others[partition] = _Part(
                    partition, offset, event_type, version, occurred_at, key_ok
                )
                if len(others) == 1:
                    stats.split += 1
                where = (
                    topic,
                    partition,
                    offset,
                    aggregate_id,
                    event_id,
                    event_type,
                    correlation_id,
                )
                stats.example(_example(Finding.SPLIT, where, self._split_detail(topic, first)))
                return
            part = found
        detail = None
        same_type = event_type == part.version_type
        if (
            version is not None
            and part.version is not None
            and same_type
            and version < part.version
        ):
            detail = f"{event_type} version {version} after version {part.version}"
        elif (
            occurred_at is not None
            and part.time is not None
            and occurred_at < part.time - self._tolerance
        ):
            detail = f"occurred {part.time - occurred_at:.3f}s before the event read before it"
        if version is not None and (
            not same_type or part.version is None or version > part.version
        ):
            part.version = version
            part.version_type = event_type
        if occurred_at is not None and (part.time is None or occurred_at > part.time):
            part.time = occurred_at
        if detail is not None:
            stats.out_of_order += 1
            where = (topic, partition, offset, aggregate_id, event_id, event_type, correlation_id)
            stats.example(_example(Finding.OUT_OF_ORDER, where, detail))

    def observe_events(self, envs: Iterable[Envelope]) -> None:
        """`observe` of each event, in order. The usual event (keyed by its aggregate id, the
        first of its aggregate on its topic) is taken inline: a run of one topic looks the
        topic's state up once."""
        observe = self.observe
        last_topic: str | None = None
        stats: _Topic | None = None
        young: dict[str, _Part | _First] = {}
        old: dict[str, _Part | _First] | None = None
        for env in envs:
            aggregate_id = env.aggregate_id
            if not aggregate_id:
                continue
            record = env.record
            topic = record.topic
            key = record.key
            if topic is not last_topic or stats is None:
                last_topic = topic
                stats = self._topics.get(topic)
                young_topic = self._young.get(topic)
                if stats is None or young_topic is None:  # the first event of a topic
                    last_topic = None
                    observe(
                        topic,
                        record.partition,
                        record.offset,
                        key,
                        aggregate_id,
                        env.version,
                        env.occurred_at,
                        env.event_id,
                        env.event_type,
                        env.correlation_id,
                    )
                    continue
                young = young_topic
                old = self._old.get(topic)
            if (
                key is None
                or aggregate_id in young
                or (old is not None and aggregate_id in old)
                or key != aggregate_id.encode("utf-8", "surrogatepass")
            ):
                observe(
                    topic,
                    record.partition,
                    record.offset,
                    key,
                    aggregate_id,
                    env.version,
                    env.occurred_at,
                    env.event_id,
                    env.event_type,
                    env.correlation_id,
                )
                if self._young.get(topic) is not young:  # rotated
                    last_topic = None
                continue
            stats.checked += 1
            young[aggregate_id] = (
                record.partition,
                record.offset,
                env.event_type,
                env.version,
                env.occurred_at,
                True,
            )
            self._young_count += 1
            if self._young_count >= self._half:
                self._rotate()
                last_topic = None

    def _held(self) -> None:
        """One more aggregate in the young generation (rotate when it is full)."""
        self._young_count += 1
        if self._young_count >= self._half:
            self._rotate()

    def _rotate(self) -> None:
        """The young generation becomes the old one; what was still old is forgotten. Between
        `max_aggregates / 2` and `max_aggregates` aggregates stay tracked: an LRU in two
        generations, with plain dicts (an OrderedDict keyed by (topic, id) cost 0.8 µs per
        record, most of this tracker's time)."""
        self._forgotten += sum(len(aggs) for aggs in self._old.values())
        self._old = self._young
        self._young = {}
        self._young_count = 0

    def cause(self, topic: str, first: _Part) -> SplitCause:
        """Why an aggregate is on several partitions: a key that is not the aggregate id (or
        none), else a partition count change of the topic, else unknown."""
        parts = [first, *(first.others or {}).values()]
        if any(not p.key_ok for p in parts):
            return SplitCause.KEY_DIFFERS
        if topic in self._changed_topics:
            return SplitCause.PARTITIONS_CHANGED
        return SplitCause.UNKNOWN

    def _split_detail(self, topic: str, first: _Part) -> str:
        parts = sorted([first, *(first.others or {}).values()], key=lambda p: p.partition)
        firsts = ", ".join(f"p{p.partition} first at {p.offset}" for p in parts)
        return f"on partitions {firsts}; cause: {self.cause(topic, first)}"

    def view(self) -> OrderingView:
        topics = [
            TopicOrdering(
                topic,
                s.checked,
                s.key_mismatches,
                s.missing_keys,
                s.split,
                s.out_of_order,
                self._partitions.get(topic),
                tuple(e for kind in Finding for e in reversed(s.examples.get(kind, ()))),
            )
            for topic, s in self._topics.items()
        ]
        topics.sort(key=lambda t: (-t.findings, t.topic))
        return OrderingView(
            tuple(topics),
            tuple(self._changes),
            self._young_count + sum(len(aggs) for aggs in self._old.values()),
            self._max,
            self._forgotten,
            self._tolerance_ms,
        )
