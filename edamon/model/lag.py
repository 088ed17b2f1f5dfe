"""Consumer lag in offsets, in seconds, and as a Burrow status (conventions §3).

Pure logic fed by a sampler: every few seconds the collector reads each group's committed offsets
and the partitions' end offsets and calls `GroupLagTracker.observe`; views are built on demand.

- Lag in seconds follows kafka-lag-exporter: an `OffsetTimeTable` of (end offset, sample time)
  points per partition turns a committed offset into the time the log end was there.
- The status follows LinkedIn Burrow's evaluator, adapted to sampled offsets (`BurrowWindow`).
"""

from __future__ import annotations

import operator
import weakref
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from edamon.model.records import TP
from edamon.model.snapshot import GroupLag, PartitionLag
from edamon.model.status import GroupStatus, PartitionStatus

__all__ = [
    "SEVERITY",
    "BurrowWindow",
    "EndTables",
    "GroupLagTracker",
    "OffsetTimeTable",
    "PartitionLagTracker",
    "group_status",
    "partition_order",
]


class OffsetTimeTable:
    """kafka-lag-exporter's lookup table: (end offset, sample time) points of one partition.

    Points are kept oldest first, at most `max_points`; offsets never decrease and times always
    increase. A committed offset is turned into the time at which the log end was at that offset
    by linear interpolation between neighbouring points (or extrapolation over the whole table).
    Points live in two arrays (16 bytes a point), not in objects.
    """

    __slots__ = (
        "__weakref__",
        "_max",
        "_offsets",
        "_recent_ends",
        "_recent_times",
        "_times",
        "line",
        "recent_first",
        "recent_last",
        "recent_min",
        "tp",
    )

    def __init__(self, max_points: int = 60, tp: TP | None = None, recent: int = 2) -> None:
        if max_points < 2:
            raise ValueError("an offset/time table needs at least 2 points")
        self._max = max_points
        self._offsets = array("q")
        self._times = array("d")
        self.tp = tp
        """The partition (one key object shared by every group's tracker of it)."""
        self.line: tuple[float, int, float] | None = None
        """(time, offset, seconds per offset) of the line `time_of` extrapolates along for an
        offset older than the table: time - (offset - committed) * seconds per offset."""
        self._recent_times: deque[float] = deque(maxlen=max(1, recent))
        self._recent_ends: deque[int] = deque(maxlen=max(1, recent))
        self.recent_first = self.recent_last = 0.0
        """Time of the oldest and the newest of the last `recent` samples."""
        self.recent_min = -1
        """The lowest end offset of the last `recent` samples (-1: none yet): Burrow's ring of
        recent broker offsets, kept once per partition (as Burrow does), not per group."""

    def __len__(self) -> int:
        return len(self._offsets)

    def points(self) -> tuple[tuple[int, float], ...]:
        """The (offset, time) points, oldest first."""
        return tuple(zip(self._offsets, self._times, strict=True))

    def add(self, offset: int, t: float) -> None:
        """Add the end offset seen at time `t`.

        Ignored unless `t` is newer than the newest point and `offset` is not lower than its
        offset. When the two newest points already share `offset`, the newest is moved to `t`
        instead of appending, so a flat stretch collapses into one segment.
        """
        recent_times = self._recent_times
        if not recent_times or t > recent_times[-1]:
            recent_times.append(t)
            self._recent_ends.append(offset)
            self.recent_first, self.recent_last = recent_times[0], t
            self.recent_min = min(self._recent_ends)
        offsets, times = self._offsets, self._times
        if offsets:
            if t <= times[-1] or offset < offsets[-1]:
                return
            if len(offsets) > 1 and offset == offsets[-1] == offsets[-2]:
                times[-1] = t
                self._line()
                return
            if len(offsets) >= self._max:
                del offsets[0]
                del times[0]
        offsets.append(offset)
        times.append(t)
        self._line()

    def _line(self) -> None:
        offsets, times = self._offsets, self._times
        if len(offsets) < 2:
            self.line = None
        elif offsets[-1] == offsets[0]:  # flat: the end was there since the oldest point
            self.line = (times[0], offsets[-1], 0.0)
        else:
            slope = (times[-1] - times[0]) / (offsets[-1] - offsets[0])
            self.line = (times[-1], offsets[-1], slope)

    def time_of(self, committed: int) -> float | None:
        """When the log end was at `committed` (epoch seconds), or None with fewer than 2 points.

        Uses the newest pair of adjacent points l, r with l.offset <= committed <= r.offset; with
        none, extrapolates along the line through the oldest and the newest point. When the pair
        is flat (same offset) the slope is undefined: inside the table that means the end sat at
        `committed` until r.time, so r.time; beyond the oldest point, l.time (a lower bound of
        how long ago the end passed `committed`).
        """
        offsets, times = self._offsets, self._times
        n = len(offsets)
        if n < 2:
            return None
        # offsets never decrease: the newest pair holding `committed` ends at the first point
        # past it (or at the newest point when `committed` equals it)
        i = min(bisect_right(offsets, committed), n - 1)
        if i >= 1 and offsets[i - 1] <= committed <= offsets[i]:
            l_off, l_t, r_off, r_t = offsets[i - 1], times[i - 1], offsets[i], times[i]
        else:
            l_off, l_t, r_off, r_t = offsets[0], times[0], offsets[-1], times[-1]
        if r_off == l_off:
            return l_t if committed < l_off else r_t
        return r_t - (r_off - committed) * (r_t - l_t) / (r_off - l_off)

    def lag_seconds(self, committed: int, now: float) -> float | None:
        """Seconds the consumer at `committed` is behind the producers, never negative.

        0 when `committed` is at (or past) the newest end offset seen; None with fewer than 2
        points otherwise.
        """
        if not self._offsets:
            return None
        if committed >= self._offsets[-1]:
            return 0.0
        t = self.time_of(committed)
        if t is None:
            return None
        return max(0.0, now - t)


