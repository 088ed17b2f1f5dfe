"""Per-second rate counters and the throughput view."""

from __future__ import annotations

import pytest

from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord
from edamon.model.snapshot import ThroughputView, TopicThroughput
from edamon.model.throughput import RateCounter, Throughput

# ---- RateCounter -------------------------------------------------------------------------------


def test_counts_land_in_their_second() -> None:
    c = RateCounter(5)
    c.add(100.2)
    c.add(100.7)
    c.add(101.1, n=3)
    s = c.series(101.5, rate_span_s=1)
    assert s.history == (0, 0, 0, 2, 3)  # seconds 97..101
    assert s.total == 5
    assert s.rate == 2.0  # second 101 is still filling: the last complete one is 100


def test_window_wraps_and_old_seconds_fall_out() -> None:
    c = RateCounter(5)
    c.add(100.0)
    c.add(104.0)
    c.add(105.5, n=2)
    assert c.series(105.9).history == (0, 0, 0, 1, 2)  # seconds 101..105: 100 is gone
    c.add(100.5)  # older than the ring: only the total counts it
    s = c.series(105.9)
    assert (s.history, s.total) == ((0, 0, 0, 1, 2), 5)


def test_a_reused_bucket_starts_from_zero() -> None:
    c = RateCounter(5)
    c.add(100.0, n=7)
    c.add(105.0)  # same bucket as second 100 (105 % 5 == 100 % 5)
    assert c.series(105.0).history == (0, 0, 0, 0, 1)


def test_a_gap_longer_than_the_window_clears_everything() -> None:
    c = RateCounter(5)
    for second in range(100, 105):
        c.add(float(second), n=second - 99)
    c.add(300.0)
    s = c.series(300.0)
    assert (s.history, s.total) == ((0, 0, 0, 0, 1), 16)


def test_history_ends_at_now_even_when_nothing_came_since() -> None:
    c = RateCounter(5)
    c.add(100.0, n=4)
    assert c.series(102.0).history == (0, 0, 4, 0, 0)  # 98..102
    s = c.series(200.0)
    assert (s.history, s.rate, s.total) == ((0,) * 5, 0.0, 4)


def test_counts_after_now_are_clamped_into_the_newest_bucket() -> None:
    c = RateCounter(5)
    c.add(107.0, n=2)
    c.add(110.0, n=3)
    assert c.series(108.0).history == (0, 0, 0, 2, 3)  # 104..108, 110 folded into 108


def test_rate_is_the_mean_of_the_last_complete_seconds() -> None:
    c = RateCounter(10)
    for second, n in zip(range(95, 100), (1, 2, 3, 4, 5), strict=True):
        c.add(second + 0.5, n=n)
    c.add(100.1, n=50)  # the current second does not count
    assert c.series(100.5, rate_span_s=5).rate == 3.0
    assert c.series(100.5, rate_span_s=2).rate == 4.5
    assert c.series(100.5, rate_span_s=99).rate == 15 / 9  # capped at window - 1 seconds


def test_rate_counter_needs_two_seconds() -> None:
    with pytest.raises(ValueError):
        RateCounter(1)


# ---- Throughput --------------------------------------------------------------------------------

NOW = 1_800_000_000.0


def topic(view: ThroughputView, name: str) -> TopicThroughput:
    return next(row for row in view.topics if row.topic == name)


def test_counts_by_topic_by_arrival_and_by_record_timestamp() -> None:
    t = Throughput(window_s=60)
    for i in range(3):
        t.record("orders.OrderPlaced", "OrderPlaced", 2, NOW - 0.5, NOW - 30 + i * 0.1, False)
    t.record("orders.OrderPlaced", "OrderPlaced", 2, NOW - 0.5, NOW + 99, False)  # clock ahead
    view = t.view(NOW, {"orders.OrderPlaced": 3}, [])
    row = topic(view, "orders.OrderPlaced")
    assert (row.partitions, row.is_dlq, row.last_seen) == (3, False, NOW - 0.5)
    assert row.by_arrival.history[-2:] == (4, 0)
    assert row.by_arrival.total == 4
    assert row.by_arrival.rate == 4 / 5  # default span: 5 complete seconds
    assert row.by_timestamp.history[-31] == 3  # 30 s ago
    assert row.by_timestamp.history[-2] == 1  # the future timestamp counted at arrival
    assert row.by_timestamp.total == 4
    assert len(row.by_arrival.history) == len(row.by_timestamp.history) == 60


