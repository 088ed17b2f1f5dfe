"""The broker interface the collector, the redrive engine and the demo talk to.

Everything Kafka-specific stays behind it. Implementations: `edamon.broker.kafka.KafkaBroker`
(aiokafka) and `edamon.broker.memory.MemoryBroker` (in-process, the demo's default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from edamon.model.records import TP, Header, RawRecord


class BrokerError(Exception):
    """A broker operation failed; the message is fit to show to the operator."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached (down, wrong address, timeout)."""


class BrokerAuthError(BrokerError):
    """Authentication or authorisation failed."""


class BrokerTlsError(BrokerAuthError):
    """The broker's TLS certificate was refused (unknown CA, expired, another host's): like
    refused credentials, trying again does not help until the configuration changes."""


@dataclass(frozen=True, slots=True)
class ServerProbe:
    """What a new connection to one bootstrap server saw (`Broker.probe_servers`)."""

    server: str
    """host:port"""
    answered: bool
    """It answered a request (ApiVersions) on the new connection."""
    silent: bool
    """It neither answered nor refused: the connection opened (or its opening hung) and
    nothing came back in time (a hung or frozen broker, a black hole)."""
    note: str
    """In a few words: `answers`, `connection open, nothing received`, `connection refused`."""


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    cluster_id: str | None
    brokers: tuple[str, ...]
    """host:port of each broker."""
    controller: str | None = None


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    internal: bool = False


@dataclass(frozen=True, slots=True)
class MemberInfo:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[TP, ...]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group: str
    state: str
    protocol_type: str
    members: tuple[MemberInfo, ...]


class Tailer(Protocol):
    """Reads records from manually assigned partitions. Never joins or commits to a group."""

    async def assign(self, positions: Mapping[TP, int]) -> None:
        """Replace the assignment: read each partition from the given offset."""
        ...

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        """Up to `max_records` records from the assigned partitions (empty after timeout)."""
        ...

    def positions(self) -> dict[TP, int]:
        """The next offset to be read per assigned partition."""
        ...

    async def close(self) -> None: ...


class GroupConsumer(Protocol):
    """A member of a consumer group that commits (used by the demo's services)."""

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]: ...

    async def commit(self, offsets: Mapping[TP, int] | None = None) -> None:
        """Commit the given next-offsets, or the current positions when None."""
        ...

    async def close(self) -> None: ...


class Broker(Protocol):
    """The operations edamon needs from a cluster. All methods raise BrokerError subclasses."""

    @property
    def name(self) -> str:
        """What to show as the cluster (bootstrap servers or `in-memory`)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def cluster_info(self) -> ClusterInfo: ...

    async def probe_servers(self, timeout_s: float) -> list[ServerProbe]:
        """What a new connection to each bootstrap server sees within `timeout_s` (why the
        cluster does not answer); empty when there is nothing to connect to (in memory).
        Never raises."""
        ...

    async def list_topics(self) -> list[TopicInfo]:
        """All topics, internal ones flagged."""
        ...

    async def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> bool:
        """Create a topic; False if it already existed."""
        ...

    async def add_partitions(self, name: str, total: int) -> None:
        """Raise topic `name`'s partition count to `total` (Kafka never lowers it); keys then
        map to other partitions. Raises BrokerError (unknown topic, `total` not higher)."""
        ...

    async def end_offsets(self, tps: Sequence[TP]) -> dict[TP, int]: ...

    async def beginning_offsets(self, tps: Sequence[TP]) -> dict[TP, int]: ...

    async def offsets_for_time(self, tps: Sequence[TP], timestamp_ms: int) -> dict[TP, int]:
        """The earliest offset whose timestamp is >= timestamp_ms; the end offset if none."""
        ...

    async def list_groups(self) -> list[str]: ...

    async def describe_groups(self, groups: Sequence[str]) -> list[GroupInfo]:
        """Best effort: state and members may be unknown."""
        ...

    async def committed_offsets(self, group: str) -> dict[TP, int]:
        """Committed next-offsets of one group; partitions without a commit are absent."""
        ...

    async def committed_offsets_many(self, groups: Sequence[str]) -> dict[str, dict[TP, int]]:
        """Committed next-offsets of many groups at once (as few requests as the cluster
        allows); a group that cannot be read (gone, not authorised) is absent."""
        ...

    def request_count(self) -> int:
        """Requests sent so far for consumer groups and end offsets (the lag sampler's cost)."""
        ...

    def tailer(self) -> Tailer:
        """A new reader with no group id."""
        ...

    def group_consumer(
        self, group: str, topics: Sequence[str], client_id: str | None = None
    ) -> GroupConsumer:
        """A new member of consumer group `group`, subscribed to `topics`, presenting
        `client_id` (None: the broker's own, e.g. kafka.client_id). Describing the group
        shows it: the demo's services join under their own names, not edamon's."""
        ...

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
        ...
