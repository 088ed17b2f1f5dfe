"""`GET /metrics`: the collector's state in Prometheus's text format, read at scrape time.

A custom prometheus-client collector turns the current snapshot (shared with the API's
requests) into metric families; nothing is counted on the ingest path. Naming follows
Prometheus's rules (conventions §6): the `edamon_` prefix, base units in names, `_total`
counters, enum states as a gauge with a `status`/`state` label set to 1 for the current one.

Label values are bounded (settings.metrics): a topic, group, event type, exception class or
undecodable reason gets its own label value when it matches the configured patterns and the
cap is not reached yet (first seen, first named; a value once named stays named, so counters
never move between series); everything else is summed under `other`. Never a series per
correlation id or event id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from edamon import __version__
from edamon.config import MetricsSettings
from edamon.model.alerts import AlertsDoc
from edamon.model.snapshot import Snapshot
from edamon.model.status import ConnectionState, GroupStatus, SagaState

OTHER = "other"
"""The label value of everything over a cap or outside the patterns."""
UNKNOWN = "unknown"
"""The label value when the record does not say (no source topic, group or exception)."""


class LabelCap:
    """Bounded label values: `value(x)` is x while it matches the patterns and fewer than
    `limit` values have been named, else `other`. Sticky: a named value stays named."""

    def __init__(self, patterns: Iterable[str], limit: int) -> None:
        self._patterns = [re.compile(p) for p in patterns]
        self._all = any(p.pattern == ".*" for p in self._patterns)
        self._limit = limit
        self._named: set[str] = set()

    def value(self, raw: str | None) -> str:
        if raw is None or raw == "":
            return UNKNOWN
        if raw in self._named:
            return raw
        if raw == OTHER or len(self._named) >= self._limit:
            return OTHER
        if not (self._all or any(p.fullmatch(raw) for p in self._patterns)):
            return OTHER
        self._named.add(raw)
        return raw


@dataclass(frozen=True, slots=True)
class Health:
    """What the snapshot does not carry about the collector itself."""

    records_ingested: int
    memory_bytes: int
    memory_budget_bytes: int
    caught_up: bool


class EdamonMetrics(PromCollector):
    """Reads `snapshot()`, `health()` and `alerts()` (if given) at each scrape."""

    def __init__(
        self,
        settings: MetricsSettings,
        snapshot: Callable[[], Snapshot],
        health: Callable[[], Health],
        alerts: Callable[[], AlertsDoc] | None = None,
    ) -> None:
        self.settings = settings
        self._snapshot = snapshot
        self._health = health
        self._alerts = alerts
        self.topics = LabelCap(settings.topics, settings.max_topics)
        self.groups = LabelCap(settings.groups, settings.max_groups)
        self.event_types = LabelCap(settings.event_types, settings.max_event_types)
        self.exceptions = LabelCap([".*"], settings.max_exceptions)
        self.reasons = LabelCap([".*"], settings.max_reasons)

    def describe(self) -> list[Metric]:
        return []  # no collection at registration time

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        yield from self._lag(snap)
        yield from self._throughput(snap)
        yield from self._dead_letters(snap)
        yield from self._sagas(snap)
        yield from self._undecodable(snap)
        yield from self._ordering(snap)
        yield from self._collector(snap, self._health())
        if self._alerts is not None:
            yield from self._alerting(self._alerts())

    # ---- lag ---------------------------------------------------------------------------

    def _lag(self, snap: Snapshot) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "edamon_consumergroup_lag_offsets",
            "Records the consumer group has yet to consume, summed over its partitions.",
            labels=["group"],
        )
        seconds = GaugeMetricFamily(
            "edamon_consumergroup_lag_seconds",
            "How far behind the consumer group is in time: the largest of its partitions' "
            "(age of the oldest record it has not consumed). `other`: the largest over them.",
            labels=["group"],
        )
        status = GaugeMetricFamily(
            "edamon_consumergroup_status",
            "Burrow's evaluation of the group (1 for the current status).",
            labels=["group", "status"],
        )
        members = GaugeMetricFamily(
            "edamon_consumergroup_members", "Members of the consumer group.", labels=["group"]
        )
        p_lag = GaugeMetricFamily(
            "edamon_consumergroup_partition_lag_offsets",
            "Records the group has yet to consume on the partition.",
            labels=["group", "topic", "partition"],
        )
        p_seconds = GaugeMetricFamily(
            "edamon_consumergroup_partition_lag_seconds",
            "Age of the oldest record the group has not consumed on the partition.",
            labels=["group", "topic", "partition"],
        )
        p_status = GaugeMetricFamily(
            "edamon_consumergroup_partition_status",
            "Burrow's evaluation of the partition: one series, the current status, at 1 "
            "(per partition, the other statuses are left out to keep the series few).",
            labels=["group", "topic", "partition", "status"],
        )
        partitions_left = self.settings.max_partitions
        other_lag = 0
        other_seconds: float | None = None
        other_members = 0
        others = False
        for group in snap.lag:
            name = self.groups.value(group.group)
            if name == OTHER:
                others = True
                other_lag += group.total_lag
                other_members += group.members
                if group.max_lag_seconds is not None:
                    other_seconds = max(other_seconds or 0.0, group.max_lag_seconds)
                continue
            lag.add_metric([name], group.total_lag)
            if group.max_lag_seconds is not None:
                seconds.add_metric([name], group.max_lag_seconds)
            members.add_metric([name], group.members)
            for value in GroupStatus:
                status.add_metric([name, value.value], 1.0 if group.status == value else 0.0)
            if not self.settings.partitions:
                continue
            for part in group.partitions:  # worst groups first: they keep their partitions
                topic = self.topics.value(part.topic)
                if topic == OTHER or partitions_left <= 0:
                    continue  # the group's own series count it
                partitions_left -= 1
                labels = [name, topic, str(part.partition)]
                if part.lag is not None:
                    p_lag.add_metric(labels, part.lag)
                if part.lag_seconds is not None:
                    p_seconds.add_metric(labels, part.lag_seconds)
                p_status.add_metric([*labels, part.status.value], 1.0)
        if others:
            lag.add_metric([OTHER], other_lag)
            members.add_metric([OTHER], other_members)
            if other_seconds is not None:
                seconds.add_metric([OTHER], other_seconds)
        yield from (lag, seconds, status, members)
        if self.settings.partitions:
            yield from (p_lag, p_seconds, p_status)

    # ---- events ------------------------------------------------------------------------

    def _throughput(self, snap: Snapshot) -> Iterator[Metric]:
        records = CounterMetricFamily(
            "edamon_topic_records",
            "Records read from the topic since the collector started (dead-letter topics too).",
            labels=["topic", "dlq"],
        )
        by_topic: dict[tuple[str, str], int] = {}
        for topic in snap.throughput.topics:
            key = (self.topics.value(topic.topic), "true" if topic.is_dlq else "false")
            by_topic[key] = by_topic.get(key, 0) + topic.by_arrival.total
        for key, total in by_topic.items():
            records.add_metric(list(key), total)
        events = CounterMetricFamily(
            "edamon_events",
            "Events decoded since the collector started, by event type.",
            labels=["event_type"],
        )
        by_type: dict[str, int] = {}
        for et in snap.throughput.event_types:
            name = self.event_types.value(et.event_type)
            by_type[name] = by_type.get(name, 0) + et.series.total
        for name, total in by_type.items():
            events.add_metric([name], total)
        yield records
        yield events

    def _dead_letters(self, snap: Snapshot) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "edamon_dead_letters",
            "Dead letters seen since the collector started, by source topic, consumer group "
            "and exception (the cause when the DLQ headers name one).",
            labels=["source_topic", "group", "exception"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for g in snap.dead_letter_groups:
            key = (
                self.topics.value(g.original_topic),
                self.groups.value(g.consumer_group),
                self.exceptions.value(g.exception_class),
            )
            counts[key] = counts.get(key, 0) + g.count
        for key, count in counts.items():
            family.add_metric(list(key), count)
        yield family

    def _ordering(self, snap: Snapshot) -> Iterator[Metric]:
        """Partition-key ordering findings per topic (README, "Ordering"); nothing when the
        checks are off."""
        view = snap.ordering
        if view is None:
            return
        checked = CounterMetricFamily(
            "edamon_ordering_checked_events",
            "Events whose key, partition, version and time were checked for ordering.",
            labels=["topic"],
        )
        findings = CounterMetricFamily(
            "edamon_ordering_findings",
            "Ordering findings by kind: key-mismatch (the key is not the aggregate id), "
            "missing-key, split-aggregate (one aggregate on several partitions of a topic), "
            "out-of-order (within a partition).",
            labels=["topic", "kind"],
        )
        totals: dict[str, list[int]] = {}
        for topic in view.topics:
            counts = totals.setdefault(self.topics.value(topic.topic), [0, 0, 0, 0, 0])
            for index, value in enumerate(
                (
                    topic.checked,
                    topic.key_mismatches,
                    topic.missing_keys,
                    topic.split_aggregates,
                    topic.out_of_order,
                )
            ):
                counts[index] += value
        kinds = ("key-mismatch", "missing-key", "split-aggregate", "out-of-order")
        for name, counts in totals.items():
            checked.add_metric([name], counts[0])
            for kind, value in zip(kinds, counts[1:], strict=True):
                findings.add_metric([name, kind], value)
        yield checked
        yield findings
        yield GaugeMetricFamily(
            "edamon_ordering_tracked_aggregates",
            "Aggregates whose ordering state is held (at most ordering.max_aggregates).",
            value=view.tracked,
        )
        yield CounterMetricFamily(
            "edamon_ordering_forgotten_aggregates",
            "Aggregates dropped from the ordering state: their later findings go unseen.",
            value=view.forgotten,
        )
        yield CounterMetricFamily(
            "edamon_topic_partition_count_changes",
            "Changes of a tailed topic's partition count seen in the cluster's metadata.",
            value=len(view.partition_changes),
        )

    def _sagas(self, snap: Snapshot) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "edamon_sagas",
            "Saga instances held, by saga definition and state.",
            labels=["saga", "state"],
        )
        stuck = GaugeMetricFamily(
            "edamon_sagas_stuck",
            "Saga instances with no progress for longer than their definition's timeout.",
            labels=["saga"],
        )
        for summary in snap.sagas:  # definitions come from the config: bounded
            counts = dict(summary.counts)
            for state in SagaState:
                family.add_metric([summary.saga, state.value], counts.get(state, 0))
            stuck.add_metric([summary.saga], counts.get(SagaState.STUCK, 0))
        yield family
        yield stuck

    def _undecodable(self, snap: Snapshot) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "edamon_undecodable_records",
            "Records that could not be decoded since the collector started, by reason.",
            labels=["reason"],
        )
        counts: dict[str, int] = {}
        for reason, count in snap.undecodable.by_reason:
            name = self.reasons.value(reason)
            counts[name] = counts.get(name, 0) + count
        for name, count in counts.items():
            family.add_metric([name], count)
        yield family

    # ---- the collector ----------------------------------------------------------------

    def _collector(self, snap: Snapshot, health: Health) -> Iterator[Metric]:
        conn = GaugeMetricFamily(
            "edamon_collector_connection_state",
            "The collector's connection to the cluster (1 for the current state).",
            labels=["state"],
        )
        for state in ConnectionState:
            conn.add_metric([state.value], 1.0 if snap.connection.state == state else 0.0)
        yield conn
        registry = snap.connection.registry  # None: no registry configured, no series
        if registry is not None:
            reg = GaugeMetricFamily(
                "edamon_collector_registry_state",
                "The collector's connection to the schema registry (1 for the current state).",
                labels=["state"],
            )
            for state in ConnectionState:
                reg.add_metric([state.value], 1.0 if registry == state else 0.0)
            yield reg
        yield GaugeMetricFamily(
            "edamon_collector_brokers", "Brokers in the cluster.", value=snap.connection.brokers
        )
        yield GaugeMetricFamily(
            "edamon_collector_caught_up",
            "1 once the collector has read up to the log ends it saw at start-up.",
            value=1.0 if health.caught_up else 0.0,
        )
        yield GaugeMetricFamily(
            "edamon_collector_catchup_records_behind",
            "Records left to read before the collector is caught up.",
            value=snap.catchup.records_behind,
        )
        yield GaugeMetricFamily(
            "edamon_collector_lag_records",
            "Records between the collector's own positions and the log ends.",
            value=snap.collector_lag,
        )
        yield CounterMetricFamily(
            "edamon_collector_records_ingested",
            "Records the collector has read since it started.",
            value=health.records_ingested,
        )
        yield GaugeMetricFamily(
            "edamon_collector_retained_events",
            "Events held in memory (retention.max_events).",
            value=snap.totals.retained_events,
        )
        yield GaugeMetricFamily(
            "edamon_collector_record_memory_bytes",
            "Bytes of record data (keys, values, headers) held in memory.",
            value=health.memory_bytes,
        )
        yield GaugeMetricFamily(
            "edamon_collector_record_memory_budget_bytes",
            "The budget for record data (retention.record_memory_mb).",
            value=health.memory_budget_bytes,
        )
        info = GaugeMetricFamily("edamon_build_info", "edamon's version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info

    def _alerting(self, doc: AlertsDoc) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "edamon_alerts",
            "Active alerts of the configured rules, by rule and state (pending, firing).",
            labels=["rule", "severity", "state"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for alert in doc.alerts:
            key = (alert.rule, alert.severity, alert.state)
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            active.add_metric(list(key), count)
        yield active
        sent = CounterMetricFamily(
            "edamon_alert_notifications",
            "Notifications by receiver and outcome (sent, undeliverable).",
            labels=["receiver", "outcome"],
        )
        queued = GaugeMetricFamily(
            "edamon_alert_notifications_queued",
            "Notifications waiting to be delivered, by receiver.",
            labels=["receiver"],
        )
        for receiver in doc.receivers:
            sent.add_metric([receiver.name, "sent"], receiver.sent)
            sent.add_metric([receiver.name, "undeliverable"], receiver.undeliverable)
            queued.add_metric([receiver.name], receiver.queued)
        yield sent
        yield queued
