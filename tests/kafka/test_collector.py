"""The collector against the real broker: chains and sagas, lag statuses, new topics, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from builders import event_value, spring_dlt_headers
from edamon.config import Settings, load_settings
from edamon.demo.sagas import demo_sagas
from edamon.model.status import ConnectionState, GroupStatus, NodeStatus, SagaState
from kafka_helpers import running_collector

pytestmark = pytest.mark.kafka

SAGA = demo_sagas()[0]  # order-fulfilment: reserve stock, pay, ship


def settings_for(bootstrap: str, prefix: str, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 5},
        "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 0.5},
        "lag": {"interval_s": 0.3, "window": 5},
    }
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    settings = load_settings(None, overrides, use_default_path=False)
    settings.sagas.definitions = [SAGA]
    return settings


async def until(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.1)


async def test_scripted_flow_gives_chain_saga_and_dead_letter(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("flow")
    steps = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled"]
    for etype in [*steps, "PaymentProcessed.DLT"]:
        await make_topic(f"{prefix}.{etype}", partitions=2)
    now_ms = int(time.time() * 1000)
    parent = None
    events = []
    for i, etype in enumerate(steps):
        events.append((etype, f"e{i}", parent, now_ms + i * 150))
        parent = f"e{i}"
    for etype, eid, cause, at in reversed(events):  # out of order: last step first
        value = event_value(eid, etype, "flow-1", cause, at_ms=at)
        await produce(f"{prefix}.{etype}", [(b"order-1", value, [("event-type", etype.encode())])])
    dlq_value = event_value("e9", "PaymentProcessed", "flow-2", None, at_ms=now_ms)
    await produce(
        f"{prefix}.PaymentProcessed.DLT",
        [(b"order-2", dlq_value, spring_dlt_headers(f"{prefix}.StockReserved", 1, 42))],
    )
    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(
            lambda: (v := collector.chain("flow-1")) is not None and v.summary.events == 4,
            what="flow-1 with 4 events",
        )
        await until(lambda: collector.snapshot().totals.dead_letters == 1, what="dead letter")
        view = collector.chain("flow-1")
        assert view is not None
        assert [n.event_type for n in view.nodes] == steps
        assert [n.depth for n in view.nodes] == [0, 1, 2, 3]
        assert view.summary.saga_state == SagaState.COMPLETED
        assert view.nodes[-1].critical
        snap = collector.snapshot()
        assert snap.connection.state == ConnectionState.CONNECTED
        row = snap.dead_letters[0]
        assert row.original_coords == f"{prefix}.StockReserved/1/42"
        assert row.exception_class == "java.lang.IllegalStateException"
        flow2 = collector.chain("flow-2")
        assert flow2 is not None
        assert any(n.status == NodeStatus.DEAD_LETTERED for n in flow2.nodes)
        topics = {t.topic for t in snap.throughput.topics}
        assert f"{prefix}.OrderPlaced" in topics
        assert snap.throughput.events.total == 4
        assert snap.catchup.caught_up


async def test_lag_status_ok_warn_err(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    commit_offsets: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("lag")
    topic = await make_topic(f"{prefix}.Ticks", partitions=1)
    keeper, steady, stopped = (unique_name(f"{prefix}-{n}") for n in ("keeper", "steady", "stop"))
    settings = settings_for(kafka_bootstrap, prefix, lag={"groups_include": [rf"{prefix}-.*"]})
    end = 0
    async with running_collector(settings) as collector:
        await commit_offsets(stopped, {(topic, 0): 0})
        statuses: dict[str, GroupStatus] = {}
        deadline = time.monotonic() + 40
        round_ = 0
        while time.monotonic() < deadline:
            round_ += 1
            await produce(
                topic, [(b"k", event_value(f"t{end + i}", "Tick", "c"), []) for i in range(10)]
            )
            end += 10
            await commit_offsets(keeper, {(topic, 0): end})
            await commit_offsets(steady, {(topic, 0): round_ * 3})
            await asyncio.sleep(0.35)
            statuses = {g.group: g.status for g in collector.snapshot().lag}
            if (
                statuses.get(keeper) == GroupStatus.OK
                and statuses.get(steady) == GroupStatus.WARN
                and statuses.get(stopped) == GroupStatus.ERR
            ):
                break
        assert statuses.get(keeper) == GroupStatus.OK, statuses
        assert statuses.get(steady) == GroupStatus.WARN, statuses
        assert statuses.get(stopped) == GroupStatus.ERR, statuses
        lag = {g.group: g for g in collector.snapshot().lag}
        assert lag[steady].total_lag > 0
        assert lag[steady].partitions[0].lag_seconds is not None
        assert lag[steady].partitions[0].lag_seconds > 0
        assert lag[keeper].total_lag == 0


async def test_topic_created_after_start_is_picked_up(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("late")
    await make_topic(f"{prefix}.First")
    async with running_collector(settings_for(kafka_bootstrap, prefix)) as collector:
        await until(lambda: collector.snapshot().connection.state == ConnectionState.CONNECTED)
        late = await make_topic(f"{prefix}.Late", partitions=3)
        await produce(late, [(b"k", event_value("late-1", "LateEvent", "late-flow"), [])])
        await until(lambda: collector.chain("late-flow") is not None, what="late topic's event")
        topics = {t.topic: t for t in collector.snapshot().throughput.topics}
        assert topics[late].by_arrival.total == 1
        assert topics[late].partitions == 3


async def test_unreachable_broker_reports_connecting_with_reason() -> None:
    settings = settings_for(
        "127.0.0.1:1", "nothing", kafka={"request_timeout_s": 1, "connect_timeout_s": 1}
    )
    async with running_collector(settings) as collector:
        await until(
            lambda: "127.0.0.1:1" in collector.snapshot().connection.message,
            20,
            "a connection error naming the address",
        )
        assert collector.snapshot().connection.state == ConnectionState.CONNECTING


async def test_wrong_sasl_password_is_a_clear_error(kafka_sasl: Any) -> None:
    settings = settings_for(
        kafka_sasl.bootstrap,
        "nothing",
        kafka={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "username": kafka_sasl.username,
            "password": "wrong-password",
        },
    )
    async with running_collector(settings) as collector:
        await until(
            lambda: collector.snapshot().connection.state == ConnectionState.ERROR, 20, "auth error"
        )
        message = collector.snapshot().connection.message
        assert "wrong-password" not in message
        assert "auth" in message.lower()


async def test_records_dropped_from_memory_are_read_again_from_kafka(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("drop")
    topic = await make_topic(f"{prefix}.OrderPlaced", partitions=1)
    now_ms = int(time.time() * 1000)
    headers = [("event-type", b"OrderPlaced"), ("trace", b"\x00\x01"), ("trace", b"\x02")]
    values = [event_value(f"d{i}", "OrderPlaced", f"drop-{i}", None, at_ms=now_ms) for i in (0, 1)]
    await produce(topic, [(b"order-7", v, headers) for v in values])
    settings = settings_for(kafka_bootstrap, prefix, retention={"record_memory_mb": 0})
    async with running_collector(settings) as collector:
        await until(lambda: collector.event("d1") is not None, what="both events")
        env = collector.event("d0")
        assert env is not None and env.dropped and env.record.value is None
        record = await collector.read_record(env.record.coords)
        assert record is not None
        assert record.value == values[0] and record.key == b"order-7"
        assert record.headers == tuple(headers)  # all of them, in order, repeats kept
        assert await collector.read_record(f"{topic}/0/99") is None  # past the end
