"""A hand-made CollectorView for the dashboard tests: fixed data, a fixed clock.

This is a test double for the collector's read API (snapshot, chain, event, dead_letter), not
for Kafka: it returns immutable model objects built here, deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Awaitable, Callable, Sequence

from edamon.config import Settings
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord
from edamon.model.snapshot import (
    CatchUpView,
    ChainNode,
    ChainSummary,
    ChainView,
    ConnectionView,
    DeadLetterGroup,
    DeadLetterRow,
    EventTypeThroughput,
    GroupLag,
    PartitionLag,
    RateSeries,
    SagaInstance,
    SagaSummary,
    Snapshot,
    ThroughputView,
    TimelineRow,
    TopicThroughput,
    Totals,
    UndecodableSample,
    UndecodableView,
)
from edamon.model.status import (
    ConnectionState,
    GroupStatus,
    NodeStatus,
    PartitionStatus,
    SagaState,
)
from edamon.ui.app import EdamonApp

NOW = 1_790_000_000.0
"""The fixed 'now' of every test (epoch seconds)."""

MAIN_CHAIN = "c0ffee00-1111-4222-8333-444455556666"
"""A chain with a dead-lettered handler, an orphan and a critical path."""


def clock() -> float:
    """The tests' clock: always NOW."""
    return NOW


def series(total: int, rate: float, seed: int, n: int = 120) -> RateSeries:
    """A deterministic wavy history ending at `rate`."""
    history = tuple(
        max(0, round(rate * (1 + 0.5 * math.sin((i + seed) / 7) + 0.2 * math.cos(i * seed))))
        for i in range(n)
    )
    return RateSeries(total=total, rate=rate, history=history)


def _uuid(n: int) -> str:
    return f"{n:08x}-aaaa-4bbb-8ccc-{n * 7919:012x}"


# --- one rich chain -------------------------------------------------------------------------

_MAIN_EVENTS: tuple[tuple[str, str, str | None, float, NodeStatus, str, str], ...] = (
    # event id, event type, parent, seconds after start, status, topic, source
    ("e-root", "OrderPlaced", None, 0.0, NodeStatus.OK, "orders.OrderPlaced", "order-service"),
    (
        "e-stock",
        "StockReserved",
        "e-root",
        0.120,
        NodeStatus.OK,
        "inventory.StockReserved",
        "inventory-service",
    ),
    (
        "e-pay",
        "PaymentAuthorized",
        "e-root",
        0.480,
        NodeStatus.OK,
        "payments.PaymentAuthorized",
        "payment-service",
    ),
    (
        "e-ship",
        "ShipmentScheduled",
        "e-pay",
        1.350,
        NodeStatus.DEAD_LETTERED,
        "shipping.ShipmentScheduled",
        "shipping-service",
    ),
    (
        "e-notify",
        "CustomerNotified",
        "e-stock",
        0.300,
        NodeStatus.OK,
        "notifications.CustomerNotified",
        "notification-service",
    ),
    (
        "e-orphan",
        "InvoiceIssued",
        None,
        0.900,
        NodeStatus.ORPHAN,
        "billing.InvoiceIssued",
        "billing-service",
    ),
)
_DLQ_COORDS = "shipping.ShipmentScheduled.DLT/0/17"


def _depth(event_id: str | None) -> int:
    parents = {e[0]: e[2] for e in _MAIN_EVENTS}
    depth = 0
    while event_id and parents.get(event_id):
        event_id = parents[event_id]
        depth += 1
    return depth


