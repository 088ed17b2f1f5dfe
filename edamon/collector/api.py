"""What views (the dashboard, `collect --json`) may ask of a running collector."""

from __future__ import annotations

from typing import Protocol

from edamon.collector.gate import IngestGate
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.snapshot import ChainView, Snapshot


class CollectorView(Protocol):
    """Read-only queries. Every answer is immutable data; nothing reaches into internals."""

    @property
    def ingest_gate(self) -> IngestGate:
        """Held by the dashboard from a key press until its frame is out: ingest waits."""
        ...

    def snapshot(self) -> Snapshot:
        """The current state; cheap enough to call a few times per second."""
        ...

    def chain(self, correlation_id: str) -> ChainView | None:
        """One flow as a tree in waterfall order, or None if unknown or evicted."""
        ...

    def event(self, event_id: str) -> Envelope | None:
        """One retained event (with its record: headers, coordinates, value bytes; when the
        envelope says `dropped`, only coordinates: see `read_record`)."""
        ...

    async def read_record(self, coords: str) -> RawRecord | None:
        """The record at `topic/partition/offset` read again from the broker, or None when it
        no longer exists there (or there is no broker to ask). Raises BrokerError when the
        broker can't answer."""
        ...

    def dead_letter(self, coords: str) -> DeadLetter | None:
        """One retained dead letter by its `topic/partition/offset` (when it says `dropped`,
        without its body: see `read_dead_letter`)."""
        ...

    async def read_dead_letter(self, coords: str) -> DeadLetter | None:
        """The dead letter at `coords` read again from the broker and decoded whole, or None
        when it no longer exists there (or there is no broker to ask). Raises BrokerError when
        the broker can't answer."""
        ...
