"""Partition-key ordering findings (model/ordering.py): pure logic, no broker."""

from __future__ import annotations

import itertools

import pytest

from builders import BASE_MS, event_value
from edamon.broker.partitioner import key_partition
from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.model.ordering import (
    EXAMPLES_PER_TOPIC,
    Finding,
    OrderingTracker,
    SplitCause,
    TopicOrdering,
)
from edamon.model.records import RawRecord

TOPIC = "orders.events"


class Feed:
    """Feeds events to a tracker as a producer would write them: one offset counter per
    partition, the partition picked by the caller."""

    def __init__(self, tracker: OrderingTracker) -> None:
        self.tracker = tracker
        self.offsets: dict[int, itertools.count[int]] = {}
        self.ids = itertools.count()

    def send(
        self,
        partition: int,
        key: bytes | None,
        aggregate: str,
        *,
        version: int | None = None,
        at: float | None = None,
        topic: str = TOPIC,
    ) -> str:
        offset = next(self.offsets.setdefault(partition, itertools.count()))
        event_id = f"e{next(self.ids)}"
        self.tracker.observe(
            topic, partition, offset, key, aggregate, version, at, event_id, "Thing", "c-1"
        )
        return f"{topic}/{partition}/{offset}"


def topic_view(tracker: OrderingTracker, topic: str = TOPIC) -> TopicOrdering:
    (found,) = [t for t in tracker.view().topics if t.topic == topic]
    return found


def test_a_correctly_keyed_stream_gives_no_findings() -> None:
    tracker = OrderingTracker(max_aggregates=100_000, tolerance_ms=0)
    feed = Feed(tracker)
    tracker.topic_partitions(TOPIC, 3, 0.0)
    versions: dict[str, int] = {}
    for i in range(10_000):
        aggregate = f"order-{i % 700}"
        key = aggregate.encode()
        versions[aggregate] = versions.get(aggregate, 0) + 1
        feed.send(key_partition(key, 3), key, aggregate, version=versions[aggregate], at=i / 10)
    t = topic_view(tracker)
    assert t.checked == 10_000
    assert (t.key_mismatches, t.missing_keys, t.split_aggregates, t.out_of_order) == (0, 0, 0, 0)
    assert t.examples == ()
    assert tracker.view().tracked == 700


def test_keying_by_event_id_gives_key_mismatches_and_split_aggregates() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    # order-1's three events keyed by their event ids land on partitions 0, 2 and 1
    first = feed.send(0, b"evt-a", "order-1", version=1)
    feed.send(2, b"evt-b", "order-1", version=2)
    feed.send(1, b"evt-c", "order-1", version=3)
    t = topic_view(tracker)
    assert t.key_mismatches == 3
    assert t.split_aggregates == 1  # one aggregate, however many partitions
    splits = [e for e in t.examples if e.kind is Finding.SPLIT]
    assert [e.coords for e in splits] == [f"{TOPIC}/1/0", f"{TOPIC}/2/0"]  # newest first
    assert str(SplitCause.KEY_DIFFERS) in splits[0].detail
    assert f"p0 first at {first.rpartition('/')[2]}" in splits[0].detail
    mismatch = next(e for e in t.examples if e.kind is Finding.KEY_MISMATCH)
    assert "evt-c" in mismatch.detail


def test_a_missing_key_counts_separately_from_a_wrong_one() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    feed.send(0, None, "order-1")
    feed.send(0, b"order-2", "order-2")
    feed.send(0, b"wrong", "order-3")
    t = topic_view(tracker)
    assert (t.missing_keys, t.key_mismatches) == (1, 1)


def test_a_raised_partition_count_is_named_as_the_cause_of_a_split() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    key = b"order-1"
    assert tracker.topic_partitions(TOPIC, 3, 100.0) is None  # first sight: no change
    feed.send(key_partition(key, 3), key, "order-1", version=1)
    change = tracker.topic_partitions(TOPIC, 8, 200.0)
    assert change is not None
    assert (change.old, change.new, change.at) == (3, 8, 200.0)
    assert key_partition(key, 8) != key_partition(key, 3)  # the premise of the test
    feed.send(key_partition(key, 8), key, "order-1", version=2)
    t = topic_view(tracker)
    assert t.split_aggregates == 1
    assert t.key_mismatches == 0
    (split,) = [e for e in t.examples if e.kind is Finding.SPLIT]
    assert split.detail.endswith(f"cause: {SplitCause.PARTITIONS_CHANGED}")
    assert tracker.view().partition_changes == (change,)


def test_a_split_without_a_known_reason_says_unknown() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    feed.send(0, b"order-1", "order-1")
    feed.send(1, b"order-1", "order-1")  # a custom partitioner, say
    (split,) = [e for e in topic_view(tracker).examples if e.kind is Finding.SPLIT]
    assert split.detail.endswith(f"cause: {SplitCause.UNKNOWN}")


def test_an_old_version_reproduced_after_newer_ones_is_out_of_order() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    for version in (1, 2, 3):
        feed.send(0, b"order-1", "order-1", version=version, at=float(version))
    late = feed.send(0, b"order-1", "order-1", version=2, at=2.0)  # a retry path re-sends v2
    t = topic_view(tracker)
    assert t.out_of_order == 1
    (found,) = [e for e in t.examples if e.kind is Finding.OUT_OF_ORDER]
    assert found.coords == late
    assert found.detail == "Thing version 2 after version 3"