class BurrowWindow:
    """Burrow's per-partition window, fed with sampled (committed, end) offsets.

    Burrow stores every offset *commit* (with the commit's own timestamp) in a ring. A sampler
    cannot see commits, only the committed offset at each sample, and a sample that finds the
    same offset again says nothing about whether the consumer committed in between. So:

    - The window holds the last `size` *distinct* committed offsets (an entry is appended when
      the offset differs from the previous entry), each with the time it was first seen and the
      end offset at that sample (its lag is end - offset). An unchanged offset adds nothing, so
      the STOP rule measures how long the offset has stood still against the span of the last
      commits, which does not depend on how often the consumer commits or how often we sample.
    - The last `size` samples are kept too (time and end offset). Their end offsets are
      Burrow's ring of recent broker offsets for "caught up recently" (the entries' own end
      offsets can be arbitrarily old for a stopped consumer, and would suppress STOP forever).
    - While the consumer has shown a single offset since we started watching, the window is the
      last `size` samples, each taken as a re-commit of that offset (exactly Burrow's ring for a
      consumer committing one offset again and again). It is evaluated only once it is full, so a
      consumer that commits less often than we sample is not called STALL right after start-up.

    Everything lives in one preallocated array of doubles (offsets are exact below 2**53), not
    in objects per sample: 8 bytes a number, 416 bytes for a window of 10. `PartitionLagTracker`
    keeps its window inside its own array (the module functions take the array and where the
    window starts in it).

    Outcomes: a group that keeps up is OK; one that commits steadily but falls behind is WARN;
    one that stops moving while the topic grows becomes STOP once it has stood still for longer
    than its last commits span (STALL if it never moved while watched); one whose offset went
    back and has not returned is REWIND.
    """

    __slots__ = ("_d", "size")

    def __init__(self, size: int = 10) -> None:
        if size < 2:
            raise ValueError("a Burrow window needs at least 2 entries")
        self.size = size
        self._d = array("d", bytes(8 * _window_len(size)))

    def __len__(self) -> int:
        return int(self._d[0])

    def offsets(self) -> tuple[int, ...]:
        """The distinct committed offsets in the window, oldest first."""
        d = self._d
        return tuple(int(d[2 + 3 * i]) for i in range(int(d[0])))

    def add(self, committed: int, end: int, t: float) -> None:
        """Record one sample: the committed offset and the end offset at time `t`."""
        _window_add(self._d, 0, self.size, committed, end, t)

    def evaluate(self, now: float, current_lag: int, allowed_lag: int = 0) -> PartitionStatus:
        """The partition's status by Burrow's rules, in this order.

        1. current lag <= allowed: OK. (A window of fewer than 2 entries: UNKNOWN.)
        2. STOP when now - last.time > last.time - first.time, unless one of the last `size`
           end offsets is <= the last committed offset (the consumer caught up recently).
        3. REWIND when an offset drops below its predecessor and no later one gets back to it.
        4. When no entry had lag <= allowed: STALL if all offsets are equal, else WARN if the
           lag never decreases from one entry to the next.
        5. OK.
        """
        return _window_evaluate(self._d, 0, self.size, now, current_lag, allowed_lag)


def _window_len(size: int) -> int:
    """Numbers a window of `size` takes: [entries, samples, `size` entries of (offset, time,
    end), `size` samples of (time, end)], oldest first."""
    return 2 + 5 * size


