"""Alert rules evaluated over snapshots, with the pending -> firing -> resolved lifecycle.

`AlertEngine.evaluate(snapshot, now)` is pure bookkeeping (no I/O): it returns the
notifications due now, which `run_alerts` (edamon/alerts/__init__.py) hands to the notifier.
Rules of the same name and labels are one alert. A firing alert is notified when it starts
firing, again every `repeat_interval_s` (never more often) while it fires, and once when it
clears (`send_resolved`). A pending alert that clears is dropped without a word.

Rates (dead letters and undecodable records per minute):
- dead letters are counted by their record time over the last 60 s, from the snapshot's
  newest rows (2,000 at most: a rate above that reads as 2,000);
- undecodable records by the growth of their count over the last 60 s of evaluations (the
  first evaluation is the baseline).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from edamon.config import AlertRule, AlertsSettings
from edamon.model.alerts import FIRING, PENDING, RESOLVED, AlertView
from edamon.model.snapshot import Snapshot
from edamon.model.status import ConnectionState, GroupStatus, SagaState

RATE_WINDOW_S = 60.0

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for the receivers of a rule: an alert firing (or repeated) or resolved."""

    status: str
    """`firing` or `resolved`."""
    alert: AlertView
    receivers: tuple[str, ...]
    """Receiver names; empty: all."""
    at: float
    ended_at: float | None = None
    test: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's condition holding for one set of labels, with the value that made it hold."""

    labels: Labels
    summary: str
    value: float | None


@dataclass
class _Active:
    view: AlertView
    last_sent: float | None = None


