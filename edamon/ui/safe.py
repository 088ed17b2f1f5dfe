"""Where data enters the dashboard: every answer of the collector and of the retry service is
made safe to show (edamon.model.safetext) before a screen sees it.

The app is given a `CollectorView` and a `RetryService` and keeps only `SafeView` and
`SafeRetry` around them: no screen or widget can reach an unsanitized string. Record bytes
(keys, header values, payloads) stay bytes and are shown through safetext's `bytes_text` and
`payload_text` (tests/ui check that nothing in edamon/ui decodes bytes itself).

When the UI reads the collector over HTTP, these wrappers move to the client's boundary as
they are: they only need the `CollectorView` protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from edamon.actions.plan import RedrivePlan, RedriveSummary
from edamon.actions.service import RetryService
from edamon.collector.api import CollectorView
from edamon.collector.gate import IngestGate
from edamon.collector.jsonout import chain_export
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.safetext import SafeWalk
from edamon.model.snapshot import ChainView, Snapshot


class SafeView:
    """A `CollectorView` whose every answer has its strings sanitized.

    Ids the UI was shown escaped are mapped back to the collector's own before a lookup."""

    def __init__(self, view: CollectorView) -> None:
        self._view = view
        self._walk = SafeWalk()

    @property
    def ingest_gate(self) -> IngestGate:
        return self._view.ingest_gate

    def original(self, text: str) -> str:
        """The collector's text for `text` as this view showed it (escaped or not)."""
        return self._walk.original(text)

    def snapshot(self) -> Snapshot:
        return self._walk(self._view.snapshot())

    def chain(self, correlation_id: str) -> ChainView | None:
        return self._walk.once(self._view.chain(self.original(correlation_id)))

    def event(self, event_id: str) -> Envelope | None:
        return self._walk.once(self._view.event(self.original(event_id)))

    async def read_record(self, coords: str) -> RawRecord | None:
        return self._walk.once(await self._view.read_record(self.original(coords)))

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return self._walk.once(self._view.dead_letter(self.original(coords)))

    async def read_dead_letter(self, coords: str) -> DeadLetter | None:
        return self._walk.once(await self._view.read_dead_letter(self.original(coords)))

    def export(self, correlation_id: str) -> dict[str, Any] | None:
        """The flow `correlation_id` for a JSON file (`chain_export`), exact rather than
        sanitized: it is written with every non-ASCII character escaped, never shown."""
        chain = self._view.chain(self.original(correlation_id))
        return None if chain is None else chain_export(self._view, chain)


class SafeRetry:
    """The retry service as the dashboard uses it: plans are made from the collector's dead
    letters as they are (targets and headers exact) and shown sanitized; `execute` runs the
    exact plan behind a sanitized one."""

    def __init__(self, service: RetryService, view: CollectorView, shown: SafeView) -> None:
        self._service = service
        self._view = view
        self._shown = shown
        self._walk = SafeWalk()
        self._plans: dict[int, tuple[RedrivePlan, RedrivePlan]] = {}
        """id(shown plan) -> (shown plan, exact plan): the plans of the last `plan` calls."""

    @property
    def read_only(self) -> bool:
        return self._service.read_only

    @property
    def rate(self) -> float:
        return self._service.rate

    @property
    def running(self) -> bool:
        return self._service.running

    async def refresh_ledger(self) -> int:
        return await self._service.refresh_ledger()

    def plan(
        self, coords: Sequence[str], *, force: bool = False
    ) -> tuple[RedrivePlan, tuple[str, ...]]:
        """The plan for the dead letters at `coords` (as shown) and the coords of those the
        collector no longer holds."""
        dead: list[DeadLetter] = []
        missing: list[str] = []
        for shown in coords:
            found = self._view.dead_letter(self._shown.original(shown))
            if found is None:
                missing.append(shown)
            else:
                dead.append(found)
        exact = self._service.plan(dead, force=force)
        safe = self._walk.once(exact)
        if len(self._plans) >= 8:
            self._plans.clear()
        self._plans[id(safe)] = (safe, exact)
        return safe, tuple(missing)

    async def execute(
        self,
        plan: RedrivePlan,
        *,
        stop_on_failure: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RedriveSummary:
        """Send the exact plan behind `plan` (one `plan` returned). Raises ValueError for a
        plan it did not make, ReadOnlyError when read-only."""
        entry = self._plans.get(id(plan))
        if entry is None or entry[0] is not plan:
            raise ValueError("not a plan made by this retry service")
        summary = await self._service.execute(
            entry[1], stop_on_failure=stop_on_failure, progress=progress, cancel=cancel
        )
        return self._walk.once(summary)
