"""Samples consumer-group offsets on a clock and turns them into lag views (conventions §3).

A sample costs a fixed number of requests, not a few per group: ListGroups to each broker,
OffsetFetch for many groups per request (per coordinator), DescribeGroups per coordinator and
one ListOffsets per broker (see `edamon.broker.kafka_offsets`). Samples start on a clock
(`wait_next`): a slow sample delays the next one, samples never pile up, and the ones that
could not start on time are counted. The work between requests is done in slices, so the
event loop (and the dashboard's keys) never waits long for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence

from edamon.broker.base import Broker, BrokerError, GroupInfo
from edamon.config import LagSettings
from edamon.model.lag import EndTables, GroupLagTracker
from edamon.model.records import TP
from edamon.model.snapshot import GroupLag, LagHealth
from edamon.model.status import GroupStatus, PartitionStatus

log = logging.getLogger(__name__)

_GROUP_ORDER = {GroupStatus.ERR: 0, GroupStatus.WARN: 1, GroupStatus.UNKNOWN: 2, GroupStatus.OK: 3}
SLICE_S = 0.003
"""Evaluation yields to the event loop after this much work (a group is never split)."""
CYCLES_KEPT = 300
"""Cycle times kept for the p50/p99 in the sampler's health."""


class LagSampler:
    """Keeps one GroupLagTracker per consumer group; never joins or commits to any group."""

    def __init__(
        self,
        broker: Broker,
        settings: LagSettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._broker = broker
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._include = [re.compile(p) for p in settings.groups_include]
        self._exclude = [re.compile(p) for p in settings.groups_exclude]
        self._tables = EndTables(settings.table_points, settings.caught_up_samples)
        self._trackers: dict[str, GroupLagTracker] = {}
        self._described: dict[str, GroupInfo] = {}
        self._views: dict[str, GroupLag] = {}
        self._cycles: deque[float] = deque(maxlen=CYCLES_KEPT)
        self._samples = 0
        self._late = 0
        self._behind = False
        self._requests: int | None = None
        self._tracked = 0
        self._next: float | None = None
        self._last_wanted: list[TP] = []
        """The partitions whose end offsets the last sample read (the collector's own
        partitions aside): read again while committed offsets are fetched."""

    def _wanted(self, group: str) -> bool:
        if any(p.match(group) for p in self._exclude):
            return False
        return any(p.match(group) for p in self._include)

    async def sample(
        self, partitions: Mapping[str, int], extra: Sequence[TP] = ()
    ) -> tuple[tuple[GroupLag, ...], dict[TP, int]]:
        """One round: committed offsets of every group, end offsets, updated views.

        `partitions` gives the partition count of every topic; `extra` partitions get their end
        offsets fetched in the same request (the collector's own lag). Returns the group views
        (worst first) and the end offsets fetched. Lag points and the views' lag in seconds are
        as of the moment the end offsets were read.
        """
        started = self._monotonic()
        if self._next is None:
            self._next = started
        requests_before = self._broker.request_count()
        try:
            result = await self._sample(partitions, extra)
        finally:
            self._cycles.append(self._monotonic() - started)
        self._samples += 1
        self._requests = self._broker.request_count() - requests_before
        return result

    async def _sample(
        self, partitions: Mapping[str, int], extra: Sequence[TP]
    ) -> tuple[tuple[GroupLag, ...], dict[TP, int]]:
        groups = [g for g in await self._broker.list_groups() if self._wanted(g)]
        committed: dict[str, dict[TP, int]] = {}
        # descriptions, committed offsets and the end offsets of the partitions the last
        # sample needed are asked for at once: one round trip, not three
        asked = sorted(set(self._last_wanted).union(extra))
        ending = asyncio.ensure_future(self._ends(asked)) if asked else None
        describing = asyncio.ensure_future(self._describe(groups)) if groups else None
        try:
            if groups:
                committed = await self._broker.committed_offsets_many(groups)
            if describing is not None:
                await describing
        except BaseException:
            for task in (ending, describing):
                if task is not None:
                    task.cancel()
            raise
        wanted: set[TP] = set(extra)
        topics: set[str] = set()
        clock = _Slicer()
        for group, offsets in committed.items():
            tracker = self._trackers.get(group)
            if tracker is not None and tracker.knows(offsets):  # the same partitions again
                mine = tracker.topic_set
                if mine.issubset(partitions):
                    topics.update(mine)
                    continue
            for tp in offsets:
                if tp.topic in partitions:
                    topics.add(tp.topic)
                else:
                    wanted.add(tp)  # not a tailed topic: its committed partitions only
            await clock.maybe_yield()
        for topic in topics:
            wanted.update(TP(topic, p) for p in range(partitions[topic]))
        ends = await ending if ending is not None else None
        if ends is None:
            ends = await self._broker.end_offsets(sorted(wanted)) if wanted else {}
        else:
            missing = wanted.difference(ends)
            if missing:  # a group committed on new partitions
                ends.update(await self._broker.end_offsets(sorted(missing)))
        self._last_wanted = sorted(wanted.difference(extra))
        read_at = self._clock()
        views = await self._evaluate(groups, committed, ends, partitions, read_at)
        return views, ends

    async def _ends(self, tps: list[TP]) -> dict[TP, int] | None:
        """End offsets of the partitions the last sample needed; None if one is gone."""
        try:
            return await self._broker.end_offsets(tps)
        except BrokerError as exc:
            log.debug("end offsets of the last sample's partitions: %s", exc)
            return None

    async def _describe(self, groups: list[str]) -> None:
        try:
            described = await self._broker.describe_groups(groups)
        except BrokerError as exc:
            log.info("describing groups: %s (state and members are best effort)", exc)
        else:
            self._described = {info.group: info for info in described}

    async def _evaluate(
        self,
        groups: list[str],
        committed: Mapping[str, Mapping[TP, int]],
        ends: Mapping[TP, int],
        partitions: Mapping[str, int],
        read_at: float,
    ) -> tuple[GroupLag, ...]:
        settings = self._settings
        views: list[GroupLag] = []
        tracked = 0
        clock = _Slicer()
        for group in groups:
            group_offsets = committed.get(group)
            if group_offsets is None:  # not read this time (its coordinator did not answer)
                last = self._views.get(group)
                if last is not None:
                    views.append(last)
                    tracked += len(self._trackers[group])
                continue
            tracker = self._trackers.get(group)
            if tracker is None:
                tracker = self._trackers[group] = GroupLagTracker(
                    window=settings.window,
                    table_points=settings.table_points,
                    trend_points=settings.trend_points,
                    tables=self._tables,
                )
            tracker.observe(group_offsets, ends, read_at, partitions)
            tracked += len(tracker)
            info = self._described.get(group)
            views.append(
                tracker.view(
                    group,
                    info.state if info else "unknown",
                    len(info.members) if info else 0,
                    read_at,
                    settings.allowed_lag,
                    functools.partial(_members_of, info),  # when the rows are built
                )
            )
            await clock.maybe_yield()
        listed = set(groups)
        for gone in [g for g in self._trackers if g not in listed]:
            del self._trackers[gone]
        self._views = {view.group: view for view in views}
        self._tracked = tracked
        views.sort(key=_severity)
        return tuple(views)

    async def wait_next(self) -> None:
        """Sleep until the next sample is due: samples start every `interval_s` on a clock
        (a period, not a pause after each sample). A sample that took longer than the
        interval is followed at once by the next one, never by a burst: the starts it missed
        are counted as late (the health shows it) and the clock restarts from now."""
        interval = self._settings.interval_s
        now = self._monotonic()
        due = (now if self._next is None else self._next) + interval
        behind = due < now
        if behind:
            self._late += int((now - due) // interval) + 1
            due = now
            if not self._behind:
                log.warning(
                    "lag sampling can't keep up: a sample took %.2fs at an interval of %gs",
                    self._cycles[-1] if self._cycles else 0.0,
                    interval,
                )
        elif self._behind:
            log.info("lag sampling keeps up again (interval %gs)", interval)
        self._behind = behind
        self._next = due
        await self._sleep(max(0.0, due - now))

    def health(self) -> LagHealth:
        """The sampler's own health: samples, cycle times, requests, what it tracks."""
        cycles = sorted(self._cycles)
        return LagHealth(
            interval_s=self._settings.interval_s,
            samples=self._samples,
            cycle_p50_s=_quantile(cycles, 0.50),
            cycle_p99_s=_quantile(cycles, 0.99),
            requests_per_sample=self._requests,
            groups=len(self._trackers),
            partitions=self._tracked,
            late=self._late,
            keeping_up=not self._behind,
        )


class _Slicer:
    """Lets the event loop run once `SLICE_S` of work has passed since the last turn."""

    __slots__ = ("_start",)

    def __init__(self) -> None:
        self._start = time.perf_counter()

    async def maybe_yield(self) -> None:
        if time.perf_counter() - self._start > SLICE_S:
            await asyncio.sleep(0)
            self._start = time.perf_counter()


def _members_of(info: GroupInfo | None) -> dict[TP, str]:
    """Which member (client id, else member id) is assigned each partition."""
    return {
        tp: member.client_id or member.member_id
        for member in (info.members if info else ())
        for tp in member.assignment
    }


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _severity(view: GroupLag) -> tuple[int, float, int, str]:
    """Worst first: by status, then lag in seconds and offsets. Healthy groups by name: their
    lag moves between a few records and none, and a list that reorders at every sample
    moves the row under the operator's cursor."""
    rank = _GROUP_ORDER.get(view.status, 4) * 2
    if view.status is GroupStatus.OK:
        return (rank, 0.0, 0, view.group)
    seconds = view.max_lag_seconds if view.max_lag_seconds is not None else -1.0
    stalled = 0 if view.worst in (PartitionStatus.STOP, PartitionStatus.STALL) else 1
    return (rank + stalled, -seconds, -view.total_lag, view.group)
