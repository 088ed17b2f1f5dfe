"""Samples consumer-group offsets on a clock and turns them into lag views (conventions §3)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence

from edamon.broker.base import Broker, BrokerError, GroupInfo
from edamon.config import LagSettings
from edamon.model.lag import GroupLagTracker
from edamon.model.records import TP
from edamon.model.snapshot import GroupLag
from edamon.model.status import GroupStatus, PartitionStatus

_GROUP_ORDER = {GroupStatus.ERR: 0, GroupStatus.WARN: 1, GroupStatus.UNKNOWN: 2, GroupStatus.OK: 3}
_CONCURRENCY = 8


class LagSampler:
    """Keeps one GroupLagTracker per consumer group; never joins or commits to any group."""

    def __init__(self, broker: Broker, settings: LagSettings) -> None:
        self._broker = broker
        self._settings = settings
        self._include = [re.compile(p) for p in settings.groups_include]
        self._exclude = [re.compile(p) for p in settings.groups_exclude]
        self._trackers: dict[str, GroupLagTracker] = {}
        self._described: dict[str, GroupInfo] = {}

    def _wanted(self, group: str) -> bool:
        if any(p.match(group) for p in self._exclude):
            return False
        return any(p.match(group) for p in self._include)

    async def sample(
        self, now: float, partitions: Mapping[str, int], extra: Sequence[TP] = ()
    ) -> tuple[tuple[GroupLag, ...], dict[TP, int]]:
        """One round: committed offsets of every group, end offsets, updated views.

        `partitions` gives the partition count of every topic; `extra` partitions get their end
        offsets fetched in the same request (the collector's own lag). Returns the group views
        (worst first) and the end offsets fetched.
        """
        groups = [g for g in await self._broker.list_groups() if self._wanted(g)]
        try:
            described = await self._broker.describe_groups(groups) if groups else []
            self._described = {info.group: info for info in described}
        except BrokerError:
            pass  # state and members are best effort; offsets still work
        committed = await self._committed(groups)
        wanted: set[TP] = set(extra)
        for offsets in committed.values():
            for topic in {tp.topic for tp in offsets}:
                count = partitions.get(topic, 0)
                wanted.update(TP(topic, p) for p in range(count))
                wanted.update(tp for tp in offsets if tp.topic == topic)
        ends = await self._broker.end_offsets(sorted(wanted)) if wanted else {}
        views: list[GroupLag] = []
        for group in groups:
            if group not in committed:
                continue
            group_offsets = committed[group]
            topics = {tp.topic for tp in group_offsets}
            group_ends = {tp: end for tp, end in ends.items() if tp.topic in topics}
            tracker = self._trackers.get(group)
            if tracker is None:
                tracker = self._trackers[group] = GroupLagTracker(
                    window=self._settings.window,
                    table_points=self._settings.table_points,
                    trend_points=self._settings.trend_points,
                )
            tracker.observe(group_offsets, group_ends, now)
            info = self._described.get(group)
            member_of = {
                tp: member.client_id or member.member_id
                for member in (info.members if info else ())
                for tp in member.assignment
            }
            views.append(
                tracker.view(
                    group,
                    info.state if info else "unknown",
                    len(info.members) if info else 0,
                    now,
                    self._settings.allowed_lag,
                    member_of,
                )
            )
        for gone in set(self._trackers) - set(groups):
            del self._trackers[gone]
        views.sort(key=_severity)
        return tuple(views), ends

    async def _committed(self, groups: Sequence[str]) -> dict[str, dict[TP, int]]:
        limit = asyncio.Semaphore(_CONCURRENCY)
        results: dict[str, dict[TP, int]] = {}

        async def one(group: str) -> None:
            async with limit:
                try:
                    results[group] = await self._broker.committed_offsets(group)
                except BrokerError:
                    return  # a group that vanished between list and fetch

        await asyncio.gather(*(one(g) for g in groups))
        return results


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