def test_event_types_with_schema_versions_and_dead_letters() -> None:
    t = Throughput(window_s=30)
    arrival = NOW - 1
    for version in (2, 1, 2, None, 2):
        t.record("orders.OrderPlaced", "OrderPlaced", version, arrival, arrival, False)
    t.record("payments.PaymentFailed", "PaymentFailed", 1, arrival, arrival, False)
    t.record("orders.OrderPlaced.DLT", "OrderPlaced", 2, arrival, arrival, True)
    t.record("orders.OrderPlaced.DLT", None, None, arrival, arrival, True)
    t.record("orders.raw", None, None, arrival, arrival, False)  # undecodable: no type

    view = t.view(NOW, {}, [])
    assert [(e.event_type, e.series.total, e.versions) for e in view.event_types] == [
        ("OrderPlaced", 5, ((None, 1), (1, 1), (2, 3))),  # dead letters are not counted again
        ("PaymentFailed", 1, ((1, 1),)),
    ]
    assert (view.events.total, view.events.history[-2]) == (7, 7)
    assert (view.dead_letters.total, view.dead_letters.history[-2]) == (2, 2)
    assert topic(view, "orders.OrderPlaced.DLT").is_dlq
    assert not topic(view, "orders.raw").is_dlq


def test_topics_sorted_by_rate_then_name_including_idle_ones() -> None:
    t = Throughput(window_s=30)
    for name, count in (("b", 2), ("a", 2), ("c", 5)):
        for _ in range(count):
            t.record(name, None, None, NOW - 1, NOW - 1, False)
    view = t.view(NOW, {"a": 1, "idle": 6, "idle.DLQ": 1}, ["idle.DLQ"])
    assert [row.topic for row in view.topics] == ["c", "a", "b", "idle", "idle.DLQ"]
    idle = topic(view, "idle")
    assert (idle.partitions, idle.last_seen, idle.by_arrival.total) == (6, None, 0)
    assert idle.by_arrival.history == (0,) * 30
    assert topic(view, "idle.DLQ").is_dlq
    assert topic(view, "b").partitions == 0  # counted but not (yet) in the metadata
    assert view.window_s == 30


def test_dlq_topics_argument_marks_a_counted_topic_as_dlq() -> None:
    t = Throughput(window_s=30)
    t.record("x.DLT", None, None, NOW - 1, NOW - 1, False)
    t.record("x", None, None, NOW - 1, NOW - 1, False)
    view = t.view(NOW, {}, ["x.DLT"])
    assert (view.events.total, view.dead_letters.total) == (1, 1)


def _event(topic: str, event_type: str, version: int | None, ts: float) -> Envelope:
    record = RawRecord(topic, 0, 0, int(ts * 1000), None, b"{}")
    return Envelope(
        f"e-{ts}", event_type, None, None, None, None, version, None, None,
        EnvelopeFormat.SEED, record,
    )  # fmt: skip


def test_record_events_counts_like_record() -> None:
    one, batch = Throughput(window_s=30), Throughput(window_s=30)
    arrival = NOW - 2.5
    events = [
        _event("orders", "OrderPlaced", 1, NOW - 20.0),
        _event("orders", "OrderPlaced", 2, NOW - 19.5),
        _event("orders", "OrderShipped", 1, NOW - 10.0),
        _event("payments", "OrderShipped", None, NOW - 9.0),
        _event("orders", "OrderPlaced", 2, NOW + 50.0),  # a clock ahead: counted at arrival
    ]
    for env in events:
        one.record(env.record.topic, env.event_type, env.version, arrival, env.time, False)
    batch.record_events(arrival, events)
    partitions = {"orders": 1, "payments": 1}
    assert one.view(NOW, partitions, []) == batch.view(NOW, partitions, [])
    assert topic(batch.view(NOW, partitions, []), "orders").last_record == arrival


