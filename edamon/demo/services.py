"""The demo's services: inventory, payments (Spring-style DLT), shipping (x-original DLQ, the
slow one) and analytics (reads everything, the group that stops committing).

Each reacts to choreographed events and to the orchestrator's commands. Business state is
kept per order so tests can check that nothing was done twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from edamon.demo.bus import EventBus, Service
from edamon.demo.events import Event, Topics
from edamon.demo.faults import (
    Failure,
    java_deserialization_failure,
    java_failure,
    python_failure,
    spring_dlt_headers,
    x_original_headers,
)
from edamon.model.records import RawRecord

"""Share of orchestrated shipments the carrier refuses (ShipmentFailed: refund, then release).
Not in DemoSettings yet."""

_ORDER_FIELDS = ("orderId", "items", "total", "currency")


def _order(payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {k: payload[k] for k in _ORDER_FIELDS if k in payload}
    out.update(extra)
    return out


class InventoryService(Service):
    """Reserves stock for orders (OrderPlaced, ReserveStock) and releases it (PaymentFailed,
    ReleaseStock)."""

    name = "inventory"

    def __init__(self, bus: EventBus) -> None:
        t = bus.topics
        super().__init__(
            bus,
            [
                t.event("OrderPlaced"),
                t.event("PaymentFailed"),
                t.command("ReserveStock"),
                t.command("ReleaseStock"),
            ],
        )
        self.reserved: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.released: Counter[str] = Counter()

    async def handle(self, event: Event, record: RawRecord) -> None:
        """React to one event or command."""
        bus, order = self.bus, event.aggregate_id
        kind = event.event_type
        if kind in ("OrderPlaced", "ReserveStock"):
            if bus.faults.stuck(self.name, event.event_id, record):
                self.stats["stuck"] += 1
                return
            ok = bus.dice.chance("stock", order) >= bus.settings.stock_failure_rate
            reply = "StockReserved" if ok else "StockReservationFailed"
            payload = (
                _order(event.payload, reservationId=f"res-{order}")
                if ok
                else {
                    "orderId": event.payload["orderId"],
                    "reason": "insufficient stock for " + event.payload["items"][0]["sku"],
                }
            )
            topic = bus.topics.event(reply) if kind == "OrderPlaced" else bus.topics.replies
            await bus.publish(topic, bus.follow(event, reply, payload), self.name)
            if ok:
                self.reserved[order] += 1
            else:
                self.rejected[order] += 1
                if kind == "OrderPlaced":
                    bus.counters["outcome.order.rejected"] += 1
        elif kind in ("PaymentFailed", "ReleaseStock"):
            payload = {"orderId": event.payload["orderId"], "reason": kind}
            released = bus.follow(event, "StockReleased", payload)
            choreographed = kind == "PaymentFailed"
            target = bus.topics.event("StockReleased") if choreographed else bus.topics.replies
            await bus.publish(target, released, self.name)
            self.released[order] += 1
            if choreographed:
                bus.counters["outcome.order.compensated"] += 1


_PSP_FRAMES = (
    "java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
    "java.base/java.net.Socket$SocketInputStream.read(Socket.java:1099)",
    "org.apache.hc.core5.http.impl.io.SessionInputBufferImpl.fillBuffer"
    "(SessionInputBufferImpl.java:149)",
    "org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:883)",
    "com.example.payments.psp.PspClient.charge(PspClient.java:74)",
    "com.example.payments.PaymentService.charge(PaymentService.java:39)",
)


class PaymentsService(Service):
    """Charges (StockReserved, ChargePayment) and refunds (RefundPayment). A Spring service:
    what keeps failing goes to `<topic>.DLT` with `kafka_dlt-*` headers."""

    name = "payments"
    transient_faults = True

    def __init__(self, bus: EventBus) -> None:
        super().__init__(bus, payments_sources(bus.topics))
        self.charged: Counter[str] = Counter()
        self.declined: Counter[str] = Counter()
        self.refunded: Counter[str] = Counter()

    async def handle(self, event: Event, record: RawRecord) -> None:
        """React to one event or command."""
        bus, order = self.bus, event.aggregate_id
        kind = event.event_type
        if kind in ("StockReserved", "ChargePayment"):
            if bus.faults.stuck(self.name, event.event_id, record):
                self.stats["stuck"] += 1
                return
            ok = bus.dice.chance("payment", order) >= bus.settings.payment_failure_rate
            if kind == "StockReserved":
                reply = "PaymentProcessed" if ok else "PaymentFailed"
                topic = bus.topics.event(reply)
            else:
                reply = "PaymentCharged" if ok else "PaymentDeclined"
                topic = bus.topics.replies
            payload = (
                _order(event.payload, paymentId=f"pay-{order}")
                if ok
                else {
                    "orderId": event.payload["orderId"],
                    "reason": "card declined (insufficient funds)",
                }
            )
            await bus.publish(topic, bus.follow(event, reply, payload), self.name)
            (self.charged if ok else self.declined)[order] += 1
        elif kind == "RefundPayment":
            payload = _order(event.payload, refundId=f"ref-{order}")
            await bus.publish(
                bus.topics.replies, bus.follow(event, "PaymentRefunded", payload), self.name
            )
            self.refunded[order] += 1

    def transient_failure(self, event: Event, record: RawRecord) -> Failure:
        """A PSP read timeout inside a Spring listener."""
        return java_failure(
            "com.example.payments.PaymentListener",
            f"on{event.event_type}",
            "java.net.SocketTimeoutException",
            "Read timed out",
            _PSP_FRAMES,
        )

    def poison_failure(self, record: RawRecord, reason: str) -> Failure:
        """Jackson cannot parse the value."""
        value = record.value or b""
        if value[:1] == b"{":
            reason = "Unexpected end-of-input: expected close marker for Object"
        elif value:
            reason = f"Invalid UTF-8 start byte 0x{value[0]:02x}"
        else:
            reason = "No content to map due to end-of-input"
        return java_deserialization_failure(record, reason)

    async def dead_letter(self, record: RawRecord, failure: Failure, attempts: int) -> bool:
        """Spring's DeadLetterPublishingRecoverer: same partition of `<topic>.DLT`."""
        await self.bus.produce(
            Topics.spring_dlt(record.topic),
            record.key,
            record.value,
            spring_dlt_headers(record, self.group, failure),
            partition=record.partition,
            timestamp_ms=self.bus.now_ms(),
        )
        return True


