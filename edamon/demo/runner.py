"""DemoSystem: creates the demo's topics, then runs the flow generator and every service."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from edamon.actions.ledger import ReadOnlyError
from edamon.broker.base import Broker, BrokerError
from edamon.config import DemoSettings
from edamon.demo.bus import EventBus, Service
from edamon.demo.clock import DemoClock
from edamon.demo.events import Dice, Event
from edamon.demo.orchestrator import CheckoutOrchestrator
from edamon.demo.services import (
    AnalyticsService,
    InventoryService,
    PaymentsService,
    ShippingService,
    payments_sources,
)

PARTITIONS = 3
"""Partitions of every business topic (and of the Spring DLTs, which mirror them)."""
DLQ_PARTITIONS = 1
GROWN_BY = 2
"""Partitions added to the replies topic mid-run (DemoSettings.grow_partitions_after_s)."""
CURRENCIES = ("EUR", "USD", "GBP")
CREATE_ATTEMPTS = 10
RETRY_PAUSE_S = 1.0
"""Real seconds to wait after a broker error before trying again."""


@dataclass(frozen=True, slots=True)
class DemoStats:
    """A copy of the demo's counters at one moment."""

    seed: int
    elapsed_s: float
    flows: int
    counters: dict[str, int]
    """published, duplicates_published, poison_published, dead_lettered, v1_published,
    choreographed, orchestrated, and `outcome.<order|checkout>.<completed|compensated|rejected>`."""
    services: dict[str, dict[str, int]]
    """Per service: handled, duplicates_skipped, retries, dead_lettered, poison, stuck, ..."""

    @property
    def outcomes(self) -> dict[str, int]:
        """Business outcomes only (`order.completed`, `checkout.compensated`, ...)."""
        return {
            k.removeprefix("outcome."): v
            for k, v in sorted(self.counters.items())
            if k.startswith("outcome.")
        }

    def line(self) -> str:
        """One line for the headless demo's console."""
        c = self.counters
        outcomes = " ".join(f"{k}={v}" for k, v in self.outcomes.items())
        dup = sum(s.get("duplicates_skipped", 0) for s in self.services.values())
        return (
            f"t={self.elapsed_s:6.1f}s flows={self.flows} events={c.get('published', 0)} "
            f"dlq={c.get('dead_lettered', 0)} poison={c.get('poison_published', 0)} "
            f"dup-skipped={dup} {outcomes}"
        )


READ_ONLY = (
    "read-only (--read-only / read_only = true): the demo creates topics and writes records, "
    "nothing was written"
)


