"""The collector's state: everything ingested, bounded, and the snapshot built from it.

Single-threaded by design: the ingest loop, the lag sampler and the views all run on one event
loop, so no locks. `ingest()` is the hot path; `snapshot()` runs a few times per second.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from edamon.collector.budget import RecordBudget
from edamon.collector.deadletters import DeadLetterStore
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.ledger import LedgerEntry, LedgerSigner
from edamon.decode.schemas import SchemaStore
from edamon.model.alerts import AlertView
from edamon.model.chain import Chain
from edamon.model.chainstore import ChainStore
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope, SchemaKey, Undecodable, schema_key_text
from edamon.model.ordering import OrderingTracker
from edamon.model.records import RawRecord
from edamon.model.safetext import preview_text
from edamon.model.saga import SagaTracker
from edamon.model.snapshot import (
    CatchUpView,
    ChainSummary,
    ChainView,
    ConnectionView,
    DeadLetterGroup,
    DeadLetterRow,
    GroupLag,
    LagHealth,
    SagaInstance,
    Snapshot,
    TimelineRow,
    Totals,
    UndecodableSample,
    UndecodableView,
)
from edamon.model.status import ConnectionState, SagaState
from edamon.model.throughput import Throughput
from edamon.model.topics import TopicRules

SNAPSHOT_CHAINS = 1000
"""Most recently updated flows listed in a snapshot (all retained ones stay queryable)."""
SNAPSHOT_SAGA_INSTANCES = 1000
UNDECODABLE_SAMPLES = 50
NOTICES = 20

HOLD_BYTES = 16 * 1024 * 1024
"""Most value bytes held per schema id while it is fetched (besides hold_records)."""

_EVENTS, _DLQ, _LEDGER = "events", "dlq", "ledger"
"""How `ingest` handles the records of a topic."""


class CollectorState:
    """Owns chains, sagas, dead letters, throughput and lag; hands out immutable snapshots."""

    def __init__(
        self, settings: Settings, *, cluster: str, schemas: SchemaStore | None = None
    ) -> None:
        self._settings = settings
        self.rules = TopicRules(
            settings.topics,
            ledger_topic=settings.dlq.ledger_topic,
            dlq_routes=settings.dlq.routes,
        )
        self.schemas = schemas if schemas is not None else SchemaStore(None)
        self.schemas.waiting = self._awaited
        self._waiting: dict[SchemaKey, deque[list[object]]] = {}
        """Records waiting for their schema, per id: [record, reason counted or None, DLQ?]."""
        self._waiting_bytes: dict[SchemaKey, int] = {}
        self._hold_records = settings.schema_registry.hold_records
        self._envelopes = EnvelopeDecoder(settings.envelope, self.schemas)
        self._dead_decoder = DeadLetterDecoder(self._envelopes)
        retention = settings.retention
        self._max_events = retention.max_events
        self._max_age = retention.max_age_s
        self._budget_limit = int(retention.record_memory_mb * 1024 * 1024)
        self._budget = RecordBudget(self._budget_limit)
        self._hold = self._budget.hold
        self._chains: OrderedDict[str, Chain] = OrderedDict()
        self._viewed: Chain | None = None
        """The chain asked for last: where `event()` looks first."""
        self._dead = DeadLetterStore(
            retention.max_dead_letters,
            int(retention.dead_letter_memory_mb * 1024 * 1024),
            verify=LedgerSigner.from_settings(settings.dlq).verify,
        )
        self._undecodable: Counter[str] = Counter()
        self._undecodable_samples: deque[UndecodableSample] = deque(maxlen=UNDECODABLE_SAMPLES)
        self._timeline: deque[Envelope | DeadLetter] = deque(maxlen=retention.timeline)
        self._timeline_size = retention.timeline
        self._throughput = Throughput(retention.throughput_window_s)
        self._sagas = SagaTracker(settings.sagas.definitions)
        self._saga_dead_letters: dict[str, list[float]] = {}
        """Dead-letter times per flow, to replay sagas in time order."""
        self._saga_starts = {t for d in settings.sagas.definitions for t in d.start}
        self._has_sagas = bool(settings.sagas.definitions)
        ordering = settings.ordering
        self._ordering = (
            OrderingTracker(
                max_aggregates=ordering.max_aggregates, tolerance_ms=ordering.tolerance_ms
            )
            if ordering.enabled
            else None
        )
        self._loops_reported: set[str] = set()
        self._notices: deque[str] = deque(maxlen=NOTICES)
        self._retained = 0
        self._events_total = 0
        self._duplicates = 0
        self._evicted = 0
        self.partitions: dict[str, int] = {}
        self.lag: tuple[GroupLag, ...] = ()
        self.lag_health = LagHealth()
        self.connection = ConnectionView(ConnectionState.CONNECTING, cluster, "starting")
        self.catchup = CatchUpView(caught_up=False, records_behind=0, percent=0.0)
        self.collector_lag = 0
        self.last_record_at: float | None = None
        self.alerts: tuple[AlertView, ...] = ()
        """The active alerts, as the alert engine last published them."""

    # ---- ingest (hot path) -------------------------------------------------------------

    def ingest(self, records: Sequence[RawRecord], now: float) -> None:
        """Decode and apply a batch of records, then enforce retention.

        The records of ordinary topics are decoded and applied run by run (records come in
        runs of one partition): one `decode_many` call per run, the run's events added to their
        chains in one loop, their record memory accounted once per run."""
        if not records:
            return
        rules = self.rules
        ledger_topic = rules.ledger_topic
        events: list[Envelope] = []
        run: list[RawRecord] = []
        last_topic: str | None = None
        route = _EVENTS
        for record in records:
            topic = record.topic
            if topic is not last_topic:  # records come in runs of one partition
                last_topic = topic
                route = (
                    _LEDGER if topic == ledger_topic else _DLQ if rules.is_dlq(topic) else _EVENTS
                )
            if route is _EVENTS:
                run.append(record)
                continue
            if run:
                self._ingest_events(run, now, events)
                run = []
            if route is _DLQ:
                dead = self._dead_decoder.decode(record)
                if dead.envelope is None and self._dead_letter_waits(record):
                    continue
                self._add_dead_letter(dead, now)
            else:
                self._dead.apply_ledger(record)
        if run:
            self._ingest_events(run, now, events)
        self._ingested(events, now)

    def ingest_decoded(self, results: Sequence[Envelope | Undecodable], now: float) -> None:
        """Apply events of ordinary topics decoded elsewhere (a shard member's stage 1 decoded
        them and sent their index entries), as `ingest` applies the ones it decodes itself;
        an Undecodable is counted as one, or waits for its schema."""
        if not results:
            return
        events: list[Envelope] = []
        self._apply_events(results, now, events)
        self._ingested(events, now)

    def _ingested(self, events: list[Envelope], now: float) -> None:
        if events:
            if self.catchup.caught_up:
                self._throughput.record_events(now, events)
            else:  # history: counted when it was written (see Throughput.record_history)
                self._throughput.record_history(now, events)
        self.last_record_at = now
        self._evict(now)

    def _ingest_events(self, run: list[RawRecord], now: float, events: list[Envelope]) -> None:
        """Decode a run of records from ordinary topics and apply them; the decoded events
        (duplicates too) are appended to `events` for the throughput counts."""
        self._apply_events(self._envelopes.decode_many(run), now, events)

    def _apply_events(
        self, results: Iterable[Envelope | Undecodable], now: float, events: list[Envelope]
    ) -> None:
        added: list[Envelope] = []
        places: list[tuple[ChainStore, int]] = []
        if self._has_sagas:  # sagas are replayed per event: the one-by-one path
            for result in results:
                if type(result) is Undecodable:
                    self._undecodable_result(result, now)
                else:
                    assert isinstance(result, Envelope)
                    events.append(result)
                    self._add_event(result, now)
            return
        chains = self._chains
        get_chain = chains.get
        to_end = chains.move_to_end
        append = events.append
        keep = added.append
        place = places.append
        duplicates = 0
        loops: list[str] = []
        for result in results:
            if type(result) is Undecodable:
                self._undecodable_result(result, now)
                continue
            env: Envelope = result  # type: ignore[assignment]
            append(env)
            cid = env.correlation_id or env.event_id
            chain = get_chain(cid)
            if chain is None:
                chain = chains[cid] = Chain(cid)
            else:
                to_end(cid)
            if not chain.add(env, now):
                duplicates += 1
                continue
            keep(env)
            place((chain, chain.last_position))
            if chain.has_loop:
                loops.append(cid)
        self._duplicates += duplicates
        if not added:
            return
        self._events_total += len(added)
        self._retained += len(added)
        self._budget.hold_many(places, added)
        if self._ordering is not None:
            self._ordering.observe_events(added)
        self._timeline.extend(added[-self._timeline_size :])
        for cid in loops:
            if cid not in self._loops_reported:
                self._loops_reported.add(cid)
                self._notices.append(f"causation loop in flow {cid}")

    def _undecodable_result(self, result: Undecodable, now: float) -> None:
        if result.awaiting is None:
            self._add_undecodable(result, now)
        else:
            self._await_schema(result, now)

    def _add_event(self, env: Envelope, now: float) -> None:
        cid = env.correlation_id or env.event_id
        chains = self._chains
        chain = chains.get(cid)
        if chain is None:
            chain = chains[cid] = Chain(cid)
        else:
            chains.move_to_end(cid)
        late = self._has_sagas and chain.event_count > 0 and env.time < chain.end
        if not chain.add(env, now):
            self._duplicates += 1
            return
        self._events_total += 1
        self._retained += 1
        self._hold(chain, chain.last_position)
        if self._ordering is not None:
            record = env.record
            self._ordering.observe(
                record.topic,
                record.partition,
                record.offset,
                record.key,
                env.aggregate_id,
                env.version,
                env.occurred_at,
                env.event_id,
                env.event_type,
                env.correlation_id,
            )
        if self._has_sagas:
            if late:
                # an event older than one already applied (topics are read in parallel, so
                # arrival order is not event order): rebuild the saga in event-time order so
                # its state does not depend on which topic's batch came first
                self._sagas.evict(cid)
                self._replay_saga(cid, chain, None)
            else:
                self._sagas.observe(cid, env.event_type, env.time)
                if env.event_type in self._saga_starts and chain.event_count > 1:
                    self._replay_saga(cid, chain, env.event_id)
        self._timeline.append(env)
        if chain.has_loop and cid not in self._loops_reported:
            self._loops_reported.add(cid)
            self._notices.append(f"causation loop in flow {cid}")

    def _replay_saga(self, cid: str, chain: Chain, start_id: str | None) -> None:
        """Feed the flow's events (all but `start_id`, already applied) and its dead letters to
        the saga tracker in time order: what arrived before the start event was ignored by it,
        and topics are read in parallel, so arrival order is not event order."""
        steps: list[tuple[float, str | None]] = [
            (time, event_type)
            for time, event_type, event_id in chain.event_steps()
            if event_id != start_id
        ]
        steps.extend((t, None) for t in self._saga_dead_letters.get(cid, ()))
        steps.sort(key=lambda step: step[0])
        sagas = self._sagas
        for time, event_type in steps:
            if event_type is None:
                sagas.dead_lettered(cid, time)
            else:
                sagas.observe(cid, event_type, time)

    def _add_dead_letter(self, dl: DeadLetter, now: float) -> None:
        record = dl.record
        env = dl.envelope
        written = record.timestamp_ms / 1000.0
        self._throughput.record(
            record.topic,
            env.event_type if env else None,
            env.version if env else None,
            self._arrival(written, now),
            written,
            True,
        )
        if not self._dead.add(dl):
            return
        self._timeline.append(dl)
        cid = dl.correlation_id
        if cid is None:
            return
        chain = self._chains.get(cid)
        if chain is None:
            chain = self._chains[cid] = Chain(cid)
        else:
            self._chains.move_to_end(cid)
        chain.add_dead_letter(dl, now=now)
        if self._has_sagas:
            seen = record.timestamp_ms / 1000.0
            self._saga_dead_letters.setdefault(cid, []).append(seen)
            self._sagas.dead_lettered(cid, seen)

    def _arrival(self, written: float, now: float) -> float:
        """When a record read at `now` counts as arrived: now, or while catching up when it
        was written (history, see Throughput.record_history)."""
        return now if self.catchup.caught_up else min(written, now)

    def _add_undecodable(self, bad: Undecodable, now: float) -> None:
        record = bad.record
        written = record.timestamp_ms / 1000.0
        self._throughput.record(
            record.topic, None, None, self._arrival(written, now), written, False
        )
        self._undecodable[bad.reason] += 1
        self._undecodable_samples.append(
            UndecodableSample(
                coords=record.coords,
                reason=bad.reason,
                time=record.timestamp_ms / 1000.0,
                preview=preview_text(record.value or b""),
            )
        )

    # ---- records waiting for their schema ----------------------------------------------

    def _awaited(self, schema_id: SchemaKey) -> bool:
        return bool(self._waiting.get(schema_id))

    def _await_schema(self, bad: Undecodable, now: float) -> None:
        """Hold a record whose schema is being fetched (counted as undecodable with the
        registry's reason once a fetch failed); beyond `hold_records` per id the oldest goes."""
        schema_id = bad.awaiting
        assert schema_id is not None
        counted: str | None = None
        if self.schemas.failure(schema_id) is not None or not self._hold_records:
            self._add_undecodable(bad, now)
            counted = bad.reason
        if not self._hold_records:
            return
        queue = self._waiting.setdefault(schema_id, deque())
        queue.append([bad.record, counted, False])
        size = self._waiting_bytes.get(schema_id, 0) + len(bad.record.value or b"")
        while len(queue) > self._hold_records or (size > HOLD_BYTES and len(queue) > 1):
            record, reason, dead = queue.popleft()
            assert isinstance(record, RawRecord)
            size -= len(record.value or b"")
            if dead:
                self._add_dead_letter(self._dead_decoder.decode(record), now)
            elif reason is None:
                self._add_undecodable(
                    Undecodable(record, f"{schema_key_text(schema_id)}: too many records waiting"),
                    now,
                )
        self._waiting_bytes[schema_id] = size

    def _dead_letter_waits(self, record: RawRecord) -> bool:
        """Hold a dead letter whose value's schema is being fetched for the first time."""
        result = self._envelopes.decode(record)
        if not isinstance(result, Undecodable) or result.awaiting is None:
            return False
        schema_id = result.awaiting
        if not self._hold_records or not self.schemas.fetching(schema_id):
            return False
        if self.schemas.failure(schema_id) is not None:
            return False
        self._waiting.setdefault(schema_id, deque()).append([record, None, True])
        self._waiting_bytes[schema_id] = self._waiting_bytes.get(schema_id, 0) + len(
            record.value or b""
        )
        return True

    def schema_resolved(self, schema_id: SchemaKey, reason: str | None, now: float) -> None:
        """The fetch of `schema_id` ended: arrived (`reason` None), the records held for it are
        decoded now (no longer undecodable); failed, they count as undecodable for `reason`."""
        queue = self._waiting.get(schema_id)
        if not queue:
            return
        if reason is None:
            del self._waiting[schema_id]
            self._waiting_bytes.pop(schema_id, None)
            events: list[RawRecord] = []
            for record, counted, dead in queue:
                assert isinstance(record, RawRecord)
                if dead:
                    self._add_dead_letter(self._dead_decoder.decode(record), now)
                    continue
                if isinstance(counted, str):
                    self._uncount(record, counted)
                events.append(record)
            self.ingest(events, now)
            return
        kept: deque[list[object]] = deque()
        for entry in queue:
            record, counted, dead = entry
            assert isinstance(record, RawRecord)
            if dead:  # a dead letter waits for the first answer only
                self._add_dead_letter(self._dead_decoder.decode(record), now)
                continue
            if counted != reason:
                if isinstance(counted, str):
                    self._uncount(record, counted)
                self._add_undecodable(Undecodable(record, reason), now)
                entry[1] = reason
            kept.append(entry)
        self._waiting[schema_id] = kept
        self._waiting_bytes[schema_id] = sum(
            len(record.value or b"") for record, _, _ in kept if isinstance(record, RawRecord)
        )

    def _uncount(self, record: RawRecord, reason: str) -> None:
        left = self._undecodable[reason] - 1
        if left > 0:
            self._undecodable[reason] = left
        else:
            del self._undecodable[reason]
        coords = record.coords
        samples = self._undecodable_samples
        if any(sample.coords == coords for sample in samples):
            kept = [sample for sample in samples if sample.coords != coords]
            samples.clear()
            samples.extend(kept)

    def _evict(self, now: float) -> None:
        horizon = now - self._max_age
        chains = self._chains
        while chains:
            cid, chain = next(iter(chains.items()))
            if self._retained <= self._max_events and chain.last_update >= horizon:
                break
            chains.popitem(last=False)
            self._retained -= chain.event_count
            self._budget.release(chain)
            self._sagas.evict(cid)
            self._saga_dead_letters.pop(cid, None)
            self._loops_reported.discard(cid)
            self._evicted += 1

    # ---- periodic --------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Time-based transitions (sagas becoming STUCK) and age eviction."""
        self._sagas.tick(now)
        self._evict(now)

    def set_partitions(self, partitions: dict[str, int], now: float | None = None) -> None:
        """The tailed topics' partition counts; a count that changed is noted (it moves keys
        to other partitions: see the ordering findings)."""
        self.partitions = partitions
        if self._ordering is None or now is None:
            return
        for topic, count in partitions.items():
            change = self._ordering.topic_partitions(topic, count, now)
            if change is not None:
                self.notice(
                    f"topic {topic}: partitions {change.old} → {change.new} (keys now map to "
                    "other partitions: an aggregate's events may be split)"
                )

    def set_connection(
        self, state: ConnectionState, message: str, now: float, brokers: int | None = None
    ) -> None:
        current = self.connection
        since = current.since if current.state == state else now
        count = current.brokers if brokers is None else brokers
        self.connection = ConnectionView(state, current.cluster, message, count, since)

    def notice(self, text: str) -> None:
        if not self._notices or self._notices[-1] != text:
            self._notices.append(text)

    # ---- queries ---------------------------------------------------------------------

    def chain(self, correlation_id: str) -> ChainView | None:
        chain = self._chains.get(correlation_id)
        if chain is None:
            return None
        self._viewed = chain
        saga = self._sagas.instance(correlation_id)
        return chain.view(saga.saga if saga else None, saga.state if saga else None)

    def event(self, event_id: str) -> Envelope | None:
        """A retained event by id. There is no index by event id (one costs ~70 bytes per
        retained event): the flow viewed last is asked first (the usual question is about a row
        of the flow on screen; its dead-letter and redrive rows are no events), then every flow,
        most recently updated first (under a microsecond per flow)."""
        viewed = self._viewed
        if viewed is not None and self._chains.get(viewed.correlation_id) is viewed:
            env = viewed.envelope(event_id)
            if env is not None:
                return env
            if viewed.is_special(event_id):  # a `dlq:`/`retry:` row of that flow: no event
                return None
            if viewed.caused_by(event_id):  # a placeholder of that flow: not retained
                return None
        return Chain.find(reversed(self._chains.values()), event_id)

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return self._dead.get(coords)

    def decode_dead_letter(self, record: RawRecord) -> DeadLetter:
        """A DLQ record (read again) decoded as the collector decodes dead letters."""
        return self._dead_decoder.decode(record)

    def dead_letters(self) -> Iterable[DeadLetter]:
        return iter(self._dead)

    def dead_letters_held(self) -> int:
        """How many dead letters are held (what `dead_letter_rows` lists)."""
        return len(self._dead)

    def dead_letter_rows(self, offset: int = 0, limit: int | None = None) -> list[DeadLetterRow]:
        """The snapshot rows of every dead letter held, newest first: the whole store, not
        only the SNAPSHOT_DEAD_LETTERS a snapshot lists; from the `offset`-th, `limit` of them
        at most (only those rows are made)."""
        return self._dead.newest(offset, limit)

    def dead_letter_groups(self) -> tuple[DeadLetterGroup, ...]:
        """The snapshot's `dead_letter_groups` as they are now: every dead letter seen, by
        source topic, group and exception (evicted ones included, as in `totals`)."""
        return self._dead.groups()

    def dead_letter_rows_containing(
        self,
        needle: str,
        text_of: Callable[[DeadLetterRow], str],
        keep: Callable[[DeadLetter], bool] | None = None,
    ) -> list[DeadLetterRow]:
        """The rows of `dead_letter_rows` whose dead letter `keep` keeps (all without it) and
        whose `text_of(row)` (cached per row) contains `needle` (all when empty)."""
        return self._dead.rows_containing(needle, text_of, keep)

    def ledger_entry(self, coords: str) -> LedgerEntry | None:
        return self._dead.ledger_entry(coords)

    # ---- snapshot --------------------------------------------------------------------

    def snapshot(self, now: float) -> Snapshot:
        dlq_topics = [t for t in self.partitions if self.rules.is_dlq(t)]
        connection = self.connection
        if self.schemas.registry is not None:
            connection = replace(
                connection, registry=self.schemas.state, registry_message=self.schemas.message
            )
        return Snapshot(
            taken_at=now,
            connection=connection,
            catchup=self.catchup,
            throughput=self._throughput.view(now, self.partitions, dlq_topics),
            lag=self.lag,
            dead_letters=self._dead.rows(),
            dead_letter_groups=self._dead.groups(),
            sagas=self._sagas.summaries(),
            saga_instances=self._sagas.instances(SNAPSHOT_SAGA_INSTANCES),
            chains=self.chain_summaries(),
            timeline=self._timeline_rows(),
            undecodable=UndecodableView(
                count=sum(self._undecodable.values()),
                by_reason=tuple(self._undecodable.most_common()),
                samples=tuple(reversed(self._undecodable_samples)),
            ),
            totals=self.totals(),
            collector_lag=self.collector_lag,
            lag_health=self.lag_health,
            notices=tuple(self._notices),
            ordering=self._ordering.view() if self._ordering is not None else None,
            alerts=self.alerts,
        )

    def totals(self) -> Totals:
        """The snapshot's totals alone: cheap (no view is built), for progress counters."""
        return Totals(
            events=self._events_total,
            duplicates=self._duplicates,
            dead_letters=self._dead.total,
            undecodable=sum(self._undecodable.values()),
            chains=len(self._chains),
            retained_events=self._retained,
            evicted_chains=self._evicted,
        )

    def record_memory(self) -> tuple[int, int]:
        """Bytes of record data held, and the budget (retention.record_memory_mb)."""
        return self._budget.held_bytes, self._budget_limit

    def saga_instances(self, state: SagaState | None, saga: str | None) -> tuple[SagaInstance, ...]:
        """Every saga instance followed in `state`, of `saga` (None: any), most recently
        updated first: a snapshot lists only the newest SNAPSHOT_SAGA_INSTANCES of all."""
        return self._sagas.select(state, saga)

    def chain_summaries(self, first: int = SNAPSHOT_CHAINS) -> tuple[ChainSummary, ...]:
        """The snapshot's flows alone, as they are now: the SNAPSHOT_CHAINS most recently
        updated (a summary is cached per flow until it changes), or the `first` of them, for
        a page of flows without a whole snapshot."""
        first = min(first, SNAPSHOT_CHAINS)
        out: list[ChainSummary] = []
        sagas = self._sagas
        for cid in reversed(self._chains):
            saga = sagas.instance(cid)
            chain = self._chains[cid]
            if chain.event_count == 0:
                continue  # only a dead letter whose original event is not retained yet
            out.append(chain.summary(saga.saga if saga else None, saga.state if saga else None))
            if len(out) >= first:
                break
        return tuple(out)

    def chains_listed(self) -> int:
        """How many flows `chain_summaries()` lists, without building their summaries."""
        listed = 0
        for chain in reversed(self._chains.values()):
            if chain.event_count:
                listed += 1
                if listed >= SNAPSHOT_CHAINS:
                    break
        return listed

    def _timeline_rows(self) -> tuple[TimelineRow, ...]:
        rows: list[TimelineRow] = []
        for item in reversed(self._timeline):
            if isinstance(item, DeadLetter):
                env = item.envelope
                rows.append(
                    TimelineRow(
                        time=item.record.timestamp_ms / 1000.0,
                        topic=item.record.topic,
                        event_type=env.event_type if env else "(undecodable dead letter)",
                        event_id=env.event_id if env else item.coords,
                        correlation_id=item.correlation_id,
                        coords=item.coords,
                        dead_letter=True,
                    )
                )
            else:
                rows.append(
                    TimelineRow(
                        time=item.time,
                        topic=item.record.topic,
                        event_type=item.event_type,
                        event_id=item.event_id,
                        correlation_id=item.correlation_id,
                        coords=item.record.coords,
                    )
                )
        return tuple(rows)
