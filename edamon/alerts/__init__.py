"""Alerts: rules over the collector's snapshots (rules.py) and notifications (notify.py).

    alerts = Alerting(settings.alerts, collector.snapshot, publish, notice)
    await alerts.run()          # beside the collector, until cancelled

`edamon serve` (and so the dashboard's embedded collector) runs it; `publish` receives the
active alerts after each evaluation (the collector state puts them in its snapshots).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from edamon.alerts.notify import Notifier
from edamon.alerts.rules import AlertEngine
from edamon.collector.collector import Collector
from edamon.config import AlertsSettings, Settings
from edamon.model.alerts import AlertsDoc, AlertView
from edamon.model.snapshot import Snapshot

log = logging.getLogger(__name__)


class Alerting:
    """The engine and the notifier, evaluated every `evaluate_interval_s`."""

    def __init__(
        self,
        settings: AlertsSettings,
        snapshot: Callable[[], Snapshot],
        publish: Callable[[tuple[AlertView, ...]], None],
        notice: Callable[[str], None] | None = None,
        *,
        notify: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`notify=False`: evaluate and publish only (`edamon collect`), send nothing."""
        self.settings = settings
        self.notify = notify
        self.engine = AlertEngine(settings)
        self.notifier = Notifier(settings, on_undeliverable=notice, clock=clock)
        self._snapshot = snapshot
        self._publish = publish
        self._clock = clock

    def doc(self) -> AlertsDoc:
        return AlertsDoc(self.engine.alerts(), self.notifier.status(), len(self.settings.rules))

    def evaluate(self) -> None:
        """One evaluation: update the alerts, publish them, queue the notifications."""
        notes = self.engine.evaluate(self._snapshot(), self._clock())
        self._publish(self.engine.alerts())
        if self.notify:
            for note in notes:
                self.notifier.submit(note)

    async def run(self) -> None:
        """Evaluate every interval and deliver, until cancelled. Nothing to do without rules."""
        if not self.settings.rules:
            return
        sending = asyncio.create_task(self.notifier.run(), name="edamon-notifier")
        try:
            while True:  # the first evaluation after one interval: the collector starts
                await asyncio.sleep(self.settings.evaluate_interval_s)
                try:
                    self.evaluate()
                except Exception:  # a bug in one evaluation must not end alerting
                    log.exception("alert evaluation failed")
        finally:
            sending.cancel()
            with suppress(asyncio.CancelledError):
                await sending


def alerting_for(collector: Collector, settings: Settings) -> Alerting:
    """The alert rules over `collector`: active alerts go into its snapshots, undeliverable
    notifications into its notices."""
    state = collector.state

    def publish(alerts: tuple[AlertView, ...]) -> None:
        state.alerts = alerts

    return Alerting(settings.alerts, collector.snapshot, publish, state.notice)


__all__ = ["Alerting", "alerting_for"]
