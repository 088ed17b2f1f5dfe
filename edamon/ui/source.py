"""Where every screen gets its data: one object over the service's client (`EdamonClient`).

`DataSource` is the dashboard's only door to the collector: the app polls `refresh()` (the
service's `overview`) on its clock, and screens read the last answer (`snapshot`) and ask for
one chain, event or dead letter through `chain()`, `event()` and `dead_letter()`, which answer
at once from what was fetched and fetch in the background when that is missing or old (one
request per thing at a time: a slow service never piles requests up). When a fetch returns,
`on_change` is called (the app redraws). Retries go through the service's jobs.

Everything a screen is handed is sanitized here (edamon.model.safetext's `SafeWalk`: snapshots
with its memory, one-off answers with `once`), and every id a screen asks about goes back
through `original` (what the service calls the thing shown escaped): no widget can reach a
string from a record that did not pass it. (`clean`, `clean_once` and `original` replace the
walk's, for tests.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from edamon.client import ClientError, EdamonClient, NotFound, Unreachable
from edamon.model.api import (
    DeadLetterDoc,
    DeadLetterPage,
    Health,
    ListCounts,
    RetryJobDoc,
    RetryPlanDoc,
)
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.recordjson import bytes_json
from edamon.model.records import RawRecord
from edamon.model.safetext import SafeWalk
from edamon.model.search import SearchDoc, SearchQuery
from edamon.model.snapshot import ChainNode, ChainView, DeadLetterRow, SagaInstance, Snapshot

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
log = logging.getLogger(__name__)

OVERVIEW_ROWS = 300
"""Rows of each list the dashboard polls (the longest a main screen shows: chains, sagas)."""
KEPT = 256
"""Lookups kept per kind (chains, events, dead letters), least recently asked dropped."""
RETRY_FAILED_S = 3.0
"""A lookup that failed is asked again after this long (while it is still shown)."""
DISMISS_WAIT_S = 5.0
"""How long dismissing a running search waits for it to stop (it stops within a fetch)."""


class Link(StrEnum):
    """How the dashboard is attached to its service."""

    CONNECTING = "connecting"
    """No answer yet (the embedded child is starting, or the service is not up)."""
    LIVE = "live"
    STALE = "stale"
    """It answered before and does not now: the data shown is the last answer."""


@dataclass
class Lookup(Generic[T]):
    """One thing fetched from the service: its value (None: not known there), whether a fetch
    runs, and the last error."""

    value: T | None = None
    loading: bool = False
    error: str | None = None
    fetched: bool = False
    """A fetch has answered (value, or known missing)."""
    at: float = 0.0
    """When the last fetch ended (monotonic)."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


PAGE_ROWS = 100
"""Rows of a remote list fetched at once (a page of the service's)."""