def _window_add(d: array[float], b: int, size: int, committed: int, end: int, t: float) -> None:
    samples = b + 2 + 3 * size
    n = int(d[b + 1])
    if n == size:
        d[samples : samples + 2 * (size - 1)] = d[samples + 2 : samples + 2 * size]
        n -= 1
    d[samples + 2 * n] = t
    d[samples + 2 * n + 1] = end
    d[b + 1] = n + 1
    n = int(d[b])
    if n and d[b + 2 + 3 * (n - 1)] == committed:
        return
    if n == size:
        d[b + 2 : b + 2 + 3 * (size - 1)] = d[b + 5 : b + 2 + 3 * size]
        n -= 1
    i = b + 2 + 3 * n
    d[i] = committed
    d[i + 1] = t
    d[i + 2] = end
    d[b] = n + 1


def _window_evaluate(
    d: array[float], b: int, size: int, now: float, current_lag: int, allowed_lag: int
) -> PartitionStatus:
    if current_lag <= allowed_lag:
        return PartitionStatus.OK
    entries, samples = int(d[b]), int(d[b + 1])
    base = b + 2 + 3 * size
    recent_ends = d[base + 1 : base + 2 * samples : 2]
    offsets: Sequence[float]
    if entries == 1:
        if samples < size:
            return PartitionStatus.UNKNOWN
        offsets = [d[b + 2]] * samples
        times = d[base : base + 2 * samples : 2]
        ends = recent_ends
    else:
        e = b + 2
        offsets = d[e : e + 3 * entries : 3]
        times = d[e + 1 : e + 1 + 3 * entries : 3]
        ends = d[e + 2 : e + 2 + 3 * entries : 3]
    recent_min = min(recent_ends) if recent_ends else None
    return _evaluate(offsets, times, ends, now, current_lag, allowed_lag, recent_min)


def _evaluate(
    offsets: Sequence[float],
    times: Sequence[float],
    ends: Sequence[float],
    now: float,
    current_lag: int,
    allowed_lag: int,
    recent_min: float | None,
) -> PartitionStatus:
    """Burrow's rules (see `BurrowWindow.evaluate`) over a window, oldest entry first.

    Written with min/max/sort over the few numbers of a window (C loops, not Python ones):
    it runs for every group-partition at every sample."""
    if current_lag <= allowed_lag:
        return PartitionStatus.OK
    if len(offsets) < 2:
        return PartitionStatus.UNKNOWN
    last = offsets[-1]
    first_t, last_t = times[0], times[-1]
    if now - last_t > last_t - first_t and not (recent_min is not None and recent_min <= last):
        return PartitionStatus.STOP
    if _unrecovered_rewind(offsets):
        return PartitionStatus.REWIND
    # lags floored at 0 compare with allowed_lag (>= 0) as the raw differences do
    lags = [e - o for e, o in zip(ends, offsets, strict=True)]
    if min(lags) > allowed_lag:
        if min(offsets) == last:  # no rewind: the last offset is the highest, so all equal
            return PartitionStatus.STALL
        if lags == sorted(lags):
            return PartitionStatus.WARN
    return PartitionStatus.OK


def _unrecovered_rewind(offsets: Sequence[float]) -> bool:
    """Some offset drops below its predecessor and nothing from there on reaches it again.

    That is the same as: the last offset is below the highest offset in the window (a drop
    that was recovered leaves the last offset at or above every earlier one, and going down
    from the highest offset to a lower last one needs a drop nothing later makes up for).
    """
    return max(offsets) > offsets[-1]


SEVERITY: tuple[PartitionStatus, ...] = (
    PartitionStatus.UNKNOWN,
    PartitionStatus.OK,
    PartitionStatus.NO_COMMIT,
    PartitionStatus.WARN,
    PartitionStatus.STALL,
    PartitionStatus.REWIND,
    PartitionStatus.STOP,
)
"""Partition statuses from least to most severe. STOP, REWIND, STALL follow Burrow's order of
checks; NO COMMIT ranks above OK so that a partition without a commit shows as the worst of an
otherwise healthy group (it is still an OK group); UNKNOWN (not enough samples) ranks lowest."""

_RANK = {status: rank for rank, status in enumerate(SEVERITY)}
_GROUP = {
    PartitionStatus.UNKNOWN: GroupStatus.UNKNOWN,
    PartitionStatus.OK: GroupStatus.OK,
    PartitionStatus.NO_COMMIT: GroupStatus.OK,
    PartitionStatus.WARN: GroupStatus.WARN,
    PartitionStatus.STALL: GroupStatus.ERR,
    PartitionStatus.REWIND: GroupStatus.ERR,
    PartitionStatus.STOP: GroupStatus.ERR,
}


