"""Smoke tests against the real broker: pin the aiokafka behaviour edamon relies on.

Kafka 4.1.1 (KRaft) from scripts/kafka.py with aiokafka 0.14. If one of these fails after a
version bump, the quirk it pins changed: look at the assertion before "fixing" the test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import (
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.structs import OffsetAndMetadata, OffsetAndTimestamp

from kafka_helpers import CommitOffsets, KafkaSasl, MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka


async def _consume(consumer: AIOKafkaConsumer, count: int, within: float = 10.0) -> list[Any]:
    """Read ``count`` records (batches via getmany), failing after ``within`` seconds."""
    records: list[Any] = []
    deadline = time.monotonic() + within
    while len(records) < count:
        assert time.monotonic() < deadline, f"got {len(records)} of {count} records"
        batches = await consumer.getmany(timeout_ms=500)
        for batch in batches.values():
            records.extend(batch)
    return records


async def _admin(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    return admin


async def test_create_topic_with_partitions(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = await make_topic(partitions=3)
    named = await make_topic("edamon-smoke-named-" + topic, partitions=2)
    admin = await _admin(kafka_bootstrap)
    try:
        topics = await admin.list_topics()
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert {topic, named} <= set(topics)
    # describe_topics returns plain dicts (MetadataResponse.to_object()).
    assert described[0]["topic"] == topic
    assert described[0]["error_code"] == 0
    assert described[0]["is_internal"] is False
    parts = sorted(described[0]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1] for p in parts)


async def test_headers_roundtrip(
    kafka_bootstrap: str, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic(partitions=1)
    headers = [("trace", b"first"), ("bin", b"\x00\xff\x80\n"), ("trace", b"second"), ("e", b"")]
    sent = await produce(topic, [(b"k1", b"v1", headers), ("k2", "v2"), (b"k3", None, [])])
    assert [(md.partition, md.offset) for md in sent] == [(0, 0), (0, 1), (0, 2)]

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = await _consume(consumer, 3)
    finally:
        await consumer.stop()
    first, second, third = records
    # Headers come back as a tuple of (str, bytes) pairs: order and repeated keys preserved.
    assert first.headers == tuple(headers)
    assert (first.key, first.value) == (b"k1", b"v1")
    assert second.headers == ()
    assert (second.key, second.value) == (b"k2", b"v2")
    # A tombstone (value None) round-trips; aiokafka refuses key=None *and* value=None with an
    # AssertionError("Need at least one: key or value").
    assert (third.key, third.value, third.headers) == (b"k3", None, ())


async def test_manual_assign_reads_from_offset(
    kafka_bootstrap: str, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic(partitions=2)
    await produce(topic, [(f"k{i}", f"v{i}") for i in range(10)], partition=1)
    await produce(topic, [("other", "p0")], partition=0)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 1)
        consumer.assign([tp])
        consumer.seek(tp, 4)
        records = await _consume(consumer, 6)
        position = await consumer.position(tp)
    finally:
        await consumer.stop()
    assert [(r.partition, r.offset, r.value) for r in records] == [
        (1, i, f"v{i}".encode()) for i in range(4, 10)
    ]
    assert position == 10


async def test_group_offsets_visible_to_admin(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
) -> None:
    topic = await make_topic(partitions=2)
    await produce(topic, [("a", "1"), ("b", "2"), ("c", "3")], partition=0)
    await produce(topic, [("d", "4")], partition=1)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    committed_only = unique_name("grp-commit")
    await commit_offsets(committed_only, {(topic, 0): 3, tp1: 1})

    active = unique_name("grp-active")
    member = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=active,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    admin = await _admin(kafka_bootstrap)
    try:
        await member.start()
        await _consume(member, 4)
        await member.commit()

        groups = await admin.list_consumer_groups()
        # One group per call: see test_describe_groups_v3_decoding_bug for why.
        described = [
            await admin.describe_consumer_groups([committed_only]),
            await admin.describe_consumer_groups([active]),
        ]
        unknown = await admin.describe_consumer_groups([unique_name("grp-unknown")])
        offsets = await admin.list_consumer_group_offsets(committed_only)
        active_offsets = await admin.list_consumer_group_offsets(active)
        no_offsets = await admin.list_consumer_group_offsets(unique_name("grp-none"))
    finally:
        await member.stop()
        await admin.close()

    # list_consumer_groups: (group_id, protocol_type) tuples; a commit-only group has "".
    assert (committed_only, "") in groups
    assert (active, "consumer") in groups

    # describe_consumer_groups: a list of raw DescribeGroupsResponse_v2 (one per coordinator)
    # whose .groups are tuples (error_code, group, state, protocol_type, protocol, members).
    for response in described:
        assert len(response) == 1
        assert type(response[0]).__name__ == "DescribeGroupsResponse_v2"
        assert len(response[0].groups) == 1
    error_code, group, state, protocol_type, protocol, members = described[0][0].groups[0]
    assert (error_code, group, state) == (0, committed_only, "Empty")
    assert (protocol_type, protocol, members) == ("", "", [])
    error_code, group, state, protocol_type, protocol, members = described[1][0].groups[0]
    assert (error_code, group, state, protocol_type) == (0, active, "Stable", "consumer")
    assert protocol in {"roundrobin", "range", "sticky"}  # aiokafka's default: roundrobin
    assert len(members) == 1
    member_id, client_id, client_host, _metadata, assignment = members[0]
    assert client_id.startswith("aiokafka-")
    assert member_id.startswith(client_id)
    assert client_host == "/127.0.0.1"
    # member_assignment is bytes; ConsumerProtocolMemberAssignment decodes it.
    assert isinstance(assignment, bytes)
    decoded = ConsumerProtocolMemberAssignment.decode(assignment)
    assert [(t, sorted(ps)) for t, ps in decoded.assignment] == [(topic, [0, 1])]
    # An unknown group is not an error: error_code 0, state "Dead", no members.
    assert tuple(unknown[0].groups[0]) == (0, unknown[0].groups[0][1], "Dead", "", "", [])

    # list_consumer_group_offsets: {TopicPartition: OffsetAndMetadata}; {} for unknown groups.
    assert offsets == {tp0: OffsetAndMetadata(3, ""), tp1: OffsetAndMetadata(1, "")}
    assert active_offsets == {tp0: OffsetAndMetadata(3, ""), tp1: OffsetAndMetadata(1, "")}
    assert no_offsets == {}


async def test_end_offsets_and_offsets_for_times(
    kafka_bootstrap: str, make_topic: MakeTopic, produce: Produce
) -> None:
    topic = await make_topic(partitions=2)
    base = int(time.time() * 1000) - 60_000
    for i in range(3):
        await produce(topic, [(None, f"v{i}")], partition=0, timestamp_ms=base + i * 1000)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        # No assign() needed; wait_for because a missing partition can block forever.
        end = await asyncio.wait_for(consumer.end_offsets([tp0, tp1]), 10)
        begin = await asyncio.wait_for(consumer.beginning_offsets([tp0, tp1]), 10)
        mid = await asyncio.wait_for(consumer.offsets_for_times({tp0: base + 500, tp1: base}), 10)
        late = await asyncio.wait_for(consumer.offsets_for_times({tp0: base + 10_000}), 10)
        # A partition that does not exist: no error, the call just never returns.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(consumer.end_offsets([TopicPartition(topic, 7)]), 1)
    finally:
        await consumer.stop()
    assert end == {tp0: 3, tp1: 0}
    assert begin == {tp0: 0, tp1: 0}
    assert mid == {tp0: OffsetAndTimestamp(1, base + 1000), tp1: None}
    assert late == {tp0: None}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_scram(kafka_sasl: KafkaSasl, mechanism: str, make_topic: MakeTopic) -> None:
    topic = await make_topic()
    sasl = dataclasses.replace(kafka_sasl, mechanism=mechanism)

    admin = AIOKafkaAdminClient(**sasl.client_kwargs(), request_timeout_ms=10_000)
    try:
        await admin.start()
        assert topic in await admin.list_topics()
    finally:
        await admin.close()

    # A wrong password does not raise an auth error from clients: start() fails to bootstrap
    # with KafkaConnectionError (SaslAuthenticationFailed is only logged by aiokafka.client).
    bad = AIOKafkaConsumer(
        **sasl.client_kwargs(password="wrong-" + sasl.password),
        group_id=None,
        request_timeout_ms=10_000,
    )
    try:
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            await bad.start()
    finally:
        await bad.stop()

    # The precise reason comes from a bare connection (aiokafka.conn.create_conn).
    host, port = sasl.bootstrap.rsplit(":", 1)
    conn_kwargs: dict[str, Any] = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_plain_username": sasl.username,
        "request_timeout_ms": 10_000,
    }
    conn = await create_conn(
        host, int(port), sasl_mechanism=mechanism, sasl_plain_password=sasl.password, **conn_kwargs
    )
    conn.close()
    with pytest.raises(SaslAuthenticationFailed, match="invalid credentials"):
        await create_conn(
            host, int(port), sasl_mechanism=mechanism, sasl_plain_password="wrong", **conn_kwargs
        )
    with pytest.raises(UnsupportedSaslMechanismError):
        await create_conn(
            host,
            int(port),
            sasl_mechanism="PLAIN",
            sasl_plain_password=sasl.password,
            **conn_kwargs,
        )


async def test_idempotent_producer(kafka_bootstrap: str, make_topic: MakeTopic) -> None:
    topic = await make_topic(partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"k", partition=1)
            for i in range(3)
        ]
    finally:
        await producer.stop()
    assert [(md.topic, md.partition, md.offset) for md in sent] == [(topic, 1, i) for i in range(3)]
    assert all(md.timestamp > 0 for md in sent)


async def test_describe_groups_v3_decoding_bug(
    kafka_bootstrap: str,
    commit_offsets: CommitOffsets,
    make_topic: MakeTopic,
    unique_name: UniqueName,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiokafka 0.14 bug: DescribeGroupsRequest_v3.RESPONSE_TYPE is DescribeGroupsResponse_v2, so
    the per-group ``authorized_operations`` int32 of the broker's v3 answer is not consumed.
    Harmless for one group per request; with several groups, groups after the first come back
    garbled (error_code=-32768, names shifted) or decoding raises ValueError("Buffer underrun
    decoding string"). Workarounds: describe one group per call, or map v3 to its real
    response class (below), which adds ``authorized_operations`` as a 7th field."""
    from aiokafka.protocol import admin as protocol

    # Canary: when this fails, aiokafka fixed the mapping; the workaround can go.
    assert protocol.DescribeGroupsRequest_v3.RESPONSE_TYPE is protocol.DescribeGroupsResponse_v2

    topic = await make_topic()
    groups = [unique_name("grp-multi"), unique_name("grp-multi")]
    for group in groups:
        await commit_offsets(group, {(topic, 0): 0})

    admin = await _admin(kafka_bootstrap)
    try:
        broken = await admin.describe_consumer_groups(groups)
        monkeypatch.setattr(
            protocol.DescribeGroupsRequest_v3, "RESPONSE_TYPE", protocol.DescribeGroupsResponse_v3
        )
        fixed = await admin.describe_consumer_groups(groups)
    finally:
        await admin.close()
    assert sorted(g[1] for g in broken[0].groups) != sorted(groups)
    assert broken[0].groups[1][0] == -32768
    # Patched: all groups decode; order is not the request order.
    by_id = {g[1]: tuple(g) for g in fixed[0].groups}
    assert sorted(by_id) == sorted(groups)
    for group in groups:
        assert by_id[group][:6] == (0, group, "Empty", "", "", [])
        assert by_id[group][6] == -(2**31)  # authorized_operations: not requested
