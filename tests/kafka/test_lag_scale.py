"""Consumer lag at scale on the real broker: hundreds of groups, few requests, coordinators
that move, and a collector that stops when told to even if a broker call swallows the
cancellation."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka.protocol.commit
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka import errors as kerr
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.commit import OffsetCommitRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest

from edamon.broker.kafka import KafkaBroker
from edamon.broker.kafka_groups import KafkaTailer
from edamon.broker.kafka_offsets import GroupReader, OffsetFetchGroups
from edamon.cli.collect import _collect
from edamon.config import KafkaSettings, Settings, load_settings
from edamon.model.lag import partition_order
from edamon.model.records import TP
from edamon.model.status import PartitionStatus
from kafka_helpers import running_collector

pytestmark = pytest.mark.kafka


def settings_for(bootstrap: str, prefix: str, **lag: Any) -> Settings:
    return load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 10},
            "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 1},
            "lag": {"interval_s": 0.5, "groups_include": [rf"{prefix}-.*"], **lag},
        },
        use_default_path=False,
    )


async def commit_directly(bootstrap: str, commits: dict[str, dict[TP, int]]) -> None:
    """Commit offsets for many groups at once, as a simple (memberless) consumer does:
    OffsetCommit with generation -1 and no member id, nobody joining any group."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        for group, offsets in commits.items():
            found = await client.send(client.get_random_node(), FindCoordinatorRequest(group, 0))
            assert found.error_code == 0, found
            by_topic: dict[str, list[tuple[int, int, str]]] = {}
            for tp, offset in sorted(offsets.items()):
                by_topic.setdefault(tp.topic, []).append((tp.partition, offset, ""))
            request = OffsetCommitRequest(group, -1, "", -1, sorted(by_topic.items()))
            answer = await client.send(found.coordinator_id, request)
            assert all(err == 0 for _, parts in answer.topics for _, err in parts), answer
    finally:
        await client.close()


