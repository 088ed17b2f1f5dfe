"""One member of a shard group: stage 1 (source partitions -> index topic) and stage 2 (index
partitions -> chains and sagas), both on edamon-owned consumer groups.

`ShardCollector` is a `Collector` (the service's routes and the views use it unchanged) whose
`run()` drives the two stages instead of tailing every partition:

- Stage 1 subscribes `edamon-shard.<group>.source` to the watched topics. A partition with no
  commit in that group starts at `topics.start_from`; else at its commit (stage 1 holds no
  state: a member that takes a partition over continues where the last owner committed). Each
  fetch is decoded in one batch, written to the index topic as one pack per index partition
  (`edamon.shard.index`), acknowledged, then committed: every `shard.commit_every_s` (1 s),
  and before Kafka moves the partitions away.
- Stage 2 subscribes `edamon-shard.<group>.index` to the index topic with an assignor that
  carries this member's URL in its subscription (the group's member metadata: how members find
  each other). It never commits: its state is in memory. Partitions it gains are read from
  `now − retention.max_age_s` (the rebuild); when it loses any, it drops its whole state and
  rebuilds what it still owns, the same as a fresh start. While rebuilding, its answers are
  partial. Event ids deduplicate what the index holds twice (a source partition re-read after
  a member died before committing). A pack's events are handed to the state already decoded
  (`CollectorState.ingest_decoded`).
- The member that owns index partition 0 samples consumer-group lag (one sampler per group,
  elected by Kafka's assignment).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka import errors as kerr
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

from edamon.broker.base import Broker, BrokerAuthError, BrokerError
from edamon.broker.kafka import KafkaBroker
from edamon.broker.kafka_client import client_options, guarded
from edamon.broker.kafka_groups import to_records
from edamon.collector.cancelling import cancel_and_wait
from edamon.collector.collector import AUTH_RETRY_S, Collector, let_requests_in, retry_delay
from edamon.collector.lagsampler import LagSampler
from edamon.collector.runtime import freeze_survivors
from edamon.collector.state import CollectorState
from edamon.config import KafkaSettings, Settings
from edamon.decode.registry import SchemaRegistry
from edamon.model.records import TP, RawRecord
from edamon.model.snapshot import CatchUpView
from edamon.model.status import ConnectionState
from edamon.model.timespec import resolve_start
from edamon.shard.index import FORMAT_HEADER, FORMAT_TEXT, BadIndexRecord, IndexReader, IndexWriter

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 2000
FETCH_TIMEOUT_MS = 200
METADATA_MAX_AGE_MS = 5_000
PRODUCER_BATCH_BYTES = 1024 * 1024
MAX_UNCOMMITTED = 20
"""Fetches indexed but not yet acknowledged by the index cluster, at most."""
ASSIGNOR_NAME = "edamon-shard"
INDEX_HEADERS = [(FORMAT_HEADER, FORMAT_TEXT)]
INDEX_HEADER_BYTES = len(FORMAT_HEADER) + len(FORMAT_TEXT)


class ShardRefused(Exception):
    """The shard can't run as configured (e.g. read-only and no index topic): the message
    says why. Shown as the connection's error, tried again later."""


def index_kafka_settings(settings: Settings) -> KafkaSettings:
    """The [kafka] settings with the index cluster's bootstrap servers, when one is set."""
    servers = settings.shard.index_bootstrap_servers
    if servers is None:
        return settings.kafka
    return settings.kafka.model_copy(update={"bootstrap_servers": servers})


@dataclass(frozen=True)
class RosterMember:
    """One member of the index group: where its API is and the index partitions it owns."""

    url: str
    partitions: tuple[int, ...]


@dataclass
class Roster:
    """The index group's members as the leader's last assignment told them (each member's
    URL comes from its subscription's user data; the leader hands the whole list to every
    member in the assignment's user data)."""

    members: tuple[RosterMember, ...] = ()


def encode_roster(members: Iterable[RosterMember]) -> bytes:
    return orjson.dumps([[m.url, list(m.partitions)] for m in members])


