"""What the HTTP routes ask of a running collector and its retry service.

`Backend` shares one snapshot between requests that come within `snapshot_max_age_s`, finds
dead letters (held by the collector, else read from Kafka), and runs retries as jobs: one run
at a time, through the RetryService's ledger and its read-only setting.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from edamon.actions.filters import DeadLetterFilter
from edamon.actions.ledger import LedgerEntry
from edamon.actions.plan import Outcome, RedrivePlan, RedriveSummary
from edamon.actions.scan import find_dead_letters
from edamon.actions.service import RetryService
from edamon.alerts import Alerting
from edamon.broker.base import Broker, BrokerError
from edamon.collector.collector import Collector
from edamon.config import Settings
from edamon.model.alerts import AlertsDoc
from edamon.model.api import DeadLetterPage, Ready, RetryJobDoc, RetryPlanDoc
from edamon.model.deadletter import DeadLetter
from edamon.model.records import parse_coords
from edamon.model.snapshot import (
    ChainSummary,
    DeadLetterGroup,
    DeadLetterRow,
    SagaInstance,
    Snapshot,
)
from edamon.model.status import ConnectionState, SagaState
from edamon.service import docs
from edamon.service.metrics import EdamonMetrics
from edamon.service.metrics import Health as MetricsHealth
from edamon.service.paging import TEXT_SEPARATOR, PageError, page, search_text
from edamon.service.searches import Searches
from edamon.shard.peers import DEAD_LETTER_DEPTH, DeadLetterCoordsDoc, ShardPeers

log = logging.getLogger(__name__)

JOBS_KEPT = 20
"""Finished retry jobs kept for `GET /v1/retries/{id}`."""


class ReadOnly(Exception):
    """The service is read-only: no retry."""


class Busy(Exception):
    """A retry job is already running."""


@dataclass
class RetryJob:
    id: str
    plan: RedrivePlan
    plan_doc: RetryPlanDoc
    problems: dict[str, str]
    started_at: float
    started_mono: float
    total: int
    done: int = 0
    state: str = "running"
    summary: RedriveSummary | None = None
    error: str | None = None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def doc(self) -> RetryJobDoc:
        summary = self.summary
        aborted = self.error or (summary.aborted if summary else None)
        return RetryJobDoc(
            id=self.id,
            state=self.state,
            done=self.done,
            total=self.total,
            started_at=self.started_at,
            elapsed_s=summary.elapsed_s if summary else time.monotonic() - self.started_mono,
            plan=self.plan_doc,
            aborted=aborted,
            counts=self._counts(summary),
            results=docs.result_docs(summary, self.problems) if summary else (),
        )

    def _counts(self, summary: RedriveSummary | None) -> tuple[tuple[str, int], ...]:
        if summary is None:
            return ()
        counts = dict(summary.counts)
        counts[Outcome.REFUSED] = counts.get(Outcome.REFUSED, 0) + len(self.problems)
        return tuple((outcome.value, n) for outcome, n in counts.items())


class Backend:
    """The collector, its broker and the retry service, as the routes need them."""

    def __init__(
        self,
        collector: Collector,
        retries: RetryService,
        broker: Broker,
        settings: Settings,
    ) -> None:
        self.collector = collector
        self.retries = retries
        self.broker = broker
        self.settings = settings
        self._snapshot: Snapshot | None = None
        self._snapshot_at = 0.0
        self._jobs: OrderedDict[str, RetryJob] = OrderedDict()
        self._ids = itertools.count(1)
        self._starting = asyncio.Lock()
        self.searches = Searches(broker, settings)
        self.alerting: Alerting | None = None
        """The alert rules' engine and notifier, when the service runs them."""
        self.shard: ShardPeers | None = None
        """The other members of this service's shard group (`serve --shard-group`): the
        snapshot is then the whole group's."""

    # ---- reads ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The collector's state, shared by requests within settings.service.snapshot_max_age_s."""
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot_at > self._max_age:
            local = self.collector.snapshot()
            self._snapshot = local if self.shard is None else self.shard.merged(local)
            self._snapshot_at = now
        return self._snapshot

    def chains(self) -> tuple[ChainSummary, ...]:
        """The snapshot's flows as they are now, built from the flows alone: a page of flows
        neither waits for a whole snapshot (15-40 ms under load) nor shows one up to
        snapshot_max_age_s old. In a shard group: merged with the other members' shares."""
        local = self.collector.state.chain_summaries()
        return local if self.shard is None else self.shard.merged_chains(local)

    def first_chains(self, first: int) -> tuple[tuple[ChainSummary, ...], int]:
        """The `first` rows of `chains()` and how many it has, without building the others
        (an unfiltered page needs no more)."""
        state = self.collector.state
        local, listed = state.chain_summaries(first), state.chains_listed()
        if self.shard is None:
            return local, listed
        return self.shard.merged_chains(local)[:first], self.shard.merged_chain_count(listed)

    def saga_instances(self, state: SagaState | None, saga: str | None) -> Sequence[SagaInstance]:
        """Saga instances, most recently updated first. Selected by state or saga: every one
        the collector follows (not only the newest SNAPSHOT_SAGA_INSTANCES a snapshot lists);
        in a shard group, and unselected, the snapshot's."""
        if self.shard is None and (state is not None or saga is not None):
            return self.collector.state.saga_instances(state, saga)
        rows = self.snapshot().saga_instances
        if state is None and saga is None:
            return rows
        return [
            i
            for i in rows
            if (state is None or i.state is state) and (saga is None or i.saga == saga)
        ]

    def dead_letters_listed(self) -> int:
        """How many dead letters `/v1/dead-letters` pages: every one this service holds; in a
        shard group, every one its members hold (the others' counts as their last shares
        said, every shard.peer_refresh_s)."""
        held = self.collector.state.dead_letters_held()
        return held if self.shard is None else self.shard.dead_letters_held(held)

    def dead_letter_groups(self) -> tuple[DeadLetterGroup, ...]:
        """Dead letters by source topic, group and exception, as they are now (so that a
        group's count and the page its `select=` gives agree); counts cover every dead letter
        seen, the evicted ones too. In a shard group: this member's as they are now, merged
        with the other members' last shares (each member counts its own)."""
        local = self.collector.state.dead_letter_groups()
        return local if self.shard is None else self.shard.merged_dead_letter_groups(local)

    async def dead_letters(
        self,
        offset: int,
        limit: int,
        *,
        filter: str | None = None,
        order: str | None = None,
        select: Sequence[str] = (),
        selector: DeadLetterFilter | None = None,
    ) -> DeadLetterPage:
        """A page of `/v1/dead-letters`: `own_dead_letters`, and in a shard group the whole
        group's (each member's own first `offset+limit` rows of the query, merged: see
        ShardPeers.dead_letter_page). `selector` is `select` parsed. Raises PageError (an
        order the rows can't take; a shard group's page deeper than DEAD_LETTER_DEPTH)."""
        if self.shard is None:
            return self.own_dead_letters(offset, limit, filter, selector, order)
        first = offset + limit
        if first > DEAD_LETTER_DEPTH:
            raise PageError(
                f"offset + limit: a shard group's pages of dead letters reach its first "
                f"{DEAD_LETTER_DEPTH:,} rows (each member sends its first offset + limit); "
                "narrow the query with filter= or select=, or order it"
            )
        own = self.own_dead_letters(0, first, filter, selector, order)
        return await self.shard.dead_letter_page(
            own, offset, limit, filter=filter, order=order, select=select
        )

    def own_dead_letters(
        self,
        offset: int,
        limit: int,
        filter: str | None = None,
        selector: DeadLetterFilter | None = None,
        order: str | None = None,
    ) -> DeadLetterPage:
        """Rows `offset`..`offset+limit` of the dead letters this service holds itself that
        `filter` and `selector` keep, newest first or in `order`: the whole store
        (retention.max_dead_letters), not only the newest SNAPSHOT_DEAD_LETTERS a snapshot
        lists. An unfiltered, unordered page builds only its rows. Raises PageError."""
        state = self.collector.state
        if selector is None and not filter and not order:
            rows = tuple(state.dead_letter_rows(offset, limit))
            return DeadLetterPage(total=state.dead_letters_held(), offset=offset, items=rows)
        found, rest = self._own_dead_letter_rows(filter, selector)
        cut = page(found, DeadLetterRow, offset=offset, limit=limit, filter=rest, order=order)
        return DeadLetterPage(total=cut.total, offset=offset, items=cut.items)

    def _own_dead_letter_rows(
        self, filter: str | None, selector: DeadLetterFilter | None
    ) -> tuple[list[DeadLetterRow], str | None]:
        """The rows of the dead letters this service holds that `selector` keeps, newest
        first; with `filter`, only the rows it finds (as edamon.service.paging's `filter`
        does); returned with the rows: the filter still to apply (None, or `filter` when it
        could not be applied here)."""
        needle = (filter or "").lower()
        rest = None
        if TEXT_SEPARATOR in needle:  # not a test on the joined texts: let `page` do it
            needle, rest = "", filter
        keep = selector.matcher() if selector is not None else None
        state = self.collector.state
        if not needle and keep is None:
            return state.dead_letter_rows(), rest
        return state.dead_letter_rows_containing(needle, search_text, keep), rest

    @property
    def _max_age(self) -> float:
        return self.settings.service.snapshot_max_age_s

    def alerts_doc(self) -> AlertsDoc:
        """The alerts and this service's deliveries. In a shard group only the member that
        samples lag evaluates the rules; another member shows the alerts of the merged view
        (the evaluator's), with its own (idle) receivers."""
        if self.alerting is None:
            return AlertsDoc((), (), 0)
        doc = self.alerting.doc()
        if self.shard is not None and not self.alerting.evaluating:
            return AlertsDoc(self.snapshot().alerts, doc.receivers, doc.rules)
        return doc

    def metrics(self) -> EdamonMetrics:
        """The Prometheus collector over this backend (one per registry: its label caps are
        remembered between scrapes)."""
        collector = self.collector

        def health() -> MetricsHealth:
            held, budget = collector.state.record_memory()
            return MetricsHealth(collector.records_read, held, budget, collector.caught_up)

        alerts = self.alerts_doc if self.alerting is not None else None
        return EdamonMetrics(self.settings.metrics, self.snapshot, health, alerts)

    def ready(self) -> Ready:
        snap = self.snapshot()
        connection = snap.connection
        if connection.state != ConnectionState.CONNECTED:
            reason = f"not connected to the cluster: {connection.message or connection.state}"
        elif not self.collector.caught_up:
            reason = f"catching up: {snap.catchup.records_behind} records behind"
        else:
            reason = ""
        return Ready(not reason, reason, connection, snap.catchup)

    async def dead_letter(self, coords: str) -> DeadLetter | None:
        """The dead letter at `coords`: held by the collector (read again from Kafka, whole,
        when the collector dropped its body for memory), else read from Kafka. Raises
        ValueError (malformed), BrokerError."""
        topic, partition, offset = parse_coords(coords)
        address = f"{topic}/{partition}/{offset}"
        held = self.collector.dead_letter(address)
        if held is not None and held.dropped:
            whole = await self.collector.read_dead_letter(address)
            if whole is not None and whole.record.timestamp_ms == held.record.timestamp_ms:
                return whole
            return held  # gone from Kafka, or another record there now: what is held
        if held is not None:
            return held
        if not self.collector.state.rules.is_dlq(topic):
            return None
        found, _ = await find_dead_letters(self.broker, self.settings, [address])
        return found[0] if found else None

    def ledger_entry(self, dead_letter: DeadLetter) -> LedgerEntry | None:
        entry = self.collector.state.ledger_entry(dead_letter.coords)
        return entry if entry is not None and entry.applies_to(dead_letter.record) else None

    def select_dead_letters(self, selector: DeadLetterFilter) -> list[DeadLetter]:
        """Every dead letter this service holds that `selector` keeps, newest first: the whole
        store, not only the newest SNAPSHOT_DEAD_LETTERS its lists carry (a retry by filter
        reaches them all). In a shard group: this member's own (`plan` adds the others')."""
        chosen = [dl for dl in self.collector.state.dead_letters() if selector.matches(dl)]
        chosen.sort(key=_newest_first)
        return chosen

    def own_dead_letter_coords(self, selector: DeadLetterFilter, first: int) -> DeadLetterCoordsDoc:
        """The addresses of the newest `first` dead letters this member holds itself that
        `selector` keeps, and how many it keeps (`GET /v1/shard/dead-letter-coords`)."""
        chosen = self.select_dead_letters(selector)
        rebuilding = self.shard is not None and self.shard.collector.rebuilding
        coords = tuple(dl.coords for dl in chosen[:first])
        return DeadLetterCoordsDoc(total=len(chosen), coords=coords, rebuilding=rebuilding)

    async def _group_dead_letters(
        self, selector: DeadLetterFilter, shard: ShardPeers, held: set[str]
    ) -> tuple[list[DeadLetter], dict[str, str], list[str]]:
        """The dead letters the other members of the shard group hold that `selector` keeps
        (at most RETRY_DEPTH of each member's, newest first), read from Kafka unless in
        `held`; the addresses that could not be read, and why; the notices of what is
        missing (see ShardPeers.dead_letter_coords). Raises BrokerError."""
        coords, notices = await shard.dead_letter_coords(selector.specs())
        wanted = sorted({c for c in coords if c not in held}, key=_address_order)
        if not wanted:
            return [], {}, notices
        found, unread = await find_dead_letters(self.broker, self.settings, wanted)
        # this member's filter decides, whatever another member listed (an older version,
        # a bound read differently): nothing is planned that the filter does not keep
        return [dl for dl in found if selector.matches(dl)], unread, notices

    # ---- retries -------------------------------------------------------------------------

    async def plan(
        self,
        coords: Sequence[str],
        selector: DeadLetterFilter | None,
        *,
        force: bool,
    ) -> tuple[RedrivePlan, RetryPlanDoc, dict[str, str]]:
        """The plan for the dead letters at `coords` and those `selector` keeps: every one
        this service holds; in a shard group, also those the other members hold (each
        member's newest RETRY_DEPTH, read from Kafka), and the plan's `notices` say what it
        misses (a member that did not answer, or one rebuilding its flows): it is never
        silently smaller. Raises ValueError for a malformed address; BrokerError when
        reading fails."""
        for address in coords:
            parse_coords(address)
        ledger_error: str | None = None
        try:
            await self.retries.refresh_ledger()
        except BrokerError as exc:
            ledger_error = f"retry ledger not read, retry status may be stale: {exc}"
        chosen: dict[str, DeadLetter] = {}
        problems: dict[str, str] = {}
        missing: list[str] = []
        for address in coords:
            held = self.collector.dead_letter(address)
            if held is not None:
                chosen[held.coords] = held
            else:
                missing.append(address)
        if missing:
            found, problems = await find_dead_letters(self.broker, self.settings, missing)
            for dl in found:
                chosen[dl.coords] = dl
        notices: list[str] = []
        if selector is not None:
            selected = self.select_dead_letters(selector)
            if self.shard is not None:
                have = {dl.coords for dl in selected}.union(chosen)
                more, unread, notices = await self._group_dead_letters(selector, self.shard, have)
                problems.update(unread)
                selected = sorted([*selected, *more], key=_newest_first)
            for dl in selected:
                chosen.setdefault(dl.coords, dl)
        plan = self.retries.plan(chosen.values(), force=force)
        doc = docs.plan_doc(
            plan,
            problems,
            rate=self.retries.rate,
            read_only=self.retries.read_only,
            ledger_error=ledger_error,
            notices=notices,
        )
        return plan, doc, problems

    async def start_retry(
        self,
        coords: Sequence[str],
        selector: DeadLetterFilter | None,
        *,
        force: bool,
        stop_on_failure: bool,
    ) -> RetryJob:
        """Plan and start a retry job. Raises ReadOnly, Busy, ValueError, BrokerError."""
        if self.retries.read_only:
            raise ReadOnly("the service is read-only (read_only = true / --read-only): no retry")
        async with self._starting:
            if any(job.state == "running" for job in self._jobs.values()):
                raise Busy("a retry is already running on this service: wait for it or cancel it")
            plan, doc, problems = await self.plan(coords, selector, force=force)
            job = RetryJob(
                id=f"r{next(self._ids)}",
                plan=plan,
                plan_doc=doc,
                problems=problems,
                started_at=time.time(),
                started_mono=time.monotonic(),
                total=len(plan.to_send),
            )
            job.task = asyncio.create_task(self._run(job, stop_on_failure), name=f"retry-{job.id}")
            self._jobs[job.id] = job
            self._trim()
            return job

    async def _run(self, job: RetryJob, stop_on_failure: bool) -> None:
        def progress(done: int, total: int) -> None:
            job.done = done

        try:
            job.summary = await self.retries.execute(
                job.plan, stop_on_failure=stop_on_failure, progress=progress, cancel=job.cancel
            )
            job.state = "cancelled" if job.cancel.is_set() else "done"
        except asyncio.CancelledError:
            job.state, job.error = "cancelled", "the service stopped"
            raise
        except Exception as exc:
            log.exception("retry job %s failed", job.id)
            job.state, job.error = "error", f"internal error: {type(exc).__name__}"
        finally:
            # a finished job answers from its plan's document and summary: the dead letters
            # it planned (whole records, read from Kafka in a shard group) are let go
            job.plan = RedrivePlan((), job.plan.force)

    def job(self, job_id: str) -> RetryJob | None:
        return self._jobs.get(job_id)

    def cancel(self, job: RetryJob) -> None:
        """Stop `job` after the record being sent (nothing happens to a finished job)."""
        job.cancel.set()

    def _trim(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.state != "running"]
        for key in finished[: max(0, len(self._jobs) - JOBS_KEPT)]:
            del self._jobs[key]

    async def close(self) -> None:
        """Cancel running jobs and searches (the service stops)."""
        await self.searches.close()
        for job in self._jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
                with suppress(asyncio.CancelledError):
                    await job.task


def _newest_first(dead_letter: DeadLetter) -> int:
    return -dead_letter.record.timestamp_ms


def _address_order(coords: str) -> tuple[str, int, int]:
    """By topic, partition and offset: reading them from Kafka in this order takes one fetch
    per run of nearby offsets."""
    return parse_coords(coords)