async def fill(bootstrap: str, topic: str, partitions: int, counts: list[int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, b"v", partition=p)
            for p in range(partitions)
            for _ in range(counts[p])
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_lag_table_is_complete_and_correct_with_200_groups(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("scale")
    a, b = await make_topic(f"{prefix}.A", partitions=6), await make_topic(f"{prefix}.B", 4)
    ends_a, ends_b = [5 + 3 * p for p in range(6)], [7 + p for p in range(4)]
    await fill(kafka_bootstrap, a, 6, ends_a)
    await fill(kafka_bootstrap, b, 4, ends_b)
    end = {TP(a, p): n for p, n in enumerate(ends_a)} | {TP(b, p): n for p, n in enumerate(ends_b)}
    rng = random.Random(200)
    commits: dict[str, dict[TP, int]] = {}
    for g in range(200):
        # every group commits on some partitions of A, a third of them also on all of B
        mine = [TP(a, p) for p in sorted(rng.sample(range(6), rng.randint(1, 6)))]
        if g % 3 == 0:
            mine += [TP(b, p) for p in range(4)]
        commits[f"{prefix}-g{g:03d}"] = {tp: rng.randint(0, end[tp]) for tp in mine}
    await commit_directly(kafka_bootstrap, commits)

    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(
            lambda: (
                collector.snapshot().lag_health.samples >= 3
                and len(collector.snapshot().lag) == 200
            ),
            60,
            "three samples with all 200 groups",
        )
        snap = collector.snapshot()

    assert {g.group for g in snap.lag} == set(commits)
    for view in snap.lag:
        offsets = commits[view.group]
        topics = sorted({tp.topic for tp in offsets})
        assert view.topics == tuple(topics)
        expected_rows = sorted(
            (tp.topic, tp.partition) for tp in end if tp.topic in topics
        )  # every partition of its topics: committed or "no commit"
        assert sorted((p.topic, p.partition) for p in view.partitions) == expected_rows, view.group
        assert list(view.partitions) == sorted(view.partitions, key=partition_order)
        for row in view.partitions:
            tp = TP(row.topic, row.partition)
            assert row.end == end[tp]
            if tp in offsets:
                assert (row.committed, row.lag) == (offsets[tp], end[tp] - offsets[tp])
            else:
                assert (row.committed, row.lag, row.status) == (
                    None,
                    None,
                    PartitionStatus.NO_COMMIT,
                )
        assert view.total_lag == sum(end[tp] - o for tp, o in offsets.items())

    health = snap.lag_health
    assert (health.groups, health.partitions) == (200, sum(len(o) for o in commits.values()))
    # one broker: ListGroups, DescribeGroups (100 groups each), OffsetFetch (up to 5,000
    # group-partitions each: 1 here) and ListOffsets; not 3 per group
    assert health.requests_per_sample is not None and health.requests_per_sample <= 5
    assert health.cycle_p50_s is not None and health.cycle_p99_s is not None


async def test_many_groups_per_offset_fetch_match_one_group_at_a_time(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("fetch")
    topic = await make_topic(f"{prefix}.T", partitions=8)
    other = await make_topic(f"{prefix}.U", partitions=3)
    rng = random.Random(8)
    commits = {
        f"{prefix}-g{g:02d}": {
            TP(t, p): rng.randint(0, 10_000)
            for t, n in ((topic, 8), (other, 3))
            for p in range(n)
            if rng.random() < 0.6
        }
        for g in range(40)
    }
    commits[f"{prefix}-empty"] = {}
    await commit_directly(kafka_bootstrap, {g: o for g, o in commits.items() if o})

    reader = GroupReader(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await reader.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        before = reader.requests
        many = await reader.committed(sorted(commits))
        sent = reader.requests - before
        one_by_one = {}
        for group in sorted(commits):  # aiokafka's own admin: one group per request
            answer = await admin.list_consumer_group_offsets(group)
            one_by_one[group] = {
                TP(tp.topic, tp.partition): meta.offset
                for tp, meta in answer.items()
                if meta.offset >= 0
            }
    finally:
        await admin.close()
        await reader.close()
    assert many == one_by_one
    assert many == commits  # and both are what was committed
    assert sent == 2  # one FindCoordinator and one OffsetFetch for all 41 groups


class _Replies:
    """Wraps `AIOKafkaClient.send` (aiokafka's public client call): counts requests by type
    and, while armed, lets OffsetFetch requests reach the broker but answers them with
    NOT_COORDINATOR for every group, or fails them as an unreachable coordinator would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        self.fault: str | None = None
        original = AIOKafkaClient.send
        replies = self

        async def send(client: AIOKafkaClient, node_id: Any, request: Any, **kw: Any) -> Any:
            replies.sent.append(type(request).__name__)
            fault = replies.fault if isinstance(request, OffsetFetchGroups) else None
            if fault == "unreachable":
                replies.fault = None
                raise kerr.NodeNotReadyError(f"node {node_id} is not ready")
            answer = await original(client, node_id, request, **kw)
            if fault == "not_coordinator":
                replies.fault = None
                answer.data = not_coordinator_answer(request.groups)
            return answer

        monkeypatch.setattr(AIOKafkaClient, "send", send)


def not_coordinator_answer(groups: list[str]) -> bytes:
    """An OffsetFetch v8 answer (KIP-709 layout) saying NOT_COORDINATOR (16) for each group."""

    def uvarint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out += bytes([(n & 0x7F) | 0x80])
            n >>= 7
        return out + bytes([n])

    body = struct.pack(">i", 0) + uvarint(len(groups) + 1)
    for group in groups:
        name = group.encode()
        body += uvarint(len(name) + 1) + name + uvarint(1)  # no topics
        body += struct.pack(">h", kerr.NotCoordinatorError.errno) + uvarint(0)
    return body + uvarint(0)


@pytest.mark.parametrize("fault", ["not_coordinator", "unreachable"])
async def test_a_coordinator_that_moved_is_found_again(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    prefix = unique_name("moved")
    topic = await make_topic(f"{prefix}.T", partitions=4)
    commits = {f"{prefix}-g{g}": {TP(topic, p): 10 * g + p for p in range(4)} for g in range(5)}
    await commit_directly(kafka_bootstrap, commits)
    replies = _Replies(monkeypatch)
    reader = GroupReader(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    await reader.start()
    try:
        listed = await reader.list_groups()  # coordinators now cached from the listing
        assert set(commits) <= set(listed)
        replies.sent.clear()
        assert await reader.committed(sorted(commits)) == commits  # cached: no FindCoordinator
        assert replies.sent == ["OffsetFetchGroups"]

        replies.sent.clear()
        replies.fault = fault
        assert await reader.committed(sorted(commits)) == commits
        # the failed fetch, one FindCoordinator for all its groups, one fetch at the new place
        assert replies.sent == ["OffsetFetchGroups", "FindCoordinators", "OffsetFetchGroups"]

        replies.sent.clear()
        assert await reader.committed(sorted(commits)) == commits  # the new one is cached
        assert replies.sent == ["OffsetFetchGroups"]
    finally:
        await reader.close()


def test_aiokafka_still_lacks_offset_fetch_v8() -> None:
    """edamon defines OffsetFetch v8 itself (kafka_offsets.OffsetFetchGroups) because aiokafka
    0.14 stops at v3 and fetches one group per request. When this fails, aiokafka has it:
    consider using its request class instead."""
    assert not hasattr(aiokafka.protocol.commit, "OffsetFetchRequest_v8")


async def test_collect_duration_ends_when_broker_calls_swallow_the_cancellation(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = unique_name("hang")
    topic = await make_topic(f"{prefix}.T", partitions=2)
    await commit_directly(kafka_bootstrap, {f"{prefix}-g": {TP(topic, 0): 0}})
    swallowed: list[str] = []

    def swallowing(method: Any, pause: float) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                await asyncio.sleep(pause)  # slow broker: the cancellation lands in here
                return await method(self, *args, **kwargs)
            except asyncio.CancelledError:
                # what asyncio.wait_for does on Python 3.11 when the answer arrives in the
                # same turn as the cancellation: the answer is returned, the cancel is lost
                swallowed.append(method.__name__)
                return await method(self, *args, **kwargs)

        return call

    monkeypatch.setattr(KafkaBroker, "list_groups", swallowing(KafkaBroker.list_groups, 1.0))
    monkeypatch.setattr(KafkaTailer, "fetch", swallowing(KafkaTailer.fetch, 0.5))
    settings = settings_for(kafka_bootstrap, prefix)
    out: list[str] = []
    # on a thread of its own: if it hangs, this test fails instead of hanging too
    runner = threading.Thread(
        target=lambda: out.append(asyncio.run(_collect(settings, 3.0, False, True, 10))),
        daemon=True,
    )
    started = time.monotonic()
    runner.start()
    await until(lambda: not runner.is_alive(), 3.0 + 30, "collect --duration 3s to end")
    took = time.monotonic() - started
    assert out and '"schema_version"' in out[0]
    assert swallowed, "no cancellation was injected inside a broker call"
    assert took < 3.0 + 15, f"collect --duration 3s took {took:.1f}s"