def test_records_read_while_catching_up_count_when_they_were_written() -> None:
    """Read at once, 20 s of history lands in its own seconds by timestamp (the rate the
    system produced at), and all in the second it was read by arrival."""
    t = Throughput(window_s=60)
    events = [_event("orders", "OrderPlaced", 2, NOW - 20 + i * 0.5) for i in range(40)]
    t.record_events(NOW - 0.2, events)  # 2 events/s for 20 s, read in one go
    t.record("orders.DLT", "OrderPlaced", 2, NOW - 0.2, NOW - 15, True)
    view = t.view(NOW, {"orders": 1}, ["orders.DLT"])
    kind = view.event_types[0]
    assert kind.series.history[-2] == 40 and kind.series.rate == 40 / 5
    assert kind.by_timestamp.history[-21:-1] == (2,) * 20
    assert kind.by_timestamp.total == 40 and kind.by_timestamp.rate == 2.0
    assert view.events.rate == 8.0 and view.events_by_timestamp.rate == 2.0
    assert view.events_by_timestamp.history == kind.by_timestamp.history
    assert view.dead_letters_by_timestamp.history[-16] == 1
    assert view.dead_letters_by_timestamp.total == 1
    row = topic(view, "orders")
    assert row.last_seen == NOW - 0.2  # arrival
    assert row.last_record == NOW - 0.5  # the newest record, written just before it was read


def test_history_counts_as_arriving_when_it_was_written() -> None:
    """Read while catching up, 20 s of history lands in its seconds by arrival too: no burst
    of the read rate; then a live record with an old timestamp (MirrorMaker keeps the
    source's) counts when it arrives."""
    t = Throughput(window_s=60)
    history = [_event("orders", "OrderPlaced", 2, NOW - 20 + i * 0.5) for i in range(40)]
    t.record_history(NOW - 0.2, history)
    row = topic(t.view(NOW, {"orders": 1}, []), "orders")
    assert row.by_arrival.history[-21:-1] == (2,) * 20 and row.by_arrival.rate == 2.0
    assert row.by_arrival == row.by_timestamp
    assert row.last_seen == NOW - 0.5  # when the newest was written
    t.record_events(NOW + 0.5, [_event("orders", "OrderPlaced", 2, NOW - 3600)])
    row = topic(t.view(NOW + 1, {"orders": 1}, []), "orders")
    assert row.by_arrival.history[-2] == 1 and row.last_seen == NOW + 0.5
    assert row.by_timestamp.history[-2] == 0  # an hour old by its timestamp


def test_record_history_counts_like_record_at_the_time_written() -> None:
    """History counted a run at a time gives the counts of one `record` per event at its
    written time, whatever the order of times within a run, runs of several topics and types,
    times out of the window, and times after the arrival (counted at it)."""
    one, batch = Throughput(window_s=30), Throughput(window_s=30)
    arrival = NOW - 2.5
    times = [-20.0, -19.5, -45.0, -19.9, -3.0, -100.0, -3.2, 50.0, -2.9, -29.0, -31.0]
    events = [_event("orders", "OrderPlaced", 1 + i % 2, NOW + t) for i, t in enumerate(times)]
    events += [
        _event("orders", "OrderShipped", None, NOW - 10.0),
        _event("payments", "OrderShipped", 3, NOW - 9.0),
        _event("payments", "OrderShipped", 3, NOW - 1.0),
        _event("orders", "OrderPlaced", 2, NOW - 28.0),
    ]
    for env in events:
        written = min(env.record.timestamp_ms / 1000.0, arrival)
        one.record(env.record.topic, env.event_type, env.version, written, written, False)
    batch.record_history(arrival, events)
    partitions = {"orders": 1, "payments": 1}
    for now in (NOW, NOW + 20):
        assert one.view(now, partitions, []) == batch.view(now, partitions, [])