def group_status(statuses: Iterable[PartitionStatus]) -> tuple[GroupStatus, PartitionStatus]:
    """The group's status and its worst partition status (order in `SEVERITY`).

    STOP, STALL and REWIND make the group ERR, WARN makes it WARN, OK and NO COMMIT leave it OK;
    a group whose partitions are all UNKNOWN (or that has none) is UNKNOWN.
    """
    worst = max(statuses, key=_RANK.__getitem__, default=PartitionStatus.UNKNOWN)
    return _GROUP[worst], worst


_TREND_MAX = 2**31 - 1
"""Trend points are 32-bit (a sparkline does not need more); a larger lag shows as this."""


class EndTables:
    """The (end offset, time) table of every partition, shared by all groups that read it: the
    log end belongs to the partition, not to a group, so 500 groups on one partition keep one
    table, not 500. A table lives as long as some group's tracker holds it."""

    __slots__ = ("_points", "_recent", "_t", "_tables")

    def __init__(self, points: int = 60, recent: int = 10) -> None:
        self._points = points
        self._recent = recent
        self._t: float | None = None
        self._tables: weakref.WeakValueDictionary[TP, OffsetTimeTable] = (
            weakref.WeakValueDictionary()
        )

    def __len__(self) -> int:
        return len(self._tables)

    def table(self, tp: TP) -> OffsetTimeTable:
        """The partition's table, created on first use."""
        table = self._tables.get(tp)
        if table is None:
            table = self._tables[tp] = OffsetTimeTable(self._points, tp, self._recent)
        return table

    def advance(self, ends: Mapping[TP, int], t: float) -> None:
        """Add a sample's end offsets (read at `t`) to every table, once per `t`: the first
        group observed at `t` does it for all (one step per partition, not per group)."""
        if t == self._t:
            return
        self._t = t
        for tp, table in list(self._tables.items()):
            end = ends.get(tp)
            if end is not None:
                table.add(end, t)


_NONE = -1.0
"""No committed (or end) offset: Kafka's offsets are never negative."""
_COMMITTED, _END, _TREND_N, _TREND_HEAD, _WINDOW = 0, 1, 2, 3, 4
"""Layout of a PartitionLagTracker's array: committed and end offset at the last sample,
points in the trend ring and where its oldest point is, then the Burrow window."""


class PartitionLagTracker:
    """One group's position on one partition, in two preallocated arrays (about 0.7 KB with a
    window of 10 and 60 trend points): the committed and end offsets, the Burrow window, the
    ring of lag trend points (32-bit). The partition's end-offset table is shared through
    `EndTables` when one is given.

    The sampler does not use it: `GroupLagTracker` keeps the same per partition in arrays per
    group (one step per sample for all partitions). It stays as the one-partition reference
    (tests check the group tracker against it)."""

    __slots__ = ("_d", "_size", "_table", "_trend")

    def __init__(
        self,
        window: int = 10,
        table_points: int = 60,
        trend_points: int = 60,
        table: OffsetTimeTable | None = None,
    ) -> None:
        if window < 2:
            raise ValueError("a Burrow window needs at least 2 entries")
        self._table = table if table is not None else OffsetTimeTable(table_points)
        self._size = window
        self._d = array("d", bytes(8 * (_WINDOW + _window_len(window))))
        self._d[_COMMITTED] = self._d[_END] = _NONE
        self._trend = array("i", bytes(4 * trend_points))

    @property
    def lag(self) -> int | None:
        """Offset lag at the last sample (end - committed, floored at 0); None: no commit."""
        d = self._d
        committed, end = d[_COMMITTED], d[_END]
        if committed < 0 or end < 0:
            return None
        return max(0, int(end - committed))

    def observe(self, committed: int | None, end: int, t: float) -> None:
        """One sample. `committed` None (or negative, Kafka's "no offset") means no commit."""
        self._table.add(end, t)
        d = self._d
        d[_END] = end
        if committed is None or committed < 0:
            d[_COMMITTED] = _NONE
            return
        d[_COMMITTED] = committed
        _window_add(d, _WINDOW, self._size, committed, end, t)
        trend = self._trend
        size = len(trend)
        n, head = int(d[_TREND_N]), int(d[_TREND_HEAD])
        value = min(_TREND_MAX, max(0, end - committed))
        if n < size:
            trend[n] = value
            d[_TREND_N] = n + 1
        else:
            trend[head] = value
            d[_TREND_HEAD] = (head + 1) % size

    def trend(self) -> tuple[int, ...]:
        """Offset lag at the last samples, oldest first."""
        trend, d = self._trend, self._d
        n, head = int(d[_TREND_N]), int(d[_TREND_HEAD])
        if n < len(trend):
            return tuple(trend[:n])
        return tuple(trend[head:]) + tuple(trend[:head])

    def view(
        self,
        topic: str,
        partition: int,
        now: float,
        allowed_lag: int = 0,
        member: str | None = None,
    ) -> PartitionLag:
        """The partition as of `now`."""
        d = self._d
        raw_committed, raw_end = d[_COMMITTED], d[_END]
        end = None if raw_end < 0 else int(raw_end)
        if raw_committed < 0 or end is None:
            return PartitionLag(
                topic=topic,
                partition=partition,
                committed=None,
                end=end,
                lag=None,
                lag_seconds=None,
                status=PartitionStatus.NO_COMMIT,
                trend=self.trend(),
                member=member,
            )
        committed = int(raw_committed)
        lag = max(0, end - committed)
        return PartitionLag(
            topic=topic,
            partition=partition,
            committed=committed,
            end=end,
            lag=lag,
            lag_seconds=self._table.lag_seconds(committed, now),
            status=_window_evaluate(d, _WINDOW, self._size, now, lag, allowed_lag),
            trend=self.trend(),
            member=member,
        )


