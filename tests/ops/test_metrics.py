"""The metrics' names, types and bounded labels, over snapshots of a real collector state."""

from __future__ import annotations

import dataclasses
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edamon.config import MetricsSettings
from edamon.model.snapshot import (
    DeadLetterGroup,
    PartitionLag,
    RateSeries,
    Snapshot,
    TopicThroughput,
)
from edamon.model.status import ConnectionState, GroupStatus, PartitionStatus
from edamon.service.metrics import EdamonMetrics, Health, LabelCap
from ops_helpers import empty_snapshot, group_lag


def scrape(snap: Snapshot, **settings: Any) -> tuple[EdamonMetrics, Any]:
    metrics = EdamonMetrics(
        MetricsSettings(**settings), lambda: snap, lambda: Health(10, 5, 100, True)
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    return metrics, registry


def parse(registry: CollectorRegistry) -> dict[str, Any]:
    text = generate_latest(registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families


def values(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_label_cap_names_the_first_values_then_other_and_stays_sticky() -> None:
    cap = LabelCap(["orders\\..*", "payments"], 2)
    assert cap.value("audit") == "other"  # outside the patterns
    assert cap.value("orders.a") == "orders.a"
    assert cap.value("payments") == "payments"
    assert cap.value("orders.b") == "other"  # over the cap
    assert cap.value("orders.a") == "orders.a"  # a named value stays named
    assert cap.value(None) == "unknown" and cap.value("") == "unknown"
    assert cap.value("other") == "other"


def test_groups_over_the_cap_are_summed_as_other() -> None:
    lag = (
        group_lag("a", seconds=5, lag=10, status=GroupStatus.ERR),
        group_lag("b", seconds=7, lag=20),
        group_lag("c", seconds=30, lag=1),
        group_lag("d", seconds=2, lag=2),
    )
    _, registry = scrape(empty_snapshot(lag=lag), max_groups=2)
    families = parse(registry)
    assert values(families["edamon_consumergroup_lag_offsets"]) == {
        (("group", "a"),): 10,
        (("group", "b"),): 20,
        (("group", "other"),): 3,
    }
    assert values(families["edamon_consumergroup_lag_seconds"])[(("group", "other"),)] == 30
    status = values(families["edamon_consumergroup_status"])
    assert status[(("group", "a"), ("status", "ERR"))] == 1
    assert status[(("group", "a"), ("status", "OK"))] == 0
    assert len(status) == 2 * len(GroupStatus)  # no status series for `other`
    assert families["edamon_consumergroup_status"].type == "gauge"


def test_counters_keep_their_series_when_new_values_arrive_over_the_cap() -> None:
    def topic(name: str, total: int) -> TopicThroughput:
        series = RateSeries(total, 0.0, ())
        return TopicThroughput(name, 1, False, series, series, None)

    def snap(*topics: TopicThroughput) -> Snapshot:
        base = empty_snapshot()
        return dataclasses.replace(
            base, throughput=dataclasses.replace(base.throughput, topics=topics)
        )

    current = [snap(topic("t1", 5), topic("t2", 7))]
    metrics = EdamonMetrics(
        MetricsSettings(max_topics=1), lambda: current[0], lambda: Health(0, 0, 0, False)
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    first = values(parse(registry)["edamon_topic_records"])
    assert first == {
        (("dlq", "false"), ("topic", "t1")): 5,
        (("dlq", "false"), ("topic", "other")): 7,
    }
    current[0] = snap(topic("t0", 1), topic("t1", 6), topic("t2", 9))  # t0 sorts first now
    second = values(parse(registry)["edamon_topic_records"])
    assert second == {
        (("dlq", "false"), ("topic", "t1")): 6,
        (("dlq", "false"), ("topic", "other")): 10,
    }
    assert parse(registry)["edamon_topic_records"].type == "counter"


def test_dead_letters_by_source_group_and_exception_with_unknowns() -> None:
    groups = (
        DeadLetterGroup("orders", "billing", "java.lang.IllegalStateException", 3, 0.0, None),
        DeadLetterGroup(None, None, None, 2, 0.0, None),
    )
    _, registry = scrape(empty_snapshot(dead_letter_groups=groups))
    dead = values(parse(registry)["edamon_dead_letters"])
    assert dead == {
        (
            ("exception", "java.lang.IllegalStateException"),
            ("group", "billing"),
            ("source_topic", "orders"),
        ): 3,
        (("exception", "unknown"), ("group", "unknown"), ("source_topic", "unknown")): 2,
    }


def test_health_and_names_follow_prometheus_conventions() -> None:
    _, registry = scrape(empty_snapshot())
    text = generate_latest(registry).decode()
    families = parse(registry)
    assert families["edamon_collector_records_ingested"].type == "counter"
    assert "edamon_collector_records_ingested_total 10.0" in text
    assert "edamon_collector_record_memory_bytes 5.0" in text
    assert "edamon_collector_record_memory_budget_bytes 100.0" in text
    assert "edamon_collector_caught_up 1.0" in text
    for family in families.values():
        assert family.name.startswith("edamon_")
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples)
    # no registry configured: no registry series (the connection view has none)
    assert "edamon_collector_registry_state" not in families


def test_the_registry_state_is_exported_when_one_is_configured() -> None:
    snap = empty_snapshot()
    conn = dataclasses.replace(snap.connection, registry=ConnectionState.ERROR)
    _, registry = scrape(dataclasses.replace(snap, connection=conn))
    states = values(parse(registry)["edamon_collector_registry_state"])
    assert states[(("state", "error"),)] == 1 and states[(("state", "connected"),)] == 0
    assert sum(states.values()) == 1


def test_partition_series_are_capped_and_carry_only_the_current_status() -> None:
    part = PartitionLag("orders", 0, 5, 10, 5, 3.0, PartitionStatus.STALL, ())
    lag = tuple(
        dataclasses.replace(
            group_lag(f"g{i}", seconds=1),
            partitions=tuple(dataclasses.replace(part, partition=p) for p in range(3)),
        )
        for i in range(3)
    )
    _, registry = scrape(empty_snapshot(lag=lag), max_partitions=4)
    families = parse(registry)
    offsets = values(families["edamon_consumergroup_partition_lag_offsets"])
    assert sorted(dict(k)["group"] + "/" + dict(k)["partition"] for k in offsets) == [
        "g0/0",
        "g0/1",
        "g0/2",
        "g1/0",
    ]  # the first (worst) groups keep their partitions
    status = values(families["edamon_consumergroup_partition_status"])
    assert {dict(k)["status"] for k in status} == {"STALL"} and len(status) == 4
    assert len(values(families["edamon_consumergroup_lag_offsets"])) == 3  # every group


def test_partition_series_can_be_turned_off() -> None:
    _, registry = scrape(empty_snapshot(lag=(group_lag("a", seconds=1),)), partitions=False)
    assert "edamon_consumergroup_partition_lag_offsets" not in parse(registry)


def test_ordering_findings_per_topic_and_kind() -> None:
    from edamon.model.ordering import OrderingTracker

    tracker = OrderingTracker(max_aggregates=100, tolerance_ms=0)
    tracker.topic_partitions("payments", 3, 0.0)
    tracker.observe("payments", 0, 0, b"p-1", "p-1", 1, 1.0, "e1", "Paid", None)
    tracker.observe("payments", 2, 0, b"evt-2", "p-1", 2, 2.0, "e2", "Paid", None)
    tracker.observe("payments", 0, 1, None, "p-2", 1, 1.0, "e3", "Paid", None)
    tracker.observe("orders", 0, 0, b"o-1", "o-1", 1, 1.0, "e4", "Placed", None)
    tracker.topic_partitions("payments", 5, 9.0)
    _, registry = scrape(empty_snapshot(ordering=tracker.view()))
    families = parse(registry)
    assert values(families["edamon_ordering_checked_events"]) == {
        (("topic", "payments"),): 3,
        (("topic", "orders"),): 1,
    }
    findings = values(families["edamon_ordering_findings"])
    assert findings[(("kind", "key-mismatch"), ("topic", "payments"))] == 1
    assert findings[(("kind", "missing-key"), ("topic", "payments"))] == 1
    assert findings[(("kind", "split-aggregate"), ("topic", "payments"))] == 1
    assert findings[(("kind", "out-of-order"), ("topic", "payments"))] == 0
    assert findings[(("kind", "split-aggregate"), ("topic", "orders"))] == 0
    assert values(families["edamon_ordering_tracked_aggregates"]) == {(): 3}
    assert values(families["edamon_topic_partition_count_changes"]) == {(): 1}


def test_no_ordering_series_when_the_checks_are_off() -> None:
    _, registry = scrape(empty_snapshot(ordering=None))
    assert not any(name.startswith("edamon_ordering") for name in parse(registry))
