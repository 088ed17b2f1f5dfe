"""The dashboard's tests read fixed data through the real service and the real client.

`FakeView` is a hand-made collector state (what the service's Backend asks of a collector:
snapshot, chain, event, dead_letter, read_record, its topic rules and ledger), not a stand-in
for Kafka: it returns immutable model objects built in fake_chain.py and fake_snapshot.py.
`make_app` serves it with the service's own ASGI app (edamon.service.app, with its tokens
and the retry service on an in-memory broker) and points the dashboard's `EdamonClient` at it
through httpx's ASGITransport: every screen gets its data over /v1, as in production.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import httpx
from fake_chain import MAIN_CHAIN, NOW, clock, envelope_for, main_chain
from fake_snapshot import make_snapshot

from edamon.actions.ledger import LedgerEntry
from edamon.actions.service import RetryService
from edamon.broker.base import Broker
from edamon.broker.memory import MemoryBroker
from edamon.client import EdamonClient
from edamon.collector.collector import Collector
from edamon.config import Settings
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, drop_record_data
from edamon.model.records import RawRecord
from edamon.model.snapshot import (
    ChainNode,
    ChainView,
    DeadLetterGroup,
    DeadLetterRow,
    SagaInstance,
    Snapshot,
)
from edamon.model.status import NodeStatus, SagaState
from edamon.model.topics import TopicRules
from edamon.service.app import create_app
from edamon.service.auth import Tokens
from edamon.service.backend import Backend
from edamon.ui.app import EdamonApp
from edamon.ui.source import DataSource

__all__ = [
    "MAIN_CHAIN",
    "NOW",
    "OPERATOR",
    "VIEWER",
    "FakeView",
    "clock",
    "make_app",
    "make_snapshot",
    "service_client",
    "settings",
]

OPERATOR = "operator-token-for-the-ui-tests"
VIEWER = "viewer-token-for-the-ui-tests"


class FakeView:
    """A collector's state over `snap` (replace it to simulate the collector moving on)."""

    def __init__(self, snap: Snapshot | None = None) -> None:
        self.snap = snap if snap is not None else make_snapshot()
        self.main = main_chain(NOW - 12)
        self.snapshots_taken = 0
        self.dropped: set[str] = set()
        """Event ids whose envelopes come back with their record data dropped."""
        self.records_read: list[str] = []
        self.read_gate: Callable[[], Awaitable[None]] | None = None
        """Awaited by `read_record` before it answers (a test holds the read with it)."""
        self.state = FakeState(settings(), self)
        self.sagas_followed: tuple[SagaInstance, ...] | None = None
        """The saga instances the collector follows, newest first (None: the snapshot's;
        a snapshot lists only the newest of them)."""
        self.caught_up = True

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


class FakeState:
    """What the service asks of a collector's state besides the view: its topic rules and
    the retry ledger's entries (none unless a test sets some)."""

    def __init__(self, config: Settings, view: FakeView) -> None:
        self.rules = TopicRules(
            config.topics, ledger_topic=config.dlq.ledger_topic, dlq_routes=config.dlq.routes
        )
        self.ledger: dict[str, LedgerEntry] = {}
        self._view = view

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead letter the view holds (those its snapshot lists)."""
        view = self._view
        held = (view.dead_letter(row.coords) for row in view.snap.dead_letters)
        return [dl for dl in held if dl is not None]

    def dead_letter_groups(self) -> tuple[DeadLetterGroup, ...]:
        return self._view.snap.dead_letter_groups

    def dead_letters_held(self) -> int:
        return len(self._view.snap.dead_letters)

    def dead_letter_rows(self, offset: int = 0, limit: int | None = None) -> list[DeadLetterRow]:
        """The snapshot's rows stand for the whole store (as `dead_letters` does)."""
        rows = self._view.snap.dead_letters
        return list(rows[offset : None if limit is None else offset + limit])

    def dead_letter_rows_containing(
        self,
        needle: str,
        text_of: Callable[[DeadLetterRow], str],
        keep: Callable[[DeadLetter], bool] | None = None,
    ) -> list[DeadLetterRow]:
        found: list[DeadLetterRow] = []
        for row in self._view.snap.dead_letters:
            if keep is not None:
                held = self._view.dead_letter(row.coords)
                if held is None or not keep(held):
                    continue
            if needle and needle not in text_of(row):
                continue
            found.append(row)
        return found

    def ledger_entry(self, coords: str) -> LedgerEntry | None:
        return self.ledger.get(coords)

    def saga_instances(self, state: SagaState | None, saga: str | None) -> tuple[SagaInstance, ...]:
        view = self._view
        followed = view.sagas_followed
        rows = view.snap.saga_instances if followed is None else followed
        return tuple(
            i
            for i in rows
            if (state is None or i.state is state) and (saga is None or i.saga == saga)
        )


def settings(**overrides: Any) -> Settings:
    """Default settings, built without reading any file or environment."""
    return Settings.model_validate(overrides)


def service_client(
    view: Any,
    config: Settings,
    *,
    broker: Broker | None = None,
    token: str = OPERATOR,
) -> EdamonClient:
    """An EdamonClient of the real service app over `view` (a FakeView or a real Collector),
    served in process. Requests within a test see the view's state at once (no shared
    snapshot between requests). Retries go to `broker` (default: an empty in-memory one)."""
    served = config.model_copy(
        update={"service": config.service.model_copy(update={"snapshot_max_age_s": 0.0})}
    )
    broker = broker if broker is not None else MemoryBroker()
    backend = Backend(cast(Collector, view), RetryService(broker, served), broker, served)
    app = create_app(backend, Tokens(VIEWER, OPERATOR, "tests"), max_body_bytes=1 << 20)
    return EdamonClient(
        "http://edamon.test",
        token,
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
    )


def make_app(
    view: Any = None,
    config: Settings | None = None,
    *,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
    refresh: bool = False,
    broker: Broker | None = None,
    token: str = OPERATOR,
    clock: Callable[[], float] = clock,
) -> EdamonApp:
    """The dashboard on the service over a FakeView (or `view`) with the fixed clock,
    drawing only on demand."""
    config = config if config is not None else settings()
    client = service_client(
        view if view is not None else FakeView(), config, broker=broker, token=token
    )
    return EdamonApp(
        DataSource(client), config, background=background, clock=clock, refresh=refresh
    )


__all__ += ["EdamonApp"]
