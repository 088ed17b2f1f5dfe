"""DLQ redrive against the real broker: conventions, ledger, rate limit, failures."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from edamon.actions.filters import parse_filters
from edamon.actions.ledger import Ledger, RetryResult, decode_ledger_record
from edamon.actions.plan import Action, Outcome
from edamon.actions.redrive import Redriver
from edamon.actions.scan import find_dead_letters, read_dead_letters
from edamon.broker.kafka import KafkaBroker
from edamon.broker.partitioner import key_partition
from edamon.config import Settings
from edamon.model.records import RawRecord
from kafka_helpers import MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka

TRACE = [
    ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("tracestate", b"vendor=1"),
]


def settings_for(bootstrap: str, ledger: str, **dlq: Any) -> Settings:
    return Settings(
        kafka={"bootstrap_servers": bootstrap, "request_timeout_s": 5},
        dlq={"ledger_topic": ledger, **dlq},
    )


@pytest.fixture
def settings(kafka_bootstrap: str, unique_name: UniqueName) -> Settings:
    return settings_for(kafka_bootstrap, unique_name("ledger"))


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[KafkaBroker]:
    client = KafkaBroker(settings.kafka)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def read_topic(
    bootstrap: str, topic: str, partitions: int = 1, within: float = 15.0
) -> list[Any]:
    """Every record of `topic` with a plain aiokafka consumer, in offset order per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        end = await asyncio.wait_for(consumer.end_offsets(tps), 10)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + within
        while True:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                return records
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()


def spring_headers(topic: str) -> list[tuple[str, bytes]]:
    return [
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 2)),
        ("kafka_dlt-original-offset", struct.pack(">q", 1234)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", 1_795_000_000_000)),
        ("kafka_dlt-original-consumer-group", b"billing"),
        ("kafka_dlt-exception-fqcn", b"org.springframework.kafka.ListenerExecutionFailedException"),
        ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"boom"),
        ("kafka_dlt-exception-stacktrace", b"java.lang.IllegalStateException: boom\n\tat x.Y"),
    ]


def connect_headers(topic: str) -> list[tuple[str, bytes]]:
    return [
        ("__connect.errors.topic", topic.encode()),
        ("__connect.errors.partition", b"0"),
        ("__connect.errors.offset", b"77"),
        ("__connect.errors.connector.name", b"jdbc-sink"),
        ("__connect.errors.task.id", b"0"),
        ("__connect.errors.stage", b"VALUE_CONVERTER"),
        ("__connect.errors.exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", b"bad json"),
    ]


def x_original_headers(topic: str) -> list[tuple[str, bytes]]:
    return [
        ("x-original-topic", topic.encode()),
        ("x-original-partition", b"1"),
        ("x-original-offset", b"9"),
        ("x-exception-fqcn", b"TimeoutError"),
        ("x-exception-message", b"payment gateway timed out"),
        ("x-handler", b"PaymentHandler"),
        ("x-retry-count", b"3"),
    ]


