"""A hand-made CollectorView for the dashboard tests: fixed data, a fixed clock.

This is a test double for the collector's read API (snapshot, chain, event, dead_letter), not
for Kafka: it returns immutable model objects built in fake_chain.py and fake_snapshot.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from fake_chain import MAIN_CHAIN, NOW, clock, envelope_for, main_chain
from fake_snapshot import make_snapshot

from edamon.collector.gate import IngestGate
from edamon.config import Settings
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, drop_record_data
from edamon.model.records import RawRecord
from edamon.model.snapshot import ChainNode, ChainView, Snapshot
from edamon.model.status import NodeStatus
from edamon.ui.app import EdamonApp

__all__ = ["MAIN_CHAIN", "NOW", "FakeView", "clock", "make_app", "make_snapshot", "settings"]


class FakeView:
    """A CollectorView over `snap` (replace it to simulate the collector moving on)."""

    def __init__(self, snap: Snapshot | None = None) -> None:
        self.snap = snap if snap is not None else make_snapshot()
        self.main = main_chain(NOW - 12)
        self.snapshots_taken = 0
        self.dropped: set[str] = set()
        """Event ids whose envelopes come back with their record data dropped."""
        self.records_read: list[str] = []
        self.read_gate: Callable[[], Awaitable[None]] | None = None
        """Awaited by `read_record` before it answers (a test holds the read with it)."""
        self.ingest_gate = IngestGate()

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
        if node is None:
            return None
        env = envelope_for(node, MAIN_CHAIN)
        if event_id in self.dropped:
            drop_record_data(env)
        return env

    async def read_record(self, coords: str) -> RawRecord | None:
        """The full record of the main chain's event at `coords` (as the broker would give)."""
        self.records_read.append(coords)
        if self.read_gate is not None:
            await self.read_gate()
        node = next((n for n in self.main.nodes if n.coords == coords), None)
        return None if node is None else envelope_for(node, MAIN_CHAIN).record

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