_NO_ROW = -1
"""A slot's status code while its partition's end offset was never read (no row yet)."""
_SECONDS_NONE = float("nan")
_OK = _RANK[PartitionStatus.OK]
_UNKNOWN = _RANK[PartitionStatus.UNKNOWN]
_STALL = _RANK[PartitionStatus.STALL]
_STOP = _RANK[PartitionStatus.STOP]
_NO_COMMIT = _RANK[PartitionStatus.NO_COMMIT]


class _TrendRing:
    """The offset-lag trend of every partition of a group: a ring of `size` columns, one per
    sample, each column the lags of all slots (32-bit), written at once. A view reads the
    points as of its own sample (`seq`), so it can build its rows later without a copy."""

    __slots__ = ("firsts", "points", "seq", "size", "slots")

    def __init__(self, size: int, slots: int, seq: int) -> None:
        self.size = size
        self.slots = slots
        self.points = array("i", bytes(4 * size * slots))
        self.firsts = array("q", [seq + 1]) * slots
        """Each slot's first sample."""
        self.seq = seq
        """The last sample written (samples count from 1)."""

    def write(self, lags: Sequence[int]) -> None:
        """The next sample's column."""
        self.seq += 1
        n = self.slots
        start = ((self.seq - 1) % self.size) * n
        self.points[start : start + n] = array("i", lags)

    def row(self, slot: int, as_of: int) -> tuple[int, ...]:
        """The slot's points up to sample `as_of`, oldest first (those still in the ring)."""
        size, n = self.size, self.slots
        low = max(self.firsts[slot], as_of - size + 1, self.seq - size + 1)
        points = self.points
        return tuple(points[((s - 1) % size) * n + slot] for s in range(low, as_of + 1))

    def moved(self, slots: list[int | None]) -> _TrendRing:
        """A ring for a new set of slots: slot j takes old slot `slots[j]` (None: a new one)."""
        ring = _TrendRing(self.size, len(slots), self.seq)
        n = self.slots
        for column in range(self.size):
            base = column * n
            old = self.points
            ring.points[column * ring.slots : (column + 1) * ring.slots] = array(
                "i", [0 if i is None else old[base + i] for i in slots]
            )
        for j, i in enumerate(slots):
            if i is not None:
                ring.firsts[j] = self.firsts[i]
        return ring