class PageAnswer(Protocol[T_co]):
    """A page of one of the service's lists as `RemoteList` reads it (a `DeadLetterPage`)."""

    @property
    def total(self) -> int: ...
    @property
    def items(self) -> tuple[T_co, ...]: ...
    @property
    def notices(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    """A page of a list whose service answer carries no notices (a `Page`), as `RemoteList`
    reads it."""

    total: int
    items: tuple[T, ...]
    notices: tuple[str, ...] = ()


class RemoteList(Generic[T]):
    """One of the service's lists (newest first), read by pages: only the pages of the rows
    asked for are fetched and held, so what the dashboard holds and draws does not grow with
    the list. `query` (a filter text and `key=value` selections) is asked of the service.

    `item(i)` answers at once from the pages held; a row not held answers None and its page
    is fetched in the background (`on_change` then redraws). `refresh()` (on the clock)
    fetches again the pages asked for since the last refresh, so that the rows in view stay
    current; the others are let go. `notices` are the service's: why rows may be missing from
    the pages held (a shard group's member that did not answer in time)."""

    def __init__(
        self,
        source: DataSource,
        fetch: Callable[[int, int, str | None, Sequence[str]], Coroutine[Any, Any, PageAnswer[T]]],
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.source = source
        self.fetch = fetch
        self.page_rows = page_rows
        self.filter = ""
        self.select: tuple[str, ...] = ()
        self.total: int | None = None
        """How many rows match the query (None: not asked yet)."""
        self.pages: dict[int, tuple[T, ...]] = {}
        self.asked: set[int] = {0}
        """Pages asked for since the last refresh."""
        self.loading: set[int] = set()
        self.error: str | None = None
        self.notices: tuple[str, ...] = ()
        """What the service said may be missing from the pages of the last refresh (and of
        those fetched since); empty when they are whole. Kept over a query change until the
        next answer, and over a failed refresh (the poll says what is wrong then)."""
        self.generation = 0
        """Counts query changes: an answer to an older query is dropped."""

    def set_query(self, filter: str, select: Sequence[str] = ()) -> None:
        """Ask for the rows that match `filter` and `select` from now on."""
        if (filter, tuple(select)) == (self.filter, self.select):
            return
        self.filter, self.select = filter, tuple(select)
        self.generation += 1
        self.total = None
        self.pages.clear()
        self.asked = {0}

    def set_filter(self, filter: str) -> None:
        """Ask for the rows that match `filter` (and the selection) from now on."""
        self.set_query(filter, self.select)

    def __len__(self) -> int:
        if self.total is not None:
            return self.total
        return sum(len(items) for items in self.pages.values())

    def held(self) -> list[tuple[int, T]]:
        """(position, row) of every row held, in order."""
        size = self.page_rows
        return [
            (page * size + i, item)
            for page in sorted(self.pages)
            for i, item in enumerate(self.pages[page])
        ]

    def item(self, index: int) -> T | None:
        """Row `index`, or None when its page is not held (it is then fetched)."""
        page, at = divmod(index, self.page_rows)
        self.asked.add(page)
        items = self.pages.get(page)
        if items is None:
            self._load_soon(page)
            return None
        return items[at] if at < len(items) else None

    async def refresh(self) -> None:
        """Fetch again the pages asked for since the last refresh (the first page always);
        let the others go. On failure what is held stays (the poll says what is wrong)."""
        wanted = sorted(self.asked | {0})
        self.asked = set()
        generation = self.generation
        fetched: dict[int, tuple[T, ...]] = {}
        total = self.total
        notices: list[str] = []
        for page in wanted:
            try:
                answer = await self._fetch(page)
            except ClientError as exc:
                self.error = str(exc)
                return
            if generation != self.generation:
                return
            fetched[page] = answer.items
            total = answer.total
            notices += (notice for notice in answer.notices if notice not in notices)
        self.error = None
        self.pages = fetched
        self.total = total
        self.notices = tuple(notices)

    async def _fetch(self, page: int) -> PageAnswer[T]:
        return await self.fetch(
            page * self.page_rows, self.page_rows, self.filter or None, self.select
        )

    def _load_soon(self, page: int) -> None:
        if page in self.loading:
            return
        self.loading.add(page)
        generation = self.generation

        async def load() -> None:
            try:
                answer = await self._fetch(page)
            except ClientError as exc:
                self.error = str(exc)
            else:
                if generation == self.generation:
                    self.pages[page] = answer.items
                    self.total = answer.total
                    fresh = [n for n in answer.notices if n not in self.notices]
                    self.notices = (*self.notices, *fresh)
            finally:
                self.loading.discard(page)
            self.source.on_change()

        self.source._spawn(load())


class DataSource:
    """The dashboard's view of one edamon service (see the module doc)."""

    def __init__(
        self,
        client: EdamonClient,
        *,
        rows: int = OVERVIEW_ROWS,
        clean: Callable[[Any], Any] | None = None,
        clean_once: Callable[[Any], Any] | None = None,
        original: Callable[[str], str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.rows = rows
        walk = SafeWalk()
        # Every answer is new objects (decoded JSON): a walk's memory of rows met before
        # would never hit, so every answer is walked once, without it.
        self.clean: Callable[[Any], Any] = clean or walk.once
        self.clean_once: Callable[[Any], Any] = clean_once or walk.once
        self.original: Callable[[str], str] = original or walk.original
        self._monotonic = monotonic
        self.on_change: Callable[[], None] = lambda: None
        self.snapshot: Snapshot | None = None
        self.counts: ListCounts | None = None
        self.health: Health | None = None
        self.link = Link.CONNECTING
        self.error: str | None = None
        """Why the last poll failed (None after a good one)."""
        self.answered_at: float | None = None
        """When the service last answered a poll (monotonic)."""
        self.polls = 0
        self.dead_letter_pages: RemoteList[DeadLetterRow] = RemoteList(self, self._dead_letter_page)
        """The dead letters (newest first), read by pages: for the screen, when there are more
        than the overview carries."""
        self.saga_pages: RemoteList[SagaInstance] = RemoteList(self, self._saga_page)
        """The saga instances (latest first), read by pages: for the screen, when the service
        lists more than the overview carries. Its selection: `state=STATE`, `saga=NAME`."""
        self._chains: OrderedDict[str, Lookup[ChainView]] = OrderedDict()
        self._events: OrderedDict[str, Lookup[Envelope]] = OrderedDict()
        self._dead: OrderedDict[str, Lookup[DeadLetter]] = OrderedDict()
        self._found: OrderedDict[str, Lookup[ChainView]] = OrderedDict()
        """Flows of searches, by `search id/correlation id`."""
        self._found_events: OrderedDict[str, Lookup[Envelope]] = OrderedDict()
        self.searches: OrderedDict[str, SearchDoc] = OrderedDict()
        """The searches this dashboard started and has not dismissed: their last answer
        (the service keeps each result by its id until dismissed)."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return self.client.url

    # ---- the clock's poll --------------------------------------------------------------

    async def refresh(self) -> Snapshot | None:
        """Ask the service for the overview once; the snapshot (the last one, when it did not
        answer: `link` says STALE and `error` why)."""
        self.polls += 1
        try:
            if self.health is None or self.link is not Link.LIVE:
                self.health = self.clean_once(await self.client.health())
            overview = await self.client.overview(rows=self.rows)
        except ClientError as exc:
            self.error = str(exc)
            self.link = Link.STALE if self.snapshot is not None else Link.CONNECTING
            if not isinstance(exc, Unreachable):
                self.health = None  # ask again: a restarted service may differ
            return self.snapshot
        self.snapshot = self.clean(overview.snapshot)
        self.counts = overview.counts
        self.link = Link.LIVE
        self.error = None
        self.answered_at = self._monotonic()
        return self.snapshot

    async def _dead_letter_page(
        self, offset: int, limit: int, filter: str | None, select: Sequence[str]
    ) -> DeadLetterPage:
        """A page of dead letters, sanitized (its notices too: they quote the service)."""
        page: DeadLetterPage = self.clean(
            await self.client.dead_letters(offset=offset, limit=limit, filter=filter, select=select)
        )
        return page

    async def _saga_page(
        self, offset: int, limit: int, filter: str | None, select: Sequence[str]
    ) -> ListPage[SagaInstance]:
        """A page of saga instances, sanitized; `select` holds `state=` and `saga=` values."""
        chosen = dict(part.partition("=")[::2] for part in select)
        saga = chosen.get("saga")
        page = await self.client.sagas(
            offset=offset,
            limit=limit,
            filter=filter,
            state=chosen.get("state"),
            saga=None if saga is None else self.original(saga),
        )
        return ListPage(page.total, self.clean(page.items))

    def stale_for(self) -> float | None:
        """Seconds since the service last answered, when it does not now."""
        if self.link is Link.LIVE or self.answered_at is None:
            return None
        return self._monotonic() - self.answered_at

    # ---- who may do what -----------------------------------------------------------------

    @property
    def role(self) -> str | None:
        return self.health.role if self.health is not None else None

    @property
    def read_only(self) -> bool:
        return self.health is not None and self.health.read_only

    @property
    def may_retry(self) -> bool:
        """The service would start a retry for this dashboard's token."""
        return self.health is not None and self.health.role == "operator" and not self.read_only

    # ---- lookups ---------------------------------------------------------------------------

    def chain(self, correlation_id: str, max_age_s: float | None = None) -> Lookup[ChainView]:
        """The flow as last fetched; fetched again when older than `max_age_s` (None: never)."""
        cid = self.original(correlation_id)
        return self._lookup(self._chains, correlation_id, max_age_s, lambda: self.client.chain(cid))

    async def refresh_chain(self, correlation_id: str) -> Lookup[ChainView]:
        """Fetch the flow now (or wait for the fetch in flight); the lookup after it."""
        found = self.chain(correlation_id)
        if found.task is not None:
            with suppress(asyncio.CancelledError):
                await asyncio.shield(found.task)
            return found
        found.loading = True
        cid = self.original(correlation_id)
        await self._fetch(found, lambda: self.client.chain(cid))
        return found

    def event(self, event_id: str) -> Lookup[Envelope]:
        """One event with its record (the service reads it again from Kafka when it had
        dropped the bytes; `dropped` stays True only when Kafka no longer has it)."""
        eid = self.original(event_id)
        return self._lookup(self._events, event_id, None, lambda: self.client.event(eid))

    def dead_letter(self, coords: str, max_age_s: float | None = None) -> Lookup[DeadLetter]:
        async def fetch() -> DeadLetter:
            return (await self.client.dead_letter(self.original(coords))).dead_letter

        return self._lookup(self._dead, coords, max_age_s, fetch)

    def forget_failures(self) -> None:
        """Ask again at once for what failed (the selection moved: the operator retries)."""
        for kept in (self._chains, self._events, self._dead, self._found, self._found_events):
            for key in [k for k, v in kept.items() if v.error is not None and not v.loading]:
                del kept[key]

    @property
    def busy(self) -> bool:
        """A lookup is in flight."""
        return bool(self._tasks)

    def _lookup(
        self,
        kept: OrderedDict[str, Lookup[T]],
        key: str,
        max_age_s: float | None,
        fetch: Callable[[], Coroutine[Any, Any, T]],
    ) -> Lookup[T]:
        found = kept.get(key)
        if found is None:
            found = kept[key] = Lookup()
            while len(kept) > KEPT:
                _, old = kept.popitem(last=False)
                if old.task is not None:
                    old.task.cancel()
        else:
            kept.move_to_end(key)
        if not found.loading:
            age = self._monotonic() - found.at
            due = (not found.fetched and (found.error is None or age >= RETRY_FAILED_S)) or (
                found.fetched and max_age_s is not None and age >= max_age_s
            )
            if due:
                found.loading = True
                found.task = self._spawn(self._fetch(found, fetch))
        return found

    async def _fetch(self, found: Lookup[T], fetch: Callable[[], Coroutine[Any, Any, T]]) -> None:
        try:
            value = await fetch()
        except NotFound:
            found.value, found.fetched, found.error = None, True, None
        except ClientError as exc:
            found.error = str(exc)
        except asyncio.CancelledError:
            found.loading = False
            raise
        except Exception as exc:  # a bug below must not leave "loading…" shown for good
            log.exception("a lookup failed")
            found.error = f"{type(exc).__name__}: {exc}"
        else:
            found.value, found.fetched, found.error = self.clean_once(value), True, None
        found.loading = False
        found.at = self._monotonic()
        found.task = None
        self.on_change()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def fetch_chain(self, correlation_id: str) -> ChainView | None:
        """The flow now (None: not retained); raises ClientError when the service fails."""
        try:
            chain = self.clean_once(await self.client.chain(self.original(correlation_id)))
        except NotFound:
            return None
        lookup = self._chains.setdefault(correlation_id, Lookup())
        lookup.value, lookup.fetched, lookup.at = chain, True, self._monotonic()
        return chain  # type: ignore[no-any-return]

    async def dead_letter_doc(self, coords: str) -> DeadLetterDoc:
        """One dead letter as `dlq show --json` prints it (with the ledger's entry)."""
        found = await self.client.dead_letter(self.original(coords))
        doc: DeadLetterDoc = self.clean_once(found.doc)
        return doc

    async def read_record(self, coords: str) -> RawRecord | None:
        """The record at `coords` read from Kafka by the service (None: no longer there).
        Raises ClientError when the service or the cluster can't answer."""
        try:
            record: RawRecord = self.clean_once(await self.client.record(self.original(coords)))
        except NotFound:
            return None
        return record

    async def export_chain(self, chain: ChainView) -> dict[str, Any]:
        """The flow as `e` writes it: its tree and each event the service holds, with its
        envelope and record as `dlq show --json` writes them (`record_dropped`: the collector
        no longer held the bytes and the service read them again from Kafka; `value` None
        when Kafka no longer has them). The records are written as they were recorded, not
        sanitized: this is the evidence."""
        from dataclasses import asdict

        from edamon.model.snapshot import SNAPSHOT_SCHEMA_VERSION

        with suppress(NotFound):  # the flow as the service holds it (evicted: as last shown)
            chain = await self.client.chain(self.original(chain.summary.correlation_id))
        events: dict[str, Any] = {}
        for node in chain.nodes:
            try:
                doc = await self.client.event_doc(self.original(node.event_id))
            except NotFound:
                continue
            record = doc["record"]
            events[node.event_id] = {
                **doc["envelope"],
                "occurred_at": doc["occurred_at"],
                "trace_id": doc["trace_id"],
                "coords": doc["coords"],
                "timestamp_ms": doc["timestamp_ms"],
                "key": record["key"] if record else None,
                "headers": record["headers"] if record else [],
                "value": record["value"] if record else None,
                "value_truncated": doc["value_truncated"],
                "record_dropped": doc["record_dropped"],
            }
        return {"schema_version": SNAPSHOT_SCHEMA_VERSION, "chain": asdict(chain), "events": events}

    # ---- retries -------------------------------------------------------------------------

    async def retry_preview(self, coords: Sequence[str], *, force: bool = False) -> RetryPlanDoc:
        exact = [self.original(c) for c in coords]
        plan: RetryPlanDoc = self.clean_once(await self.client.retry_preview(exact, force=force))
        return plan

    async def retry(
        self, coords: Sequence[str], *, force: bool, stop_on_failure: bool
    ) -> RetryJobDoc:
        exact = [self.original(c) for c in coords]
        job: RetryJobDoc = self.clean_once(
            await self.client.retry(exact, force=force, stop_on_failure=stop_on_failure)
        )
        return job

    async def retry_job(self, job_id: str) -> RetryJobDoc:
        job: RetryJobDoc = self.clean_once(await self.client.retry_job(job_id))
        return job

    async def retry_cancel(self, job_id: str) -> RetryJobDoc:
        job: RetryJobDoc = self.clean_once(await self.client.retry_cancel(job_id))
        return job

    # ---- searches of Kafka's history (issue 16) ---------------------------------------------

    async def start_search(self, query: SearchQuery) -> SearchDoc:
        """Start a search on the service (its first answer: running). Raises ClientError:
        BadRequest says what is wrong with the query (a malformed JSON path, a range in the
        future, an unknown topic) or that the service runs too many searches."""
        doc: SearchDoc = self.clean_once(await self.client.search(query))
        self.searches[doc.id] = doc
        return doc

    async def search_status(self, search_id: str) -> SearchDoc:
        """The search's progress, then its result (NotFound once dismissed)."""
        try:
            doc: SearchDoc = self.clean_once(
                await self.client.search_status(self.original(search_id))
            )
        except NotFound:
            self.searches.pop(search_id, None)
            raise
        self.searches[search_id] = doc
        return doc

    async def cancel_search(self, search_id: str) -> SearchDoc:
        """Cancel a running search: it stops within a fetch and keeps what it found."""
        doc: SearchDoc = self.clean_once(await self.client.search_cancel(self.original(search_id)))
        self.searches[search_id] = doc
        return doc

    async def dismiss_search(self, search_id: str) -> None:
        """Forget a search's result, here and on the service (a running one is cancelled
        first)."""
        sid = self.original(search_id)
        with suppress(NotFound):
            doc = await self.client.search_status(sid)
            if doc.state == "running":  # DELETE cancels it; once it stopped, DELETE forgets
                await self.client.search_cancel(sid)
                deadline = self._monotonic() + DISMISS_WAIT_S
                while doc.state == "running" and self._monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    doc = await self.client.search_status(sid)
            await self.client.search_dismiss(sid)
        self.searches.pop(search_id, None)
        for key in [k for k in self._found if k.startswith(f"{search_id}/")]:
            del self._found[key]

    def search_chain(self, search_id: str, correlation_id: str) -> Lookup[ChainView]:
        """A flow a search found, as the service keeps it with the search (outside the live
        window's eviction); known missing once the search is dismissed."""

        async def fetch() -> ChainView:
            doc = await self.client.search_status(self.original(search_id))
            cid = self.original(correlation_id)
            for flow in doc.flows:
                if flow.summary.correlation_id == cid:
                    return flow
            raise NotFound(f"the search {search_id} has no flow {cid}")

        return self._lookup(self._found, f"{search_id}/{correlation_id}", None, fetch)

    def found_event(self, node: ChainNode, correlation_id: str) -> Lookup[Envelope]:
        """An event of a flow a search found: as the service holds it when the live window
        still does, else its record read again from Kafka by its coordinates (the fields the
        chain knows, with the record's headers and value)."""

        async def fetch() -> Envelope:
            with suppress(NotFound):
                return await self.client.event(self.original(node.event_id))
            if node.coords is None:
                raise NotFound(f"no record known for {node.event_id}")
            record = await self.client.record(self.original(node.coords))
            return Envelope(
                event_id=self.original(node.event_id),
                event_type=self.original(node.event_type),
                correlation_id=self.original(correlation_id),
                causation_id=None if node.parent_id is None else self.original(node.parent_id),
                aggregate_id=None,
                occurred_at=None,
                version=None,
                source=None if node.source is None else self.original(node.source),
                trace_id=None,
                format=EnvelopeFormat.SEED,
                record=record,
            )

        return self._lookup(self._found_events, node.event_id, None, fetch)

    async def export_found(self, search_id: str, chain: ChainView) -> dict[str, Any]:
        """A flow a search found as `e` writes it: the search (query, range, what was not
        scanned), the tree, and each event's record read from Kafka by its coordinates, as
        it was written (the evidence, not sanitized)."""
        from dataclasses import asdict

        from edamon.model.snapshot import SNAPSHOT_SCHEMA_VERSION

        doc = await self.client.search_status(self.original(search_id))
        cid = self.original(chain.summary.correlation_id)
        flow = next((f for f in doc.flows if f.summary.correlation_id == cid), None)
        if flow is None:
            raise NotFound(f"the search {search_id} no longer has this flow", status=404)
        events: dict[str, Any] = {}
        for node in flow.nodes:
            if node.coords is None:
                continue
            try:
                record = await self.client.record(node.coords)
            except NotFound:
                events[node.event_id] = {"coords": node.coords, "value": None}
                continue
            events[node.event_id] = {
                "coords": node.coords,
                "timestamp_ms": record.timestamp_ms,
                "key": bytes_json(record.key),
                "headers": [
                    {"key": key, **(bytes_json(value) or {})} for key, value in record.headers
                ],
                "value": bytes_json(record.value),
            }
        search = asdict(doc)
        search.pop("flows")
        return {
            "schema_version": SNAPSHOT_SCHEMA_VERSION,
            "search": search,
            "chain": asdict(flow),
            "events": events,
        }

    async def aclose(self) -> None:
        """Cancel the lookups in flight and close the client (the source owns it)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # the searches this dashboard left held would count against the service's limit
        for search_id in list(self.searches):
            with suppress(ClientError, TimeoutError):
                await asyncio.wait_for(self.client.search_cancel(self.original(search_id)), 2)
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
