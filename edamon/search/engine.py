"""The search engine: read a time range of Kafka, keep the records that match, build their
flows as chains.

- `offsets_for_times` bounds every partition to the range (until: the end offsets at start).
- A key search reads only the partition the key hashes to per topic (murmur2, Kafka's default
  partitioner), unless `full_scan`; DLQ topics are read whole (a dead-letter publisher keeps
  the original record's partition number, not the key's hash).
- Found events widen to their flows: a second pass by correlation id over the same range.
- Its own tailer: no consumer group, no commits. Bounded by a record budget and a time budget
  (shared by both passes) and cancellable (`cancel()`, or cancelling the task).
- Cheap first: a record is decoded only when its bytes hold the text searched for (value, key
  or a header value); the candidates that then fail to decode are counted by reason.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from edamon.broker.base import Broker, BrokerError
from edamon.broker.partitioner import key_partition
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.schemas import SchemaStore
from edamon.model.chain import Chain
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope, Undecodable, schema_key_text
from edamon.model.records import TP, RawRecord
from edamon.model.search import (
    SearchDoc,
    SearchField,
    SearchPass,
    SearchQuery,
    SearchState,
    TopicScan,
    id_prefix,
)
from edamon.model.topics import TopicRules
from edamon.search.query import SearchError, parse_json_path

__all__ = ["Search", "SearchError"]

FETCH_RECORDS = 2000
FETCH_TIMEOUT_MS = 200
STALL_S = 15.0
"""No record for this long while partitions remain: they end early (transaction markers or
deleted segments below their end offset); said in the result."""

Matcher = Callable[[RawRecord], bool]


@dataclass
class _Pass:
    by: SearchField
    values: tuple[str, ...]
    ranges: dict[TP, tuple[int, int]]
    totals: dict[str, int]
    scanned: Counter[str] = field(default_factory=Counter)
    done: set[TP] = field(default_factory=set)
    matched: int = 0
    complete: bool = False

    def estimate(self, topic: str | None = None) -> int:
        return sum(e - s for tp, (s, e) in self.ranges.items() if topic in (None, tp.topic))

    def view(self) -> SearchPass:
        topics: dict[str, list[TP]] = {}
        for tp in self.ranges:
            topics.setdefault(tp.topic, []).append(tp)
        scans = tuple(
            TopicScan(
                topic,
                tuple(sorted(tp.partition for tp in tps)),
                self.totals[topic],
                self.estimate(topic),
                self.scanned[topic],
                all(tp in self.done for tp in tps),
            )
            for topic, tps in sorted(topics.items())
        )
        return SearchPass(
            self.by,
            self.values,
            scans,
            sum(self.scanned.values()),
            self.estimate(),
            self.matched,
            self.complete,
        )


def _needles(text: str) -> tuple[bytes, ...]:
    """The bytes a value is written as: UTF-8, and its JSON-escaped form when that differs."""
    plain = text.encode("utf-8", errors="surrogatepass")
    escaped = json.dumps(text)[1:-1].encode("ascii")
    return (plain,) if escaped == plain else (plain, escaped)


def _holds(record: RawRecord, needles: tuple[bytes, ...]) -> bool:
    value = record.value
    if value is not None:
        for needle in needles:
            if needle in value:
                return True
    for _, header in record.headers:
        for needle in needles:
            if needle in header:
                return True
    key = record.key
    if key is not None:
        for needle in needles:
            if needle in key:
                return True
    return False


def _walk(data: Any, path: tuple[str | int, ...]) -> Any:
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(data, list) or segment >= len(data):
                return _MISSING
            data = data[segment]
        else:
            if not isinstance(data, dict) or segment not in data:
                return _MISSING
            data = data[segment]
    return data


_MISSING = object()


class Search:
    """One search; `run()` once, `doc()` any time (progress while running), `cancel()`."""

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        query: SearchQuery,
        *,
        search_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = search_id or uuid.uuid4().hex[:12]
        self.query = query
        self._broker = broker
        self._clock = clock
        self._rules = TopicRules(
            settings.topics, ledger_topic=settings.dlq.ledger_topic, dlq_routes=settings.dlq.routes
        )
        self._envelopes = EnvelopeDecoder(settings.envelope, SchemaStore(None))
        self._dead = DeadLetterDecoder(self._envelopes)
        self._started = clock()
        self._finished: float | None = None
        self._state: SearchState = "running"
        self._error: str | None = None
        self._until_ms = (
            query.until_ms if query.until_ms is not None else round(self._started * 1000)
        )
        self._passes: list[_Pass] = []
        self._totals: dict[str, int] = {}
        self._ranges: dict[TP, tuple[int, int]] | None = None
        self._scanned = 0
        self._cancelled = False
        self._stopped: str | None = None
        self._begun = time.monotonic()
        self._deadline = self._begun + query.budget_seconds
        self._undecodable: Counter[str] = Counter()
        self._chains: OrderedDict[str, Chain] = OrderedDict()
        self._seen: set[tuple[str, int, int]] = set()
        self._bad_seen: set[tuple[str, int, int]] = set()
        self._flows_found: set[str] = set()
        self._not_scanned: list[str] = []
        self._notes: list[str] = []
        if id_prefix(query.by, query.value):
            what = query.by.replace("_", " ")
            self._notes.append(f"the {what}s that start with {query.value} (a short id)")
        if query.by == "json_path":
            path, wanted, raw = parse_json_path(query.value)
            self._path, self._wanted, self._raw = path, wanted, raw

    # ---- control -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop at the next batch (within a fetch timeout); the result keeps what was found."""
        self._cancelled = True

    @property
    def running(self) -> bool:
        return self._state == "running"

    def doc(self) -> SearchDoc:
        passes = tuple(p.view() for p in self._passes)
        return SearchDoc(
            id=self.id,
            state=self._state,
            query=self.query,
            from_ms=self.query.from_ms,
            until_ms=self._until_ms,
            started=self._started,
            finished=self._finished,
            passes=passes,
            scanned=self._scanned,
            estimate=sum(p.estimate for p in passes),
            matched=len(self._seen),
            flows_found=len(self._flows_found),
            undecodable=sum(self._undecodable.values()),
            undecodable_by_reason=tuple(self._undecodable.most_common()),
            not_scanned=tuple(self._not_scanned),
            notes=tuple(self._notes) + self._over(),
            flows=tuple(chain.view() for chain in self._chains.values()),
            error=self._error,
        )

    def _over(self) -> tuple[str, ...]:
        more = len(self._flows_found) - len(self._chains)
        if more <= 0:
            return ()
        kept = self.query.max_flows
        return (f"{more} more flow(s) matched beyond the {kept} kept: narrow the search",)

    # ---- the run -------------------------------------------------------------------------

    async def run(self) -> SearchDoc:
        """Search; SearchError (bad topics), BrokerError propagate after the doc says failed."""
        try:
            await self._run()
        except (SearchError, BrokerError) as exc:
            self._state, self._error = "failed", str(exc)
            raise
        except asyncio.CancelledError:
            self._state = "cancelled"
            self._stopped = self._stopped or "cancelled"
            raise
        finally:
            self._finished = self._clock()
            if self._stopped is not None:
                self._not_scanned.append(self._unread())
        if self._stopped == "cancelled":
            self._state = "cancelled"
        elif self._stopped is not None:
            self._state = "budget"
        else:
            self._state = "done"
        return self.doc()

    async def prepare(self) -> None:
        """Resolve the topics and bound every partition (quick; `run()` does it when not
        done). SearchError for an unknown topic or none to search, BrokerError."""
        if self._ranges is not None:
            return
        query = self.query
        totals = await self._topics()
        tps = [TP(t, p) for t, n in totals.items() for p in range(n)]
        starts = await self._broker.offsets_for_time(tps, query.from_ms)
        if query.until_ms is not None:
            ends = await self._broker.offsets_for_time(tps, query.until_ms)
        else:
            ends = await self._broker.end_offsets(tps)
        ranges = {tp: (starts[tp], max(starts[tp], ends[tp])) for tp in tps}
        first = self._first_ranges(ranges, totals)
        self._passes.append(_Pass(query.by, (query.value,), first, totals))
        self._totals, self._ranges = totals, ranges

    async def _run(self) -> None:
        await self.prepare()
        assert self._ranges is not None
        query = self.query
        await self._scan(self._passes[0], self._matcher(), widened=False)
        if self._stopped is not None or not query.widen or query.by == "correlation_id":
            return
        flows = tuple(self._chains)
        if not flows:
            return
        self._notes.append(
            f"widened to the whole flow of {len(flows)} correlation id(s) over the same range"
        )
        wide = _Pass("correlation_id", flows, dict(self._ranges), self._totals)
        self._passes.append(wide)
        await self._scan(wide, self._flow_matcher(flows), widened=True)

    async def _topics(self) -> dict[str, int]:
        infos = {t.name: t for t in await self._broker.list_topics()}
        if self.query.topics:
            missing = sorted(set(self.query.topics) - set(infos))
            if missing:
                raise SearchError(f"no such topic: {', '.join(missing)}")
            names = sorted(set(self.query.topics))
        else:
            names = [
                t
                for t in self._rules.select(infos)
                if t != self._rules.ledger_topic and not infos[t].internal
            ]
            if not names:
                raise SearchError("no topic to search: none matches the configured topic rules")
        return {name: infos[name].partitions for name in names}

    def _first_ranges(
        self, ranges: dict[TP, tuple[int, int]], totals: dict[str, int]
    ) -> dict[TP, tuple[int, int]]:
        query = self.query
        if query.by != "key" or query.full_scan:
            return dict(ranges)
        key = query.value.encode("utf-8", errors="surrogatepass")
        chosen: dict[TP, tuple[int, int]] = {}
        skipped: list[str] = []
        for topic, count in totals.items():
            if self._rules.is_dlq(topic):
                picks = range(count)
            else:
                picks = range(key_partition(key, count), key_partition(key, count) + 1)
                if count > 1:
                    skipped.append(f"{topic} ({count - 1} of {count} partitions)")
            for p in picks:
                chosen[TP(topic, p)] = ranges[TP(topic, p)]
        self._notes.append(
            "key search: read only the partition the key hashes to in each topic (Kafka's "
            "default murmur2 partitioner; DLQs are read whole); a producer with its own "
            "partitioner puts keys elsewhere: search again with a full scan"
        )
        if skipped:
            self._not_scanned.append("other partitions of " + ", ".join(skipped))
        return chosen

    # ---- matching ------------------------------------------------------------------------

    def _matcher(self) -> Matcher:
        query = self.query
        value = query.value
        if query.by == "key":
            key = value.encode("utf-8", errors="surrogatepass")
            return lambda r: r.key == key
        if query.by == "header":
            name, _, text = value.partition("=")
            wanted = text.encode("utf-8", errors="surrogatepass")
            return lambda r: any(k == name and v == wanted for k, v in r.headers)
        if query.by == "correlation_id":
            return self._flow_matcher((value,), prefix=id_prefix(query.by, value))
        needles = _needles(self._raw if query.by == "json_path" else value)
        if query.by == "json_path":
            return lambda r: _holds(r, needles) and self._path_matches(r)
        if query.by == "event_id":
            if id_prefix(query.by, value):
                return lambda r: (
                    _holds(r, needles)
                    and (self._decoded_field(r, "event_id") or "").startswith(value)
                )
            return lambda r: _holds(r, needles) and self._decoded_field(r, "event_id") == value
        key = value.encode("utf-8", errors="surrogatepass")
        return lambda r: (
            r.key == key or (_holds(r, needles) and self._decoded_field(r, "aggregate_id") == value)
        )

    def _flow_matcher(self, cids: tuple[str, ...], *, prefix: bool = False) -> Matcher:
        """Records of the flows `cids` (with `prefix`: of the flows whose correlation id
        starts with one of them)."""
        wanted = set(cids)
        needles = tuple(n for cid in cids for n in _needles(cid))

        def matches(record: RawRecord) -> bool:
            if not _holds(record, needles):
                return False
            env = self._envelope(record)
            if env is None:
                return False
            cid = env.correlation_id or env.event_id
            return cid in wanted or (prefix and cid.startswith(cids))

        return matches

    def _decoded_field(self, record: RawRecord, name: str) -> str | None:
        env = self._envelope(record)
        return None if env is None else getattr(env, name)

    def _path_matches(self, record: RawRecord) -> bool:
        if record.value is None:
            return False
        try:
            data = json.loads(record.value)
        except ValueError:
            return False  # the bytes held the text; the decoder counts it when it can't read it
        found = _walk(data, self._path)
        if found is _MISSING:
            return False
        if found == self._wanted and type(found) is type(self._wanted):
            return True
        return isinstance(found, str) and found == self._raw

    def _decode(self, record: RawRecord) -> Envelope | DeadLetter | None:
        """The record decoded (an event, or a dead letter on a DLQ topic); None when it does
        not decode (counted by reason, once per record)."""
        if self._rules.is_dlq(record.topic):
            dead = self._dead.decode(record)
            if dead.envelope is None:
                self._count_bad(record, dead.decode_error or "dead letter without an event")
            return dead
        result = self._envelopes.decode(record)
        if isinstance(result, Undecodable):
            reason = result.reason
            if result.awaiting is not None:
                reason = (
                    f"{schema_key_text(result.awaiting)} (the search does not ask the registry)"
                )
            self._count_bad(record, reason)
            return None
        return result

    def _envelope(self, record: RawRecord) -> Envelope | None:
        decoded = self._decode(record)
        return decoded.envelope if isinstance(decoded, DeadLetter) else decoded

    def _count_bad(self, record: RawRecord, reason: str) -> None:
        coords = (record.topic, record.partition, record.offset)
        if coords not in self._bad_seen:
            self._bad_seen.add(coords)
            self._undecodable[reason] += 1

    # ---- keeping -------------------------------------------------------------------------

    def _keep(self, record: RawRecord, widened: bool) -> bool:
        coords = (record.topic, record.partition, record.offset)
        if coords in self._seen:
            return False
        decoded = self._decode(record)
        if isinstance(decoded, DeadLetter):
            env = decoded.envelope
            cid = decoded.correlation_id or (env.event_id if env is not None else None)
        else:
            env = decoded
            cid = None if env is None else env.correlation_id or env.event_id
        self._seen.add(coords)
        if cid is None:
            return True  # matched but undecodable: counted, not placed in a flow
        self._flows_found.add(cid)
        chain = self._chains.get(cid)
        if chain is None:
            if widened or len(self._chains) >= self.query.max_flows:
                return True
            chain = self._chains[cid] = Chain(cid)
        now = self._clock()
        if isinstance(decoded, DeadLetter):
            chain.add_dead_letter(decoded, now=now)
        elif env is not None:
            chain.add(env, now)
        return True

    # ---- reading -------------------------------------------------------------------------

    async def _scan(self, scan: _Pass, matches: Matcher, *, widened: bool) -> None:
        ends = {tp: end for tp, (start, end) in scan.ranges.items()}
        active = {tp: start for tp, (start, end) in scan.ranges.items() if start < end}
        scan.done.update(tp for tp in scan.ranges if tp not in active)
        if not active:
            scan.complete = True
            return
        query = self.query
        tailer = self._broker.tailer()
        try:
            await tailer.assign(active)
            last_record = time.monotonic()
            while active:
                if self._cancelled:
                    self._stopped = "cancelled"
                    return
                left = query.budget_records - self._scanned
                if left <= 0:
                    self._stopped = f"the record budget ({query.budget_records:,} records)"
                    return
                if time.monotonic() >= self._deadline:
                    self._stopped = f"the time budget ({query.budget_seconds:g} s)"
                    return
                records = await tailer.fetch(min(FETCH_RECORDS, left), FETCH_TIMEOUT_MS)
                if not records:
                    if time.monotonic() - last_record > STALL_S:
                        self._notes.append(
                            f"{len(active)} partition(s) ended below their end offset "
                            "(transaction markers or deleted records)"
                        )
                        scan.done.update(active)
                        break
                    continue
                last_record = time.monotonic()
                self._take(scan, records[:left], ends, matches, widened)
                if query.rate is not None:
                    await self._pace(query.rate)
                positions = tailer.positions()
                finished = [tp for tp in active if positions.get(tp, 0) >= ends[tp]]
                if finished:
                    for tp in finished:
                        del active[tp]
                        scan.done.add(tp)
                    if active:
                        await tailer.assign({tp: positions.get(tp, active[tp]) for tp in active})
            scan.complete = True
        finally:
            await tailer.close()

    async def _pace(self, rate: float) -> None:
        """Sleep until the records read so far fit `rate` per second (cancel, budget: at once)."""
        due = self._begun + self._scanned / rate
        while not self._cancelled and (wait := due - time.monotonic()) > 0:
            if time.monotonic() + min(wait, 0.1) >= self._deadline:
                return
            await asyncio.sleep(min(wait, 0.1))

    def _take(
        self,
        scan: _Pass,
        records: Iterable[RawRecord],
        ends: dict[TP, int],
        matches: Matcher,
        widened: bool,
    ) -> None:
        counted = scan.scanned
        last: tuple[str, int] | None = None
        end = 0
        for record in records:
            tp = (record.topic, record.partition)
            if tp != last:
                last = tp
                end = ends.get(TP(*tp), 0)
            if record.offset >= end:
                continue
            counted[record.topic] += 1
            self._scanned += 1
            if matches(record) and self._keep(record, widened):
                scan.matched += 1

    def _unread(self) -> str:
        left = sum(p.estimate() - sum(p.scanned.values()) for p in self._passes)
        return f"stopped by {self._stopped}: about {max(left, 0):,} records in range not read"