class GroupLagTracker:
    """One consumer group, in arrays: per partition it has a commit on (a slot), its committed
    and end offset, its Burrow window (`BurrowWindow`'s entries; the ring of recent end offsets
    is the partition's, in its `OffsetTimeTable`) and its lag trend; a trend of the group's
    total lag. The other partitions of its topics show as "no commit" rows, built from the
    sample's end offsets without keeping any history for them.

    About 0.6 KB a slot with a window of 10 and 60 trend points. A sample replaces the offset
    arrays whole and writes the trend column at once; Burrow entries are added only where a
    commit moved. `view` computes each slot's status and lag in seconds (numbers, not objects;
    the time of a committed offset is kept while its partition's table keeps it) and returns a
    `GroupLag` whose partition rows are built when first read: a sample of 125,000
    group-partitions builds only the rows someone looks at."""

    __slots__ = (
        "_committed",
        "_counts",
        "_end",
        "_lags",
        "_observed",
        "_since",
        "_since_of",
        "_size",
        "_slot_tables",
        "_tables",
        "_topics",
        "_tps",
        "_trend",
        "_trend_total",
        "_unc_ends",
        "_uncommitted",
        "_win",
        "_window",
    )

    def __init__(
        self,
        window: int = 10,
        table_points: int = 60,
        trend_points: int = 60,
        tables: EndTables | None = None,
    ) -> None:
        if window < 2:
            raise ValueError("a Burrow window needs at least 2 entries")
        self._window = window
        self._tables = tables if tables is not None else EndTables(table_points, window)
        self._size = 1 + 3 * window
        """Numbers per slot in `_win`: [entries, `window` entries of (offset, time, end)],
        oldest first."""
        self._tps: list[TP] = []
        self._slot_tables: list[OffsetTimeTable] = []
        self._committed = array("q")
        self._end = array("q")
        self._lags = array("q")
        self._since = array("d")
        self._since_of = array("q")
        """1 where `_since` holds the time the partition's end was at the slot's committed
        offset, -1 where it must be found again (the commit moved)."""
        self._win = array("d")
        self._trend = _TrendRing(max(1, trend_points), 0, 0)
        self._observed = 0
        self._uncommitted: list[TP] = []
        self._unc_ends: list[int | None] = []
        self._counts: dict[str, int] = {}
        self._topics: tuple[str, ...] = ()
        self._trend_total: deque[int] = deque(maxlen=trend_points)

    def __len__(self) -> int:
        """Partitions tracked (those with a commit whose end offset was read)."""
        return self._observed

    @property
    def topic_set(self) -> frozenset[str]:
        """The topics the group has commits on (as of the last sample)."""
        return frozenset(self._topics)

    def knows(self, committed: Mapping[TP, int]) -> bool:
        """True if `committed` is on the same partitions, in the same order, as last time."""
        return len(committed) == len(self._tps) and list(committed) == self._tps

    def _relayout(self, committed: Mapping[TP, int], ends: Mapping[TP, int], t: float) -> None:
        """The group's committed partitions changed: new slots (history kept for the
        partitions still committed, in the order `committed` gives)."""
        old = {tp: i for i, tp in enumerate(self._tps)}
        tps = list(committed)
        n, size = len(tps), self._size
        cs, es = array("q", [-1]) * n, array("q", [-1]) * n
        win = array("d", bytes(8 * size * n))
        tables: list[OffsetTimeTable] = []
        moved: list[int | None] = []
        for j, tp in enumerate(tps):
            i = old.get(tp)
            moved.append(i)
            if i is None:
                table = self._tables.table(tp)
                end = ends.get(tp)
                if end is not None:
                    table.add(end, t)  # created after this sample's `advance`
                tps[j] = table.tp or tp  # one key object per partition, shared
            else:
                table = self._slot_tables[i]
                cs[j], es[j] = self._committed[i], self._end[i]
                win[j * size : (j + 1) * size] = self._win[i * size : (i + 1) * size]
            tables.append(table)
        self._tps, self._slot_tables = tps, tables
        self._committed, self._end, self._win = cs, es, win
        self._since, self._since_of = array("d", bytes(8 * n)), array("q", [-1]) * n
        self._trend = self._trend.moved(moved)
        self._topics = tuple(sorted({tp.topic for tp in tps}))
        self._counts = {}  # the "no commit" rows are found again

    def _find_uncommitted(
        self, ends: Mapping[TP, int], partitions: Mapping[str, int] | None
    ) -> None:
        topics = self._topics
        known = set(self._tps)
        if partitions is None:
            self._uncommitted = [tp for tp in ends if tp.topic in topics and tp not in known]
            return
        counts = {t: partitions.get(t, 0) for t in topics}
        if counts == self._counts:
            return
        self._counts = counts
        self._uncommitted = [
            tp
            for topic in topics
            for p in range(counts[topic])
            if (tp := TP(topic, p)) not in known
        ]

    def observe(
        self,
        committed: Mapping[TP, int],
        ends: Mapping[TP, int],
        t: float,
        partitions: Mapping[str, int] | None = None,
    ) -> None:
        """One sample of the group's committed offsets and the partitions' end offsets, read
        at `t`.

        The group's partitions are all partitions of the topics it has commits on: those of
        `partitions` (topic -> partition count) when given, else the keys of `ends`. One
        without a commit is "no commit". A committed partition missing from `ends` keeps its
        previous state this round. Partitions whose commit is gone are dropped with their
        history.
        """
        self._tables.advance(ends, t)
        if not self.knows(committed):
            self._relayout(committed, ends, t)
        self._find_uncommitted(ends, partitions)
        self._unc_ends = list(map(ends.get, self._uncommitted))
        values = list(committed.values())
        endv: list[int | None] = list(map(ends.get, self._tps))
        old = self._committed
        if None in endv or (values and min(values) < 0):  # some slots keep their state
            cs, es = array("q", old), array("q", self._end)
            for i, (c, e) in enumerate(zip(values, endv, strict=True)):
                if e is not None and c >= 0:
                    cs[i], es[i] = c, e
        else:  # the usual case: whole arrays at once
            cs, es = array("q", values), array("q", cast("list[int]", endv))
        if cs != old:  # Burrow entries where a commit moved
            win, size, window, since_of = self._win, self._size, self._window, self._since_of
            for i in [i for i, (a, b) in enumerate(zip(old, cs, strict=True)) if a != b]:
                c = cs[i]
                since_of[i] = -1
                b = i * size
                n = int(win[b])
                if n and win[b + 3 * n - 2] == c:
                    continue
                if n == window:
                    win[b + 1 : b + size - 3] = win[b + 4 : b + size]
                    n -= 1
                j = b + 1 + 3 * n
                win[j] = c
                win[j + 1] = t
                win[j + 2] = es[i]
                win[b] = n + 1
        lags = array("q", map(operator.sub, es, cs))  # 0 for a slot never read (-1 - -1)
        if lags and min(lags) < 0:
            lags = array("q", [lag if lag > 0 else 0 for lag in lags])
        self._committed, self._end, self._lags = cs, es, lags
        total = sum(lags)
        if lags and max(lags) > _TREND_MAX:
            self._trend.write([min(lag, _TREND_MAX) for lag in lags])
        else:
            self._trend.write(lags)
        self._trend_total.append(total)

    def _status(
        self, i: int, now: float, lag: int, allowed_lag: int, table: OffsetTimeTable
    ) -> int:
        """Burrow's rules for slot `i` (see `BurrowWindow.evaluate`), as a rank in SEVERITY."""
        win, b, window = self._win, i * self._size, self._window
        entries = int(win[b])
        if entries == 1:  # one offset since watched: the window is the last `window` samples
            ring = self._trend
            if ring.seq - ring.firsts[i] + 1 < window:
                return _UNKNOWN
            committed = win[b + 1]
            first_t, last_t, lowest = table.recent_first, table.recent_last, table.recent_min
            if now - last_t > last_t - first_t and not lowest <= committed:
                return _STOP
            return _STALL if lowest - committed > allowed_lag else _OK
        e = b + 1
        status = _evaluate(
            win[e : e + 3 * entries : 3],
            win[e + 1 : e + 1 + 3 * entries : 3],
            win[e + 2 : e + 2 + 3 * entries : 3],
            now,
            lag,
            allowed_lag,
            table.recent_min if table.recent_min >= 0 else None,
        )
        return _RANK[status]

    def view(
        self,
        group: str,
        state: str,
        members: int,
        now: float,
        allowed_lag: int = 0,
        member_of: Mapping[TP, str] | Callable[[], Mapping[TP, str]] | None = None,
    ) -> GroupLag:
        """The group as of `now`: worst status, totals, and its partitions, not-OK ones first
        (`partition_order`; built when first read; `member_of` may be a function, then called
        only then)."""
        n = len(self._tps)
        statuses = array("b", bytes(n))
        seconds = array("d", bytes(8 * n))
        cs, tables = self._committed, self._slot_tables
        since, since_of = self._since, self._since_of
        worst = _NO_COMMIT if self._uncommitted else -1
        most: float | None = None
        observed = 0
        ring, win, size, window = self._trend, self._win, self._size, self._window
        young = ring.seq - window + 1  # a slot first seen after this has too few samples
        firsts = ring.firsts
        for i, lag in enumerate(self._lags):
            c = cs[i]
            if c < 0:
                statuses[i] = _NO_ROW
                continue
            observed += 1
            table = tables[i]
            offsets = table._offsets
            # `OffsetTimeTable.lag_seconds`, inlined (it runs for every slot). The time of an
            # offset inside the table is kept until the commit moves: points come at the end
            # (above it), a flat stretch's newest point only moves when the offset is at the
            # end, and once the points around it drop off the front, it is older than the
            # table (the extrapolation, found again each time)
            if not offsets:
                secs: float | None = None
            elif c >= offsets[-1]:
                secs = 0.0
            elif c < offsets[0]:  # older than the table: `time_of`'s extrapolation
                line = table.line
                secs = None if line is None else now - (line[0] - (line[1] - c) * line[2])
            elif since_of[i] >= 0:
                secs = now - since[i]
            else:
                at_or_none = table.time_of(c)
                if at_or_none is None:
                    secs = None
                else:
                    secs = now - at_or_none
                    since[i] = at_or_none
                    since_of[i] = 1
            if secs is None:
                seconds[i] = _SECONDS_NONE
            else:
                if secs < 0.0:
                    secs = 0.0
                seconds[i] = secs
                if most is None or secs > most:
                    most = secs
            if lag <= allowed_lag:
                status = _OK
            elif win[i * size] == 1:  # `_status`'s first case, inlined: one offset so far
                if firsts[i] > young:
                    status = _UNKNOWN
                else:
                    first_t, last_t, lowest = (
                        table.recent_first,
                        table.recent_last,
                        table.recent_min,
                    )
                    if now - last_t > last_t - first_t and not lowest <= c:
                        status = _STOP
                    else:
                        status = _STALL if lowest - c > allowed_lag else _OK
            else:
                status = self._status(i, now, lag, allowed_lag, table)
            statuses[i] = status
            if status > worst:
                worst = status
        self._observed = observed
        worst_status = SEVERITY[worst] if worst >= 0 else PartitionStatus.UNKNOWN
        rows = _Rows(
            self._tps,
            cs,
            self._end,
            seconds,
            statuses,
            self._trend,
            self._trend.seq,
            self._uncommitted,
            self._unc_ends,
            member_of,
        )
        return _LazyGroupLag(
            rows,
            group=group,
            state=state,
            members=members,
            status=_GROUP[worst_status],
            worst=worst_status,
            total_lag=sum(self._lags),
            max_lag_seconds=most,
            trend=tuple(self._trend_total),
            topics=self._topics,
        )


