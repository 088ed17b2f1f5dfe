"""DLQ retry for an interactive front end (the dashboard): one `Redriver` and its ledger, kept
for the whole session, behind three calls.

1. `await service.refresh_ledger()`: read the retry ledger (the first call loads it; later calls
   read it again, so retries made meanwhile by the CLI or another dashboard are known before
   the next plan). Raises BrokerError; the caller may still plan, with the retries it knows.
2. `service.plan(dead_letters, force=...)`: pure, what a confirmation dialog shows.
3. `await service.execute(plan, ...)`: send at `settings.dlq.rate` (ReadOnlyError when
   settings.read_only; broker problems end up in the summary, never raised).

No textual here: the UI stays a thin layer over this.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from edamon.actions.ledger import Ledger
from edamon.actions.plan import RedrivePlan, RedriveSummary
from edamon.actions.redrive import ReadOnlyError, Redriver
from edamon.broker.base import Broker
from edamon.config import Settings
from edamon.model.deadletter import DeadLetter

__all__ = ["ReadOnlyError", "RetryService"]


class RetryService:
    """Plans and runs DLQ retries on `broker` for a long-lived front end (see the module doc).

    One run at a time: `running` is True from the start of `execute` to its end.
    """

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        user: str | None = None,
        ledger_timeout_s: float = 15.0,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.ledger = Ledger.from_settings(settings, clock=clock)
        self.redriver = Redriver(broker, settings, self.ledger, clock=clock, user=user)
        self._ledger_timeout_s = ledger_timeout_s
        self._loaded = False
        self._loading = asyncio.Lock()
        self._running = False

    @property
    def read_only(self) -> bool:
        """True when edamon runs read-only: `execute` refuses, plans are for show only."""
        return self.settings.read_only

    @property
    def rate(self) -> float:
        """Records per second a run sends at most (`dlq.rate`)."""
        return self.settings.dlq.rate

    @property
    def ledger_loaded(self) -> bool:
        """True once the ledger has been read completely at least once."""
        return self._loaded

    @property
    def running(self) -> bool:
        """True while `execute` is sending."""
        return self._running

    async def refresh_ledger(self) -> int:
        """Read the ledger topic to its current end (a missing topic is an empty ledger) and
        return the number of dead letters it knows. Not while a run is sending (the run keeps
        the ledger up to date itself): then it returns at once.

        Raises BrokerError (the broker is down, or reading timed out).
        """
        async with self._loading:
            if self._running:
                return len(self.ledger)
            count = await self.ledger.load(self.broker, timeout_s=self._ledger_timeout_s)
            self._loaded = True
            return count

    def plan(self, dead_letters: Iterable[DeadLetter], *, force: bool = False) -> RedrivePlan:
        """What a retry of `dead_letters` would do: send, skip (already retried per the ledger,
        unless `force`) or refuse (no target topic). Sends nothing."""
        return self.redriver.plan(dead_letters, force=force)

    async def execute(
        self,
        plan: RedrivePlan,
        *,
        stop_on_failure: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RedriveSummary:
        """Send the plan's SEND items at `rate`, recording each attempt in the ledger.

        Raises ReadOnlyError before sending anything when read-only; otherwise never raises for
        broker problems (they are failed items and `summary.aborted`).
        """
        if self.read_only:
            raise ReadOnlyError("edamon is read-only (--read-only / read_only = true): no retry")
        self._running = True
        try:
            return await self.redriver.execute(
                plan,
                rate=self.rate,
                stop_on_failure=stop_on_failure,
                progress=progress,
                cancel=cancel,
            )
        finally:
            self._running = False
