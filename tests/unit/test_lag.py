"""Consumer lag: kafka-lag-exporter's offset/time table, Burrow's window, the trackers."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from edamon.model.lag import (
    BurrowWindow,
    EndTables,
    GroupLagTracker,
    OffsetTimeTable,
    PartitionLagTracker,
    group_status,
    partition_order,
)
from edamon.model.records import TP
from edamon.model.snapshot import GroupLag, PartitionLag
from edamon.model.status import GroupStatus, PartitionStatus
from edamon.service.paging import page

S = PartitionStatus

# ---- OffsetTimeTable ---------------------------------------------------------------------------


def table(*points: tuple[int, float], size: int = 60) -> OffsetTimeTable:
    t = OffsetTimeTable(size)
    for offset, time in points:
        t.add(offset, time)
    return t


def test_interpolates_between_adjacent_points() -> None:
    t = table((100, 10.0), (200, 20.0), (400, 30.0))
    assert t.time_of(150) == 15.0
    assert t.time_of(300) == 25.0
    assert t.lag_seconds(300, now=40.0) == 15.0
    assert t.lag_seconds(150, now=40.0) == 25.0


def test_newest_pair_wins_when_an_offset_sits_in_two_pairs() -> None:
    # The end sat at 200 from t=20 to t=30: a consumer at 200 is where producers were at 30.
    t = table((100, 10.0), (200, 20.0), (200, 30.0), (300, 40.0))
    assert t.time_of(200) == 30.0
    assert t.lag_seconds(200, now=50.0) == 20.0


def test_committed_at_or_past_the_newest_end_is_zero_lag() -> None:
    t = table((100, 10.0), (200, 20.0))
    assert t.lag_seconds(200, now=99.0) == 0.0
    assert t.lag_seconds(250, now=99.0) == 0.0


def test_flat_stretches_collapse_to_one_segment() -> None:
    t = table((100, 10.0), (100, 20.0))
    assert t.points() == ((100, 10.0), (100, 20.0))  # two equal points are kept
    t.add(100, 30.0)
    t.add(100, 40.0)
    assert t.points() == ((100, 10.0), (100, 40.0))  # the right end moves out
    t.add(150, 50.0)
    assert t.points() == ((100, 10.0), (100, 40.0), (150, 50.0))


def test_ignores_points_that_are_not_newer_or_go_down() -> None:
    t = table((100, 10.0), (200, 20.0))
    t.add(300, 20.0)  # same time
    t.add(300, 15.0)  # older
    t.add(150, 25.0)  # lower offset
    assert t.points() == ((100, 10.0), (200, 20.0))


def test_keeps_at_most_max_points() -> None:
    t = table((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), size=3)
    assert t.points() == ((2, 2.0), (3, 3.0), (4, 4.0))


def test_extrapolates_from_oldest_and_newest_point() -> None:
    t = table((100, 10.0), (200, 20.0), (400, 25.0))
    # before the table: the line through (100, 10) and (400, 25), slope 0.05 s/offset
    assert t.time_of(0) == 5.0
    assert t.lag_seconds(0, now=30.0) == 25.0


def test_fewer_than_two_points_is_unknown() -> None:
    empty = OffsetTimeTable()
    assert empty.time_of(5) is None
    assert empty.lag_seconds(5, now=10.0) is None
    one = table((100, 10.0))
    assert one.time_of(50) is None
    assert one.lag_seconds(50, now=20.0) is None
    assert one.lag_seconds(100, now=20.0) == 0.0  # at the newest offset: no lag at all


def test_flat_table_guard_has_no_division_by_zero() -> None:
    t = table((100, 10.0), (100, 20.0))
    assert t.time_of(50) == 10.0  # behind a flat table: at least since its oldest point
    assert t.lag_seconds(50, now=30.0) == 20.0


def test_lag_seconds_is_never_negative() -> None:
    t = table((100, 10.0), (200, 20.0))
    assert t.time_of(150) == 15.0
    assert t.lag_seconds(150, now=12.0) == 0.0


def test_table_needs_two_points() -> None:
    with pytest.raises(ValueError):
        OffsetTimeTable(1)


# ---- BurrowWindow ------------------------------------------------------------------------------


def window(samples: list[tuple[int, int, float]], size: int = 10) -> BurrowWindow:
    w = BurrowWindow(size)
    for committed, end, t in samples:
        w.add(committed, end, t)
    return w


def test_zero_lag_is_ok_even_without_history() -> None:
    assert BurrowWindow().evaluate(now=0.0, current_lag=0) is S.OK
    assert window([(100, 100, 0.0)]).evaluate(1.0, current_lag=0) is S.OK


def test_lag_within_allowed_is_ok() -> None:
    w = window([(100, 200, 0.0), (110, 220, 10.0), (120, 240, 20.0)])
    assert w.evaluate(21.0, current_lag=120) is S.WARN
    assert w.evaluate(21.0, current_lag=120, allowed_lag=120) is S.OK


def test_too_few_samples_is_unknown() -> None:
    assert BurrowWindow().evaluate(now=0.0, current_lag=5) is S.UNKNOWN
    assert window([(100, 150, 0.0)]).evaluate(1.0, current_lag=50) is S.UNKNOWN


def test_repeated_offsets_are_one_entry() -> None:
    w = window([(100, 150, 0.0), (100, 160, 5.0), (200, 250, 10.0), (200, 260, 15.0)])
    assert w.offsets() == (100, 200)


def test_keeping_up_with_some_lag_is_ok() -> None:
    # lag goes up and down between commits: rule 4's "never decreases" fails, so OK
    w = window([(100, 150, 0.0), (200, 230, 10.0), (300, 340, 20.0)])
    assert w.evaluate(21.0, current_lag=40) is S.OK


def test_committing_steadily_but_falling_behind_is_warn() -> None:
    w = window([(100, 200, 0.0), (200, 320, 10.0), (300, 440, 20.0)])
    assert w.evaluate(25.0, current_lag=140) is S.WARN


def test_a_caught_up_entry_in_the_window_prevents_warn() -> None:
    w = window([(100, 100, 0.0), (200, 320, 10.0), (300, 440, 20.0)])
    assert w.evaluate(25.0, current_lag=140) is S.OK


def stopped_consumer(size: int = 3) -> BurrowWindow:
    """Commits 100, 200, 300 at t=0, 10, 20, then stands still at 300 while the topic grows."""
    return window(
        [
            (100, 150, 0.0),
            (200, 250, 10.0),
            (300, 350, 20.0),
            (300, 400, 30.0),
            (300, 450, 40.0),
            (300, 500, 50.0),
        ],
        size,
    )


def test_stopped_consumer_is_stop_once_silent_longer_than_the_window_spans() -> None:
    w = stopped_consumer()
    assert w.offsets() == (100, 200, 300)
    assert w.evaluate(40.0, current_lag=200) is S.WARN  # silent 20 s, window spans 20 s
    assert w.evaluate(50.0, current_lag=200) is S.STOP  # silent 30 s > 20 s


def test_stop_is_suppressed_by_a_recent_catch_up() -> None:
    samples = [
        (100, 150, 0.0),
        (200, 250, 10.0),
        (300, 300, 20.0),  # caught up
        (300, 320, 30.0),
        (300, 340, 40.0),
    ]
    w = window(samples, size=3)
    assert w.evaluate(45.0, current_lag=40) is S.OK  # recent ends include 300 <= 300
    w.add(300, 360, 50.0)  # the catch-up leaves the last 3 samples
    assert w.evaluate(50.0, current_lag=60) is S.STOP


def test_rewind_without_recovery_is_rewind() -> None:
    samples = [(100, 400, 0.0), (200, 400, 10.0), (300, 400, 20.0), (150, 400, 30.0)]
    w = window(samples)
    assert w.evaluate(31.0, current_lag=250) is S.REWIND
    w.add(250, 400, 40.0)
    assert w.evaluate(41.0, current_lag=150) is S.REWIND  # still below 300
    w.add(320, 400, 50.0)
    assert w.evaluate(51.0, current_lag=80) is S.OK  # back past 300: recovered


def test_rewind_anywhere_in_the_window_counts() -> None:
    w = window([(500, 900, 0.0), (100, 900, 10.0), (200, 900, 20.0), (300, 900, 30.0)])
    assert w.evaluate(31.0, current_lag=600) is S.REWIND


def _literal_rewind(offsets: list[int]) -> bool:
    """Conventions §3, word for word: a drop that nothing later gets back above."""
    return any(
        offsets[i] < offsets[i - 1] and max(offsets[i:]) < offsets[i - 1]
        for i in range(1, len(offsets))
    )


@given(st.lists(st.integers(0, 6), min_size=2, max_size=8))
def test_rewind_matches_the_rule_as_written(raw: list[int]) -> None:
    offsets = [o for i, o in enumerate(raw) if i == 0 or o != raw[i - 1]]  # each one a commit
    assume(len(offsets) >= 2)
    w = window([(o, 1000, float(10 * i)) for i, o in enumerate(offsets)])
    assert list(w.offsets()) == offsets
    now = 10.0 * (len(offsets) - 1)  # just committed: never STOP
    status = w.evaluate(now, current_lag=1000 - offsets[-1])
    assert (status is S.REWIND) == _literal_rewind(offsets)


def test_never_moving_consumer_is_stall_once_the_window_is_full() -> None:
    w = window([(100, 200, 0.0), (100, 210, 5.0)], size=3)
    assert w.evaluate(5.0, current_lag=110) is S.UNKNOWN  # may just commit rarely
    w.add(100, 220, 10.0)
    assert w.evaluate(10.0, current_lag=120) is S.STALL


def test_never_moving_consumer_that_was_caught_up_becomes_stall() -> None:
    w = window([(100, 100, 0.0), (100, 110, 5.0), (100, 120, 10.0)], size=3)
    assert w.evaluate(10.0, current_lag=20) is S.OK  # the caught-up sample is in the window
    w.add(100, 130, 15.0)
    assert w.evaluate(15.0, current_lag=30) is S.STALL


def test_stall_and_stop_need_lag() -> None:
    w = window([(100, 100, 0.0), (100, 100, 5.0), (100, 100, 10.0)], size=3)
    assert w.evaluate(100.0, current_lag=0) is S.OK


def test_window_needs_two_entries() -> None:
    with pytest.raises(ValueError):
        BurrowWindow(1)


# ---- group status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], (GroupStatus.UNKNOWN, S.UNKNOWN)),
        ([S.UNKNOWN, S.UNKNOWN], (GroupStatus.UNKNOWN, S.UNKNOWN)),
        ([S.UNKNOWN, S.OK], (GroupStatus.OK, S.OK)),
        ([S.OK, S.NO_COMMIT, S.OK], (GroupStatus.OK, S.NO_COMMIT)),
        ([S.NO_COMMIT], (GroupStatus.OK, S.NO_COMMIT)),
        ([S.OK, S.WARN, S.NO_COMMIT], (GroupStatus.WARN, S.WARN)),
        ([S.WARN, S.STALL, S.OK], (GroupStatus.ERR, S.STALL)),
        ([S.STALL, S.REWIND], (GroupStatus.ERR, S.REWIND)),
        ([S.REWIND, S.STOP, S.STALL, S.WARN], (GroupStatus.ERR, S.STOP)),
    ],
)
def test_group_status_is_the_worst_partition(
    statuses: list[PartitionStatus], expected: tuple[GroupStatus, PartitionStatus]
) -> None:
    assert group_status(statuses) == expected
    assert group_status(reversed(statuses)) == expected


# ---- trackers ----------------------------------------------------------------------------------


def test_partition_tracker_without_commit() -> None:
    p = PartitionLagTracker(window=3, table_points=10, trend_points=5)
    p.observe(None, 50, 0.0)
    p.observe(-1, 60, 10.0)  # Kafka's "no offset"
    row = p.view("orders", 1, now=10.0)
    assert (row.committed, row.end, row.lag, row.lag_seconds) == (None, 60, None, None)
    assert row.status is S.NO_COMMIT
    assert row.trend == ()


def test_partition_tracker_commit_ahead_of_end_is_zero_lag() -> None:
    p = PartitionLagTracker(window=3, table_points=10, trend_points=5)
    p.observe(105, 100, 0.0)  # the end was read before the commit
    row = p.view("orders", 0, now=0.0, member="c-1")
    assert (row.lag, row.lag_seconds, row.status, row.member) == (0, 0.0, S.OK, "c-1")


def test_partition_tracker_trend_is_bounded() -> None:
    p = PartitionLagTracker(window=3, table_points=10, trend_points=3)
    for i in range(5):
        p.observe(100, 100 + 10 * i, float(i))
    assert p.view("t", 0, now=4.0).trend == (20, 30, 40)


O0, O1, P0 = TP("orders", 0), TP("orders", 1), TP("payments", 0)


def test_group_tracker_end_to_end() -> None:
    g = GroupLagTracker(window=3, table_points=10, trend_points=10)
    script = [  # (time, end offset of orders/0, committed on orders/0)
        (0.0, 100, 100),
        (10.0, 200, 150),
        (20.0, 300, 200),
    ]
    for t, end, committed in script:
        g.observe({O0: committed}, {O0: end, O1: 50, P0: 999}, t)

    view = g.view("billing", "Stable", 2, now=20.0, member_of={O0: "consumer-1"})
    assert view.topics == ("orders",)  # no commits on payments: not this group's topic
    # not-OK rows first: NO COMMIT before OK
    assert [(r.topic, r.partition) for r in view.partitions] == [("orders", 1), ("orders", 0)]
    o1, o0 = view.partitions
    assert (o0.committed, o0.end, o0.lag, o0.member) == (200, 300, 100, "consumer-1")
    # the end was at 200 at t=10: the consumer at 200 is 10 s behind at t=20
    assert o0.lag_seconds == 10.0
    assert o0.trend == (0, 50, 100)
    assert o0.status is S.OK  # the window holds a caught-up entry (lag 0 at t=0)
    assert (o1.committed, o1.end, o1.lag, o1.status, o1.member) == (
        None,
        50,
        None,
        S.NO_COMMIT,
        None,
    )
    assert (view.status, view.worst) == (GroupStatus.OK, S.NO_COMMIT)
    assert (view.total_lag, view.max_lag_seconds, view.trend) == (100, 10.0, (0, 50, 100))
    assert (view.group, view.state, view.members) == ("billing", "Stable", 2)

    # falling behind: the window (3 entries) now holds lags 50, 100, 150
    g.observe({O0: 250}, {O0: 400, O1: 50}, 30.0)
    view = g.view("billing", "Stable", 2, now=30.0)
    assert (view.status, view.worst, view.total_lag) == (GroupStatus.WARN, S.WARN, 150)
    assert view.partitions[0].lag_seconds == 15.0  # end was at 250 at t=15 (WARN row first)

    # stops at 250 while the topic grows
    for t, end in ((40.0, 500), (50.0, 600), (60.0, 700)):
        g.observe({O0: 250}, {O0: end, O1: 50}, t)
        assert g.view("billing", "Stable", 2, now=t).worst is (S.STOP if t == 60.0 else S.WARN)
    view = g.view("billing", "Empty", 0, now=60.0)
    assert (view.status, view.worst, view.total_lag) == (GroupStatus.ERR, S.STOP, 450)
    assert view.max_lag_seconds == 45.0
    assert view.trend == (0, 50, 100, 150, 250, 350, 450)

    # the group's offsets on orders are deleted: its partitions go with them
    g.observe({}, {O0: 800, O1: 50}, 70.0)
    view = g.view("billing", "Empty", 0, now=70.0)
    assert (view.partitions, view.topics, view.total_lag) == ((), (), 0)
    assert (view.status, view.worst, view.max_lag_seconds) == (GroupStatus.UNKNOWN, S.UNKNOWN, None)


def test_group_tracker_keeps_a_partition_whose_end_is_missing_this_round() -> None:
    g = GroupLagTracker(window=3, table_points=10, trend_points=10)
    g.observe({O0: 10, O1: 20}, {O0: 15, O1: 30}, 0.0)
    g.observe({O0: 12, O1: 20}, {O0: 18}, 5.0)
    rows = g.view("g", "Stable", 1, now=5.0).partitions
    assert [(r.partition, r.committed, r.end, r.lag) for r in rows] == [
        (0, 12, 18, 6),
        (1, 20, 30, 10),
    ]


def test_group_tracker_rows_follow_commits_on_known_topics() -> None:
    counts = {"orders": 3}
    g = GroupLagTracker(window=3, table_points=10, trend_points=10)
    ends = {O0: 10, O1: 20, TP("orders", 2): 30}
    g.observe({O0: 5}, ends, 0.0, counts)
    g.observe({O0: 6}, ends, 1.0, counts)  # same partitions: only the ends are read again

    def rows() -> list[tuple[int, int | None, int | None]]:  # by partition (not-OK come first)
        view = g.view("g", "Stable", 1, 2.0)
        return sorted((r.partition, r.committed, r.end) for r in view.partitions)

    assert rows() == [(0, 6, 10), (1, None, 20), (2, None, 30)]
    g.observe({O0: 6, O1: 15}, {**ends, O1: 25}, 2.0, counts)  # orders/1 gets a commit
    assert rows() == [(0, 6, 10), (1, 15, 25), (2, None, 30)]
    g.observe({O1: 16}, ends, 3.0, counts)  # orders/0's commit is gone
    assert rows() == [(0, None, 10), (1, 16, 20), (2, None, 30)]
    g.observe({O1: 16}, ends, 4.0, {"orders": 4})  # the topic grew
    assert sorted(r.partition for r in g.view("g", "Stable", 1, 4.0).partitions) == [0, 1, 2, 3]
    assert len(g) == 1  # history kept only for the committed partition


# ---- the group tracker's arrays against one PartitionLagTracker per partition ------------------

_PARTS = (O0, O1, P0)


@st.composite
def samples(draw: st.DrawFn) -> list[tuple[float, dict[TP, int], dict[TP, int]]]:
    """A script of samples: time, committed and end offsets of the same partitions each time
    (ends never go down; commits move up, stay, jump back, or sit ahead of the end)."""
    count = draw(st.integers(2, 24))
    parts = _PARTS[: draw(st.integers(1, len(_PARTS)))]
    t = 0.0
    ends = dict.fromkeys(parts, draw(st.integers(0, 50)))
    committed = {tp: draw(st.integers(0, ends[tp])) for tp in parts}
    script = []
    for _ in range(count):
        t += draw(st.sampled_from([0.5, 1.0, 1.0, 2.5, 7.0]))
        ends = {tp: end + draw(st.sampled_from([0, 0, 1, 10, 40])) for tp, end in ends.items()}
        moves = st.sampled_from(["stay", "stay", "up", "catch-up", "back", "ahead"])
        for tp in parts:
            move = draw(moves)
            if move == "up":
                committed[tp] = min(ends[tp], committed[tp] + draw(st.integers(1, 30)))
            elif move == "catch-up":
                committed[tp] = ends[tp]
            elif move == "back":
                committed[tp] = max(0, committed[tp] - draw(st.integers(1, 20)))
            elif move == "ahead":
                committed[tp] = ends[tp] + 3
        script.append((t, dict(committed), dict(ends)))
    return script


@given(samples(), st.sampled_from([0, 5]))
def test_group_tracker_matches_a_partition_tracker_per_partition(
    script: list[tuple[float, dict[TP, int], dict[TP, int]]], allowed: int
) -> None:
    """Slots in arrays, the partition's shared ring of recent ends, the lag seconds kept
    between samples and the inlined rules give what one `PartitionLagTracker` per partition
    gives, sample after sample, when every partition is read at every sample."""
    group = GroupLagTracker(window=4, table_points=6, trend_points=30)
    single = {tp: PartitionLagTracker(window=4, table_points=6, trend_points=30) for tp in _PARTS}
    for t, committed, ends in script:
        group.observe(committed, ends, t)
        for tp in committed:
            single[tp].observe(committed[tp], ends[tp], t)
        view = group.view("g", "Stable", 1, t, allowed)
        rows = {(r.topic, r.partition): r for r in view.partitions}
        for tp in committed:
            want = single[tp].view(tp.topic, tp.partition, t, allowed)
            got = rows[(tp.topic, tp.partition)]
            assert (got.committed, got.end, got.lag, got.status, got.trend) == (
                want.committed,
                want.end,
                want.lag,
                want.status,
                want.trend,
            ), (tp, t)
            assert got.lag_seconds == pytest.approx(want.lag_seconds, abs=1e-6), (tp, t)


@given(samples())
def test_a_views_rows_built_later_are_as_of_its_sample(
    script: list[tuple[float, dict[TP, int], dict[TP, int]]],
) -> None:
    """Rows are built when first read, from what the view kept of its own sample: reading them
    after more samples gives the rows read at once (the trend cut to the points still kept)."""
    trend_points = 8
    group = GroupLagTracker(window=3, table_points=10, trend_points=trend_points)
    kept = []
    for t, committed, ends in script:
        group.observe(committed, ends, t)
        now = group.view("g", "Stable", 1, t, 0).partitions
        kept.append((now, group.view("g", "Stable", 1, t, 0), len(kept)))
    for read_at_once, later, index in kept:
        late = later.partitions
        passed = len(kept) - 1 - index  # samples taken since this view
        assert len(late) == len(read_at_once)
        for got, want in zip(late, read_at_once, strict=True):
            assert got.trend == want.trend[max(0, passed - (trend_points - len(want.trend))) :]
            assert (got.committed, got.end, got.lag, got.lag_seconds, got.status) == (
                want.committed,
                want.end,
                want.lag,
                want.lag_seconds,
                want.status,
            )


def test_a_trackers_view_pages_and_serialises_like_any_group_row() -> None:
    """The view's partition rows are built when first read; paging (filter, order), dataclass
    JSON and the service's pydantic JSON read them like any GroupLag's."""
    g = GroupLagTracker(window=3, table_points=10, trend_points=10)
    g.observe({O0: 5}, {O0: 10, O1: 20}, 1.0)
    view = g.view("billing", "Stable", 1, 1.0)
    assert isinstance(view, GroupLag)
    found = page([view], GroupLag, filter="BILL", order="-total_lag")
    assert [row.group for row in found.items] == ["billing"]
    assert page([view], GroupLag, filter="stable").total == 1
    rows = asdict(view)["partitions"]
    assert [(r["partition"], r["committed"], r["end"]) for r in rows] == [(1, None, 20), (0, 5, 10)]
    dumped = TypeAdapter(GroupLag).dump_python(view, mode="json")
    assert [p["lag"] for p in dumped["partitions"]] == [None, 5]
    assert view == g.view("billing", "Stable", 1, 1.0)


# ---- a slow consumer's growing lag, sampled (the demo's slow group) ---------------------------


def slow_consumer_samples() -> list[tuple[float, int, int]]:
    """(time, end, committed) every 2 s: caught up and moving at every sample until t=18, then
    slow from t=20: the end grows by 1-2 records a sample while the committed offset moves
    about every 5 s, so the lag at each move is 1, 4, 7, 9, 12 (as measured in `edamon demo`)."""
    caught_up = [(float(t), t // 2, t // 2) for t in range(0, 20, 2)]
    ends = [11, 12, 14, 15, 16, 18, 19, 20, 22, 23, 24, 26, 27]
    committed = [10, 10, 10, 11, 11, 11, 12, 12, 13, 13, 13, 14, 14]
    slow = [(20.0 + 2 * i, e, c) for i, (e, c) in enumerate(zip(ends, committed, strict=True))]
    return caught_up + slow


def statuses_of(window: int, caught_up_samples: int = 10) -> dict[float, PartitionStatus]:
    g = GroupLagTracker(window=window, tables=EndTables(60, caught_up_samples))
    out = {}
    for t, end, committed in slow_consumer_samples():
        g.observe({O0: committed}, {O0: end}, t)
        out[t] = g.view("shipping", "Stable", 1, t).worst
    return out


def test_lag_growing_at_every_move_of_the_offset_is_warn_once_it_fills_the_window() -> None:
    """Burrow's rule 4: WARN when no entry of the window is caught up and the lag never falls
    from one entry to the next. With a window of 4 the slow consumer's moves at t=20, 26, 32
    and 36 fill it (lags 1, 4, 7, 9): WARN from t=36 while the lag keeps growing."""
    got = statuses_of(window=4)
    assert {t: s for t, s in got.items() if t >= 20} == {
        **dict.fromkeys([20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 34.0], S.OK),
        **dict.fromkeys([36.0, 38.0, 40.0, 42.0, 44.0], S.WARN),
    }


def test_the_default_window_needs_ten_moves_of_growing_lag() -> None:
    """The same consumer over Burrow's default window of 10 distinct offsets: five moves in
    24 s leave caught-up entries in the window, so it is still OK (at about 5 s a move it
    needs some 50 s of growth: longer than the demo's 25 s slow phase)."""
    assert set(statuses_of(window=10).values()) == {S.OK}


def test_a_caught_up_partition_that_gets_records_is_not_stop_within_the_caught_up_ring() -> None:
    """A consumer caught up at t=0..6 while records came, then idle with the partition (no
    records, nothing to commit) until records arrive at t=16 and wait a few seconds for it.
    Its window of 4 moves spans 6 s, and the last move was 16 s ago; Burrow does not call it
    STOP while a recent end offset is at or below the committed offset: with 10 samples of
    end offsets (20 s) the catch-up at t=6..14 still counts, with 4 (8 s) it no longer does."""
    samples = [(float(t), t // 2, t // 2) for t in range(0, 8, 2)]  # moves 0, 1, 2, 3
    samples += [(float(t), 3, 3) for t in range(8, 16, 2)]  # idle, caught up
    samples += [(16.0, 4, 3), (18.0, 5, 3), (20.0, 5, 3), (22.0, 6, 3)]  # records wait

    def last_status(caught_up_samples: int) -> PartitionStatus:
        g = GroupLagTracker(window=4, tables=EndTables(60, caught_up_samples))
        for t, end, committed in samples:
            g.observe({O0: committed}, {O0: end}, t)
        return g.view("g", "Stable", 1, 22.0).worst

    assert last_status(caught_up_samples=10) is S.OK
    assert last_status(caught_up_samples=4) is S.STOP


# ---- the order of a group's partition rows -----------------------------------------------------


def row(topic: str, partition: int, status: PartitionStatus, lag: int | None) -> PartitionLag:
    seconds = None if lag is None else lag / 10
    return PartitionLag(topic, partition, 0, 100, lag, seconds, status, ())


def test_not_ok_partitions_come_first_worst_status_then_most_lag() -> None:
    rows = [
        row("a", 0, S.OK, 0),
        row("a", 1, S.WARN, 40),
        row("a", 2, S.OK, 3),
        row("b", 0, S.NO_COMMIT, None),
        row("b", 1, S.STOP, 10),
        row("b", 2, S.WARN, 90),
        row("c", 0, S.UNKNOWN, 7),
        row("c", 1, S.STOP, 500),
    ]
    order = [(r.topic, r.partition, r.status) for r in sorted(rows, key=partition_order)]
    assert order == [
        ("c", 1, S.STOP),
        ("b", 1, S.STOP),
        ("b", 2, S.WARN),
        ("a", 1, S.WARN),
        ("b", 0, S.NO_COMMIT),
        # OK and not judged yet: by topic and partition, whatever their lag
        ("a", 0, S.OK),
        ("a", 2, S.OK),
        ("c", 0, S.UNKNOWN),
    ]


def test_a_groups_rows_come_worst_first() -> None:
    """The rows a tracker's view gives (what the lag screen's partition table, the API's
    `lag/{group}` and `collect --json` show): the stopped partition before the healthy ones."""
    parts = [TP("orders", p) for p in range(3)]
    g = GroupLagTracker(window=2)
    for t, stuck in ((0.0, 0), (10.0, 5), (100.0, 5)):
        ends = {tp: 10 * int(t) + 5 for tp in parts}
        committed = {tp: ends[tp] for tp in parts}
        committed[parts[1]] = stuck  # orders/1 moves to 5, then stands still
        g.observe(committed, ends, t)
    rows = g.view("g", "Stable", 1, 100.0).partitions
    assert [(r.partition, r.status) for r in rows] == [(1, S.STOP), (0, S.OK), (2, S.OK)]