class _Rows:
    """What a view's partition rows are built from, as of its sample."""

    __slots__ = (
        "as_of",
        "committed",
        "end",
        "member_of",
        "seconds",
        "statuses",
        "tps",
        "trend",
        "unc_ends",
        "uncommitted",
    )

    def __init__(
        self,
        tps: list[TP],
        committed: array[int],
        end: array[int],
        seconds: array[float],
        statuses: array[int],
        trend: _TrendRing,
        as_of: int,
        uncommitted: list[TP],
        unc_ends: list[int | None],
        member_of: Mapping[TP, str] | Callable[[], Mapping[TP, str]] | None,
    ) -> None:
        self.tps, self.committed, self.end = tps, committed, end
        self.seconds, self.statuses, self.trend, self.as_of = seconds, statuses, trend, as_of
        self.uncommitted, self.unc_ends, self.member_of = uncommitted, unc_ends, member_of

    def build(self) -> tuple[PartitionLag, ...]:
        owners = self.member_of() if callable(self.member_of) else (self.member_of or {})
        rows: list[PartitionLag] = []
        for i, tp in enumerate(self.tps):
            status = self.statuses[i]
            if status == _NO_ROW:
                continue
            committed, end, secs = self.committed[i], self.end[i], self.seconds[i]
            rows.append(
                PartitionLag(
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=committed,
                    end=end,
                    lag=end - committed if end > committed else 0,
                    lag_seconds=None if secs != secs else secs,  # NaN: not known
                    status=SEVERITY[status],
                    trend=self.trend.row(i, self.as_of),
                    member=owners.get(tp),
                )
            )
        rows.extend(
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=None,
                end=end,
                lag=None,
                lag_seconds=None,
                status=PartitionStatus.NO_COMMIT,
                trend=(),
                member=owners.get(tp),
            )
            for tp, end in zip(self.uncommitted, self.unc_ends, strict=True)
        )
        rows.sort(key=partition_order)
        return tuple(rows)


