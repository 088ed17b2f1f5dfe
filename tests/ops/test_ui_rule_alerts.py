"""The dashboard tells firing alerts of the configured rules once, and their resolution."""

from __future__ import annotations

from edamon.model.alerts import AlertView
from edamon.ui.alerts import AlertTracker
from ops_helpers import empty_snapshot

T0 = 1_800_000_000.0


def firing(rule: str, group: str, state: str = "firing") -> AlertView:
    return AlertView(
        rule=rule,
        kind="group_status",
        state=state,
        severity="critical",
        labels=(("group", group),),
        summary=f"consumer group {group} is ERR",
        value=None,
        threshold=0.0,
        active_since=T0,
        firing_since=T0,
    )


def test_firing_alerts_are_told_once_and_resolved_once() -> None:
    tracker = AlertTracker(lambda: T0)
    base = empty_snapshot(T0)
    assert tracker.check(base) == []
    pending = empty_snapshot(T0, alerts=(firing("stopped", "billing", "pending"),))
    assert tracker.check(pending) == []  # pending: not yet
    one = empty_snapshot(T0, alerts=(firing("stopped", "billing"),))
    (told,) = tracker.check(one)
    assert (told.message, told.severity) == (
        "ALERT stopped: consumer group billing is ERR",
        "error",
    )
    assert tracker.last == told  # the status line
    assert tracker.check(one) == []  # still firing: not again
    two = empty_snapshot(T0, alerts=(firing("stopped", "billing"), firing("stopped", "mail")))
    assert [a.message for a in tracker.check(two)] == ["ALERT stopped: consumer group mail is ERR"]
    (resolved,) = tracker.check(empty_snapshot(T0, alerts=(firing("stopped", "mail"),)))
    assert resolved.message == "resolved stopped: consumer group billing is ERR"
    assert resolved.severity == "information"