@dataclass
class _Rate:
    """Counts at recent evaluations, to tell the growth over the last minute."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def per_minute(self, now: float, count: int) -> float:
        samples = self.samples
        samples.append((now, count))
        while len(samples) > 1 and samples[1][0] <= now - RATE_WINDOW_S:
            samples.popleft()
        return float(count - samples[0][1])


def _matcher(patterns: Iterable[str]) -> Callable[[str | None], bool]:
    compiled = [re.compile(p) for p in patterns]
    match_all = any(p.pattern == ".*" for p in compiled)

    def matches(value: str | None) -> bool:
        if match_all:
            return True
        return value is not None and any(p.fullmatch(value) for p in compiled)

    return matches


class AlertEngine:
    """Holds the active alerts of `settings.rules`; `evaluate` once per interval."""

    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        self._active: dict[tuple[str, Labels], _Active] = {}
        self._rates: dict[tuple[str, Labels], _Rate] = {}
        self._matchers = {
            rule.name: {
                "groups": _matcher(rule.groups),
                "topics": _matcher(rule.topics),
                "exceptions": _matcher(rule.exceptions),
                "sagas": _matcher(rule.sagas),
            }
            for rule in settings.rules
        }

    def alerts(self) -> tuple[AlertView, ...]:
        """Active alerts: firing first (oldest first), then pending."""
        views = [a.view for a in self._active.values()]
        views.sort(key=lambda v: (v.state != FIRING, v.active_since, v.rule, v.labels))
        return tuple(views)

    def evaluate(self, snap: Snapshot, now: float) -> list[Notification]:
        """Update the alerts from `snap`; the notifications due at `now`."""
        out: list[Notification] = []
        repeat = self.settings.repeat_interval_s
        for rule in self.settings.rules:
            holding = {c.labels: c for c in self._conditions(rule, snap, now)}
            receivers = tuple(rule.receivers)
            for labels, cond in holding.items():
                key = (rule.name, labels)
                active = self._active.get(key)
                if active is None:
                    view = AlertView(
                        rule=rule.name,
                        kind=rule.kind,
                        state=PENDING,
                        severity=rule.severity,
                        labels=labels,
                        summary=cond.summary,
                        value=cond.value,
                        threshold=rule.threshold,
                        active_since=now,
                    )
                    active = self._active[key] = _Active(view)
                else:
                    active.view = replace(active.view, summary=cond.summary, value=cond.value)
                view = active.view
                if view.state == PENDING and now - view.active_since >= rule.for_s:
                    active.view = view = replace(view, state=FIRING, firing_since=now)
                if view.state == FIRING and (
                    active.last_sent is None or now - active.last_sent >= repeat
                ):
                    active.last_sent = now
                    out.append(Notification(FIRING, view, receivers, now))
            for key in [k for k in self._active if k[0] == rule.name and k[1] not in holding]:
                gone = self._active.pop(key)
                if gone.view.state == FIRING and self.settings.send_resolved:
                    out.append(Notification(RESOLVED, gone.view, receivers, now, ended_at=now))
        known = {rule.name for rule in self.settings.rules}
        for key in [k for k in self._active if k[0] not in known]:
            del self._active[key]
        return out

    # ---- conditions ------------------------------------------------------------------

    def _conditions(self, rule: AlertRule, snap: Snapshot, now: float) -> list[Condition]:
        match = self._matchers[rule.name]
        kind = rule.kind
        if kind == "group_status":
            return [
                Condition(
                    (("group", g.group),),
                    f"consumer group {g.group} is ERR (lag {g.total_lag} records)",
                    None,
                )
                for g in snap.lag
                if g.status == GroupStatus.ERR and match["groups"](g.group)
            ]
        if kind == "lag_seconds":
            return [
                Condition(
                    (("group", g.group),),
                    f"consumer group {g.group} is {g.max_lag_seconds:.0f}s behind "
                    f"(threshold {rule.threshold:g}s)",
                    g.max_lag_seconds,
                )
                for g in snap.lag
                if g.max_lag_seconds is not None
                and g.max_lag_seconds > rule.threshold
                and match["groups"](g.group)
            ]
        if kind == "dead_letters_rate":
            return self._dead_letters(rule, snap, now)
        if kind == "stuck_sagas":
            stuck = sum(
                n
                for s in snap.sagas
                if match["sagas"](s.saga)
                for state, n in s.counts
                if state == SagaState.STUCK
            )
            if stuck > rule.threshold:
                return [Condition((), f"{stuck} sagas are stuck", float(stuck))]
            return []
        if kind == "undecodable_rate":
            rate = self._rates.setdefault((rule.name, ()), _Rate())
            count = rate.per_minute(now, snap.undecodable.count)
            if count > rule.threshold:
                return [Condition((), f"{count:.0f} undecodable records in the last minute", count)]
            return []
        if kind == "disconnected":
            conn = snap.connection
            if conn.state != ConnectionState.CONNECTED:
                why = f": {conn.message}" if conn.message else ""
                return [Condition((), f"not connected to {conn.cluster} ({conn.state}){why}", None)]
            return []
        if kind == "registry_unreachable":
            state = snap.connection.registry  # None: no registry configured
            if state is not None and state != ConnectionState.CONNECTED:
                message = snap.connection.registry_message or str(state)
                return [Condition((), f"schema registry unreachable: {message}", None)]
            return []
        raise AssertionError(f"unknown rule kind {kind}")

    def _dead_letters(self, rule: AlertRule, snap: Snapshot, now: float) -> list[Condition]:
        match = self._matchers[rule.name]
        since = now - RATE_WINDOW_S
        counts: dict[Labels, int] = {}
        for row in snap.dead_letters:  # newest first
            if row.time < since:
                break
            exception = row.failure_class
            if not (match["topics"](row.original_topic) and match["exceptions"](exception)):
                continue
            values = {
                "topic": row.original_topic or "(unknown)",
                "group": row.consumer_group or "(unknown)",
                "exception": exception or "(unknown)",
            }
            labels: Labels = tuple(sorted((str(name), values[name]) for name in rule.by))
            counts[labels] = counts.get(labels, 0) + 1
        out = []
        for labels, count in counts.items():
            if count > rule.threshold:
                about = ", ".join(f"{k} {v}" for k, v in labels)
                where = f" ({about})" if about else ""
                out.append(
                    Condition(labels, f"{count} dead letters in the last minute{where}", count)
                )
        return out
