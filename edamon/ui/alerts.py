"""Turn successive snapshots into operator alerts, deduplicated and throttled.

Pure logic (no textual): the app shows each returned alert as a notification and the latest one
in the status line. A condition that persists is reported once, not once per refresh; counts
that keep growing (dead letters, undecodable records) are summed and reported at most once per
`interval_s`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from edamon.model.snapshot import Snapshot
from edamon.model.status import ConnectionState

Severity = Literal["information", "warning", "error"]

MAX_NOTICES_PER_CHECK = 3


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth telling the operator."""

    message: str
    severity: Severity
    time: float
    about: str | None = None
    """What the alert counts (`DEAD_LETTERS`, `UNDECODABLE`), for a view that already shows
    it to leave the notification out; None for the rest."""


DEAD_LETTERS = "dead letters"
UNDECODABLE = "undecodable"


class _Counter:
    """A monotonically growing count whose increases are reported at most every interval."""

    def __init__(self) -> None:
        self.seen: int | None = None
        self.pending = 0
        self.last_report = float("-inf")

    def update(self, value: int, silent: bool) -> None:
        if self.seen is not None and value > self.seen and not silent:
            self.pending += value - self.seen
        self.seen = value

    def take(self, now: float, interval_s: float) -> int:
        if self.pending and now - self.last_report >= interval_s:
            count, self.pending = self.pending, 0
            self.last_report = now
            return count
        return 0


class AlertTracker:
    """Compares each snapshot with what was already reported."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        notify_dead_letters: bool = True,
        interval_s: float = 10.0,
    ) -> None:
        self.clock = clock
        self.notify_dead_letters = notify_dead_letters
        self.interval_s = interval_s
        self.last: Alert | None = None
        """The most recent alert, for the status line."""
        self._connection: tuple[ConnectionState, str] | None = None
        self._error_told: str | None = None
        """The connection error last notified, until the next successful connection."""
        self._notices: deque[str] = deque(maxlen=256)
        self._dead = _Counter()
        self._undecodable = _Counter()
        self._firing: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        """Firing alerts of the configured rules already told, with their summary."""

    def check(self, snap: Snapshot) -> list[Alert]:
        """Alerts that `snap` raises which were not reported before."""
        now = self.clock()
        alerts: list[Alert] = []

        def add(message: str, severity: Severity, about: str | None = None) -> None:
            alerts.append(Alert(message, severity, now, about))

        conn = snap.connection
        current = (conn.state, conn.message)
        previous = self._connection
        if current != previous:
            if conn.state is ConnectionState.ERROR:
                # Retrying goes error → connecting → error: the same refusal is told once,
                # until a connection succeeds (then it is news again).
                message = f"Kafka {conn.cluster}: {conn.message or 'connection error'}"
                if message != self._error_told:
                    add(message, "error")
                    self._error_told = message
            elif conn.state is ConnectionState.CONNECTED:
                if self._error_told is not None:
                    add(f"Kafka {conn.cluster}: connected again", "information")
                self._error_told = None
            self._connection = current

        fresh = [notice for notice in snap.notices if notice not in self._notices]
        for notice in fresh[:MAX_NOTICES_PER_CHECK]:
            add(notice, "warning")
        if len(fresh) > MAX_NOTICES_PER_CHECK:
            add(f"… and {len(fresh) - MAX_NOTICES_PER_CHECK} more notices", "warning")
        self._notices.extend(fresh)

        # Records read during the initial catch-up are history, not news.
        silent = not snap.catchup.caught_up
        self._undecodable.update(snap.undecodable.count, silent)
        self._dead.update(snap.totals.dead_letters, silent or not self.notify_dead_letters)
        if count := self._undecodable.take(now, self.interval_s):
            text = f"{count:,} new undecodable record{_s(count)} (press u)"
            add(text, "warning", UNDECODABLE)
        if count := self._dead.take(now, self.interval_s):
            add(f"{count:,} new dead letter{_s(count)} (press 3)", "error", DEAD_LETTERS)

        self._rules(snap, add)
        if alerts:
            self.last = alerts[-1]
        return alerts

    def _rules(self, snap: Snapshot, add: Callable[[str, Severity], None]) -> None:
        """Alerts of the configured rules ([[alerts.rules]]): told when they start firing and
        when they resolve."""
        firing = {(a.rule, a.labels): a.summary for a in snap.alerts if a.state == "firing"}
        for key, summary in firing.items():
            if key not in self._firing:
                add(f"ALERT {key[0]}: {summary}", "error")
        for key, summary in self._firing.items():
            if key not in firing:
                add(f"resolved {key[0]}: {summary}", "information")
        self._firing = firing


def _s(count: int) -> str:
    return "" if count == 1 else "s"