def test_versions_of_different_event_types_do_not_compare() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    tracker.observe(TOPIC, 0, 0, b"o", "o", 2, 1.0, "e1", "OrderPlaced", None)
    tracker.observe(TOPIC, 0, 1, b"o", "o", 1, 2.0, "e2", "OrderShipped", None)  # its own v1
    tracker.observe(TOPIC, 0, 2, b"o", "o", 1, 3.0, "e3", "OrderShipped", None)
    assert topic_view(tracker).out_of_order == 0
    tracker.observe(TOPIC, 0, 3, b"o", "o", 3, 4.0, "e4", "OrderShipped", None)
    tracker.observe(TOPIC, 0, 4, b"o", "o", 2, 5.0, "e5", "OrderShipped", None)  # 2 after 3
    assert topic_view(tracker).out_of_order == 1


@pytest.mark.parametrize(
    ("earlier_by_s", "tolerance_ms", "flagged"),
    [(0.5, 1000, False), (1.0, 1000, False), (1.001, 1000, True), (0.001, 0, True)],
)
def test_event_time_going_backwards_is_flagged_beyond_the_tolerance(
    earlier_by_s: float, tolerance_ms: int, flagged: bool
) -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=tolerance_ms)
    feed = Feed(tracker)
    feed.send(0, b"order-1", "order-1", at=100.0)
    feed.send(0, b"order-1", "order-1", at=100.0 - earlier_by_s)
    assert topic_view(tracker).out_of_order == (1 if flagged else 0)


def test_each_partition_of_a_split_aggregate_is_ordered_on_its_own() -> None:
    tracker = OrderingTracker(max_aggregates=1000, tolerance_ms=0)
    feed = Feed(tracker)
    feed.send(0, b"x", "order-1", version=5)
    feed.send(1, b"x", "order-1", version=1)  # another partition: not "out of order"
    feed.send(1, b"x", "order-1", version=2)
    assert topic_view(tracker).out_of_order == 0


def test_the_aggregate_state_is_bounded_and_says_what_it_forgot() -> None:
    tracker = OrderingTracker(max_aggregates=10, tolerance_ms=0)
    feed = Feed(tracker)
    for i in range(100):
        feed.send(0, f"order-{i}".encode(), f"order-{i}", version=1)
    view = tracker.view()
    assert view.max_aggregates == 10
    assert 5 <= view.tracked <= 10
    assert view.tracked + view.forgotten == 100
    # order-0 was forgotten: its next event on another partition starts afresh (no split)
    feed.send(1, b"order-0", "order-0", version=2)
    assert topic_view(tracker).split_aggregates == 0
    # order-99 is still tracked (most recently used): a split of it is seen
    feed.send(1, b"order-99", "order-99", version=2)
    assert topic_view(tracker).split_aggregates == 1


def test_examples_are_bounded_per_kind() -> None:
    tracker = OrderingTracker(max_aggregates=100_000, tolerance_ms=0)
    feed = Feed(tracker)
    for i in range(1000):
        feed.send(0, None, f"order-{i}")
    t = topic_view(tracker)
    assert t.missing_keys == 1000
    kept = [e for e in t.examples if e.kind is Finding.MISSING_KEY]
    assert len(kept) == EXAMPLES_PER_TOPIC


def test_events_without_an_aggregate_id_are_not_checked() -> None:
    tracker = OrderingTracker(max_aggregates=10, tolerance_ms=0)
    tracker.observe(TOPIC, 0, 0, None, None, None, None, "e1", "Thing", None)
    assert tracker.view().topics == ()


def test_topics_with_findings_come_first() -> None:
    tracker = OrderingTracker(max_aggregates=100, tolerance_ms=0)
    feed = Feed(tracker)
    feed.send(0, b"a", "a", topic="a.clean")
    feed.send(0, None, "b", topic="z.broken")
    assert [t.topic for t in tracker.view().topics] == ["z.broken", "a.clean"]


def _record(
    partition: int, offset: int, key: bytes | None, aggregate: str, version: int, event_id: str = ""
) -> RawRecord:
    return RawRecord(
        "orders.events",
        partition,
        offset,
        BASE_MS + offset,
        key,
        event_value(
            event_id or f"e-{partition}-{offset}",
            "Thing",
            "c-1",
            aggregate_id=aggregate,
            version=version,
        ),
    )


def test_the_collector_state_reports_findings_and_partition_changes() -> None:
    state = CollectorState(Settings(), cluster="test")
    now = BASE_MS / 1000
    state.set_partitions({"orders.events": 2}, now)
    state.ingest(
        [
            _record(0, 0, b"order-1", "order-1", 1),
            _record(0, 1, b"order-1", "order-1", 2),
            _record(0, 2, b"order-1", "order-1", 1),  # re-produced v1: out of order
            _record(1, 0, b"evt-9", "order-1", 3, "evt-9"),  # keyed by something else: split
            _record(1, 1, b"evt-9", "order-1", 3, "evt-9"),  # delivered twice: looked at once
        ],
        now,
    )
    state.set_partitions({"orders.events": 4}, now + 1)
    snap = state.snapshot(now + 2)
    assert snap.ordering is not None
    (topic,) = snap.ordering.topics
    assert (topic.checked, topic.out_of_order, topic.split_aggregates, topic.key_mismatches) == (
        4,
        1,
        1,
        1,
    )
    assert topic.partitions == 4
    assert [(c.old, c.new) for c in snap.ordering.partition_changes] == [(2, 4)]
    assert any("partitions 2 → 4" in notice for notice in snap.notices)


def test_ordering_can_be_switched_off() -> None:
    settings = Settings()
    settings.ordering.enabled = False
    state = CollectorState(settings, cluster="test")
    state.ingest([_record(0, 0, None, "order-1", 1)], 0.0)
    assert state.snapshot(1.0).ordering is None
