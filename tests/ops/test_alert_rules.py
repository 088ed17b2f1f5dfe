"""The alert rules' conditions and lifecycle (pending -> firing -> resolved, repeat interval),
over snapshots of a real collector state."""

from __future__ import annotations

import dataclasses
from typing import Any

from edamon.alerts.rules import AlertEngine
from edamon.config import AlertsSettings
from edamon.model.snapshot import DeadLetterRow, SagaSummary, UndecodableView
from edamon.model.status import ConnectionState, GroupStatus, SagaState
from ops_helpers import empty_snapshot, group_lag

T0 = 1_800_000_000.0


def engine(*rules: dict[str, Any], **settings: Any) -> AlertEngine:
    return AlertEngine(AlertsSettings.model_validate({"rules": list(rules), **settings}))


def lagging(seconds: float | None, at: float = T0) -> Any:
    return empty_snapshot(at, lag=(group_lag("billing", seconds=seconds),))


def test_pending_then_firing_then_repeat_then_resolved() -> None:
    rules = engine(
        {"name": "slow", "kind": "lag_seconds", "threshold": 60, "for_s": 10},
        repeat_interval_s=100,
    )
    assert rules.evaluate(lagging(90), T0) == []
    (alert,) = rules.alerts()
    assert (alert.state, alert.labels, alert.value) == ("pending", (("group", "billing"),), 90)
    assert rules.evaluate(lagging(95), T0 + 9) == []
    (note,) = rules.evaluate(lagging(99), T0 + 10)
    assert note.status == "firing" and note.alert.firing_since == T0 + 10
    assert "billing" in note.alert.summary and "99s" in note.alert.summary
    assert rules.evaluate(lagging(120), T0 + 50) == []  # within the repeat interval
    assert rules.evaluate(lagging(150), T0 + 109) == []
    (again,) = rules.evaluate(lagging(160), T0 + 110)
    assert again.status == "firing" and again.alert.value == 160
    (resolved,) = rules.evaluate(lagging(30), T0 + 120)
    assert resolved.status == "resolved" and resolved.ended_at == T0 + 120
    assert rules.alerts() == ()
    assert rules.evaluate(lagging(30), T0 + 130) == []


def test_a_pending_alert_that_clears_says_nothing() -> None:
    rules = engine({"name": "slow", "kind": "lag_seconds", "threshold": 60, "for_s": 30})
    rules.evaluate(lagging(90), T0)
    assert rules.evaluate(lagging(10), T0 + 20) == []
    assert rules.alerts() == ()
    rules.evaluate(lagging(90), T0 + 25)  # holds again: pending from the start
    assert rules.evaluate(lagging(90), T0 + 50) == []
    assert [n.status for n in rules.evaluate(lagging(90), T0 + 55)] == ["firing"]


def test_resolved_is_not_sent_when_turned_off() -> None:
    rules = engine({"name": "slow", "kind": "lag_seconds", "threshold": 1}, send_resolved=False)
    assert [n.status for n in rules.evaluate(lagging(5), T0)] == ["firing"]
    assert rules.evaluate(lagging(0), T0 + 1) == []


def test_group_status_err_one_alert_per_matching_group() -> None:
    rules = engine({"name": "err", "kind": "group_status", "groups": ["orders-.*"]})
    snap = empty_snapshot(
        T0,
        lag=(
            group_lag("orders-billing", status=GroupStatus.ERR, lag=7),
            group_lag("orders-mail", status=GroupStatus.WARN),
            group_lag("audit", status=GroupStatus.ERR),
        ),
    )
    notes = rules.evaluate(snap, T0)
    assert [n.alert.labels for n in notes] == [(("group", "orders-billing"),)]
    assert "ERR" in notes[0].alert.summary


