"""Consumer lag in offsets, in seconds, and as a Burrow status (conventions §3).

Pure logic fed by a sampler: every few seconds the collector reads each group's committed offsets
and the partitions' end offsets and calls `GroupLagTracker.observe`; views are built on demand.

- Lag in seconds follows kafka-lag-exporter: an `OffsetTimeTable` of (end offset, sample time)
  points per partition turns a committed offset into the time the log end was there.
- The status follows LinkedIn Burrow's evaluator, adapted to sampled offsets (`BurrowWindow`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from edamon.model.records import TP
from edamon.model.snapshot import GroupLag, PartitionLag
from edamon.model.status import GroupStatus, PartitionStatus

__all__ = [
    "SEVERITY",
    "BurrowWindow",
    "GroupLagTracker",
    "OffsetTimeTable",
    "PartitionLagTracker",
    "group_status",
]


class OffsetTimeTable:
    """kafka-lag-exporter's lookup table: (end offset, sample time) points of one partition.

    Points are kept oldest first, at most `max_points`; offsets never decrease and times always
    increase. A committed offset is turned into the time at which the log end was at that offset
    by linear interpolation between neighbouring points (or extrapolation over the whole table).
    """

    __slots__ = ("_offsets", "_times")

    def __init__(self, max_points: int = 60) -> None:
        if max_points < 2:
            raise ValueError("an offset/time table needs at least 2 points")
        self._offsets: deque[int] = deque(maxlen=max_points)
        self._times: deque[float] = deque(maxlen=max_points)

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
        offsets, times = self._offsets, self._times
        if offsets:
            if t <= times[-1] or offset < offsets[-1]:
                return
            if len(offsets) > 1 and offset == offsets[-1] == offsets[-2]:
                times[-1] = t
                return
        offsets.append(offset)
        times.append(t)

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
        for i in range(n - 1, 0, -1):
            if offsets[i - 1] <= committed <= offsets[i]:
                l_off, l_t, r_off, r_t = offsets[i - 1], times[i - 1], offsets[i], times[i]
                break
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


class _Entry:
    """One committed offset of a Burrow window: when it was first seen, and the lag then."""

    __slots__ = ("end", "lag", "offset", "time")

    def __init__(self, offset: int, time: float, end: int, lag: int) -> None:
        self.offset = offset
        self.time = time
        self.end = end
        self.lag = lag


class BurrowWindow:
    """Burrow's per-partition window, fed with sampled (committed, end) offsets.

    Burrow stores every offset *commit* (with the commit's own timestamp) in a ring. A sampler
    cannot see commits, only the committed offset at each sample, and a sample that finds the
    same offset again says nothing about whether the consumer committed in between. So:

    - The window holds the last `size` *distinct* committed offsets (an entry is appended when
      the offset differs from the previous entry), each with the time it was first seen and the
      end offset and lag at that sample. An unchanged offset adds nothing, so the STOP rule
      measures how long the offset has stood still against the span of the last commits, which
      does not depend on how often the consumer commits or how often we sample.
    - The last `size` samples are kept too. Their end offsets are Burrow's ring of recent broker
      offsets for "caught up recently" (the entries' own end offsets can be arbitrarily old for
      a stopped consumer, and would suppress STOP forever).
    - While the consumer has shown a single offset since we started watching, the window is the
      last `size` samples, each taken as a re-commit of that offset (exactly Burrow's ring for a
      consumer committing one offset again and again). It is evaluated only once it is full, so a
      consumer that commits less often than we sample is not called STALL right after start-up.

    Outcomes: a group that keeps up is OK; one that commits steadily but falls behind is WARN;
    one that stops moving while the topic grows becomes STOP once it has stood still for longer
    than its last commits span (STALL if it never moved while watched); one whose offset went
    back and has not returned is REWIND.
    """

    __slots__ = ("_entries", "_samples", "size")

    def __init__(self, size: int = 10) -> None:
        if size < 2:
            raise ValueError("a Burrow window needs at least 2 entries")
        self.size = size
        self._entries: deque[_Entry] = deque(maxlen=size)
        self._samples: deque[_Entry] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._entries)

    def offsets(self) -> tuple[int, ...]:
        """The distinct committed offsets in the window, oldest first."""
        return tuple(e.offset for e in self._entries)

    def add(self, committed: int, end: int, t: float) -> None:
        """Record one sample: the committed offset and the end offset at time `t`."""
        entry = _Entry(committed, t, end, max(0, end - committed))
        self._samples.append(entry)
        entries = self._entries
        if not entries or entries[-1].offset != committed:
            entries.append(entry)

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
        if current_lag <= allowed_lag:
            return PartitionStatus.OK
        entries = self._entries
        if len(entries) == 1:
            if len(self._samples) < self.size:
                return PartitionStatus.UNKNOWN
            window: Iterable[_Entry] = self._samples
        else:
            window = entries
        return _evaluate(
            tuple(window), now, current_lag, allowed_lag, [s.end for s in self._samples]
        )


def _evaluate(
    entries: tuple[_Entry, ...],
    now: float,
    current_lag: int,
    allowed_lag: int,
    recent_ends: Iterable[int],
) -> PartitionStatus:
    """Burrow's rules (see `BurrowWindow.evaluate`) over a window, oldest entry first."""
    if current_lag <= allowed_lag:
        return PartitionStatus.OK
    if len(entries) < 2:
        return PartitionStatus.UNKNOWN
    first, last = entries[0], entries[-1]
    if now - last.time > last.time - first.time and not any(
        end <= last.offset for end in recent_ends
    ):
        return PartitionStatus.STOP
    if _unrecovered_rewind(entries):
        return PartitionStatus.REWIND
    if all(e.lag > allowed_lag for e in entries):
        if all(e.offset == first.offset for e in entries):
            return PartitionStatus.STALL
        if all(entries[i].lag >= entries[i - 1].lag for i in range(1, len(entries))):
            return PartitionStatus.WARN
    return PartitionStatus.OK


def _unrecovered_rewind(entries: tuple[_Entry, ...]) -> bool:
    """Some offset drops below its predecessor and nothing from there on reaches it again.

    That is the same as: the last offset is below the highest offset in the window (a drop
    that was recovered leaves the last offset at or above every earlier one, and going down
    from the highest offset to a lower last one needs a drop nothing later makes up for).
    """
    last = entries[-1].offset
    return any(e.offset > last for e in entries)


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


class PartitionLagTracker:
    """Everything edamon keeps about one group's position on one partition."""

    __slots__ = ("_committed", "_end", "_table", "_trend", "_window")

    def __init__(self, window: int = 10, table_points: int = 60, trend_points: int = 60) -> None:
        self._table = OffsetTimeTable(table_points)
        self._window = BurrowWindow(window)
        self._trend: deque[int] = deque(maxlen=trend_points)
        self._committed: int | None = None
        self._end: int | None = None

    @property
    def lag(self) -> int | None:
        """Offset lag at the last sample (end - committed, floored at 0); None: no commit."""
        if self._committed is None or self._end is None:
            return None
        return max(0, self._end - self._committed)

    def observe(self, committed: int | None, end: int, t: float) -> None:
        """One sample. `committed` None (or negative, Kafka's "no offset") means no commit."""
        if committed is not None and committed < 0:
            committed = None
        self._table.add(end, t)
        self._committed = committed
        self._end = end
        if committed is not None:
            self._window.add(committed, end, t)
            self._trend.append(max(0, end - committed))

    def view(
        self,
        topic: str,
        partition: int,
        now: float,
        allowed_lag: int = 0,
        member: str | None = None,
    ) -> PartitionLag:
        """The partition as of `now`."""
        committed = self._committed
        lag = self.lag
        if committed is None or lag is None:
            status = PartitionStatus.NO_COMMIT
            seconds = None
        else:
            status = self._window.evaluate(now, lag, allowed_lag)
            seconds = self._table.lag_seconds(committed, now)
        return PartitionLag(
            topic=topic,
            partition=partition,
            committed=committed,
            end=self._end,
            lag=lag,
            lag_seconds=seconds,
            status=status,
            trend=tuple(self._trend),
            member=member,
        )


class GroupLagTracker:
    """One consumer group: a `PartitionLagTracker` per partition and a trend of total lag."""

    __slots__ = ("_partitions", "_table_points", "_topics", "_trend", "_trend_points", "_window")

    def __init__(self, window: int = 10, table_points: int = 60, trend_points: int = 60) -> None:
        self._window = window
        self._table_points = table_points
        self._trend_points = trend_points
        self._partitions: dict[TP, PartitionLagTracker] = {}
        self._topics: tuple[str, ...] = ()
        self._trend: deque[int] = deque(maxlen=trend_points)

    def observe(self, committed: Mapping[TP, int], ends: Mapping[TP, int], t: float) -> None:
        """One sample of the group's committed offsets and the partitions' end offsets.

        The group's partitions are all partitions (keys of `ends`) of the topics it has commits
        on; a partition of those topics without a commit is "no commit". A committed partition
        missing from `ends` keeps its previous state this round. Topics the group no longer has
        commits on are dropped with their history.
        """
        topics = {tp.topic for tp in committed}
        self._topics = tuple(sorted(topics))
        partitions = self._partitions
        for tp in [tp for tp in partitions if tp.topic not in topics]:
            del partitions[tp]
        total = 0
        for tp, end in ends.items():
            if tp.topic not in topics:
                continue
            tracker = partitions.get(tp)
            if tracker is None:
                tracker = partitions[tp] = PartitionLagTracker(
                    self._window, self._table_points, self._trend_points
                )
            tracker.observe(committed.get(tp), end, t)
            total += tracker.lag or 0
        self._trend.append(total)

    def view(
        self,
        group: str,
        state: str,
        members: int,
        now: float,
        allowed_lag: int = 0,
        member_of: Mapping[TP, str] | None = None,
    ) -> GroupLag:
        """The group as of `now`: partitions by topic and number, worst status, totals."""
        owners = member_of or {}
        rows = tuple(
            tracker.view(tp.topic, tp.partition, now, allowed_lag, owners.get(tp))
            for tp, tracker in sorted(self._partitions.items(), key=lambda item: item[0])
        )
        status, worst = group_status(row.status for row in rows)
        seconds = [row.lag_seconds for row in rows if row.lag_seconds is not None]
        return GroupLag(
            group=group,
            state=state,
            members=members,
            status=status,
            worst=worst,
            total_lag=sum(row.lag for row in rows if row.lag is not None),
            max_lag_seconds=max(seconds) if seconds else None,
            trend=tuple(self._trend),
            partitions=rows,
            topics=self._topics,
        )