async def test_each_convention_goes_back_to_its_topic_with_key_value_and_clean_headers(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    conventions = {"spring": spring_headers, "connect": connect_headers, "x": x_original_headers}
    app = [("event-type", b"OrderPlaced"), ("correlation-id", b"c-42"), ("event-type", b"v2")]
    big_value = json.dumps({"eventId": "e-1", "payload": "x" * 60_000}).encode()
    cases = {}
    for name, headers in conventions.items():
        target = await make_topic(unique_name(f"orders-{name}"), partitions=3)
        dlq = await make_topic(f"{target}.DLT")
        key = f"order-{name}".encode()
        await produce(dlq, [(key, big_value, [app[0], *headers(target), *TRACE, *app[1:]])])
        cases[name] = (dlq, target, key)

    dead = await read_dead_letters(broker, settings, [c[0] for c in cases.values()], timeout_s=20)
    assert sorted(dl.info.convention for dl in dead) == [
        "kafka-connect",
        "spring-dlt",
        "x-original",
    ]
    # The caller's copy may be truncated (the collector keeps 16 KiB): the engine re-reads.
    truncated = [type(dl)(record=_truncate(dl.record), info=dl.info, envelope=None) for dl in dead]
    ledger = Ledger(settings.dlq.ledger_topic)
    await ledger.load(broker)
    redriver = Redriver(broker, settings, ledger)
    plan = redriver.plan(truncated)
    assert {item.action for item in plan.items} == {Action.SEND}
    assert set(plan.stripped_headers()) >= {"traceparent", "tracestate", "x-original-topic"}
    summary = await redriver.execute(plan, rate=50)
    assert summary.ok, summary

    by_dlq = {r.coords.split("/")[0]: r for r in summary.results}
    for name, (dlq, target, key) in cases.items():
        result = by_dlq[dlq]
        copies = await read_topic(kafka_bootstrap, target, 3)
        assert len(copies) == 1, name
        copy = copies[0]
        assert (copy.partition, copy.offset) == (result.target_partition, result.target_offset)
        # Same key-based partition as any Java/aiokafka producer would pick for the key.
        assert copy.partition == key_partition(key, 3)
        assert (copy.key, copy.value) == (key, big_value)
        assert [h for h in copy.headers if not h[0].startswith("edamon-retry-")] == app
        trail = dict(h for h in copy.headers if h[0].startswith("edamon-retry-"))
        assert trail["edamon-retry-of"] == f"{dlq}/0/0".encode()
        assert trail["edamon-retry-attempt"] == b"1"
        assert abs(_iso(trail["edamon-retry-at"]) - time.time()) < 60
        # The DLQ keeps its record.
        assert len(await read_topic(kafka_bootstrap, dlq)) == 1

    # The ledger topic exists, is compacted, and holds one "sent" entry per dead letter.
    entries = [
        decode_ledger_record(_raw(r))
        for r in await read_topic(kafka_bootstrap, settings.dlq.ledger_topic)
    ]
    assert sorted((e.dead_letter, e.result, e.attempt) for e in entries if e) == sorted(
        (f"{c[0]}/0/0", RetryResult.SENT, 1) for c in cases.values()
    )
    assert await _cleanup_policy(kafka_bootstrap, settings.dlq.ledger_topic) == "compact"


def _truncate(record: RawRecord) -> RawRecord:
    return RawRecord(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp_ms,
        record.key,
        (record.value or b"")[:100],
        record.headers,
    )


def _raw(message: Any) -> RawRecord:
    return RawRecord(
        message.topic,
        message.partition,
        message.offset,
        message.timestamp,
        message.key,
        message.value,
        tuple(message.headers),
    )


def _iso(value: bytes) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.decode().replace("Z", "+00:00")).timestamp()


