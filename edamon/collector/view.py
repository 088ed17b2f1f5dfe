"""The read API views use (`CollectorView`) over a `CollectorState`."""

from __future__ import annotations

import time
from collections.abc import Callable

from edamon.collector.gate import IngestGate
from edamon.collector.state import CollectorState
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.snapshot import ChainView, Snapshot


class StateView:
    """Implements `CollectorView` by asking a state; `clock` stamps the snapshots."""

    def __init__(self, state: CollectorState, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self._clock = clock
        self._gate = IngestGate()

    @property
    def ingest_gate(self) -> IngestGate:
        """Whoever ingests into `state` for this view waits at it (the collector's tail loop)."""
        return self._gate

    def snapshot(self) -> Snapshot:
        return self.state.snapshot(self._clock())

    def chain(self, correlation_id: str) -> ChainView | None:
        return self.state.chain(correlation_id)

    def event(self, event_id: str) -> Envelope | None:
        return self.state.event(event_id)

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return self.state.dead_letter(coords)

    async def read_record(self, coords: str) -> RawRecord | None:
        """A bare state has no broker to read from: None."""
        return None

    async def read_dead_letter(self, coords: str) -> DeadLetter | None:
        """The dead letter at `coords` read again (`read_record`) and decoded whole, or None
        when the record is gone. Raises as `read_record` does."""
        record = await self.read_record(coords)
        return None if record is None else self.state.decode_dead_letter(record)
