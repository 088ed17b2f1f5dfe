"""Alerts as the snapshot, /v1/alerts and `collect --json` show them (conventions §6).

An alert is one rule's condition for one set of labels (a rule over groups has one alert per
group). It is *pending* while the condition has held for less than the rule's `for_s`, then
*firing*; when it clears it is resolved (notified once) and gone from these lists.
"""

from __future__ import annotations

from dataclasses import dataclass

PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertView:
    rule: str
    """The rule's name (config `[[alerts.rules]]`)."""
    kind: str
    state: str
    """`pending` or `firing`."""
    severity: str
    labels: tuple[tuple[str, str], ...]
    """What the alert is about (group, topic, exception, saga...), sorted by name."""
    summary: str
    """One line for people."""
    value: float | None
    """The value compared with the threshold (None for state conditions)."""
    threshold: float
    active_since: float
    """When the condition started to hold (epoch seconds)."""
    firing_since: float | None = None


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    """One receiver's deliveries since the start."""

    name: str
    kind: str
    target: str
    """The URL masked (scheme and host only): webhook URLs are secrets."""
    sent: int
    undeliverable: int
    """Notifications given up after every attempt (or refused by a full queue)."""
    queued: int
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass(frozen=True, slots=True)
class AlertsDoc:
    """`GET /v1/alerts`: the active alerts (firing first) and the receivers' deliveries."""

    alerts: tuple[AlertView, ...]
    receivers: tuple[ReceiverStatus, ...]
    rules: int
    """Rules configured."""
