"""The checkout orchestrator: an orchestrated saga (ReserveStock -> ChargePayment ->
ScheduleShipment) that runs compensations in reverse order when a step fails."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edamon.demo.bus import EventBus, Service
from edamon.demo.events import Event
from edamon.model.records import RawRecord

# What the orchestrator does on each reply: (next command or None, new state).
_ON_REPLY: dict[str, tuple[str | None, str]] = {
    "StockReserved": ("ChargePayment", "RUNNING"),
    "PaymentCharged": ("ScheduleShipment", "RUNNING"),
    "ShipmentScheduled": (None, "COMPLETED"),
    "StockReservationFailed": (None, "REJECTED"),
    "PaymentDeclined": ("ReleaseStock", "COMPENSATING"),
    "ShipmentFailed": ("RefundPayment", "COMPENSATING"),
    "PaymentRefunded": ("ReleaseStock", "COMPENSATING"),
    "StockReleased": (None, "COMPENSATED"),
}
_STEP = {
    "ReserveStock": "reserve-stock",
    "ChargePayment": "charge-payment",
    "ScheduleShipment": "schedule-shipment",
    "RefundPayment": "charge-payment",
    "ReleaseStock": "reserve-stock",
}
_OUTCOME = {"COMPLETED": "completed", "COMPENSATED": "compensated", "REJECTED": "rejected"}


@dataclass(slots=True)
class SagaInstance:
    """One checkout as the orchestrator sees it."""

    order_id: str
    correlation_id: str
    order: dict[str, Any]
    state: str = "RUNNING"
    """RUNNING, COMPENSATING, COMPLETED, COMPENSATED or REJECTED (stock failed, nothing to
    undo)."""
    step: str = "reserve-stock"
    commands: list[str] = field(default_factory=list)
    """Commands sent, in order."""


class CheckoutOrchestrator(Service):
    """Starts a saga on CheckoutStarted, sends commands and follows the replies on
    `<prefix>checkout.replies`."""

    name = "orchestrator"

    def __init__(self, bus: EventBus) -> None:
        super().__init__(bus, [bus.topics.event("CheckoutStarted"), bus.topics.replies])
        self.sagas: dict[str, SagaInstance] = {}
        self.states: Counter[str] = Counter()
        """Sagas per state."""

    async def handle(self, event: Event, record: RawRecord) -> None:
        """Start a saga, or move one on by a reply; replies to unknown sagas are counted."""
        order = event.aggregate_id
        if event.event_type == "CheckoutStarted":
            if order in self.sagas:
                self.stats["restarts_ignored"] += 1
                return
            new = SagaInstance(order, event.correlation_id, dict(event.payload))
            await self._send(new, "ReserveStock", event)
            self.sagas[order] = new
            self.states["RUNNING"] += 1
            return
        saga = self.sagas.get(order)
        step = _ON_REPLY.get(event.event_type)
        if saga is None or step is None or saga.state not in ("RUNNING", "COMPENSATING"):
            self.stats["orphan_replies"] += 1
            return
        command, state = step
        if command is not None:
            await self._send(saga, command, event)
        self.states[saga.state] -= 1
        self.states[state] += 1
        saga.state = state
        outcome = _OUTCOME.get(state)
        if outcome is not None:
            self.bus.counters[f"outcome.checkout.{outcome}"] += 1

    async def _send(self, saga: SagaInstance, command: str, cause: Event) -> None:
        bus = self.bus
        message = bus.follow(cause, command, dict(saga.order))
        await bus.publish(bus.topics.command(command), message, self.name)
        saga.commands.append(command)
        saga.step = _STEP[command]
