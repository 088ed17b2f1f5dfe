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
        active: Callable[[], bool] | None = None,
    ) -> None:
        """`notify=False`: evaluate and publish only (`edamon collect`), send nothing.
        `active`: whether this process evaluates the rules now (in a shard group, only the
        member that samples lag does, over the merged view); while it says no, nothing is
        evaluated or sent, and the alerts held are forgotten (published empty)."""
        self.settings = settings
        self.notify = notify
        self.engine = AlertEngine(settings)
        self.notifier = Notifier(settings, on_undeliverable=notice, clock=clock)
        self._snapshot = snapshot
        self._publish = publish
        self._clock = clock
        self._active = active

    @property
    def evaluating(self) -> bool:
        """Whether this process evaluates the rules now (see `active`)."""
        return self._active is None or self._active()

    def doc(self) -> AlertsDoc:
        return AlertsDoc(self.engine.alerts(), self.notifier.status(), len(self.settings.rules))

    def evaluate(self) -> None:
        """One evaluation: update the alerts, publish them, queue the notifications."""
        if self._active is not None and not self._active():
            if self.engine.alerts():
                self.engine = AlertEngine(self.settings)
                self._publish(())
            return
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


def alerting_for(
    collector: Collector,
    settings: Settings,
    snapshot: Callable[[], Snapshot] | None = None,
    active: Callable[[], bool] | None = None,
) -> Alerting:
    """The alert rules over `collector` (or over `snapshot`, e.g. a shard group's merged
    view; `active`: see Alerting): active alerts go into its snapshots, undeliverable
    notifications into its notices. The state is looked up at each use: a shard member
    builds a new one when its index partitions move."""

    def publish(alerts: tuple[AlertView, ...]) -> None:
        collector.state.alerts = alerts

    def notice(text: str) -> None:
        collector.state.notice(text)

    return Alerting(
        settings.alerts,
        snapshot or collector.snapshot,
        publish,
        notice,
        active=active,
    )


__all__ = ["Alerting", "alerting_for"]
