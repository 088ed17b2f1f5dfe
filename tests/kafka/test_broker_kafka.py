"""KafkaBroker against the real broker started by the test harness."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from edamon.broker.base import (
    BrokerAuthError,
    BrokerError,
    BrokerUnavailable,
    GroupInfo,
    TopicInfo,
)
from edamon.broker.kafka import KafkaBroker, probe_cluster
from edamon.config import KafkaSettings
from edamon.model.records import TP, RawRecord
from kafka_helpers import CommitOffsets, KafkaSasl, MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 20.0
) -> T:
    """Call `probe` until `ok(result)`; fail with the last result after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s; last result: {result!r}")
        await asyncio.sleep(0.05)


async def read_until(
    reader: Any, count: int, within: float = 20.0, max_records: int = 500
) -> list[RawRecord]:
    """Fetch from a tailer or group consumer until `count` records arrived (or fail)."""
    records: list[RawRecord] = []
    deadline = time.monotonic() + within
    while len(records) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"read {len(records)} of {count} records within {within}s")
        records.extend(await reader.fetch(max_records, 200))
    return records


def settings_for(bootstrap: str, **extra: Any) -> KafkaSettings:
    options: dict[str, Any] = {"request_timeout_s": 10, "connect_timeout_s": 15, **extra}
    return KafkaSettings(bootstrap_servers=bootstrap, **options)


@pytest.fixture
async def broker(kafka_bootstrap: str) -> AsyncIterator[KafkaBroker]:
    client = KafkaBroker(settings_for(kafka_bootstrap))
    await client.start()
    try:
        yield client
    finally:
        await client.close()


# -- metadata --------------------------------------------------------------------------------


async def test_cluster_info(broker: KafkaBroker, kafka_bootstrap: str) -> None:
    info = await broker.cluster_info()
    assert info.cluster_id
    assert info.brokers == (kafka_bootstrap,)
    assert info.controller in info.brokers
    assert broker.name == kafka_bootstrap


async def test_create_and_list_topics(broker: KafkaBroker, unique_name: UniqueName) -> None:
    name = unique_name("edamon.created")
    assert await broker.create_topic(name, 3, {"retention.ms": "3600000"}) is True
    assert await broker.create_topic(name, 3) is False

    topics = await eventually(broker.list_topics, lambda ts: any(t.name == name for t in ts))
    assert TopicInfo(name, 3, False) in topics
    assert [t.name for t in topics] == sorted(t.name for t in topics)
    assert all(t.internal == t.name.startswith("__") for t in topics)


async def test_internal_topics_are_flagged(
    broker: KafkaBroker, make_topic: MakeTopic, commit_offsets: CommitOffsets, unique_name: Any
) -> None:
    topic = await make_topic()
    await commit_offsets(unique_name("g"), {(topic, 0): 0})  # creates __consumer_offsets
    topics = await eventually(
        broker.list_topics, lambda ts: any(t.name == "__consumer_offsets" for t in ts)
    )
    offsets_topic = next(t for t in topics if t.name == "__consumer_offsets")
    assert offsets_topic.internal is True
    assert next(t for t in topics if t.name == topic).internal is False


async def test_create_topic_with_invalid_config_is_a_broker_error(
    broker: KafkaBroker, unique_name: UniqueName
) -> None:
    with pytest.raises(BrokerError, match="create topic") as err:
        await broker.create_topic(unique_name("bad"), 1, {"cleanup.policy": "sometimes"})
    assert not isinstance(err.value, BrokerUnavailable)


# -- produce and tail ------------------------------------------------------------------------


async def test_produce_then_tail_from_an_offset_with_headers(
    broker: KafkaBroker, make_topic: MakeTopic
) -> None:
    topic = await make_topic(partitions=2)
    base_ts = 1_700_000_000_000
    sent = []
    for i in range(6):
        headers = [("event-type", b"OrderPlaced"), ("retry", b"1"), ("retry", f"{i}".encode())]
        sent.append(
            await broker.produce(topic, f"k{i}".encode(), f"v{i}".encode(), headers, 0, base_ts + i)
        )
    assert sent == [(0, i) for i in range(6)]
    assert await broker.produce(topic, None, b"other", partition=1) == (1, 0)

    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 2, TP(topic, 1): 0})
        records = await read_until(tailer, 5)
        assert len(records) == 5
        p0 = [r for r in records if r.partition == 0]
        assert [r.offset for r in p0] == [2, 3, 4, 5]
        assert [r.key for r in p0] == [b"k2", b"k3", b"k4", b"k5"]
        assert [r.value for r in p0] == [b"v2", b"v3", b"v4", b"v5"]
        assert [r.timestamp_ms for r in p0] == [base_ts + i for i in range(2, 6)]
        assert p0[0].headers == (("event-type", b"OrderPlaced"), ("retry", b"1"), ("retry", b"2"))
        assert p0[0].header("retry") == b"2"
        (other,) = [r for r in records if r.partition == 1]
        assert (other.key, other.value, other.headers) == (None, b"other", ())
        assert tailer.positions() == {TP(topic, 0): 6, TP(topic, 1): 1}
    finally:
        await tailer.close()


