"""The fixed clock and one hand-made chain (with its retained events) for the UI tests."""

from __future__ import annotations

import json

from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord
from edamon.model.snapshot import ChainNode, ChainSummary, ChainView
from edamon.model.status import NodeStatus, SagaState

NOW = 1_790_000_000.0
"""The fixed 'now' of every test (epoch seconds)."""

MAIN_CHAIN = "c0ffee00-1111-4222-8333-444455556666"
"""A chain with a dead-lettered handler, an orphan and a critical path."""


def clock() -> float:
    """The tests' clock: always NOW."""
    return NOW


def uuid(n: int) -> str:
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
DLQ_COORDS = "shipping.ShipmentScheduled.DLT/0/17"


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
                dead_letter=DLQ_COORDS if status is NodeStatus.DEAD_LETTERED else None,
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