def main_chain(start: float) -> ChainView:
    """The rich chain, in waterfall order (parent before children, siblings by time)."""
    times = {e[0]: e[3] for e in _MAIN_EVENTS}
    order = ["e-root", "e-stock", "e-notify", "e-pay", "e-ship", "e-orphan"]
    critical = {"e-root", "e-pay", "e-ship"}
    by_id = {e[0]: e for e in _MAIN_EVENTS}
    nodes = []
    for offset, event_id in enumerate(order):
        _, etype, parent, at, status, topic, source = by_id[event_id]
        nodes.append(
            ChainNode(
                event_id=event_id,
                event_type=etype,
                parent_id=parent,
                depth=_depth(event_id),
                status=status,
                time=start + at,
                offset_s=at,
                hop_s=None if parent is None else at - times[parent],
                topic=topic,
                coords=f"{topic}/0/{100 + offset}",
                source=source,
                duplicates=1 if event_id == "e-stock" else 0,
                critical=event_id in critical,
                dead_letter=_DLQ_COORDS if status is NodeStatus.DEAD_LETTERED else None,
                detail="TimeoutException: carrier API did not answer"
                if status is NodeStatus.DEAD_LETTERED
                else ("cause e-missing not seen" if status is NodeStatus.ORPHAN else None),
            )
        )
    summary = ChainSummary(
        correlation_id=MAIN_CHAIN,
        root_type="OrderPlaced",
        events=len(nodes),
        start=start,
        end=start + 1.35,
        duration_s=1.35,
        dead_letters=1,
        orphans=1,
        has_loop=False,
        saga="order-fulfilment",
        saga_state=SagaState.DEAD_LETTERED,
        last_update=start + 1.35,
    )
    return ChainView(summary=summary, nodes=tuple(nodes))


def envelope_for(node: ChainNode, correlation_id: str) -> Envelope:
    """A retained event with headers (one binary, one repeated) and a JSON payload."""
    payload = {
        "eventId": node.event_id,
        "eventType": node.event_type,
        "aggregateId": "order-42",
        "payload": {"orderId": "order-42", "amount": 129.9, "currency": "EUR", "lines": 3},
        "metadata": {"correlationId": correlation_id, "causationId": node.parent_id},
    }
    value = json.dumps(payload).encode()
    if node.event_id == "e-orphan":
        value = b"not json: legacy invoice line"
    topic, partition, offset = (node.coords or "t/0/0").rsplit("/", 2)
    record = RawRecord(
        topic=topic,
        partition=int(partition),
        offset=int(offset),
        timestamp_ms=int(node.time * 1000),
        key=b"order-42",
        value=value,
        headers=(
            ("event-type", node.event_type.encode()),
            ("correlation-id", correlation_id.encode()),
            ("retry", b"1"),
            ("retry", b"2"),
            ("schema-id", b"\x00\x00\x00\x07"),
        ),
    )
    return Envelope(
        event_id=node.event_id,
        event_type=node.event_type,
        correlation_id=correlation_id,
        causation_id=node.parent_id,
        aggregate_id="order-42",
        occurred_at=node.time,
        version=2,
        source=node.source,
        trace_id=None,
        format=EnvelopeFormat.SEED,
        record=record,
    )


# --- the snapshot -----------------------------------------------------------------------------

_TOPICS = (
    ("orders.OrderPlaced", 3, False, 12.4),
    ("inventory.StockReserved", 3, False, 11.8),
    ("payments.PaymentAuthorized", 3, False, 10.1),
    ("shipping.ShipmentScheduled", 3, False, 8.7),
    ("notifications.CustomerNotified", 1, False, 11.5),
    ("shipping.ShipmentScheduled.DLT", 1, True, 0.4),
)
_SAGA_STATES = (
    SagaState.RUNNING,
    SagaState.COMPLETED,
    SagaState.COMPLETED,
    SagaState.STUCK,
    SagaState.COMPENSATED,
    SagaState.FAILED,
    SagaState.COMPENSATING,
    SagaState.COMPLETED,
)
_STEPS = ("reserve stock", "authorize payment", "schedule shipment")