async def _cleanup_policy(bootstrap: str, topic: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == "cleanup.policy":
                    return str(entry[1])
    return None


async def test_ledger_blocks_a_second_retry_and_survives_a_restart(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    await produce(dlq, [(b"k1", b"v1", spring_headers(target))])
    ledger = Ledger(settings.dlq.ledger_topic)
    await ledger.load(broker)
    redriver = Redriver(broker, settings, ledger)
    dead = await read_dead_letters(broker, settings, [dlq])
    first = await redriver.execute(redriver.plan(dead), rate=100)
    assert [r.outcome for r in first.results] == [Outcome.SENT]

    # A new process: a new broker client and a new ledger read back from Kafka.
    async def fresh() -> tuple[KafkaBroker, Redriver]:
        client = KafkaBroker(settings.kafka)
        await client.start()
        loaded = Ledger(settings.dlq.ledger_topic)
        assert await loaded.load(client) == 1
        return client, Redriver(client, settings, loaded)

    client, again = await fresh()
    try:
        entry = again.ledger.get(f"{dlq}/0/0")
        assert entry is not None and entry.sent and entry.attempt == 1
        assert entry.target_coords == first.results[0].target_coords
        plan = again.plan(dead)
        assert [i.action for i in plan.items] == [Action.SKIP]
        skipped = await again.execute(plan, rate=100)
        assert [r.outcome for r in skipped.results] == [Outcome.SKIPPED]
        assert len(await read_topic(kafka_bootstrap, target)) == 1

        forced = await again.execute(again.plan(dead, force=True), rate=100)
        assert [(r.outcome, r.attempt) for r in forced.results] == [(Outcome.SENT, 2)]
    finally:
        await client.close()
    copies = await read_topic(kafka_bootstrap, target)
    assert [dict(c.headers)["edamon-retry-attempt"] for c in copies] == [b"1", b"2"]

    client, third = await fresh()
    try:
        entry = third.ledger.get(f"{dlq}/0/0")
        assert entry is not None and (entry.attempt, entry.sent_count) == (2, 2)
    finally:
        await client.close()


async def test_bulk_retry_by_filter_respects_the_rate(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target = await make_topic(unique_name("payments"), partitions=2)
    dlq = await make_topic(f"{target}-dlq", partitions=2)
    matching = [
        (f"p-{i}".encode(), f"v-{i}".encode(), x_original_headers(target)) for i in range(20)
    ]
    others = [(f"q-{i}".encode(), b"other", connect_headers(target)) for i in range(5)]
    await produce(dlq, matching[:10] + others + matching[10:])

    dead = await read_dead_letters(broker, settings, [dlq])
    assert len(dead) == 25
    selector = parse_filters([f"dlq-topic={dlq}", "exception=Timeout"], now=time.time())
    selected = selector.apply(dead)
    assert len(selected) == 20
    ledger = Ledger(settings.dlq.ledger_topic)
    await ledger.load(broker)
    redriver = Redriver(broker, settings, ledger)
    progress: list[int] = []
    started = time.monotonic()
    newest_first = sorted(selected, key=lambda dl: -dl.record.offset)  # as the service plans
    summary = await redriver.execute(
        redriver.plan(newest_first), rate=10, progress=lambda done, total: progress.append(done)
    )
    elapsed = time.monotonic() - started
    assert summary.ok and len(summary.sent) == 20
    assert progress == list(range(1, 21))
    # 20 sends at 10/s: 19 gaps of 0.1 s at least.
    assert elapsed >= 1.8, elapsed
    copies = await read_topic(kafka_bootstrap, target, 2)
    assert sorted(c.key for c in copies) == sorted(k for k, _, _ in matching)
    # Sent one by one, oldest first in each DLQ partition, one partition after the other
    # (whatever the plan's order): within each target partition, copies follow that order.
    sent_order = sorted(selected, key=lambda dl: (dl.record.partition, dl.record.offset))
    for partition in (0, 1):
        expected = [
            dl.record.key
            for dl in sent_order
            if key_partition(dl.record.key or b"", 2) == partition
        ]
        assert [c.key for c in copies if c.partition == partition] == expected


async def test_failed_sends_lose_nothing_and_the_ledger_says_why(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    missing = unique_name("never-created")
    small = await make_topic(unique_name("small"), config={"max.message.bytes": "1024"})
    dlq = await make_topic(unique_name("mixed") + ".DLQ")
    await produce(
        dlq,
        [
            (b"a", b"to a topic that does not exist", spring_headers(missing)),
            (b"b", b"x" * 4096, spring_headers(small)),  # the broker rejects it: too large
            (b"c", b"fine", spring_headers(small)),
        ],
    )
    dead = await read_dead_letters(broker, settings, [dlq])
    ledger = Ledger(settings.dlq.ledger_topic)
    await ledger.load(broker)
    redriver = Redriver(broker, settings, ledger)
    summary = await redriver.execute(redriver.plan(dead), rate=100, stop_on_failure=False)

    outcomes = [(r.outcome, r.reason) for r in summary.results]
    assert outcomes[0] == (Outcome.FAILED, f"target topic {missing} does not exist")
    assert outcomes[1][0] is Outcome.FAILED
    assert "MessageSizeTooLarge" in (outcomes[1][1] or ""), outcomes[1]
    assert outcomes[2] == (Outcome.SENT, None)
    assert not summary.ok
    assert len(await read_topic(kafka_bootstrap, dlq)) == 3
    assert [c.value for c in await read_topic(kafka_bootstrap, small)] == [b"fine"]

    loaded = Ledger(settings.dlq.ledger_topic)
    await loaded.load(broker)
    statuses = [loaded.get(f"{dlq}/0/{i}") for i in range(3)]
    assert [s.result if s else None for s in statuses] == [
        RetryResult.FAILED,
        RetryResult.FAILED,
        RetryResult.SENT,
    ]
    assert statuses[0] is not None and statuses[0].reason == outcomes[0][1]

    # stop_on_failure (the default): nothing after the first failure is attempted.
    stopped = await redriver.execute(redriver.plan(dead[:2]), rate=100)
    assert [r.outcome for r in stopped.results] == [Outcome.FAILED, Outcome.NOT_ATTEMPTED]
    assert stopped.aborted is not None and missing in stopped.aborted


async def test_find_dead_letters_by_address(
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT", partitions=2)
    plain = await make_topic(unique_name("plain"))
    await produce(dlq, [(f"k{i}", f"v{i}", spring_headers(target)) for i in range(5)], partition=1)
    found, problems = await find_dead_letters(
        broker,
        settings,
        [f"{dlq}/1/3", f"{dlq}/1/0", f"{dlq}/1/3", f"{dlq}/1/9", f"{dlq}/5/0", f"{plain}/0/0"],
    )
    assert [dl.coords for dl in found] == [f"{dlq}/1/3", f"{dlq}/1/0"]
    assert [dl.record.value for dl in found] == [b"v3", b"v0"]
    assert found[0].info.original_topic == target and found[0].info.original_partition == 2
    assert set(problems) == {f"{dlq}/1/9", f"{dlq}/5/0", f"{plain}/0/0"}
    assert "no record" in problems[f"{dlq}/1/9"]
    assert "not a DLQ topic" in problems[f"{plain}/0/0"]


async def test_reading_a_transactional_dlq_completes(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    unique_name: UniqueName,
) -> None:
    """Spring writes DLT records in transactions when the listener is transactional: the end
    offset then counts a commit marker that no consumer ever returns. Reading must still end,
    with every record, long before the timeout."""
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT", partitions=2)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=unique_name("tx")
    )
    await producer.start()
    try:
        for batch in range(2):
            async with producer.transaction():
                for i in range(3):
                    await producer.send(
                        dlq,
                        f"v{batch}{i}".encode(),
                        key=f"k{i}".encode(),
                        headers=spring_headers(target),
                    )
    finally:
        await producer.stop()
    started = time.monotonic()
    dead = await read_dead_letters(broker, settings, [dlq], timeout_s=30)
    elapsed = time.monotonic() - started
    assert sorted(dl.record.value or b"" for dl in dead) == sorted(
        f"v{b}{i}".encode() for b in range(2) for i in range(3)
    )
    assert elapsed < 15, elapsed


async def test_sent_then_a_failed_forced_retry_is_still_skipped_after_a_restart(
    kafka_bootstrap: str,
    settings: Settings,
    broker: KafkaBroker,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    """The ledger's latest entry says "failed" (a forced retry that failed), an earlier one
    "sent": read back from Kafka, the dead letter is skipped by the plan and by the send."""
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    await produce(dlq, [(b"k1", b"v1", spring_headers(target))])
    ledger = Ledger.from_settings(settings)
    await ledger.load(broker)
    redriver = Redriver(broker, settings, ledger)
    dead = await read_dead_letters(broker, settings, [dlq])
    stale_plan = redriver.plan(dead)
    first = await redriver.execute(redriver.plan(dead), rate=100)
    assert [r.outcome for r in first.results] == [Outcome.SENT]
    # A forced retry that failed, recorded as the redrive records one.
    await ledger.record(
        ledger.new_entry(dead[0].record, RetryResult.FAILED, target_topic=target, reason="timeout")
    )

    client = KafkaBroker(settings.kafka)
    await client.start()
    try:
        fresh = Ledger.from_settings(settings)
        await fresh.load(client)
        latest = fresh.entry_for(dead[0].record)
        assert latest is not None and (latest.attempt, latest.sent) == (2, False)
        again = Redriver(client, settings, fresh)
        plan = again.plan(dead)
        assert [(i.action, i.reason) for i in plan.items] == [
            (Action.SKIP, "already retried (attempt 2); use force to resend")
        ]
        summary = await again.execute(stale_plan, rate=100)  # planned before any retry
        assert [r.outcome for r in summary.results] == [Outcome.SKIPPED]
    finally:
        await client.close()
    assert [c.value for c in await read_topic(kafka_bootstrap, target)] == [b"v1"]