class DemoSystem:
    """The simulated event-driven system on `broker`.

    `clock` (default: the wall clock) gives simulated time; the same clock should feed a
    MemoryBroker. `max_flows` stops the generator after that many flows (tests). The seed is
    `settings.seed`, or a random one (see `seed`) when None. `read_only` (edamon's read_only on
    a real cluster): `run` raises ReadOnlyError before creating a topic or writing a record.
    """

    def __init__(
        self,
        broker: Broker,
        settings: DemoSettings,
        *,
        clock: DemoClock | None = None,
        max_flows: int | None = None,
        read_only: bool = False,
    ) -> None:
        self.read_only = read_only
        self.broker = broker
        self.settings = settings
        self.clock = clock or DemoClock()
        self.seed = settings.seed if settings.seed is not None else random.randrange(2**32)
        self.max_flows = max_flows
        self._rng = random.Random(self.seed)
        self.bus = EventBus(broker, settings, self.clock, Dice(self.seed), self.clock.now())
        self.inventory = InventoryService(self.bus)
        self.payments = PaymentsService(self.bus)
        self.shipping = ShippingService(self.bus)
        self.orchestrator = CheckoutOrchestrator(self.bus)
        self.analytics = AnalyticsService(self.bus)
        self.services: tuple[Service, ...] = (
            self.inventory,
            self.payments,
            self.shipping,
            self.orchestrator,
            self.analytics,
        )
        self.flows = 0
        self.generator_done = asyncio.Event()

    def topic_plan(self) -> dict[str, int]:
        """Every topic the demo uses and its partition count."""
        topics = self.bus.topics
        plan = dict.fromkeys(topics.business(), PARTITIONS)
        for source in payments_sources(topics):
            plan[topics.spring_dlt(source)] = PARTITIONS
        plan[topics.shipping_dlq] = DLQ_PARTITIONS
        return plan

    def group_ids(self) -> list[str]:
        """The consumer group of every service."""
        return [s.group for s in self.services]

    async def create_topics(self) -> None:
        """Create the demo's topics (existing ones are left as they are). Retries a broker
        that is (re)connecting for a while, then raises its BrokerError."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                for name, partitions in self.topic_plan().items():
                    await self.broker.create_topic(name, partitions)
                return
            except BrokerError:
                if attempt == CREATE_ATTEMPTS:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)

    async def run(self, duration_s: float | None = None) -> None:
        """Create the topics, then run the generator and the services until cancelled or for
        `duration_s` simulated seconds. A failing task stops the run and its error propagates;
        every task is cancelled and awaited on the way out."""
        if self.read_only:
            raise ReadOnlyError(READ_ONLY)
        await self.create_topics()
        await self.bus.codec.prepare(self.bus.topics.business())
        self.bus.started_at = self.clock.now()
        tasks = [asyncio.create_task(self._generate(), name="demo-generator")]
        if self.settings.grow_partitions_after_s > 0:
            tasks.append(asyncio.create_task(self._grow_partitions(), name="demo-resize"))
        tasks += [asyncio.create_task(s.run(), name=f"demo-{s.name}") for s in self.services]
        timeout = None if duration_s is None else self.clock.real(duration_s)
        try:
            done, _ = await asyncio.wait(
                tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    raise error
        finally:
            await _cancel_all(tasks)

    async def _grow_partitions(self) -> None:
        """After grow_partitions_after_s, give the replies topic GROWN_BY more partitions:
        an order's later replies then go to another partition than its earlier ones."""
        await self.clock.sleep(self.settings.grow_partitions_after_s)
        topic = self.bus.topics.replies
        try:
            await self.broker.add_partitions(topic, PARTITIONS + GROWN_BY)
        except BrokerError:  # a resize that fails is a fault the demo can live without
            self.bus.counters["resize_errors"] += 1
        else:
            self.bus.counters["partitions_added"] += GROWN_BY

    async def _generate(self) -> None:
        rng = self._rng
        while self.max_flows is None or self.flows < self.max_flows:
            try:
                await self._start_flow()
            except BrokerError:  # the flow is lost, like a crashed request; keep going
                self.bus.counters["publish_errors"] += 1
                await asyncio.sleep(RETRY_PAUSE_S)
            await self.clock.sleep(rng.expovariate(self.settings.rate))
        self.generator_done.set()

    async def _start_flow(self) -> None:
        rng, bus, demo = self._rng, self.bus, self.settings
        order_id = f"order-{rng.getrandbits(40):010x}"
        lines = [
            (f"SKU-{rng.randrange(1000, 10000)}", rng.randint(1, 3), round(rng.uniform(5, 120), 2))
            for _ in range(rng.randint(1, 3))
        ]
        items = [{"sku": sku, "qty": qty, "price": price} for sku, qty, price in lines]
        payload: dict[str, Any] = {
            "orderId": order_id,
            "customerId": f"cust-{rng.randrange(1, 500)}",
            "items": items,
            "total": round(sum(qty * price for _, qty, price in lines), 2),
            "currency": rng.choice(CURRENCIES),
        }
        orchestrated = rng.random() < demo.orchestrated_share
        v1 = rng.random() < demo.v1_share
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        user = f"u-{rng.randrange(1, 100)}"
        version = 2
        if orchestrated:
            kind, topic = "CheckoutStarted", bus.topics.event("CheckoutStarted")
            version = 1
        else:
            kind, topic = "OrderPlaced", bus.topics.event("OrderPlaced")
            if v1:
                version = 1
                del payload["currency"]
        event = Event(
            event_id,
            kind,
            order_id,
            self.clock.now(),
            version,
            payload,
            correlation,
            event_id,
            user,
        )
        self.flows += 1
        bus.counters["orchestrated" if orchestrated else "choreographed"] += 1
        if not orchestrated and v1:
            bus.counters["v1_published"] += 1
        await bus.publish(topic, event, "checkout" if orchestrated else "orders")

    def stats(self) -> DemoStats:
        """The counters now (a copy)."""
        services = {}
        for service in self.services:
            counts = dict(service.stats)
            counts["upcasted"] = service.upcasted
            services[service.name] = counts
        return DemoStats(
            seed=self.seed,
            elapsed_s=self.bus.elapsed(),
            flows=self.flows,
            counters=dict(self.bus.counters),
            services=services,
        )

    def duplicates_processed(self) -> dict[str, Counter[str]]:
        """Orders some service acted on more than once, per business counter (should be
        empty: handlers are idempotent)."""
        counters = {
            "reserved": self.inventory.reserved,
            "rejected": self.inventory.rejected,
            "released": self.inventory.released,
            "charged": self.payments.charged,
            "declined": self.payments.declined,
            "refunded": self.payments.refunded,
            "scheduled": self.shipping.scheduled,
            "failed": self.shipping.failed,
        }
        out = {}
        for name, counter in counters.items():
            twice = Counter({k: v for k, v in counter.items() if v > 1})
            if twice:
                out[name] = twice
        return out


CANCEL_ROUND_S = 5.0
CANCEL_ROUNDS = 12


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for them together. A cancellation that a client library
    swallows (aiokafka's consumer stop can) is delivered again each round, so one service
    cannot keep the demo from stopping; after CANCEL_ROUNDS rounds the rest are left."""
    pending = set(tasks)
    for _ in range(CANCEL_ROUNDS):
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_ROUND_S)
        if not pending:
            break
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the run's own error (if any) was raised already