def payments_sources(topics: Topics) -> list[str]:
    """The topics the payments service reads (each has a Spring `.DLT`)."""
    return [
        topics.event("StockReserved"),
        topics.command("ChargePayment"),
        topics.command("RefundPayment"),
    ]


class ShippingService(Service):
    """Schedules shipments (PaymentProcessed, ScheduleShipment). A Python service: what keeps
    failing goes to `<prefix>shipping.dlq` with `x-original-*` headers. The default slow group."""

    name = "shipping"
    transient_faults = True
    handler = "shipping.handlers.schedule_shipment"

    def __init__(self, bus: EventBus) -> None:
        t = bus.topics
        super().__init__(bus, [t.event("PaymentProcessed"), t.command("ScheduleShipment")])
        self.scheduled: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    async def handle(self, event: Event, record: RawRecord) -> None:
        """React to one event or command."""
        bus, order = self.bus, event.aggregate_id
        if bus.faults.stuck(self.name, event.event_id, record):
            self.stats["stuck"] += 1
            return
        choreographed = event.event_type == "PaymentProcessed"
        ok = (
            choreographed
            or bus.dice.chance("shipment", order) >= bus.settings.shipment_failure_rate
        )
        reply = "ShipmentScheduled" if ok else "ShipmentFailed"
        payload = (
            {"orderId": event.payload["orderId"], "carrier": "DHL", "trackingId": f"trk-{order}"}
            if ok
            else {"orderId": event.payload["orderId"], "reason": "address not deliverable"}
        )
        topic = bus.topics.event(reply) if choreographed else bus.topics.replies
        await bus.publish(topic, bus.follow(event, reply, payload), self.name)
        (self.scheduled if ok else self.failed)[order] += 1
        if choreographed:
            bus.counters["outcome.order.completed"] += 1

    def transient_failure(self, event: Event, record: RawRecord) -> Failure:
        """The carrier API times out."""
        return python_failure(
            self.handler,
            "httpx.ReadTimeout",
            "carrier API https://api.carrier.example/v2/shipments did not answer within 5.0s",
            ("shipping.carriers.http",),
        )

    def poison_failure(self, record: RawRecord, reason: str) -> Failure:
        """json.loads fails."""
        return python_failure(self.handler, "json.decoder.JSONDecodeError", reason, ())

    async def dead_letter(self, record: RawRecord, failure: Failure, attempts: int) -> bool:
        """Hand-made DLQ: `<prefix>shipping.dlq`, `x-original-*` text headers."""
        await self.bus.produce(
            self.bus.topics.shipping_dlq,
            record.key,
            record.value,
            x_original_headers(record, self.handler, attempts - 1, failure),
            timestamp_ms=self.bus.now_ms(),
        )
        return True


class AnalyticsService(Service):
    """Reads every business topic and counts; upcasts OrderPlaced v1 to sum revenue per
    currency. The default stopped group (commits for a while, then never again)."""

    name = "analytics"

    def __init__(self, bus: EventBus) -> None:
        super().__init__(bus, bus.topics.business())
        self.by_type: Counter[str] = Counter()
        self.revenue: dict[str, float] = {}

    async def handle(self, event: Event, record: RawRecord) -> None:
        """Count the event; OrderPlaced adds to revenue (v1 was upcast to v2 already)."""
        self.by_type[event.event_type] += 1
        if event.event_type == "OrderPlaced":
            currency = str(event.payload["currency"])
            self.revenue[currency] = self.revenue.get(currency, 0.0) + float(event.payload["total"])