def decode_roster(data: bytes | None) -> tuple[RosterMember, ...]:
    """The members in an assignment's user data; only http(s) URLs (text from the group is
    untrusted: this member sends its token there). Empty when undecodable."""
    if not data:
        return ()
    try:
        items = orjson.loads(data)
        members = tuple(
            RosterMember(str(url), tuple(int(p) for p in partitions)) for url, partitions in items
        )
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return ()
    return tuple(m for m in members if m.url.startswith(("http://", "https://")))


def member_assignor(url: str, roster: Roster) -> type[RoundRobinPartitionAssignor]:
    """A round-robin assignor whose subscription carries `url` as its user data, and whose
    assignments carry the whole roster: every member knows every other one after each
    rebalance, with no request of its own."""
    user_data = url.encode()

    class MemberAssignor(RoundRobinPartitionAssignor):  # type: ignore[misc]
        name = ASSIGNOR_NAME

        @classmethod
        def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
            return ConsumerProtocolMemberMetadata(cls.version, list(topics), user_data)

        @classmethod
        def assign(
            cls, cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata]
        ) -> dict[str, ConsumerProtocolMemberAssignment]:
            plain = super().assign(cluster, members)
            everyone = [
                RosterMember(
                    bytes(members[mid].user_data or b"").decode("utf-8", "replace"),
                    tuple(sorted(p for _, parts in plain[mid].assignment for p in parts)),
                )
                for mid in sorted(plain)
            ]
            data = encode_roster(everyone)
            return {
                mid: ConsumerProtocolMemberAssignment(cls.version, given.assignment, data)
                for mid, given in plain.items()
            }

        @classmethod
        def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
            roster.members = decode_roster(assignment.user_data)

    return MemberAssignor