class _LazyGroupLag(GroupLag):
    """A `GroupLag` whose `partitions` are built on first read (then kept): the same fields,
    equality, JSON and pickling as a `GroupLag` (those read `partitions` like any field)."""

    __slots__ = ("_built", "_rows")
    _built: tuple[PartitionLag, ...] | None
    _rows: _Rows | None

    def __init__(self, rows: _Rows | None = None, **fields: Any) -> None:
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_built", None)
        fields.setdefault("partitions", None)
        super().__init__(**fields)

    @property
    def partitions(self) -> tuple[PartitionLag, ...]:
        built = self._built
        if built is None:
            rows = self._rows
            built = rows.build() if rows is not None else ()
            object.__setattr__(self, "_built", built)
            object.__setattr__(self, "_rows", None)
        return built

    @partitions.setter
    def partitions(self, value: tuple[PartitionLag, ...] | None) -> None:
        if value is not None:  # `dataclasses.replace` and unpickling give the rows
            object.__setattr__(self, "_built", tuple(value))


def partition_order(row: PartitionLag) -> tuple[int, float, int, str, int]:
    """Sort key of a group's partition rows, as Burrow's and kafka-lag-exporter's users read
    them: rows that are not OK first, worst status first (STOP, REWIND, STALL, WARN, NO
    COMMIT), then the most lag in seconds, then in offsets. OK and UNKNOWN rows follow by topic
    and partition: their lag moves between a few records and none, and a table that reorders
    at every sample moves the row under the operator's cursor."""
    rank = _RANK[row.status]
    if rank <= _OK:  # OK and UNKNOWN
        return (1, 0.0, 0, row.topic, row.partition)
    seconds = row.lag_seconds if row.lag_seconds is not None else -1.0
    return (-rank, -seconds, -(row.lag or 0), row.topic, row.partition)