async def test_tailer_turns_none_header_values_into_empty_bytes(
    broker: KafkaBroker, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic()
    await produce(topic, [(b"k", b"v", [("a", None), ("b", b"x"), ("a", b"")])])
    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 0})
        (record,) = await read_until(tailer, 1)
        assert record.headers == (("a", b""), ("b", b"x"), ("a", b""))
    finally:
        await tailer.close()


async def test_tailer_respects_max_records_and_reassignment(
    broker: KafkaBroker, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic(partitions=2)
    await produce(topic, [(None, f"a{i}") for i in range(10)], partition=0)
    await produce(topic, [(None, f"b{i}") for i in range(3)], partition=1)
    tailer = broker.tailer()
    try:
        await tailer.assign({TP(topic, 0): 0})
        first = await eventually(lambda: tailer.fetch(4, 200), bool)
        assert 0 < len(first) <= 4
        assert [r.offset for r in first] == list(range(len(first)))

        await tailer.assign({TP(topic, 1): 1})
        records = await read_until(tailer, 2)
        assert {r.partition for r in records} == {1}
        assert [r.value for r in records] == [b"b1", b"b2"]
        assert tailer.positions() == {TP(topic, 1): 3}
        assert await tailer.fetch(100, 300) == []
    finally:
        await tailer.close()


async def test_tailer_without_assignment_waits_and_returns_nothing(broker: KafkaBroker) -> None:
    tailer = broker.tailer()
    started = time.monotonic()
    assert await tailer.fetch(10, 200) == []
    assert time.monotonic() - started >= 0.15
    await tailer.close()
    await tailer.close()


# -- offsets ---------------------------------------------------------------------------------


async def test_end_beginning_and_time_offsets(
    broker: KafkaBroker, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic(partitions=2)
    t0 = 1_750_000_000_000
    for i in range(3):
        await produce(topic, [(b"k", f"{i}")], partition=0, timestamp_ms=t0 + 1000 * i)
    p0, p1 = TP(topic, 0), TP(topic, 1)

    assert await broker.end_offsets([p0, p1]) == {p0: 3, p1: 0}
    assert await broker.beginning_offsets([p0, p1]) == {p0: 0, p1: 0}
    assert await broker.offsets_for_time([p0], t0 + 500) == {p0: 1}
    assert await broker.offsets_for_time([p0], t0 + 1000) == {p0: 1}
    assert await broker.offsets_for_time([p0], 0) == {p0: 0}
    # Nothing at or after the time: the end offset.
    assert await broker.offsets_for_time([p0, p1], t0 + 60_000) == {p0: 3, p1: 0}
    assert await broker.end_offsets([]) == {}


async def test_offsets_of_a_missing_partition_fail_fast(
    broker: KafkaBroker, make_topic: MakeTopic, unique_name: UniqueName
) -> None:
    topic = await make_topic(partitions=1)
    missing_topic = unique_name("missing")
    for call in (
        lambda: broker.end_offsets([TP(topic, 0), TP(topic, 7)]),
        lambda: broker.beginning_offsets([TP(missing_topic, 0)]),
        lambda: broker.offsets_for_time([TP(missing_topic, 0)], 0),
    ):
        started = time.monotonic()
        with pytest.raises(BrokerError, match="no such topic partition"):
            await call()
        assert time.monotonic() - started < 5
    assert await broker.end_offsets([TP(topic, 0)]) == {TP(topic, 0): 0}


# -- consumer groups -------------------------------------------------------------------------


async def test_committed_group_is_listed_with_its_offsets(
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
) -> None:
    topic = await make_topic(partitions=3)
    await produce(topic, [(None, "x")] * 5, partition=0)
    await produce(topic, [(None, "y")] * 2, partition=1)
    group = unique_name("edamon-group")
    await commit_offsets(group, {(topic, 0): 4, (topic, 1): 2})

    groups = await eventually(broker.list_groups, lambda gs: group in gs)
    assert groups == sorted(groups)
    committed = await broker.committed_offsets(group)
    assert committed == {TP(topic, 0): 4, TP(topic, 1): 2}  # partition 2: no commit, absent
    assert await broker.committed_offsets(unique_name("never-committed")) == {}

    # Committed without joining (manual assign): Kafka keeps it as an Empty group with no
    # protocol type.
    (info,) = await broker.describe_groups([group])
    assert info == GroupInfo(group, "Empty", "", ())


async def test_describe_live_group_shows_members_and_assignment(
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
) -> None:
    topic = await make_topic(partitions=3)
    await produce(topic, [(f"k{i}", f"v{i}") for i in range(9)])
    live, idle, unknown = unique_name("live"), unique_name("idle"), unique_name("unknown")
    await commit_offsets(idle, {(topic, 0): 1})

    member = broker.group_consumer(live, [topic])
    try:
        records = await read_until(member, 9, within=60)
        assert sorted(r.value or b"" for r in records) == [f"v{i}".encode() for i in range(9)]

        described = await broker.describe_groups([unknown, live, idle])
        assert [g.group for g in described] == [unknown, live, idle]
        dead, stable, empty = described
        assert (dead.state, dead.members) == ("Dead", ())
        assert (stable.state, stable.protocol_type) == ("Stable", "consumer")
        (m,) = stable.members
        assert m.client_id == "edamon"
        assert m.member_id.startswith("edamon-")
        assert m.host
        assert m.assignment == (TP(topic, 0), TP(topic, 1), TP(topic, 2))
        assert (empty.state, empty.members) == ("Empty", ())

        await member.commit()
        committed = await broker.committed_offsets(live)
        assert sum(committed.values()) == 9
        await member.commit({TP(topic, 0): 0})
        assert (await broker.committed_offsets(live))[TP(topic, 0)] == 0
    finally:
        await member.close()
    (after,) = await broker.describe_groups([live])
    assert after.state == "Empty" and after.members == ()


# -- security and failures -------------------------------------------------------------------


def sasl_settings(sasl: KafkaSasl, password: str, mechanism: str | None = None) -> KafkaSettings:
    return settings_for(
        sasl.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism or sasl.mechanism,
        username=sasl.username,
        password=password,
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_right_password(kafka_sasl: KafkaSasl, mechanism: str) -> None:
    client = KafkaBroker(sasl_settings(kafka_sasl, kafka_sasl.password, mechanism))
    try:
        await client.start()
        info = await client.cluster_info()
        assert info.brokers == (kafka_sasl.bootstrap,)
        assert isinstance(await client.list_topics(), list)
    finally:
        await client.close()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_wrong_password(
    kafka_sasl: KafkaSasl, mechanism: str, unique_name: UniqueName
) -> None:
    wrong = unique_name("wrong-password")
    with pytest.raises(BrokerAuthError) as err:
        await probe_cluster(sasl_settings(kafka_sasl, wrong, mechanism))
    message = str(err.value)
    assert message.startswith(f"authentication failed at {kafka_sasl.bootstrap}")
    assert kafka_sasl.username in message
    assert mechanism in message
    assert wrong not in message and wrong not in repr(err.value)
    assert kafka_sasl.password not in message


async def test_plaintext_client_on_the_sasl_listener(kafka_sasl: KafkaSasl) -> None:
    with pytest.raises(BrokerUnavailable, match="security_protocol"):
        await probe_cluster(settings_for(kafka_sasl.bootstrap, connect_timeout_s=5))


async def test_unreachable_bootstrap() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as err:
        await probe_cluster(KafkaSettings(bootstrap_servers="127.0.0.1:1", connect_timeout_s=3))
    assert time.monotonic() - started < 4
    assert str(err.value) == "cannot reach kafka at 127.0.0.1:1: connection refused"


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"127.0.0.1:{server.getsockname()[1]}"


async def test_silent_bootstrap_times_out(silent_listener: str) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=f"cannot reach kafka at {silent_listener}"):
        await probe_cluster(KafkaSettings(bootstrap_servers=silent_listener, connect_timeout_s=1))
    assert 0.9 < time.monotonic() - started < 3


async def test_close_is_idempotent_and_closes_children(
    kafka_bootstrap: str, make_topic: MakeTopic
) -> None:
    topic = await make_topic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = KafkaBroker(settings_for(kafka_bootstrap))
        await client.start()
        await client.produce(topic, b"k", b"v")
        tailer = client.tailer()
        await tailer.assign({TP(topic, 0): 0})
        member = client.group_consumer("edamon-close-test", [topic])
        await client.close()
        await client.close()
        with pytest.raises(BrokerError):
            await client.produce(topic, b"k", b"v")
        with pytest.raises(BrokerError):
            await client.list_topics()
        del tailer, member, client
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_close_without_start() -> None:
    client = KafkaBroker(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    await client.close()
    with pytest.raises(BrokerError, match="closed"):
        await client.start()