async def window_starts(
    broker: Broker, tps: list[TP], since_ms: int, ends: Mapping[TP, int]
) -> dict[TP, int]:
    """Where to start reading `tps` to see every record from `since_ms` on. `ends` are the end
    offsets read *before* this call: a partition with no record that new answers "its end",
    read later than `ends`, and records written in between would be skipped."""
    found = await broker.offsets_for_time(tps, since_ms)
    return {tp: min(found.get(tp, ends.get(tp, 0)), ends.get(tp, 0)) for tp in tps}


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        revoked: Callable[[set[TP]], Awaitable[None]],
        assigned: Callable[[set[TP]], Awaitable[None]],
    ) -> None:
        self._revoked = revoked
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._revoked({TP(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._assigned({TP(tp.topic, tp.partition) for tp in assigned})


class TopicRates:
    """Records/s per topic from the deltas of its partitions' end offsets between two lag
    samples: exact (every record counts, decoded or not) and cheap (no record is read)."""

    def __init__(self) -> None:
        self._last: tuple[float, dict[str, int]] | None = None
        self.rates: tuple[tuple[str, float], ...] = ()

    def observe(self, now: float, ends: Mapping[TP, int]) -> None:
        totals: dict[str, int] = {}
        for tp, end in ends.items():
            totals[tp.topic] = totals.get(tp.topic, 0) + end
        last, self._last = self._last, (now, totals)
        if last is None or now <= last[0]:
            return
        span = now - last[0]
        self.rates = tuple(
            sorted(
                (topic, max(0, total - last[1][topic]) / span)
                for topic, total in totals.items()
                if topic in last[1]
            )
        )


@dataclass
class ShardStatus:
    """What a member tells about itself (`GET /v1/shard`)."""

    group: str
    url: str
    source_partitions: tuple[TP, ...]
    index_partitions: tuple[TP, ...]
    rebuilding: bool
    samples_lag: bool
    index_records_written: int
    index_bytes_written: int
    topic_rates: tuple[tuple[str, float], ...]


class ShardCollector(Collector):
    """A `Collector` that is one member of a shard group (see the module's docstring)."""

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        *,
        url: str,
        clock: Callable[[], float] = time.time,
        registry: SchemaRegistry | None = None,
        start_fetching: asyncio.Event | None = None,
    ) -> None:
        """`start_fetching`: stage 1 joins its group but fetches nothing until it is set
        (bench/shard.py's steady state: the members settle in both groups before they read
        the measured records); None: at once."""
        super().__init__(broker, settings, clock=clock, registry=registry)
        self._start_fetching = start_fetching
        shard = settings.shard
        assert shard.group is not None, "a shard member needs shard.group"
        self.url = url
        self.group = shard.group
        self.index_topic = shard.index_topic_name()
        self.source_group, self.index_group = shard.group_ids()
        self._source = broker
        self._conf = settings
        self._now = clock
        self._index_kafka = index_kafka_settings(settings)
        self._index_broker: Broker = (
            broker if shard.index_bootstrap_servers is None else KafkaBroker(self._index_kafka)
        )
        self._writer = IndexWriter(settings, self.state.schemas)
        self._reader = IndexReader()
        self._sampler = LagSampler(broker, settings.lag, clock=clock)
        self._stage1: AIOKafkaConsumer | None = None
        self._stage2: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._topics: tuple[str, ...] = ()
        self._index_partition_count = shard.index_partitions
        self._uncommitted: list[tuple[list[asyncio.Future[Any]], dict[TopicPartition, int]]] = []
        self._committing = asyncio.Lock()
        self._source_owned: set[TP] = set()
        self._index_owned: set[TP] = set()
        self._index_positions: dict[TP, int] = {}
        self._rebuild_target: dict[TP, int] = {}
        self._rebuild_start: dict[TP, int] = {}
        self.roster = Roster()
        self.topic_rates = TopicRates()
        self.index_records_written = 0
        self.index_bytes_written = 0

    # ---- what the service asks -----------------------------------------------------------

    @property
    def caught_up(self) -> bool:
        return not self.rebuilding and bool(self._index_owned)

    @property
    def rebuilding(self) -> bool:
        """Some owned index partition is still being read up to where it was when gained."""
        return bool(self._rebuild_target)

    @property
    def samples_lag(self) -> bool:
        return TP(self.index_topic, 0) in self._index_owned

    def status(self) -> ShardStatus:
        return ShardStatus(
            group=self.group,
            url=self.url,
            source_partitions=tuple(sorted(self._source_owned)),
            index_partitions=tuple(sorted(self._index_owned)),
            rebuilding=self.rebuilding,
            samples_lag=self.samples_lag,
            index_records_written=self.index_records_written,
            index_bytes_written=self.index_bytes_written,
            topic_rates=self.topic_rates.rates,
        )

    # ---- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Join both groups (retrying with backoff) and run until cancelled."""
        failures = 0
        try:
            while True:
                try:
                    # the collector's outage tracker: the reason stays on the connection
                    # state between attempts (never a bare "connecting…" once one failed)
                    self.outage.asking(self._now())
                    self._show_outage()
                    await self._source.start()
                    if self._index_broker is not self._source:
                        await self._index_broker.start()
                    await self._session()
                    delay = retry_delay(0)
                except (BrokerAuthError, ShardRefused) as exc:
                    self.outage.answered()  # an answer, if a refusal
                    self.state.set_connection(ConnectionState.ERROR, str(exc), self._now())
                    self.state.notice(str(exc))
                    delay = AUTH_RETRY_S
                except (BrokerError, kerr.KafkaError, OSError) as exc:
                    log.warning("shard member: session ended: %s", exc)
                    delay = retry_delay(failures)
                    failures += 1
                    self.outage.failed(str(exc), self._now(), delay)
                    self._show_outage()
                await self._close_clients()
                await asyncio.sleep(delay)
        finally:
            await self._close_clients()
            await self.state.schemas.aclose()
            with suppress(BrokerError):
                await self._source.close()
            if self._index_broker is not self._source:
                with suppress(BrokerError):
                    await self._index_broker.close()
            self.state.set_connection(ConnectionState.STOPPED, "stopped", self._now())

    async def _close_clients(self) -> None:
        for client in (self._stage1, self._stage2, self._producer):
            if client is not None:
                with suppress(kerr.KafkaError, OSError, asyncio.CancelledError):
                    await client.stop()
        self._stage1 = self._stage2 = None
        self._producer = None
        self._uncommitted.clear()
        self._source_owned.clear()
        self._index_owned.clear()

    async def _session(self) -> None:
        info = await self._source.cluster_info()
        await self._ensure_index_topic()
        self._topics = await self._watched()
        producer = AIOKafkaProducer(
            acks="all",
            linger_ms=5,
            max_batch_size=PRODUCER_BATCH_BYTES,
            **client_options(self._index_kafka),
        )
        self._producer = producer
        await guarded(producer.start(), self._index_kafka, "connect (index producer)")
        found = await guarded(
            producer.partitions_for(self.index_topic), self._index_kafka, "index partitions"
        )
        self._index_partition_count = len(found)
        spec = resolve_start(self._conf.topics.start_from, self._now())
        stage1 = AIOKafkaConsumer(
            group_id=self.source_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if spec.kind == "earliest" else "latest",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **client_options(self._conf.kafka),
        )
        stage2 = AIOKafkaConsumer(
            group_id=self.index_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            partition_assignment_strategy=(member_assignor(self.url, self.roster),),
            **client_options(self._index_kafka),
        )
        self._stage1, self._stage2 = stage1, stage2
        await guarded(stage1.start(), self._conf.kafka, "connect (stage 1)")
        await guarded(stage2.start(), self._index_kafka, "connect (stage 2)")
        if self._topics:
            stage1.subscribe(
                topics=list(self._topics),
                listener=_Listener(self._source_revoked, self._source_assigned),
            )
        stage2.subscribe(
            topics=[self.index_topic], listener=_Listener(self._index_revoked, self._index_assigned)
        )
        self.outage.answered()
        self.state.set_connection(
            ConnectionState.CONNECTED, "", self._now(), brokers=len(info.brokers)
        )
        tasks = [
            asyncio.create_task(self._stage1_loop(stage1, producer), name="edamon-shard-stage1"),
            asyncio.create_task(self._commit_loop(stage1), name="edamon-shard-commit"),
            asyncio.create_task(self._stage2_loop(stage2), name="edamon-shard-stage2"),
            asyncio.create_task(self._topics_loop(stage1), name="edamon-shard-topics"),
            asyncio.create_task(self._lag_loop(), name="edamon-shard-lag"),
            asyncio.create_task(self._tick_loop(), name="edamon-shard-tick"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            await cancel_and_wait(tasks)
            for task in tasks:
                if task.done():
                    with suppress(asyncio.CancelledError, BrokerError, kerr.KafkaError):
                        await task

    async def _ensure_index_topic(self) -> None:
        """Create the index topic (retention: the window) unless it exists; refused when
        read-only."""
        topics = await self._index_broker.list_topics()
        if any(t.name == self.index_topic for t in topics):
            return
        if self._conf.read_only:
            raise ShardRefused(
                f"read-only: the shard's index topic {self.index_topic} does not exist on "
                f"{self._index_broker.name} and is not created (create it, or run without "
                "read_only once)"
            )
        retention_ms = int(self._conf.retention.max_age_s * 1000)
        await self._index_broker.create_topic(
            self.index_topic,
            self._conf.shard.index_partitions,
            {"retention.ms": str(retention_ms), "cleanup.policy": "delete"},
        )
        log.info("created the shard index topic %s", self.index_topic)

    async def _watched(self) -> tuple[str, ...]:
        topics = await self._source.list_topics()
        rules = self.state.rules
        selected = {
            t.name: t.partitions
            for t in topics
            if not t.internal and rules.tailed(t.name) and t.name != self.index_topic
        }
        self.state.set_partitions(selected, self._now())
        return tuple(sorted(selected))

    async def _topics_loop(self, stage1: AIOKafkaConsumer) -> None:
        while True:
            await asyncio.sleep(self._conf.topics.refresh_s)
            topics = await self._watched()
            if topics != self._topics:
                self._topics = topics
                if topics:
                    stage1.subscribe(
                        topics=list(topics),
                        listener=_Listener(self._source_revoked, self._source_assigned),
                    )
                else:
                    stage1.unsubscribe()

    # ---- stage 1 -------------------------------------------------------------------------

    async def _source_revoked(self, revoked: set[TP]) -> None:
        """Commit what the index holds before the partitions go (Kafka calls this before the
        group rebalances): their next owner starts there instead of at the last periodic
        commit, so it indexes again only what was in flight."""
        self._source_owned -= revoked
        stage1 = self._stage1
        if stage1 is not None:
            try:
                await self._commit_indexed(stage1)
            except (BrokerError, kerr.KafkaError) as exc:  # the next owner reads more again
                log.info("stage 1: no commit before the rebalance: %s", exc)

    async def _source_assigned(self, assigned: set[TP]) -> None:
        """Partitions with no commit in the source group start at topics.start_from: the
        consumer's reset policy for `earliest` and `latest`, a seek for a time."""
        stage1 = self._stage1
        self._source_owned = set(assigned)
        spec = resolve_start(self._conf.topics.start_from, self._now())
        if stage1 is None or spec.kind in ("earliest", "latest") or not assigned:
            return
        tps = [TopicPartition(tp.topic, tp.partition) for tp in sorted(assigned)]
        committed = await asyncio.gather(*(stage1.committed(tp) for tp in tps))
        fresh = [
            TP(tp.topic, tp.partition) for tp, c in zip(tps, committed, strict=True) if c is None
        ]
        if not fresh:
            return
        assert spec.timestamp_ms is not None
        ends = await self._source.end_offsets(fresh)
        starts = await window_starts(self._source, fresh, spec.timestamp_ms, ends)
        for tp, offset in starts.items():
            stage1.seek(TopicPartition(tp.topic, tp.partition), offset)

    async def _stage1_loop(self, stage1: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        """Fetch and index; a fetch's offsets are committed once the cluster has its index
        records (`_commit_loop`), so fetching never waits for a round trip. At most
        MAX_UNCOMMITTED fetches wait for their commit."""
        pending = self._uncommitted
        if self._start_fetching is not None:
            await self._start_fetching.wait()
        while True:
            if not self._topics:
                await asyncio.sleep(FETCH_TIMEOUT_MS / 1000)
                continue
            batches = await guarded(
                stage1.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS),
                self._conf.kafka,
                "fetch (stage 1)",
                FETCH_TIMEOUT_MS / 1000 + self._conf.kafka.request_timeout_s,
            )
            if not batches:
                continue
            sent = await self.index(to_records(batches), producer)
            offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items() if msgs}
            pending.append((sent, offsets))
            if len(pending) > MAX_UNCOMMITTED:  # the index cluster is slower than the source
                await guarded(asyncio.gather(*pending[0][0]), self._index_kafka, "write the index")

    async def _commit_loop(self, stage1: AIOKafkaConsumer) -> None:
        """Every shard.commit_every_s, commit what the index holds (source offsets of the
        fetches whose index records were all acknowledged)."""
        every = self._conf.shard.commit_every_s
        while True:
            await asyncio.sleep(every)
            if self._uncommitted:
                await self._commit_indexed(stage1)

    async def _commit_indexed(self, stage1: AIOKafkaConsumer) -> None:
        """Commit the source offsets of the fetches queued so far, once the index cluster
        acknowledged all their index records. One commit at a time: a rebalance's commit
        waits for the clock's, so that one is not refused after the partitions moved."""
        async with self._committing:
            pending = self._uncommitted
            taken = list(pending)
            del pending[: len(taken)]
            if not taken:
                return
            offsets: dict[TopicPartition, int] = {}
            for sent, fetched in taken:
                await guarded(asyncio.gather(*sent), self._index_kafka, "write the index")
                offsets.update(fetched)
            try:
                await stage1.commit(offsets)
            except (
                kerr.CommitFailedError,
                kerr.IllegalStateError,
                kerr.RebalanceInProgressError,
            ) as exc:
                # the partitions moved meanwhile: the new owner reads them again from the
                # last commit, and event ids deduplicate what is indexed twice
                log.info("stage 1: commit refused during a rebalance: %r", exc)

    async def index(
        self, records: list[RawRecord], producer: AIOKafkaProducer
    ) -> list[asyncio.Future[Any]]:
        """Queue the packs of `records`: one index record per index partition (more when one
        would be too large, see `edamon.shard.index`); returns their delivery futures."""
        topic = self.index_topic
        packs = self._writer.packs(records, self._index_partition_count)
        sent: list[asyncio.Future[Any]] = []
        written = 0
        for partition, pack in packs.items():
            for value in pack.encode():
                written += len(value) + INDEX_HEADER_BYTES
                sent.append(
                    await producer.send(
                        topic,
                        value,
                        partition=partition,
                        timestamp_ms=pack.timestamp_ms or None,  # none known: now
                        headers=INDEX_HEADERS,
                    )
                )
        self.index_records_written += len(records)
        self.index_bytes_written += written
        return sent

    # ---- stage 2 -------------------------------------------------------------------------

    async def _index_revoked(self, revoked: set[TP]) -> None:
        """Nothing to save: the stage-2 loop keeps the positions of what it ingested."""

    async def _index_assigned(self, assigned: set[TP]) -> None:
        """Gained partitions are rebuilt from now − window; losing any rebuilds all."""
        stage2 = self._stage2
        if stage2 is None:
            return
        previous = self._index_owned
        lost = previous - assigned
        if lost:  # flows moved away: start again from what this member still owns
            partitions = self.state.partitions
            self.state = CollectorState(
                self._conf, cluster=self._source.name, schemas=self.state.schemas
            )
            self.state.set_partitions(partitions, self._now())
            self.state.set_connection(ConnectionState.CONNECTED, "", self._now())
            self._index_positions.clear()
            self._rebuild_target.clear()
            self._rebuild_start.clear()
            gained = set(assigned)
        else:
            gained = assigned - previous
        self._index_owned = set(assigned)
        for tp in assigned - gained:  # kept: where this member had read to
            position = self._index_positions.get(tp)
            if position is not None:
                stage2.seek(TopicPartition(tp.topic, tp.partition), position)
        if not gained:
            return
        since_ms = int((self._now() - self._conf.retention.max_age_s) * 1000)
        tps = sorted(gained)
        ends = await self._index_broker.end_offsets(tps)
        starts = await window_starts(self._index_broker, tps, since_ms, ends)
        for tp in tps:
            start = starts[tp]
            stage2.seek(TopicPartition(tp.topic, tp.partition), start)
            self._index_positions[tp] = start
            if ends.get(tp, 0) > start:
                self._rebuild_start[tp] = start
                self._rebuild_target[tp] = ends[tp]
        self._update_rebuild()

    def _update_rebuild(self) -> None:
        total = behind = 0
        for tp, target in list(self._rebuild_target.items()):
            start = self._rebuild_start.get(tp, target)
            position = self._index_positions.get(tp, start)
            total += max(0, target - start)
            if position >= target:
                del self._rebuild_target[tp]
                self._rebuild_start.pop(tp, None)
            else:
                behind += target - position
        percent = 100.0 if total == 0 else 100.0 * (total - behind) / total
        caught_up = not self._rebuild_target and bool(self._index_owned)
        self.state.catchup = CatchUpView(caught_up, behind, percent)

    async def _stage2_loop(self, stage2: AIOKafkaConsumer) -> None:
        while True:
            batches = await guarded(
                stage2.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=FETCH_MAX_RECORDS),
                self._index_kafka,
                "fetch (stage 2)",
                FETCH_TIMEOUT_MS / 1000 + self._index_kafka.request_timeout_s,
            )
            if not batches:
                self._update_rebuild()
                continue
            reader = self._reader
            reader.clear()  # (left full only if the last fetch's ingest raised)
            for record in to_records(batches):
                try:
                    reader.read(record)
                except BadIndexRecord as exc:
                    self.state.notice(f"shard: {exc}")
            for tp, messages in batches.items():
                if messages:
                    self._index_positions[TP(tp.topic, tp.partition)] = messages[-1].offset + 1
            now = self._now()
            if reader.events:
                self.state.ingest_decoded(reader.events, now)
            if reader.records:
                self.state.ingest(reader.records, now)
            self.records_read += len(reader.events) + len(reader.records)
            reader.clear()
            self._update_rebuild()
            await let_requests_in()

    # ---- lag and time --------------------------------------------------------------------

    async def _lag_loop(self) -> None:
        """Only the owner of index partition 0 samples lag: one sampler per shard group. Its
        samples also read every watched partition's end offset: the topics' rates."""
        while True:
            if self.samples_lag:
                watched = [TP(t, p) for t, n in self.state.partitions.items() for p in range(n)]
                try:
                    groups, ends = await self._sampler.sample(self.state.partitions, watched)
                except BrokerError as exc:
                    self.state.notice(f"lag sample failed: {exc}")
                else:
                    self.state.lag = groups
                    self.topic_rates.observe(self._now(), ends)
                self.state.lag_health = self._sampler.health()
            else:
                self.state.lag = ()
                self.topic_rates = TopicRates()
            await self._sampler.wait_next()

    async def _tick_loop(self) -> None:
        while True:
            self.state.tick(self._now())
            freeze_survivors()
            await asyncio.sleep(1.0)
