"""The fixed snapshot of the UI tests: throughput, lag, dead letters, sagas, chains."""

from __future__ import annotations

import dataclasses
import math

from fake_chain import DLQ_COORDS, MAIN_CHAIN, NOW, main_chain, uuid

from edamon.model.snapshot import (
    CatchUpView,
    ChainSummary,
    ConnectionView,
    DeadLetterGroup,
    DeadLetterRow,
    EventTypeThroughput,
    GroupLag,
    LagHealth,
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
from edamon.model.status import ConnectionState, GroupStatus, PartitionStatus, SagaState


def series(total: int, rate: float, seed: int, n: int = 120) -> RateSeries:
    """A deterministic wavy history ending at `rate`."""
    history = tuple(
        max(0, round(rate * (1 + 0.5 * math.sin((i + seed) / 7) + 0.2 * math.cos(i * seed))))
        for i in range(n)
    )
    return RateSeries(total=total, rate=rate, history=history)


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
                coords=DLQ_COORDS if i == 0 else f"shipping.ShipmentScheduled.DLT/0/{17 - i}",
                dlq_topic="shipping.ShipmentScheduled.DLT",
                time=now - 40 - 95 * i,
                original_topic="shipping.ShipmentScheduled",
                original_coords=f"shipping.ShipmentScheduled/{i % 3}/{880 + i}",
                consumer_group="shipping",
                exception_class=fqcn,
                message=message,
                attempts=3,
                convention="spring-dlt",
                correlation_id=MAIN_CHAIN if i == 0 else uuid(100 + i),
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
            last_record=now - (7 if dlq else seed % 3),
        )
        for seed, (name, parts, dlq, rate) in enumerate(_TOPICS, start=1)
    )
    event_types = tuple(
        EventTypeThroughput(
            name.split(".", 1)[1],
            series(int(rate * 3600), rate, seed),
            ((1, 3), (2, 9)) if seed % 2 else ((2, 9),),
            series(int(rate * 3600), rate, seed),
        )
        for seed, (name, _, dlq, rate) in enumerate(_TOPICS, start=1)
        if not dlq
    )
    main = main_chain(now - 12)
    chains = [main.summary]
    for i in range(1, 9):
        state = _SAGA_STATES[i % len(_SAGA_STATES)]
        chains.append(
            ChainSummary(
                correlation_id=uuid(i),
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
            step=3 if c.saga_state is SagaState.COMPLETED else i % 3 + 1,
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
                correlation_id=MAIN_CHAIN if i % 4 == 0 else uuid(i % 9),
                coords=f"{name}/{i % 3}/{4_000 - i}",
            )
        )
    timeline[3] = dataclasses.replace(
        timeline[3],
        topic="shipping.ShipmentScheduled.DLT",
        event_type="ShipmentScheduled",
        coords=DLQ_COORDS,
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
            events_by_timestamp=series(183_402, 54.5, 11),
            dead_letters_by_timestamp=series(212, 0.4, 3),
        ),
        lag=_lag(),
        lag_health=LagHealth(
            interval_s=5.0,
            samples=128,
            cycle_p50_s=0.042,
            cycle_p99_s=0.118,
            requests_per_sample=6,
            groups=4,
            partitions=24,
        ),
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
