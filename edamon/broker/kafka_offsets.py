"""Consumer-group reads at scale for `KafkaBroker`: groups listed per broker, coordinators
cached, committed offsets of many groups per request (OffsetFetch v8, KIP-709), groups
described per coordinator.

aiokafka's admin client re-reads the whole cluster's metadata to list groups, finds the
coordinator again for every group it asks about, and fetches one group's offsets per request
(163 requests per lag sample at 53 groups). Here one `AIOKafkaClient` (aiokafka's public
client: `send(node_id, request)` with request classes) asks each broker for the groups it
coordinates, which gives every group's coordinator at no extra cost; FindCoordinator is sent
only for a group not listed yet or after a NOT_COORDINATOR answer. aiokafka 0.14 has no
OffsetFetch beyond v3, so the v8 request is defined here with aiokafka's protocol types; its
answer is kept as bytes and parsed here, in slices, so a large one never holds the event loop
for long: runs of partitions in the usual layout are unpacked by one `struct` call each (no
object per partition; the partition keys are shared), ~0.3 us of CPU a group-partition.

Why not read `__consumer_offsets` as Burrow does (measured with `bench/lag.py --offsets-topic`,
2 shared cores): decoding one commit record there costs ~3.3 us of CPU. Java consumers commit
every partition they own every 5 s by default, so at any scale the topic brings ~0.2 commits per
group-partition a second (~0.7 us a second each) against ~0.3 us per sample here: 2x cheaper
here at a 1 s interval, 10x at the default 5 s; the per-sample lag evaluation (~1.5 us a
group-partition, `edamon.model.lag.GroupLagTracker`) is needed both ways. Reading the topic
would also need READ on an internal topic (monitoring users rarely have it), read every group's
commits (not only the watched ones), replay the whole compacted topic at start-up, and follow an
internal record format (Kafka 4 adds record types for KIP-848 groups).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from io import BytesIO
from typing import Any

from aiokafka import errors as kerr
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import ListGroupsRequest
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from edamon.broker.base import BrokerError, BrokerUnavailable, GroupInfo
from edamon.broker.kafka_client import client_options, guarded, map_error
from edamon.broker.kafka_describe import DescribeGroups, parse_describe_groups
from edamon.config import KafkaSettings
from edamon.model.records import TP

log = logging.getLogger(__name__)

PARTITIONS_PER_REQUEST = 5_000
"""Committed offsets asked for in one OffsetFetch (by the groups' sizes at the last fetch):
bounds the answer's size, and the time to parse it, while keeping requests few (125,000
group-partitions take 25 requests)."""
GROUPS_PER_DESCRIBE = 100
PARSE_SLICE_S = 0.003
"""Parsing yields to the event loop after this much work."""
UNKNOWN_GROUP_SIZE = 100
"""Assumed partitions of a group not fetched yet (for sizing requests)."""
_METADATA_TOPIC = "__consumer_offsets"
"""The client's periodic metadata refresh asks for this topic only: it needs the brokers, not
every topic (an empty topic list would fetch the whole cluster's metadata each time)."""

_RETRY_COORDINATOR = {
    kerr.NotCoordinatorError.errno,
    kerr.CoordinatorNotAvailableError.errno,
    kerr.CoordinatorLoadInProgressError.errno,
}


# ---- OffsetFetch v8 (KIP-709: several groups in one request) ----------------------------------


class _RawResponse(Response):  # type: ignore[misc]
    """A response kept as bytes: parsed by `parse_offset_fetch` in slices, not at once."""

    API_KEY = 9
    API_VERSION = 8
    SCHEMA = Schema()

    def __init__(self, data: bytes) -> None:
        self.data = data

    @classmethod
    def decode(cls, data: BytesIO | bytes) -> _RawResponse:
        return cls(data.read() if isinstance(data, BytesIO) else bytes(data))

    def __repr__(self) -> str:
        return f"<OffsetFetch v8 response, {len(self.data)} bytes>"


class _OffsetFetchV8(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 8
    RESPONSE_TYPE = _RawResponse
    SCHEMA = Schema(
        (
            "groups",
            CompactArray(
                ("group_id", CompactString("utf-8")),
                (
                    "topics",
                    CompactArray(
                        ("name", CompactString("utf-8")),
                        ("partition_indexes", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class OffsetFetchGroups(Request[_OffsetFetchV8]):  # type: ignore[misc]
    """OffsetFetch v8 for several groups, every partition of each (a null topic list)."""

    API_KEY = 9

    def __init__(self, groups: Sequence[str]) -> None:
        self.groups = list(groups)

    def build(self, request_struct_class: type[Any]) -> Any:
        """The v8 struct: (group, null topics, no tags) per group, require_stable false."""
        return request_struct_class([(g, None, {}) for g in self.groups], False, {})


class _FindCoordinatorsV4Response(Response):  # type: ignore[misc]
    API_KEY = 10
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "coordinators",
            CompactArray(
                ("key", CompactString("utf-8")),
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _FindCoordinatorsV4(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 10
    API_VERSION = 4
    RESPONSE_TYPE = _FindCoordinatorsV4Response
    SCHEMA = Schema(
        ("key_type", Int8),
        ("coordinator_keys", CompactArray(CompactString("utf-8"))),
        ("tags", TaggedFields),
    )


class FindCoordinators(Request[_FindCoordinatorsV4]):  # type: ignore[misc]
    """FindCoordinator v4 (KIP-699): the coordinators of several groups in one request."""

    API_KEY = 10

    def __init__(self, groups: Sequence[str]) -> None:
        self.groups = list(groups)

    def build(self, request_struct_class: type[Any]) -> Any:
        """The v4 struct: key type 0 (group) and the group ids."""
        return request_struct_class(0, self.groups, {})


class _Reader:
    """Reads the flexible-version primitives of an OffsetFetch v8 answer."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def uvarint(self) -> int:
        data, pos = self.data, self.pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7

    def string(self) -> str | None:
        length = self.uvarint() - 1
        if length < 0:
            return None
        start = self.pos
        self.pos = start + length
        if self.pos > len(self.data):
            raise ValueError("buffer underrun reading a string")
        return self.data[start : self.pos].decode("utf-8", "replace")

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # the tag
            size = self.uvarint()  # (read before moving on: it moves the position too)
            self.pos += size


_PARTITION = struct.Struct(">iqi")  # partition_index, committed_offset, committed_leader_epoch
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_RECORD = 20
"""Bytes of one partition of an answer in the usual case: index, offset, leader epoch, empty
metadata (one byte), error code, no tagged fields (one byte)."""
PARSE_STEP = 2_000
"""Partitions parsed between two yields of `parse_offset_fetch`."""
_MAX_CACHED_PARTITION = 1 << 20
"""Partition numbers above this get their own key object (no cache row that long)."""


@functools.lru_cache(maxsize=64)
def _records(count: int) -> struct.Struct:
    """`count` usual partitions at once: index, offset, epoch, error per partition."""
    return struct.Struct(">" + "iqixhx" * count)


def _keys(cache: dict[str, list[TP]], topic: str, partitions: Sequence[int]) -> list[TP]:
    """One shared key object per partition (the lag trackers of every group use the same)."""
    top = max(partitions)
    if top > _MAX_CACHED_PARTITION:
        return [TP(topic, p) for p in partitions]
    row = cache.get(topic)
    if row is None:
        row = cache[topic] = []
    if len(row) <= top:
        row.extend(TP(topic, p) for p in range(len(row), top + 1))
    return list(map(row.__getitem__, partitions))


def parse_offset_fetch(
    data: bytes,
    into: dict[str, dict[TP, int]],
    errors: dict[str, int],
    keys: dict[str, list[TP]] | None = None,
) -> Iterator[None]:
    """Parse an OffsetFetch v8 answer: each group's committed offsets (partitions without a
    commit left out) into `into`, each group's error code (when not 0) into `errors`. A
    generator: it yields every `PARSE_STEP` partitions so the caller can let the loop run.

    Runs of partitions in the usual 20-byte layout (no metadata, no tagged fields: checked with
    two strided byte slices) are unpacked by one `struct` call each, into arrays of numbers, not
    objects per partition; others are read field by field. `keys` caches the `TP` objects."""
    cache: dict[str, list[TP]] = {} if keys is None else keys
    r = _Reader(data)
    r.pos = 4  # throttle_time_ms
    unpack_partition = _PARTITION.unpack_from
    unpack16 = _INT16.unpack_from
    budget = PARSE_STEP
    for _ in range(r.uvarint() - 1):
        group = r.string() or ""
        offsets: dict[TP, int] = {}
        for _ in range(max(0, r.uvarint() - 1)):
            topic = r.string() or ""
            remaining = max(0, r.uvarint() - 1)
            while remaining:
                count = min(remaining, PARSE_STEP)
                pos = r.pos
                end = pos + _RECORD * count
                usual = 0
                if end <= len(data):  # how many records from here have the usual layout
                    metas = data[pos + 16 : end : _RECORD]
                    tags = data[pos + 19 : end : _RECORD]
                    usual = min(
                        count - len(metas.lstrip(b"\x01")), count - len(tags.lstrip(b"\x00"))
                    )
                if usual:
                    flat = _records(usual).unpack_from(data, pos)
                    r.pos = pos + _RECORD * usual
                    parts, values, codes = flat[0::4], flat[1::4], flat[3::4]
                    if min(values) >= 0 and not any(codes):
                        offsets.update(zip(_keys(cache, topic, parts), values, strict=True))
                    else:
                        for partition, offset, error in zip(parts, values, codes, strict=True):
                            if offset >= 0 and error == 0:
                                offsets[TP(topic, partition)] = offset
                    remaining -= usual
                    budget -= usual
                else:  # metadata or tagged fields: this partition field by field
                    partition, offset, _epoch = unpack_partition(data, r.pos)
                    r.pos += 16
                    length = r.uvarint() - 1  # metadata: skipped
                    r.pos += max(0, length)
                    (error,) = unpack16(data, r.pos)
                    r.pos += 2
                    r.skip_tags()
                    if offset >= 0 and error == 0:
                        offsets[TP(topic, partition)] = offset
                    remaining -= 1
                    budget -= 1
                while budget <= 0:
                    budget += PARSE_STEP
                    yield
            r.skip_tags()
        (error,) = unpack16(r.data, r.pos)
        r.pos += 2
        r.skip_tags()
        if error:
            errors[group] = error
        else:
            into[group] = offsets
    if r.pos > len(data):
        raise ValueError("buffer underrun in an OffsetFetch answer")


# ---- the client ------------------------------------------------------------------------------


class GroupReader:
    """Lists groups, finds and caches their coordinators, fetches committed offsets of many
    groups per request and describes groups per coordinator, on its own AIOKafkaClient.

    `requests` counts every request sent (the lag sampler's cost, shown in its health)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._client: AIOKafkaClient | None = None
        self._coordinators: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._multi_fetch = True
        """False once a broker refused OffsetFetch v8: one group per request from then on."""
        self._multi_find = True
        """False once a broker refused FindCoordinator v4."""
        self._unreadable: set[str] = set()
        self._keys: dict[str, list[TP]] = {}
        """Partition key objects by topic and number, shared by every answer's offsets."""
        self.requests = 0

    async def start(self) -> None:
        """Connect (bootstrap) within kafka.connect_timeout_s."""
        if self._client is not None:
            return
        client = AIOKafkaClient(**client_options(self._settings))
        try:
            await guarded(
                client.bootstrap(), self._settings, "connect", self._settings.connect_timeout_s
            )
            client.set_topics([_METADATA_TOPIC])
        except BaseException:
            await client.close()
            raise
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _require(self) -> AIOKafkaClient:
        if self._client is None:
            raise BrokerError("the broker client is not started")
        return self._client

    async def _send(self, node: int, request: Any, what: str) -> Any:
        client = self._require()
        self.requests += 1
        return await guarded(client.send(node, request), self._settings, what)

    def brokers(self) -> list[int]:
        """Node ids of the brokers in the client's metadata."""
        return sorted(b.nodeId for b in self._require().cluster.brokers())

    # -- groups and coordinators --

    async def list_groups(self) -> list[str]:
        """Every group of the cluster: ListGroups to each broker, which answers with the groups
        it coordinates (so this also refreshes the coordinator cache). No metadata request."""
        nodes = self.brokers()
        if not nodes:
            raise BrokerError("list groups failed: no broker known")
        answers = await asyncio.gather(
            *(self._send(node, ListGroupsRequest(), "list groups") for node in nodes)
        )
        found: dict[str, int] = {}
        for node, answer in zip(nodes, answers, strict=True):
            error = kerr.for_code(answer.error_code)
            if error is not kerr.NoError:
                raise map_error(error(), self._settings, "list groups")
            for group, _protocol in answer.groups:
                found[str(group)] = node
        self._coordinators = found
        self._sizes = {g: s for g, s in self._sizes.items() if g in found}
        return sorted(found)

    async def coordinator(self, group: str) -> int:
        """The group's coordinator: from the cache, else FindCoordinator (then cached)."""
        node = self._coordinators.get(group)
        if node is not None:
            return node
        client = self._require()
        target = client.get_random_node()
        if target is None:
            raise BrokerError(f"find coordinator of {group} failed: no broker known")
        answer = await self._send(
            target, FindCoordinatorRequest(group, 0), f"find coordinator of {group}"
        )
        error = kerr.for_code(answer.error_code)
        if error is not kerr.NoError:
            raise map_error(error(), self._settings, f"find coordinator of {group}")
        node = int(answer.coordinator_id)
        self._coordinators[group] = node
        return node

    async def find(self, groups: Sequence[str]) -> None:
        """Find the coordinators of groups not in the cache: one FindCoordinator v4 for all
        of them (one request per group on a broker older than Kafka 2.8). A group whose
        coordinator cannot be found is left out of the cache."""
        missing = [g for g in dict.fromkeys(groups) if g not in self._coordinators]
        if not missing:
            return
        if len(missing) == 1 or not self._multi_find:
            for group in missing:
                await self.coordinator(group)
            return
        target = self._require().get_random_node()
        if target is None:
            raise BrokerError("find coordinators failed: no broker known")
        try:
            answer = await self._send(target, FindCoordinators(missing), "find coordinators")
        except (NotImplementedError, kerr.IncompatibleBrokerVersion):
            self._multi_find = False
            await self.find(missing)
            return
        for key, node, _host, _port, error, message in (c[:6] for c in answer.coordinators):
            if error:
                log.debug("find coordinator of %s: %s", key, message or kerr.for_code(error))
            else:
                self._coordinators[key] = node

    def forget(self, group: str) -> None:
        """Drop a cached coordinator (it answered NOT_COORDINATOR or is unavailable)."""
        self._coordinators.pop(group, None)

    async def _by_coordinator(self, groups: Sequence[str]) -> dict[int, list[str]]:
        """Groups by coordinator (found first where not cached); groups whose coordinator
        cannot be found are left out."""
        await self.find(groups)
        by_node: dict[int, list[str]] = {}
        for group in groups:
            node = self._coordinators.get(group)
            if node is not None:
                by_node.setdefault(node, []).append(group)
        return by_node

    # -- committed offsets --

    async def committed(self, groups: Sequence[str]) -> dict[str, dict[TP, int]]:
        """Committed next-offsets of each group (partitions without a commit left out).

        Per coordinator, as few OffsetFetch v8 requests as `PARTITIONS_PER_REQUEST` allows. A
        group whose coordinator moved (NOT_COORDINATOR, or not available) is asked again at
        its new coordinator, once; a group that still fails, or is not authorised, is left out.
        """
        result: dict[str, dict[TP, int]] = {}
        pending = list(dict.fromkeys(groups))
        unreadable: dict[str, str] = {}
        for attempt in range(2):
            if not pending:
                break
            errors: dict[str, int] = {}
            by_node = await self._by_coordinator(pending)
            await asyncio.gather(
                *(
                    self._fetch_at(node, chunk, result, errors)
                    for node, members in by_node.items()
                    for chunk in self._chunks(members)
                )
            )
            pending = []
            for group, code in errors.items():
                if code in _RETRY_COORDINATOR:
                    self.forget(group)
                    pending.append(group)
                else:
                    unreadable[group] = kerr.for_code(code).__name__
            if pending and attempt == 0:
                log.debug("coordinator moved for %d group(s): finding it again", len(pending))
        unreadable.update(dict.fromkeys(pending, "its coordinator did not answer"))
        self._report(unreadable)
        for group, offsets in result.items():
            self._sizes[group] = len(offsets)
        return result

    def _report(self, unreadable: dict[str, str]) -> None:
        """One INFO line when the set of groups that could not be read changes (DEBUG lines
        per group): a log at INFO stays small with hundreds of groups sampled every second."""
        for group, reason in unreadable.items():
            log.debug("committed offsets of %s: %s", group, reason)
        if set(unreadable) == self._unreadable:
            return
        self._unreadable = set(unreadable)
        if unreadable:
            shown = ", ".join(f"{g} ({r})" for g, r in sorted(unreadable.items())[:5])
            more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
            log.info("committed offsets not readable for %s%s", shown, more)
        else:
            log.info("committed offsets readable for every group again")

    def _chunks(self, groups: list[str]) -> Iterator[list[str]]:
        if not self._multi_fetch:
            yield from ([g] for g in groups)
            return
        chunk: list[str] = []
        size = 0
        for group in groups:
            n = self._sizes.get(group, UNKNOWN_GROUP_SIZE)
            if chunk and size + n > PARTITIONS_PER_REQUEST:
                yield chunk
                chunk, size = [], 0
            chunk.append(group)
            size += n
        if chunk:
            yield chunk

    async def _fetch_at(
        self,
        node: int,
        groups: list[str],
        into: dict[str, dict[TP, int]],
        errors: dict[str, int],
    ) -> None:
        if self._multi_fetch:
            try:
                answer = await self._send(node, OffsetFetchGroups(groups), "committed offsets")
            except (NotImplementedError, kerr.IncompatibleBrokerVersion):
                log.info("the broker has no OffsetFetch v8: one group per request")
                self._multi_fetch = False
            except BrokerUnavailable as exc:  # the coordinator went away: find the new one
                log.info("committed offsets at node %s: %s", node, exc)
                errors.update(dict.fromkeys(groups, kerr.CoordinatorNotAvailableError.errno))
                return
            else:
                parsed: dict[str, dict[TP, int]] = {}
                try:
                    await _run_sliced(parse_offset_fetch(answer.data, parsed, errors, self._keys))
                except (ValueError, IndexError, struct.error) as exc:
                    raise BrokerError(f"committed offsets: unreadable answer ({exc})") from None
                into.update(parsed)
                return
        for group in groups:
            await self._fetch_one(node, group, into, errors)

    async def _fetch_one(
        self,
        node: int,
        group: str,
        into: dict[str, dict[TP, int]],
        errors: dict[str, int],
    ) -> None:
        """A broker older than Kafka 3.0: aiokafka's OffsetFetch (v1-v3), one group."""
        answer = await self._send(
            node, OffsetFetchRequest(group, None), f"committed offsets of {group}"
        )
        code = getattr(answer, "error_code", 0)
        if code:
            errors[group] = code
            return
        offsets: dict[TP, int] = {}
        for topic, partitions in answer.topics:
            for partition, offset, _metadata, error in partitions:
                if offset >= 0 and error == 0:
                    offsets[TP(topic, partition)] = offset
        into[group] = offsets

    # -- describing --

    async def describe(self, groups: Sequence[str]) -> list[GroupInfo]:
        """State, protocol type and members per group, one DescribeGroups per coordinator and
        `GROUPS_PER_DESCRIBE` groups, in the order asked."""
        if not groups:
            return []
        by_node = await self._by_coordinator(groups)
        responses = await asyncio.gather(
            *(
                self._send(node, DescribeGroups(members[i : i + GROUPS_PER_DESCRIBE]), "describe")
                for node, members in by_node.items()
                for i in range(0, len(members), GROUPS_PER_DESCRIBE)
            )
        )
        described = parse_describe_groups(responses)
        for info in described:
            if info.state == "Unknown":  # NOT_COORDINATOR and friends: find it next time
                self.forget(info.group)
        order = {g: i for i, g in enumerate(groups)}
        described.sort(key=lambda g: order.get(g.group, len(order)))
        return described


async def _run_sliced(steps: Iterator[None]) -> None:
    """Run a generator's steps, letting the event loop run after every PARSE_SLICE_S."""
    start = time.perf_counter()
    for _ in steps:
        if time.perf_counter() - start > PARSE_SLICE_S:
            await asyncio.sleep(0)
            start = time.perf_counter()


def committed_of(answer: Mapping[str, dict[TP, int]], group: str) -> dict[TP, int]:
    """One group's committed offsets from `GroupReader.committed`, or a BrokerError."""
    if group not in answer:
        raise BrokerError(f"committed offsets of {group} failed")
    return answer[group]
