"""`KafkaBroker`: the Broker interface on a real cluster, with aiokafka.

One admin client and one helper consumer (no group: offsets, times, metadata) live from
`start()` to `close()`; the idempotent producer is created on first `produce()`; every tailer
and group consumer gets its own AIOKafkaConsumer. Every call runs under `asyncio.wait_for` and
every failure surfaces as a BrokerError subclass whose message never contains the password.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kerr
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.protocol.metadata import MetadataRequest

from edamon.broker.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterInfo,
    GroupInfo,
    ServerProbe,
    TopicInfo,
)
from edamon.broker.kafka_client import (
    abandon_producer,
    cancelling,
    client_options,
    guarded,
    map_error,
)
from edamon.broker.kafka_groups import KafkaGroupConsumer, KafkaTailer, header_list
from edamon.broker.kafka_offsets import GroupReader, committed_of
from edamon.broker.kafka_probe import probe_servers
from edamon.broker.kafka_records import KafkaRecordTailer
from edamon.config import KafkaSettings
from edamon.model.records import TP, Header

__all__ = ["KafkaBroker", "KafkaGroupConsumer", "KafkaTailer", "probe_cluster"]

_MAX_REPLICATION = 3


def _tp_list(tps: Sequence[TP]) -> list[TopicPartition]:
    return [TopicPartition(tp.topic, tp.partition) for tp in tps]


class KafkaBroker:
    """The Broker protocol on a Kafka cluster (see edamon.broker.base for the contract)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._helper: AIOKafkaConsumer | None = None
        self._groups = GroupReader(settings)
        self._end_requests = 0
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self._children: weakref.WeakSet[KafkaTailer | KafkaGroupConsumer] = weakref.WeakSet()
        """Readers and writers still in use, closed with the broker (closed ones drop out)."""
        self._closed = False

    @property
    def name(self) -> str:
        """The bootstrap servers, as shown for the cluster."""
        return self._settings.bootstrap_servers

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the admin client and the helper consumer within kafka.connect_timeout_s.

        Raises BrokerUnavailable (unreachable), BrokerAuthError (SASL) or BrokerError.
        """
        if self._closed:
            raise BrokerError("the broker client is closed")
        if self._admin is not None:
            return
        timeout = self._settings.connect_timeout_s
        try:
            await asyncio.wait_for(self._start_clients(), timeout)
        except TimeoutError:
            await self._close_clients()
            raise BrokerUnavailable(
                f"cannot reach kafka at {self.name}: no answer within {timeout:g}s"
            ) from None
        except BrokerError:
            await self._close_clients()
            raise

    async def _start_clients(self) -> None:
        try:
            hosts = collect_hosts(self._settings.bootstrap_servers, randomize=False)
        except ValueError:
            raise BrokerError(
                f"kafka.bootstrap_servers is not a host:port list: {self.name!r}"
            ) from None
        options = client_options(self._settings)
        self._admin = AIOKafkaAdminClient(**options)
        self._helper = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **options)
        try:
            await self._admin.start()
            await self._helper.start()
            await self._groups.start()
        except (kerr.KafkaError, OSError) as exc:
            if isinstance(exc, kerr.KafkaConnectionError):
                await self._diagnose(hosts)
            raise map_error(exc, self._settings, "connect") from None

    async def _diagnose(self, hosts: list[tuple[str, int, Any]]) -> None:
        """aiokafka reports every bootstrap failure as 'Unable to bootstrap': connect to the
        first host directly to raise the real cause (refused, unknown host, SASL failure)."""
        if not hosts:
            return
        host, port, _ = hosts[0]
        options = client_options(self._settings)
        try:
            conn = await create_conn(
                host,
                port,
                client_id=options["client_id"],
                request_timeout_ms=options["request_timeout_ms"],
                ssl_context=options.get("ssl_context"),
                security_protocol=options["security_protocol"],
                sasl_mechanism=options.get("sasl_mechanism"),
                sasl_plain_username=options.get("sasl_plain_username"),
                sasl_plain_password=options.get("sasl_plain_password"),
            )
        except (kerr.KafkaError, OSError) as exc:
            raise map_error(exc, self._settings, "connect") from None
        try:
            await conn.send(MetadataRequest([]))
        except (kerr.KafkaError, OSError):
            raise BrokerUnavailable(
                f"cannot reach kafka at {self.name}: the broker closed the connection (does "
                f"kafka.security_protocol {self._settings.security_protocol} match this "
                f"listener?)"
            ) from None
        finally:
            conn.close()

    async def close(self) -> None:
        """Close every client this broker created (tailers and group consumers included).
        Idempotent."""
        self._closed = True
        children = list(self._children)
        self._children = weakref.WeakSet()
        for child in children:
            await child.close()
        async with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        await self._close_clients()

    async def _close_clients(self) -> None:
        helper, self._helper = self._helper, None
        admin, self._admin = self._admin, None
        if helper is not None:
            await helper.stop()
        if admin is not None:
            await admin.close()
        await self._groups.close()

    def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._helper is None:
            raise BrokerError(
                "the broker client is not started"
                if not self._closed
                else "the broker client is closed"
            )
        return self._admin, self._helper

    async def probe_servers(self, timeout_s: float) -> list[ServerProbe]:
        """What a new connection to each bootstrap server sees (edamon.broker.kafka_probe)."""
        return await probe_servers(self._settings, timeout_s)

    # -- metadata --------------------------------------------------------------------------

    async def cluster_info(self) -> ClusterInfo:
        """Cluster id, brokers (host:port) and the controller."""
        admin, _ = self._clients()
        meta = await guarded(admin.describe_cluster(), self._settings, "describe cluster")
        brokers = {b["node_id"]: f"{b['host']}:{b['port']}" for b in meta.get("brokers", [])}
        controller_id = meta.get("controller_id", -1)
        return ClusterInfo(
            cluster_id=meta.get("cluster_id") or None,
            brokers=tuple(brokers[n] for n in sorted(brokers)),
            controller=brokers.get(controller_id),
        )

    async def list_topics(self) -> list[TopicInfo]:
        """All topics, sorted by name; internal ones (`__*` or flagged by Kafka) marked."""
        admin, _ = self._clients()
        described = await guarded(admin.describe_topics(), self._settings, "list topics")
        topics = [
            TopicInfo(
                name=t["topic"],
                partitions=len(t.get("partitions") or ()),
                internal=bool(t.get("is_internal")) or t["topic"].startswith("__"),
            )
            for t in described
            if t.get("error_code", 0) == 0
        ]
        topics.sort(key=lambda t: t.name)
        return topics

    async def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> bool:
        """Create a topic (replication min(3, brokers)); False if it already existed."""
        admin, _ = self._clients()
        info = await self.cluster_info()
        replication = max(1, min(_MAX_REPLICATION, len(info.brokers)))
        new_topic = NewTopic(name, partitions, replication, topic_configs=dict(config or {}))
        response = await guarded(
            admin.create_topics([new_topic]), self._settings, f"create topic {name}"
        )
        for item in response.to_object().get("topic_errors", []):
            error = kerr.for_code(item.get("error_code", 0))
            if error is kerr.NoError:
                continue
            if error is kerr.TopicAlreadyExistsError:
                return False
            detail = item.get("error_message") or error.description
            raise map_error(error(detail), self._settings, f"create topic {name}")
        return True

    async def add_partitions(self, name: str, total: int) -> None:
        """Raise `name`'s partition count to `total` (admin CreatePartitions)."""
        admin, _ = self._clients()
        await guarded(
            admin.create_partitions({name: NewPartitions(total)}),
            self._settings,
            f"add partitions to {name}",
        )

    # -- offsets ---------------------------------------------------------------------------

    async def _require_partitions(self, tps: Sequence[TP]) -> AIOKafkaConsumer:
        """The helper consumer, once every partition in `tps` is known to exist.

        aiokafka's offset lookups wait forever for a partition that does not exist; asking
        the cluster first turns that into an immediate BrokerError naming the partition.
        """
        admin, helper = self._clients()
        unsure: set[str] = set()
        for tp in tps:
            known = helper.partitions_for_topic(tp.topic)
            if known is None or tp.partition not in known:
                unsure.add(tp.topic)
        if not unsure:
            return helper
        described = await guarded(
            admin.describe_topics(sorted(unsure)), self._settings, "describe topics"
        )
        exist = {
            (t["topic"], p["partition"])
            for t in described
            if t.get("error_code", 0) == 0
            for p in t.get("partitions") or ()
        }
        missing = [tp for tp in tps if tp.topic in unsure and (tp.topic, tp.partition) not in exist]
        if missing:
            shown = ", ".join(str(tp) for tp in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise BrokerError(f"no such topic partition: {shown}{more}")
        return helper

    async def end_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        """High watermark per partition (the next offset to be written).

        Raises BrokerError at once if a partition does not exist."""
        if not tps:
            return {}
        helper = await self._require_partitions(tps)
        self._end_requests += len(self._groups.brokers())  # one ListOffsets per leader
        result = await guarded(helper.end_offsets(_tp_list(tps)), self._settings, "end offsets")
        return {TP(tp.topic, tp.partition): int(o) for tp, o in result.items()}

    async def beginning_offsets(self, tps: Sequence[TP]) -> dict[TP, int]:
        """The earliest offset still stored per partition."""
        if not tps:
            return {}
        helper = await self._require_partitions(tps)
        result = await guarded(
            helper.beginning_offsets(_tp_list(tps)), self._settings, "beginning offsets"
        )
        return {TP(tp.topic, tp.partition): int(o) for tp, o in result.items()}

    async def offsets_for_time(self, tps: Sequence[TP], timestamp_ms: int) -> dict[TP, int]:
        """The earliest offset whose timestamp is >= timestamp_ms; the end offset if none."""
        if not tps:
            return {}
        helper = await self._require_partitions(tps)
        query = {TopicPartition(tp.topic, tp.partition): max(0, timestamp_ms) for tp in tps}
        found = await guarded(helper.offsets_for_times(query), self._settings, "offsets for time")
        result: dict[TP, int] = {}
        missing: list[TP] = []
        for tp in tps:
            hit = found.get(TopicPartition(tp.topic, tp.partition))
            if hit is None:
                missing.append(tp)
            else:
                result[TP(tp.topic, tp.partition)] = int(hit.offset)
        if missing:
            result.update(await self.end_offsets(missing))
        return result

    # -- consumer groups -------------------------------------------------------------------

    async def list_groups(self) -> list[str]:
        """Ids of all consumer groups known to the cluster, sorted (ListGroups to each broker;
        no metadata request)."""
        self._clients()
        return await self._groups.list_groups()

    async def describe_groups(self, groups: Sequence[str]) -> list[GroupInfo]:
        """State, protocol type and members (with decoded assignments) per group, in the
        order asked.

        Best effort: KIP-848 groups may describe as Dead/Unknown with no members.
        """
        if not groups:
            return []
        self._clients()
        return await self._groups.describe(groups)

    async def committed_offsets(self, group: str) -> dict[TP, int]:
        """Committed next-offsets of one group; partitions without a commit are absent."""
        return committed_of(await self.committed_offsets_many([group]), group)

    async def committed_offsets_many(self, groups: Sequence[str]) -> dict[str, dict[TP, int]]:
        """Committed next-offsets of many groups (OffsetFetch v8: several groups a request);
        a group that cannot be read (gone, not authorised) is absent."""
        self._clients()
        return await self._groups.committed(groups)

    def request_count(self) -> int:
        """Requests sent so far for consumer groups and end offsets (the lag sampler's)."""
        return self._groups.requests + self._end_requests

    # -- readers and writers ---------------------------------------------------------------

    def tailer(self) -> KafkaTailer:
        """A new reader with no group id (its consumer starts on the first `assign()`); a
        record with a header name that is not UTF-8 comes out as a FlawedRecord."""
        tailer = KafkaRecordTailer(self._settings)
        self._children.add(tailer)
        return tailer

    def group_consumer(
        self, group: str, topics: Sequence[str], client_id: str | None = None
    ) -> KafkaGroupConsumer:
        """A new member of consumer group `group`, subscribed to `topics`, with `client_id`
        (None: kafka.client_id)."""
        consumer = KafkaGroupConsumer(self._settings, group, topics, client_id)
        self._children.add(consumer)
        return consumer

    async def _get_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._closed:
                raise BrokerError("the broker client is closed")
            if self._producer is None:
                producer = AIOKafkaProducer(
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=0,
                    **client_options(self._settings),
                )
                try:
                    await guarded(
                        producer.start(),
                        self._settings,
                        "connect producer",
                        self._settings.connect_timeout_s,
                    )
                except BrokerError:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[int, int]:
        """Send and await delivery (idempotent, acks=all); returns (partition, offset)."""
        producer = await self._get_producer()
        try:
            meta = await guarded(
                producer.send_and_wait(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    timestamp_ms=timestamp_ms,
                    headers=header_list(headers),
                ),
                self._settings,
                f"produce to {topic}",
            )
        except (BrokerUnavailable, asyncio.CancelledError) as exc:
            # Timed out (broker down) or cancelled: the producer would deliver the send later
            # anyway, after it was reported failed (or with nobody left to record it), and
            # close() would wait for the broker to come back to do so. Drop it with what it
            # holds; the next call starts a new one. Only the call that takes it out drops
            # it: sends of other tasks on the same producer fail with it (a second drop
            # cancelled its sender again, and that CancelledError ended the demo's tasks).
            async with self._producer_lock:
                mine = self._producer is producer
                if mine:
                    self._producer = None
            if mine:
                await abandon_producer(producer)
            if isinstance(exc, asyncio.CancelledError) and not cancelling():
                # not this task's cancellation: a future inside aiokafka was cancelled
                raise BrokerUnavailable(
                    f"cannot reach kafka at {self.name}: produce to {topic}: the send was abandoned"
                ) from None
            raise
        return int(meta.partition), int(meta.offset)


async def probe_cluster(settings: KafkaSettings) -> ClusterInfo:
    """Connect, read the cluster description and disconnect (raises BrokerError subclasses)."""
    broker = KafkaBroker(settings)
    try:
        await broker.start()
        return await broker.cluster_info()
    finally:
        await broker.close()
