"""Merging the members' shares of a shard group into one snapshot (pure).

Each member owns whole flows, so chains, sagas, dead letters and the timeline are unions;
counts and rates are sums (a member counts only the events of its flows: nothing is counted
twice); lag comes from the one member that samples it, and so do the alerts (that member
evaluates the rules over this merged view). Lists keep their order (newest or worst first) and
the single collector's caps. Saga duration percentiles are the members' largest (an upper
bound, not the exact percentile of the union). Ordering findings are each member's over its
own flows, summed: an aggregate whose events belong to flows of two members is checked by
each apart, so a split or an out-of-order event across them goes unseen.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from edamon.model.ordering import EXAMPLES_PER_TOPIC, Finding, OrderingView, TopicOrdering
from edamon.model.snapshot import (
    CatchUpView,
    ChainSummary,
    DeadLetterGroup,
    DeadLetterRow,
    EventTypeThroughput,
    RateSeries,
    SagaSummary,
    Snapshot,
    ThroughputView,
    TopicThroughput,
    Totals,
    UndecodableView,
)
from edamon.model.status import SagaState

T = TypeVar("T")
K = TypeVar("K")

LIST_CAP = 1000
"""Rows kept per merged list (a single collector lists up to 1000 flows and saga instances)."""


def merge_snapshots(
    local: Snapshot, others: Sequence[Snapshot], notices: Sequence[str] = ()
) -> Snapshot:
    """`local` with the other members' shares merged in; `notices` are added (e.g. that the
    answer is partial)."""
    shares = (local, *others)
    if not others and not notices:
        return local
    lag_from = next((s for s in shares if s.lag), None)
    health_from = max(shares, key=lambda s: s.lag_health.samples)
    timeline_cap = max(len(s.timeline) for s in shares)
    return replace(
        local,
        catchup=_catchup(shares),
        throughput=_throughput([s.throughput for s in shares]),
        lag=lag_from.lag if lag_from is not None else (),
        lag_health=health_from.lag_health,
        dead_letters=_newest([s.dead_letters for s in shares], lambda r: r.time, LIST_CAP * 20),
        dead_letter_groups=merge_dead_letter_groups(s.dead_letter_groups for s in shares),
        sagas=_sagas(shares),
        saga_instances=_newest([s.saga_instances for s in shares], lambda r: r.updated, LIST_CAP),
        chains=merge_chains(local.chains, [s.chains for s in others]),
        timeline=_newest([s.timeline for s in shares], lambda r: r.time, max(timeline_cap, 1)),
        undecodable=_undecodable([s.undecodable for s in shares]),
        totals=_totals([s.totals for s in shares]),
        collector_lag=sum(s.collector_lag for s in shares),
        ordering=merge_ordering(local.ordering, [s.ordering for s in others]),
        alerts=tuple(alert for s in shares for alert in s.alerts),
        notices=(*local.notices, *notices),
    )


def merge_ordering(
    local: OrderingView | None, others: Sequence[OrderingView | None]
) -> OrderingView | None:
    """The members' ordering findings as one view: counts summed per topic, examples kept up
    to EXAMPLES_PER_TOPIC per kind (this member's first), partition changes once each."""
    views = [v for v in (local, *others) if v is not None]
    if local is None or len(views) == 1:
        return local
    topics: list[TopicOrdering] = []
    for rows in _by_key((t for v in views for t in v.topics), lambda t: t.topic).values():
        examples = [e for r in rows for e in r.examples]
        kept = tuple(
            e
            for kind in Finding
            for e in [x for x in examples if x.kind == kind][:EXAMPLES_PER_TOPIC]
        )
        known = [r.partitions for r in rows if r.partitions is not None]
        topics.append(
            TopicOrdering(
                rows[0].topic,
                sum(r.checked for r in rows),
                sum(r.key_mismatches for r in rows),
                sum(r.missing_keys for r in rows),
                sum(r.split_aggregates for r in rows),
                sum(r.out_of_order for r in rows),
                max(known) if known else None,
                kept,
            )
        )
    topics.sort(key=lambda t: (-t.findings, t.topic))
    changes = {(c.topic, c.old, c.new): c for v in views for c in v.partition_changes}
    return OrderingView(
        tuple(topics),
        tuple(sorted(changes.values(), key=lambda c: c.at)),
        sum(v.tracked for v in views),
        sum(v.max_aggregates for v in views),
        sum(v.forgotten for v in views),
        local.tolerance_ms,
    )


def merge_chains(
    local: Sequence[ChainSummary], others: Sequence[Sequence[ChainSummary]]
) -> tuple[ChainSummary, ...]:
    """The members' flows as one list, most recently updated first (the snapshot's merge of
    its `chains`, on its own for a page of flows)."""
    return _newest([local, *others], _chain_key, LIST_CAP)


def merge_dead_letter_rows(
    pages: Sequence[Sequence[DeadLetterRow]], order: str | None = None
) -> Iterator[DeadLetterRow]:
    """The members' first rows of a page of dead letters as one list, in the order each
    member's page has (edamon.service.paging's `page`): newest first by record time, or by
    `order` (a field, `-field` descending; rows with no value last; among equal values the
    newest first). Each of `pages` is sorted so already; rows that tie on every key keep the
    order of `pages` (a member's own arrival order, then the members' order)."""
    if not order:
        return heapq.merge(*pages, key=_dead_letter_time, reverse=True)
    name = order.removeprefix("-")
    if order.startswith("-"):  # largest first: present (1, value, time) before missing (0, time)

        def descending(row: DeadLetterRow) -> tuple[Any, ...]:
            value = getattr(row, name)
            return (0, row.time) if value is None else (1, value, row.time)

        return heapq.merge(*pages, key=descending, reverse=True)

    def ascending(row: DeadLetterRow) -> tuple[Any, ...]:
        value = getattr(row, name)
        return (1, -row.time) if value is None else (0, value, -row.time)

    return heapq.merge(*pages, key=ascending)


def _dead_letter_time(row: DeadLetterRow) -> float:
    return row.time


def merge_dead_letter_groups(
    lists: Iterable[Sequence[DeadLetterGroup]],
) -> tuple[DeadLetterGroup, ...]:
    """The members' dead-letter groups as one list: counts summed per (source topic,
    consumer group, exception), the newest sample; biggest and latest first."""
    merged: list[DeadLetterGroup] = []
    rows = (g for groups in lists for g in groups)
    for group in _by_key(
        rows, lambda g: (g.original_topic, g.consumer_group, g.exception_class)
    ).values():
        newest = max(group, key=lambda g: g.last_seen)
        merged.append(replace(newest, count=sum(g.count for g in group)))
    merged.sort(key=lambda g: (-g.count, -g.last_seen))
    return tuple(merged)


def _chain_key(row: ChainSummary) -> float:
    return row.last_update


def _newest(lists: Iterable[Sequence[T]], key: Callable[[T], float], cap: int) -> tuple[T, ...]:
    rows = [row for rows in lists for row in rows]
    rows.sort(key=key, reverse=True)
    return tuple(rows[:cap])


def _catchup(shares: Sequence[Snapshot]) -> CatchUpView:
    views = [s.catchup for s in shares]
    return CatchUpView(
        caught_up=all(v.caught_up for v in views),
        records_behind=sum(v.records_behind for v in views),
        percent=min(v.percent for v in views),
    )


def merge_series(series: Sequence[RateSeries]) -> RateSeries:
    """Sums: totals, rates, and the 1-second buckets aligned at the newest."""
    width = max((len(s.history) for s in series), default=0)
    history = [0] * width
    for s in series:
        pad = width - len(s.history)
        for i, count in enumerate(s.history):
            history[pad + i] += count
    return RateSeries(
        total=sum(s.total for s in series),
        rate=sum(s.rate for s in series),
        history=tuple(history),
    )


def _by_key(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _latest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _throughput(views: Sequence[ThroughputView]) -> ThroughputView:
    topics: list[TopicThroughput] = []
    for rows in _by_key((t for v in views for t in v.topics), lambda t: t.topic).values():
        topics.append(
            replace(
                rows[0],
                by_arrival=merge_series([r.by_arrival for r in rows]),
                by_timestamp=merge_series([r.by_timestamp for r in rows]),
                last_seen=_latest(r.last_seen for r in rows),
                last_record=_latest(r.last_record for r in rows),
            )
        )
    order = {t.topic: i for v in views for i, t in enumerate(v.topics)}
    topics.sort(key=lambda t: (-t.by_arrival.rate, order.get(t.topic, 0), t.topic))
    types: list[EventTypeThroughput] = []
    for rows_ in _by_key(
        (t for v in views for t in v.event_types), lambda t: t.event_type
    ).values():
        versions: dict[int | None, int] = {}
        for row in rows_:
            for version, count in row.versions:
                versions[version] = versions.get(version, 0) + count
        types.append(
            EventTypeThroughput(
                event_type=rows_[0].event_type,
                series=merge_series([r.series for r in rows_]),
                versions=tuple(versions.items()),
                by_timestamp=merge_series([r.by_timestamp for r in rows_]),
            )
        )
    types.sort(key=lambda t: (-t.series.rate, -t.series.total, t.event_type))
    return ThroughputView(
        window_s=views[0].window_s,
        events=merge_series([v.events for v in views]),
        dead_letters=merge_series([v.dead_letters for v in views]),
        topics=tuple(topics),
        event_types=tuple(types),
        events_by_timestamp=merge_series([v.events_by_timestamp for v in views]),
        dead_letters_by_timestamp=merge_series([v.dead_letters_by_timestamp for v in views]),
    )


def _sagas(shares: Sequence[Snapshot]) -> tuple[SagaSummary, ...]:
    merged: list[SagaSummary] = []
    order: list[str] = []
    for s in shares:
        for summary in s.sagas:
            if summary.saga not in order:
                order.append(summary.saga)
    groups = _by_key((g for s in shares for g in s.sagas), lambda g: g.saga)
    for name in order:
        rows = groups[name]
        counts: dict[SagaState, int] = {}
        for row in rows:
            for state, count in row.counts:
                counts[state] = counts.get(state, 0) + count
        merged.append(
            SagaSummary(
                saga=name,
                counts=tuple(
                    (state, counts.get(state, 0)) for state in SagaState if state in counts
                ),
                p50_s=_latest(r.p50_s for r in rows),
                p95_s=_latest(r.p95_s for r in rows),
            )
        )
    return tuple(merged)


def _undecodable(views: Sequence[UndecodableView]) -> UndecodableView:
    reasons: dict[str, int] = {}
    for view in views:
        for reason, count in view.by_reason:
            reasons[reason] = reasons.get(reason, 0) + count
    cap = max(len(v.samples) for v in views)
    return UndecodableView(
        count=sum(v.count for v in views),
        by_reason=tuple(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
        samples=_newest([v.samples for v in views], lambda r: r.time, max(cap, 1)),
    )


def _totals(totals: Sequence[Totals]) -> Totals:
    return Totals(
        events=sum(t.events for t in totals),
        duplicates=sum(t.duplicates for t in totals),
        dead_letters=sum(t.dead_letters for t in totals),
        undecodable=sum(t.undecodable for t in totals),
        chains=sum(t.chains for t in totals),
        retained_events=sum(t.retained_events for t in totals),
        evicted_chains=sum(t.evicted_chains for t in totals),
    )