def _lag() -> tuple[GroupLag, ...]:
    def parts(
        topic: str, lags: list[int | None], status: PartitionStatus
    ) -> tuple[PartitionLag, ...]:
        rows = []
        for p, lag in enumerate(lags):
            end = 5_000 + 731 * p
            rows.append(
                PartitionLag(
                    topic=topic,
                    partition=p,
                    committed=None if lag is None else end - lag,
                    end=end,
                    lag=lag,
                    lag_seconds=None if lag is None else lag / 9.0,
                    status=PartitionStatus.NO_COMMIT if lag is None else status,
                    trend=tuple((lag or 0) * i // 10 for i in range(11)),
                    member=None if lag is None else f"consumer-{p}-7f3a",
                )
            )
        return tuple(rows)

    spec = (
        (
            "analytics",
            GroupStatus.ERR,
            PartitionStatus.STOP,
            "orders.OrderPlaced",
            [1_840, 1_796, 1_903],
            "Empty",
            0,
        ),
        (
            "shipping",
            GroupStatus.WARN,
            PartitionStatus.WARN,
            "payments.PaymentAuthorized",
            [412, 388, None],
            "Stable",
            3,
        ),
        (
            "payments",
            GroupStatus.OK,
            PartitionStatus.OK,
            "orders.OrderPlaced",
            [0, 2, 0],
            "Stable",
            3,
        ),
        (
            "inventory",
            GroupStatus.OK,
            PartitionStatus.OK,
            "orders.OrderPlaced",
            [1, 0, 0],
            "Stable",
            2,
        ),
    )
    groups = []
    for name, status, pstatus, topic, lags, state, members in spec:
        partitions = parts(topic, lags, pstatus)
        total = sum(lag or 0 for lag in lags)
        groups.append(
            GroupLag(
                group=name,
                state=state,
                members=members,
                status=status,
                worst=pstatus,
                total_lag=total,
                max_lag_seconds=max((p.lag_seconds or 0.0) for p in partitions),
                trend=tuple(total * i // 12 for i in range(13)),
                partitions=partitions,
                topics=(topic,),
            )
        )
    return tuple(groups)


def _dead_letter_rows(now: float) -> tuple[DeadLetterRow, ...]:
    rows = []
    messages = (
        ("java.util.concurrent.TimeoutException", "carrier API did not answer within 5000 ms"),
        ("com.acme.shipping.AddressInvalidException", "postcode 'XX1' is not valid for DE"),
        ("java.util.concurrent.TimeoutException", "carrier API did not answer within 5000 ms"),
        ("com.fasterxml.jackson.core.JsonParseException", "Unexpected character ('n')"),
    )
    for i, (fqcn, message) in enumerate(messages):
        rows.append(
            DeadLetterRow(
                coords=_DLQ_COORDS if i == 0 else f"shipping.ShipmentScheduled.DLT/0/{17 - i}",
                dlq_topic="shipping.ShipmentScheduled.DLT",
                time=now - 40 - 95 * i,
                original_topic="shipping.ShipmentScheduled",
                original_coords=f"shipping.ShipmentScheduled/{i % 3}/{880 + i}",
                consumer_group="shipping",
                exception_class=fqcn,
                message=message,
                attempts=3,
                convention="spring-dlt",
                correlation_id=MAIN_CHAIN if i == 0 else _uuid(100 + i),
                event_id="e-ship" if i == 0 else f"ev-{i}",
                event_type="ShipmentScheduled",
                retry="sent" if i == 2 else None,
                retried_at=now - 20 if i == 2 else None,
                retried_by="alice" if i == 2 else None,
            )
        )
    return tuple(rows)


def make_snapshot(now: float = NOW, *, extra_chain: str | None = None) -> Snapshot:
    """The full fixed snapshot at `now`. `extra_chain` adds one more (newest) flow."""
    topics = tuple(
        TopicThroughput(
            topic=name,
            partitions=parts,
            is_dlq=dlq,
            by_arrival=series(int(rate * 3600), rate, seed),
            by_timestamp=series(int(rate * 3600), rate, seed),
            last_seen=now - (7 if dlq else seed % 3),
        )
        for seed, (name, parts, dlq, rate) in enumerate(_TOPICS, start=1)
    )
    event_types = tuple(
        EventTypeThroughput(name.split(".", 1)[1], series(int(rate * 3600), rate, seed), ((2, 9),))
        for seed, (name, _, dlq, rate) in enumerate(_TOPICS, start=1)
        if not dlq
    )
    main = main_chain(now - 12)
    chains = [main.summary]
    for i in range(1, 9):
        state = _SAGA_STATES[i % len(_SAGA_STATES)]
        chains.append(
            ChainSummary(
                correlation_id=_uuid(i),
                root_type="OrderPlaced",
                events=3 + i % 4,
                start=now - 30 * i,
                end=now - 30 * i + 0.4 * i,
                duration_s=0.4 * i,
                dead_letters=0,
                orphans=0,
                has_loop=i == 5,
                saga="order-fulfilment",
                saga_state=state,
                last_update=now - 30 * i + 0.4 * i,
            )
        )
    if extra_chain is not None:
        chains.insert(
            0, dataclasses.replace(main.summary, correlation_id=extra_chain, last_update=now)
        )
    instances = tuple(
        SagaInstance(
            correlation_id=c.correlation_id,
            saga="order-fulfilment",
            state=c.saga_state or SagaState.RUNNING,
            step=3 if c.saga_state is SagaState.COMPLETED else i % 3,
            step_name="" if c.saga_state is SagaState.COMPLETED else _STEPS[i % 3],
            started=c.start,
            updated=c.last_update,
            duration_s=c.duration_s,
        )
        for i, c in enumerate(chains)
    )
    counts = {state: 0 for state in SagaState}
    for instance in instances:
        counts[instance.state] += 1
    timeline = []
    for i in range(30):
        name = _TOPICS[i % 5][0]
        timeline.append(
            TimelineRow(
                time=now - 0.7 * i,
                topic=name,
                event_type=name.split(".", 1)[1],
                event_id=f"t-{i}",
                correlation_id=MAIN_CHAIN if i % 4 == 0 else _uuid(i % 9),
                coords=f"{name}/{i % 3}/{4_000 - i}",
            )
        )
    timeline[3] = dataclasses.replace(
        timeline[3],
        topic="shipping.ShipmentScheduled.DLT",
        event_type="ShipmentScheduled",
        coords=_DLQ_COORDS,
        dead_letter=True,
        correlation_id=MAIN_CHAIN,
        event_id="e-ship",
    )
    dead = _dead_letter_rows(now)
    return Snapshot(
        taken_at=now,
        connection=ConnectionView(ConnectionState.CONNECTED, "localhost:9092", "", 1, now - 600),
        catchup=CatchUpView(caught_up=True, records_behind=0, percent=100.0),
        throughput=ThroughputView(
            window_s=300,
            events=series(183_402, 54.5, 11),
            dead_letters=series(212, 0.4, 3),
            topics=topics,
            event_types=event_types,
        ),
        lag=_lag(),
        dead_letters=dead,
        dead_letter_groups=(
            DeadLetterGroup(
                "shipping.ShipmentScheduled",
                "shipping",
                "java.util.concurrent.TimeoutException",
                2,
                now - 40,
                "carrier API did not answer within 5000 ms",
            ),
            DeadLetterGroup(
                "shipping.ShipmentScheduled",
                "shipping",
                "com.acme.shipping.AddressInvalidException",
                1,
                now - 135,
                "postcode 'XX1' is not valid for DE",
            ),
            DeadLetterGroup(
                "orders.OrderPlaced",
                None,
                "com.fasterxml.jackson.core.JsonParseException",
                1,
                now - 325,
                None,
            ),
        ),
        sagas=(
            SagaSummary(
                saga="order-fulfilment",
                counts=tuple((state, counts[state]) for state in SagaState),
                p50_s=1.2,
                p95_s=3.8,
            ),
            SagaSummary(
                saga="refund",
                counts=tuple((state, 0) for state in SagaState),
                p50_s=None,
                p95_s=None,
            ),
        ),
        saga_instances=instances,
        chains=tuple(chains),
        timeline=tuple(timeline),
        undecodable=UndecodableView(
            count=3,
            by_reason=(("invalid JSON", 2), ("value too large", 1)),
            samples=(
                UndecodableSample(
                    "orders.OrderPlaced/1/3021", "invalid JSON", now - 50, '{"eventId": "x", oops'
                ),
                UndecodableSample(
                    "orders.OrderPlaced/2/3100", "invalid JSON", now - 20, "\\xff\\xfe"
                ),
            ),
        ),
        totals=Totals(
            events=183_402,
            duplicates=37,
            dead_letters=212,
            undecodable=3,
            chains=len(chains),
            retained_events=12_000,
            evicted_chains=0,
        ),
    )


class FakeView:
    """A CollectorView over `snap` (replace it to simulate the collector moving on)."""

    def __init__(self, snap: Snapshot | None = None) -> None:
        self.snap = snap if snap is not None else make_snapshot()
        self.main = main_chain(NOW - 12)
        self.snapshots_taken = 0

    def snapshot(self) -> Snapshot:
        self.snapshots_taken += 1
        return self.snap

    def chain(self, correlation_id: str) -> ChainView | None:
        if correlation_id == self.main.summary.correlation_id:
            return self.main
        summary = next((c for c in self.snap.chains if c.correlation_id == correlation_id), None)
        if summary is None:
            return None
        if summary.dead_letters:  # the extra chain: same shape as the main one
            return dataclasses.replace(self.main, summary=summary)
        root = ChainNode(
            "r-" + correlation_id[:8],
            summary.root_type,
            None,
            0,
            NodeStatus.OK,
            summary.start,
            0.0,
            None,
            "orders.OrderPlaced",
            "orders.OrderPlaced/0/1",
            "order-service",
            0,
            True,
        )
        return ChainView(summary=summary, nodes=(root,))

    def event(self, event_id: str) -> Envelope | None:
        node = next((n for n in self.main.nodes if n.event_id == event_id), None)
        return None if node is None else envelope_for(node, MAIN_CHAIN)

    def dead_letter(self, coords: str) -> DeadLetter | None:
        row = next((r for r in self.snap.dead_letters if r.coords == coords), None)
        if row is None:
            return None
        node = next(n for n in self.main.nodes if n.event_id == "e-ship")
        original = envelope_for(node, row.correlation_id or MAIN_CHAIN)
        topic, partition, offset = coords.rsplit("/", 2)
        record = dataclasses.replace(
            original.record,
            topic=topic,
            partition=int(partition),
            offset=int(offset),
            headers=(
                *original.record.headers,
                ("kafka_dlt-original-topic", b"shipping.ShipmentScheduled"),
                ("kafka_dlt-original-partition", b"\x00\x00\x00\x00"),
                ("kafka_dlt-exception-fqcn", (row.exception_class or "").encode()),
            ),
        )
        info = DeadLetterInfo(
            convention=row.convention,
            original_topic=row.original_topic,
            original_partition=0,
            original_offset=880,
            consumer_group=row.consumer_group,
            exception_class=row.exception_class,
            exception_message=row.message,
            stacktrace=f"{row.exception_class}: {row.message}\n"
            "\tat com.acme.shipping.CarrierClient.schedule(CarrierClient.java:88)\n"
            "\tat com.acme.shipping.ShipmentHandler.on(ShipmentHandler.java:41)",
            attempts=row.attempts,
        )
        return DeadLetter(record=record, info=info, envelope=original)


def settings() -> Settings:
    """Default settings, built without reading any file or environment."""
    return Settings.model_validate({})


def make_app(
    view: FakeView | None = None,
    config: Settings | None = None,
    *,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
    refresh: bool = False,
) -> EdamonApp:
    """The dashboard over a FakeView with the fixed clock, drawing only on demand."""
    return EdamonApp(
        view if view is not None else FakeView(),
        config if config is not None else settings(),
        background=background,
        clock=clock,
        refresh=refresh,
    )
