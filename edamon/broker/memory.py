"""An in-process broker: the demo's default, and a fast stand-in for unit tests of pure logic.

Topics have partitions holding records in plain lists; offsets, timestamps (from an injectable
clock), keyed partitioning (Kafka's own murmur2, so a key lands on the same partition as on a
real cluster), consumer groups with committed offsets and round-robin assignment, group-less
tailers and a produce fault hook. Readers wait on futures woken by `produce`: no polling.

Single event loop only (like every asyncio object); nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Callable, Mapping, Sequence

from edamon.broker.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterInfo,
    GroupInfo,
    MemberInfo,
    ServerProbe,
    TopicInfo,
)
from edamon.broker.memory_clients import MemoryGroupConsumer, MemoryTailer
from edamon.broker.partitioner import key_partition
from edamon.model.records import TP, Header, RawRecord


class _Partition:
    __slots__ = ("base", "max_ts", "records")

    def __init__(self) -> None:
        self.base = 0
        """Offset of records[0] (grows when old records are trimmed)."""
        self.records: list[RawRecord] = []
        self.max_ts: list[int] = []
        """Running maximum of record timestamps, for offsets_for_time (bisect)."""

    @property
    def end(self) -> int:
        return self.base + len(self.records)


class _Topic:
    __slots__ = ("config", "name", "next_unkeyed", "partitions")

    def __init__(self, name: str, partitions: int, config: Mapping[str, str]) -> None:
        self.name = name
        self.partitions = [_Partition() for _ in range(partitions)]
        self.config = dict(config)
        self.next_unkeyed = 0


class _Group:
    __slots__ = ("committed", "members")

    def __init__(self) -> None:
        self.members: list[MemoryGroupConsumer] = []
        self.committed: dict[TP, int] = {}


class MemoryBroker:
    """A Broker held entirely in this process (see the module docstring).

    `clock` gives epoch seconds (record timestamps); `max_records_per_partition` trims the
    oldest records beyond it (the beginning offset then moves, like retention);
    `auto_create_topics` lets `produce` create unknown topics with one partition (off by
    default, as on the test cluster).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_records_per_partition: int | None = None,
        auto_create_topics: bool = False,
        name: str = "in-memory",
    ) -> None:
        if max_records_per_partition is not None and max_records_per_partition < 1:
            raise ValueError("max_records_per_partition must be positive")
        self.clock = clock
        self._name = name
        self._max_records = max_records_per_partition
        self._auto_create = auto_create_topics
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._produce_faults: dict[str | None, BrokerError] = {}
        self._member_ids = itertools.count(1)
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """`in-memory` (or the name given)."""
        return self._name

    async def start(self) -> None:
        """Connect: nothing to do, except to reopen after `close()`."""
        self._closed = False

    async def close(self) -> None:
        """Disconnect every client: group members leave, waiting readers wake up, and calls
        raise BrokerUnavailable until `start()` again. The data stays (it is the cluster)."""
        self._closed = True
        for group in self._groups.values():
            for member in group.members:
                member.disconnect()
            group.members.clear()
        self._wake()

    async def probe_servers(self, timeout_s: float) -> list[ServerProbe]:
        """Nothing to connect to: no probe."""
        return []

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerUnavailable(f"{self._name} broker is closed")

    # -- fault injection ------------------------------------------------------------------------

    def fail_produce(self, topic: str | None, error: BrokerError | None = None) -> None:
        """Make every `produce` to `topic` (None: to any topic) raise `error` until cleared."""
        self._produce_faults[topic] = error or BrokerError(
            f"produce to {topic or 'any topic'} failed (injected fault)"
        )

    def clear_produce_failures(self) -> None:
        """Remove every fault set by `fail_produce`."""
        self._produce_faults.clear()

    # -- metadata -------------------------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """One pseudo-broker named like the cluster."""
        self._check_open()
        return ClusterInfo(cluster_id=self._name, brokers=(self._name,), controller=self._name)

    async def list_topics(self) -> list[TopicInfo]:
        """All topics, sorted by name; names starting with `__` are flagged internal."""
        self._check_open()
        return [
            TopicInfo(name, len(t.partitions), internal=name.startswith("__"))
            for name, t in sorted(self._topics.items())
        ]

    async def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> bool:
        """Create a topic; False if it already existed (its partition count is left as is)."""
        self._check_open()
        if not name or partitions < 1:
            raise BrokerError(f"cannot create topic {name!r} with {partitions} partitions")
        if name in self._topics:
            return False
        self._topics[name] = _Topic(name, partitions, config or {})
        for group in self._groups.values():
            if any(name in m.topics for m in group.members):
                self._rebalance(group)
        return True

    async def add_partitions(self, name: str, total: int) -> None:
        """Raise `name`'s partition count to `total`; its groups rebalance onto the new ones."""
        self._check_open()
        topic = self._topics.get(name)
        if topic is None:
            raise BrokerError(f"cannot add partitions to {name!r}: the topic does not exist")
        if total <= len(topic.partitions):
            raise BrokerError(
                f"cannot add partitions to {name!r}: it has {len(topic.partitions)} already"
            )
        topic.partitions.extend(_Partition() for _ in range(total - len(topic.partitions)))
        for group in self._groups.values():
            if any(name in m.topics for m in group.members):
                self._rebalance(group)

    def _partition(self, tp: TP) -> _Partition | None:
        topic = self._topics.get(tp.topic)
        if topic is None or not 0 <= tp.partition < len(topic.partitions):
            return None
        return topic.partitions[tp.partition]

    def _offsets(self, tps: Sequence[TP], pick: Callable[[_Partition], int]) -> dict[TP, int]:
        self._check_open()
        out: dict[TP, int] = {}
        missing: list[str] = []
        for tp in tps:
            part = self._partition(tp)
            if part is None:
                missing.append(f"{tp.topic}/{tp.partition}")
            else:
                out[TP(tp.topic, tp.partition)] = pick(part)
        if missing:
            raise BrokerError(f"no such topic partition: {', '.join(missing[:5])}")
        return out

    async def end_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        """Next offset to be written per partition. BrokerError if one does not exist."""
        return self._offsets(tps, lambda part: part.end)

    async def beginning_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        """Oldest retained offset per partition. BrokerError if one does not exist."""
        return self._offsets(tps, lambda part: part.base)

    async def offsets_for_time(self, tps: Sequence[TP], timestamp_ms: int) -> dict[TP, int]:
        """The earliest offset whose timestamp is >= timestamp_ms; the end offset if none."""
        return self._offsets(
            tps, lambda part: part.base + bisect.bisect_left(part.max_ts, timestamp_ms)
        )

    # -- groups ---------------------------------------------------------------------------------

    async def list_groups(self) -> list[str]:
        """Every group that ever had a member or a commit, sorted."""
        self._check_open()
        return sorted(self._groups)

    async def describe_groups(self, groups: Sequence[str]) -> list[GroupInfo]:
        """`Stable` with members, `Empty` without (but known), `Dead` when unknown."""
        self._check_open()
        out: list[GroupInfo] = []
        for name in groups:
            group = self._groups.get(name)
            if group is None:
                out.append(GroupInfo(name, "Dead", "", ()))
                continue
            members = tuple(
                MemberInfo(m.member_id, m.client_id, "/127.0.0.1", tuple(sorted(m.assignment)))
                for m in group.members
            )
            state = "Stable" if members else "Empty"
            out.append(GroupInfo(name, state, "consumer", members))
        return out

    async def committed_offsets(self, group: str) -> dict[TP, int]:
        """Committed next-offsets of one group; partitions without a commit are absent."""
        self._check_open()
        state = self._groups.get(group)
        return dict(state.committed) if state else {}

    async def committed_offsets_many(self, groups: Sequence[str]) -> dict[str, dict[TP, int]]:
        """Committed next-offsets of each known group (unknown ones absent)."""
        self._check_open()
        return {g: dict(self._groups[g].committed) for g in groups if g in self._groups}

    def request_count(self) -> int:
        """Always 0: nothing goes over a network."""
        return 0

    def _join(self, member: MemoryGroupConsumer) -> None:
        group = self._groups.setdefault(member.group, _Group())
        group.members.append(member)
        self._rebalance(group)

    def _leave(self, member: MemoryGroupConsumer) -> None:
        group = self._groups.get(member.group)
        if group is not None and member in group.members:
            group.members.remove(member)
            member.assignment = {}
            self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Round-robin (Kafka's RoundRobinAssignor): sorted partitions dealt in turn to the
        members subscribed to their topic. Partitions a member keeps keep its position; new
        ones start at the committed offset, else at the beginning (auto.offset.reset=earliest)."""
        members = group.members
        wanted: list[dict[TP, int]] = [{} for _ in members]
        topics = sorted({t for m in members for t in m.topics if t in self._topics})
        turn = 0
        for topic in topics:
            subscribed = [i for i, m in enumerate(members) if topic in m.topics]
            for p, part in enumerate(self._topics[topic].partitions):
                while turn % len(members) not in subscribed:
                    turn += 1
                index = turn % len(members)
                turn += 1
                tp = TP(topic, p)
                old = members[index].assignment.get(tp)
                wanted[index][tp] = old if old is not None else group.committed.get(tp, part.base)
        for member, assignment in zip(members, wanted, strict=True):
            member.assignment = assignment
        if self._waiters:
            self._wake()

    def _commit(self, group: str, offsets: Mapping[TP, int]) -> None:
        state = self._groups.setdefault(group, _Group())
        state.committed.update(offsets)

    # -- readers --------------------------------------------------------------------------------

    def tailer(self) -> MemoryTailer:
        """A new reader with no group id."""
        return MemoryTailer(self)

    def group_consumer(
        self, group: str, topics: Sequence[str], client_id: str | None = None
    ) -> MemoryGroupConsumer:
        """A new member of consumer group `group`; it joins on its first fetch. Its member id
        is `<client id, else group>-<n>` (Kafka's is the client id and a UUID); without a
        client id it presents none."""
        member_id = f"{client_id or group}-{next(self._member_ids)}"
        return MemoryGroupConsumer(self, group, topics, member_id, client_id or "")

    def _read(self, positions: dict[TP, int], max_records: int, start: int) -> list[RawRecord]:
        """Records from `positions` (advanced in place), partitions visited from `start`."""
        out: list[RawRecord] = []
        if not positions or max_records <= 0:
            return out
        tps = list(positions)
        count = len(tps)
        for i in range(count):
            tp = tps[(start + i) % count]
            part = self._partition(tp)
            if part is None:
                continue
            pos = positions[tp]
            if pos < part.base or pos > part.end:
                pos = part.base  # out of range: reset to earliest, as the Kafka readers do
            index = pos - part.base
            chunk = part.records[index : index + max_records - len(out)]
            positions[tp] = pos + len(chunk)
            out.extend(chunk)
            if len(out) >= max_records:
                break
        return out

    async def _fetch(
        self,
        positions: Callable[[], dict[TP, int]],
        max_records: int,
        timeout_ms: int,
        start: int,
        is_closed: Callable[[], bool],
    ) -> list[RawRecord]:
        """Read from `positions()` (re-read after every wake-up: a rebalance replaces a
        member's assignment), waiting for a produce or a rebalance until the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_ms, 0) / 1000
        while True:
            self._check_open()
            if is_closed():
                raise BrokerError("the consumer is closed")
            records = self._read(positions(), max_records, start)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                self._check_open()
                return self._read(positions(), max_records, start)
            finally:
                self._waiters.discard(waiter)  # timed out or cancelled: not left behind

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- writing --------------------------------------------------------------------------------

    async def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[int, int]:
        """Append one record; returns (partition, offset). Keyed records go where Kafka's
        default partitioner would put them, unkeyed ones round-robin."""
        self._check_open()
        if key is None and value is None:  # aiokafka refuses these too
            raise BrokerError(f"produce to {topic} failed: a record needs a key or a value")
        if self._produce_faults:
            fault = self._produce_faults.get(topic) or self._produce_faults.get(None)
            if fault is not None:
                raise fault
        state = self._topics.get(topic)
        if state is None:
            if not self._auto_create:
                raise BrokerError(f"produce to {topic} failed: the topic does not exist")
            await self.create_topic(topic)
            state = self._topics[topic]
        count = len(state.partitions)
        if partition is None:
            if key is not None:
                partition = key_partition(key, count)
            else:
                partition = state.next_unkeyed % count
                state.next_unkeyed += 1
        elif not 0 <= partition < count:
            raise BrokerError(f"produce to {topic} failed: no partition {partition}")
        part = state.partitions[partition]
        if timestamp_ms is None:
            timestamp_ms = int(self.clock() * 1000)
        offset = part.end
        part.records.append(
            RawRecord(topic, partition, offset, timestamp_ms, key, value, tuple(headers))
        )
        max_ts = part.max_ts
        max_ts.append(max(timestamp_ms, max_ts[-1]) if max_ts else timestamp_ms)
        if self._max_records is not None and len(part.records) > self._max_records:
            # Trim to 90% of the limit at once, so trimming costs O(1) per record amortised.
            drop = len(part.records) - self._max_records + self._max_records // 10
            del part.records[:drop]
            del part.max_ts[:drop]
            part.base += drop
        if self._waiters:
            self._wake()
        return partition, offset
