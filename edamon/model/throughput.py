"""Throughput: per-second counts of records by topic, by event type and for dead-letter queues.

`Throughput.record` sits on the ingest hot path (~100k records/s): it does a dict lookup or two
and a few integer increments, and allocates nothing once a topic and an event type are known.
Sums over topics (all events, all dead letters) are computed when a view is built, a few times
a second, rather than per record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from operator import attrgetter

from edamon.model.envelope import Envelope
from edamon.model.snapshot import (
    EventTypeThroughput,
    RateSeries,
    ThroughputView,
    TopicThroughput,
)

__all__ = ["RateCounter", "Throughput"]

_TIMESTAMP = attrgetter("record.timestamp_ms")
_VERSION = attrgetter("version")

_NEVER = -(1 << 62)
"""The newest second of a counter that has counted nothing yet."""


class RateCounter:
    """Counts per 1-second bucket over the last `window_s` seconds, plus an all-time total.

    Buckets live in a ring indexed by `int(second) % window_s`. The ring's newest second moves
    forward with the newest time added; seconds that fall out of the ring are cleared as it
    moves (amortised O(1) per `add`).
    """

    __slots__ = ("_buckets", "_head", "_index", "_window", "total")

    def __init__(self, window_s: int) -> None:
        if window_s < 2:
            raise ValueError("a rate counter needs a window of at least 2 seconds")
        self._window = window_s
        self._buckets = [0] * window_s
        self._head = _NEVER
        self._index = 0
        """Bucket of the newest second: `_head % window_s`."""
        self.total = 0
        """Everything counted since creation, in the window or not."""

    @property
    def window_s(self) -> int:
        return self._window

    def add(self, t: float, n: int = 1) -> None:
        """Count `n` at time `t` (epoch seconds).

        A time newer than any seen moves the ring forward; one older than the ring (more than
        `window_s` seconds before the newest) only counts in `total`.
        """
        self.total += n
        second = int(t)
        if second != self._head:
            if second > self._head:
                self._advance(second)
            elif second <= self._head - self._window:
                return
        self._buckets[second % self._window] += n

    def _advance(self, second: int) -> None:
        buckets, window = self._buckets, self._window
        if second - self._head >= window:
            buckets[:] = [0] * window
        else:
            for s in range(self._head + 1, second + 1):
                buckets[s % window] = 0
        self._head = second
        self._index = second % window

    def history(self, now: float) -> list[int]:
        """Counts for the `window_s` seconds ending at `int(now)`, oldest first.

        Counts at seconds after `now` (a clock that ran ahead) are clamped into the last bucket.
        """
        end = int(now)
        window, head, buckets = self._window, self._head, self._buckets
        oldest_kept = head - window + 1
        out = [
            buckets[s % window] if oldest_kept <= s <= head else 0
            for s in range(end - window + 1, end + 1)
        ]
        if head > end:
            out[-1] += sum(buckets[s % window] for s in range(max(end + 1, oldest_kept), head + 1))
        return out

    def series(self, now: float, rate_span_s: int = 5) -> RateSeries:
        """History ending at `int(now)`; rate = mean of the last `rate_span_s` complete seconds.

        The current second (`int(now)`) is still filling up, so it is in the history but not in
        the rate.
        """
        history = self.history(now)
        return RateSeries(
            total=self.total, rate=_rate(history, rate_span_s), history=tuple(history)
        )


def _rate(history: list[int], rate_span_s: int) -> float:
    span = max(1, min(rate_span_s, len(history) - 1))
    return sum(history[-1 - span : -1]) / span


class _Topic:
    __slots__ = ("arrival", "by_time", "is_dlq", "last_record", "last_seen")

    def __init__(self, window_s: int) -> None:
        self.arrival = RateCounter(window_s)
        self.by_time = RateCounter(window_s)
        self.is_dlq = False
        self.last_seen: float | None = None
        self.last_record: float | None = None


class _EventType:
    __slots__ = ("by_time", "counter", "versions")

    def __init__(self, window_s: int) -> None:
        self.counter = RateCounter(window_s)
        """By arrival."""
        self.by_time = RateCounter(window_s)
        self.versions: dict[int | None, int] = {}


class Throughput:
    """Record counts by topic (arrival time and record timestamp), event type and DLQ.

    Event types are counted for records on ordinary topics only: a dead letter is a failed copy
    of an event already counted, not a new one.
    """

    __slots__ = ("_rate_span_s", "_topics", "_types", "_window")

    def __init__(self, window_s: int = 300, rate_span_s: int = 5) -> None:
        self._window = window_s
        self._rate_span_s = rate_span_s
        self._topics: dict[str, _Topic] = {}
        self._types: dict[str, _EventType] = {}

    def record(
        self,
        topic: str,
        event_type: str | None,
        version: int | None,
        arrival: float,
        record_time: float,
        is_dlq: bool,
    ) -> None:
        """Count one record that arrived at `arrival` with Kafka timestamp `record_time`.

        A record timestamp after its arrival (a producer clock that runs ahead) counts at its
        arrival, so one bad clock cannot push the timestamp history into the future.
        """
        # The fast paths below are RateCounter.add inlined for the common case (the time falls
        # in the counter's newest second); everything else goes through add().
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _Topic(self._window)
        second = int(arrival)
        counter = state.arrival
        if second == counter._head:
            counter.total += 1
            counter._buckets[counter._index] += 1
        else:
            counter.add(arrival)
        counter = state.by_time
        if record_time >= arrival:
            record_time = arrival
        if int(record_time) == counter._head:
            counter.total += 1
            counter._buckets[counter._index] += 1
        else:
            counter.add(record_time)
        if state.last_seen is None or arrival > state.last_seen:
            state.last_seen = arrival
        last = state.last_record
        if last is None or record_time > last:
            state.last_record = record_time
        if is_dlq:
            state.is_dlq = True
        elif event_type is not None:
            kind = self._types.get(event_type)
            if kind is None:
                kind = self._types[event_type] = _EventType(self._window)
            counter = kind.counter
            if second == counter._head:
                counter.total += 1
                counter._buckets[counter._index] += 1
            else:
                counter.add(arrival)
            counter = kind.by_time
            if int(record_time) == counter._head:
                counter.total += 1
                counter._buckets[counter._index] += 1
            else:
                counter.add(record_time)
            versions = kind.versions
            versions[version] = versions.get(version, 0) + 1

    def record_history(self, arrival: float, events: Iterable[Envelope]) -> None:
        """Count events read while catching up (history, read all at once at `arrival`): each
        as if it had arrived when it was written (its record timestamp, at most `arrival`).
        So the arrival rates and sparklines show the recent past as it happened rather than a
        burst of the read rate, and once caught up, arrival is what it says again (record
        timestamps may be anything: MirrorMaker and Kafka Connect's DLQ keep the source's)."""
        # The same counts as `record(topic, type, version, written, written, False)` per event,
        # taken a run (one topic and event type) at a time: the four counters count every event
        # at `written`, and a counter's final state does not depend on the order of its adds (a
        # second stays in the ring if it is within the window of the newest one), so each
        # counter adds each second of a run once, with the run's count of it.
        batch = events if isinstance(events, list) else list(events)
        start, size = 0, len(batch)
        while start < size:
            first = batch[start]
            topic, event_type = first.record.topic, first.event_type
            end = start + 1
            while end < size:
                env = batch[end]
                if env.event_type != event_type or env.record.topic != topic:
                    break
                end += 1
            run = batch[start:end]
            written = [stamp / 1000.0 for stamp in map(_TIMESTAMP, run)]
            if max(written) > arrival:  # written after `arrival`: counted at `arrival`
                written = [min(time, arrival) for time in written]
            self._count_run(topic, event_type, Counter(map(int, written)), max(written), run)
            start = end

    def _count_run(
        self,
        topic: str,
        event_type: str,
        seconds: Counter[int],
        newest: float,
        run: list[Envelope],
    ) -> None:
        state = self._topics.get(topic)
        if state is None:
            state = self._topics[topic] = _Topic(self._window)
        kind = self._types.get(event_type)
        if kind is None:
            kind = self._types[event_type] = _EventType(self._window)
        counters = (state.arrival, state.by_time, kind.counter, kind.by_time)
        for second, count in sorted(seconds.items()):
            for counter in counters:
                counter.add(second, count)
        if state.last_seen is None or newest > state.last_seen:
            state.last_seen = newest
        if state.last_record is None or newest > state.last_record:
            state.last_record = newest
        versions = kind.versions
        for version, count in Counter(map(_VERSION, run)).items():
            versions[version] = versions.get(version, 0) + count

    def record_events(self, arrival: float, events: Iterable[Envelope]) -> None:
        """Count decoded events from ordinary topics that arrived together at `arrival`.

        Same counts as `record(topic, event_type, version, arrival, timestamp, False)` for
        each; cheaper, as the arrival counters move once per run of one topic or event type.
        """
        topics, types, window = self._topics, self._types, self._window
        topic_state: _Topic | None = None
        last_topic: str | None = None
        kind: _EventType | None = None
        last_type: str | None = None
        topic_run = type_run = 0
        newest = float("-inf")
        by_time = type_by_time = RateCounter(2)  # replaced at the first event
        for env in events:
            record = env.record
            topic = record.topic
            if topic != last_topic:
                if topic_state is not None:
                    _end_run(topic_state, arrival, topic_run, newest)
                topic_state = topics.get(topic)
                if topic_state is None:
                    topic_state = topics[topic] = _Topic(window)
                by_time = topic_state.by_time
                last_topic, topic_run, newest = topic, 0, float("-inf")
            topic_run += 1
            record_time = record.timestamp_ms / 1000.0
            if record_time >= arrival:
                record_time = arrival
            if record_time > newest:
                newest = record_time
            second = int(record_time)
            if second == by_time._head:
                by_time.total += 1
                by_time._buckets[by_time._index] += 1
            else:
                by_time.add(record_time)
            event_type = env.event_type
            if kind is None or event_type != last_type:
                if kind is not None:
                    kind.counter.add(arrival, type_run)
                kind = types.get(event_type)
                if kind is None:
                    kind = types[event_type] = _EventType(window)
                type_by_time = kind.by_time
                last_type, type_run = event_type, 0
            type_run += 1
            if second == type_by_time._head:
                type_by_time.total += 1
                type_by_time._buckets[type_by_time._index] += 1
            else:
                type_by_time.add(record_time)
            versions = kind.versions
            version = env.version
            versions[version] = versions.get(version, 0) + 1
        if topic_state is not None:
            _end_run(topic_state, arrival, topic_run, newest)
        if kind is not None:
            kind.counter.add(arrival, type_run)

    def view(
        self, now: float, partitions: Mapping[str, int], dlq_topics: Collection[str]
    ) -> ThroughputView:
        """Rates as of `now` for every known topic (those in `partitions` and those counted).

        A topic is a DLQ when it is in `dlq_topics` or its records were counted as dead letters.
        `events` sums the other topics' arrivals, `dead_letters` the DLQs'. Topics and event
        types are sorted by rate (highest first), then name.
        """
        span = self._rate_span_s
        empty = RateSeries(total=0, rate=0.0, history=(0,) * self._window)
        rows: list[TopicThroughput] = []
        events: list[list[int]] = []
        dead: list[list[int]] = []
        events_timed: list[list[int]] = []
        dead_timed: list[list[int]] = []
        totals = [0, 0]
        timed_totals = [0, 0]
        for topic in set(partitions).union(self._topics):
            state = self._topics.get(topic)
            is_dlq = topic in dlq_topics or (state is not None and state.is_dlq)
            if state is None:
                arrival = by_time = empty
                last_seen = last_record = None
            else:
                history = state.arrival.history(now)
                (dead if is_dlq else events).append(history)
                totals[is_dlq] += state.arrival.total
                arrival = RateSeries(state.arrival.total, _rate(history, span), tuple(history))
                by_time = state.by_time.series(now, span)
                (dead_timed if is_dlq else events_timed).append(list(by_time.history))
                timed_totals[is_dlq] += state.by_time.total
                last_seen = state.last_seen
                last_record = state.last_record
            rows.append(
                TopicThroughput(
                    topic=topic,
                    partitions=partitions.get(topic, 0),
                    is_dlq=is_dlq,
                    by_arrival=arrival,
                    by_timestamp=by_time,
                    last_seen=last_seen,
                    last_record=last_record,
                )
            )
        rows.sort(key=lambda row: (-row.by_arrival.rate, row.topic))
        kinds = [
            EventTypeThroughput(
                event_type=name,
                series=kind.counter.series(now, span),
                versions=tuple(sorted(kind.versions.items(), key=_version_order)),
                by_timestamp=kind.by_time.series(now, span),
            )
            for name, kind in self._types.items()
        ]
        kinds.sort(key=lambda row: (-row.series.rate, row.event_type))
        return ThroughputView(
            window_s=self._window,
            events=_sum(events, totals[0], self._window, span),
            dead_letters=_sum(dead, totals[1], self._window, span),
            topics=tuple(rows),
            event_types=tuple(kinds),
            events_by_timestamp=_sum(events_timed, timed_totals[0], self._window, span),
            dead_letters_by_timestamp=_sum(dead_timed, timed_totals[1], self._window, span),
        )


def _end_run(state: _Topic, arrival: float, count: int, newest: float) -> None:
    """A run of `count` records of one topic arrived at `arrival`, the newest written at
    `newest`."""
    state.arrival.add(arrival, count)
    state.last_seen = arrival
    last = state.last_record
    if last is None or newest > last:
        state.last_record = newest


def _version_order(item: tuple[int | None, int]) -> tuple[bool, int]:
    version = item[0]
    return (version is not None, version or 0)


def _sum(histories: list[list[int]], total: int, window: int, span: int) -> RateSeries:
    summed = [sum(column) for column in zip(*histories, strict=True)] if histories else [0] * window
    return RateSeries(total=total, rate=_rate(summed, span), history=tuple(summed))