def _dead(at: float, topic: str, exception: str) -> DeadLetterRow:
    return DeadLetterRow(
        coords=f"{topic}.DLT/0/{at}",
        dlq_topic=f"{topic}.DLT",
        time=at,
        original_topic=topic,
        original_coords=None,
        consumer_group="g",
        exception_class=exception,
        message=None,
        attempts=None,
        convention="spring",
        correlation_id=None,
        event_id=None,
        event_type=None,
    )


def test_dead_letters_per_minute_by_topic_with_an_exception_filter() -> None:
    rules = engine(
        {
            "name": "dlq",
            "kind": "dead_letters_rate",
            "threshold": 2,
            "by": ["topic"],
            "exceptions": [".*Timeout.*"],
        }
    )
    rows = [_dead(T0 - i, "orders", "java.net.SocketTimeoutException") for i in range(3)]
    rows += [_dead(T0 - i, "payments", "java.net.SocketTimeoutException") for i in range(2)]
    rows += [_dead(T0 - i, "payments", "IllegalStateException") for i in range(5)]
    rows += [_dead(T0 - 120 - i, "payments", "java.net.SocketTimeoutException") for i in range(9)]
    rows.sort(key=lambda r: -r.time)
    notes = rules.evaluate(empty_snapshot(T0, dead_letters=tuple(rows)), T0)
    assert [(n.alert.labels, n.alert.value) for n in notes] == [((("topic", "orders"),), 3)]


def test_stuck_sagas_above_the_threshold() -> None:
    rules = engine({"name": "stuck", "kind": "stuck_sagas", "threshold": 1, "sagas": ["order"]})
    counts = tuple((s, 2 if s == SagaState.STUCK else 0) for s in SagaState)
    sagas = (SagaSummary("order", counts, None, None), SagaSummary("refund", counts, None, None))
    (note,) = rules.evaluate(empty_snapshot(T0, sagas=sagas), T0)
    assert note.alert.value == 2  # only the `order` saga counts
    assert rules.evaluate(empty_snapshot(T0 + 1, sagas=sagas[1:]), T0 + 1)[0].status == "resolved"


def test_undecodable_per_minute_counts_growth_after_the_first_evaluation() -> None:
    rules = engine({"name": "bad", "kind": "undecodable_rate", "threshold": 5})

    def seen(count: int) -> Any:
        return empty_snapshot(T0, undecodable=UndecodableView(count, (("json", count),), ()))

    assert rules.evaluate(seen(1000), T0) == []  # history read at start is the baseline
    assert rules.evaluate(seen(1004), T0 + 30) == []
    (note,) = rules.evaluate(seen(1010), T0 + 50)
    assert note.alert.value == 10
    assert rules.evaluate(seen(1012), T0 + 115)[0].status == "resolved"  # 2 in the last minute


def test_disconnected_for_a_while() -> None:
    rules = engine({"name": "down", "kind": "disconnected", "for_s": 30})
    snap = empty_snapshot(T0)
    down = dataclasses.replace(
        snap,
        connection=dataclasses.replace(
            snap.connection, state=ConnectionState.CONNECTING, message="no answer"
        ),
    )
    assert rules.evaluate(down, T0) == []
    (note,) = rules.evaluate(down, T0 + 30)
    assert "no answer" in note.alert.summary
    assert rules.evaluate(snap, T0 + 31)[0].status == "resolved"


def test_registry_unreachable_reads_the_connection_views_registry_state() -> None:
    rules = engine({"name": "registry", "kind": "registry_unreachable"})
    snap = empty_snapshot(T0)
    assert rules.evaluate(snap, T0) == []  # no registry configured: never fires
    conn = dataclasses.replace(
        snap.connection,
        registry=ConnectionState.ERROR,
        registry_message="HTTP 503 from the registry",
    )
    (note,) = rules.evaluate(dataclasses.replace(snap, connection=conn), T0 + 1)
    assert "HTTP 503" in note.alert.summary
    healthy = dataclasses.replace(conn, registry=ConnectionState.CONNECTED)
    (resolved,) = rules.evaluate(dataclasses.replace(snap, connection=healthy), T0 + 2)
    assert resolved.status == "resolved"
