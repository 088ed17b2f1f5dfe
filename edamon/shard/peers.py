"""Any member answers for the whole shard group: it asks the others for their share and merges.

Members find each other through the index group's member metadata (`member.Roster`: each
member's URL rides in its subscription, the leader hands the list to all in the assignments).
Every `shard.peer_refresh_s` a member asks each other member for its share
(`GET /v1/shard/share`: its own snapshot and status, never merged) with this service's own
token, so the members share their tokens (one token file, or EDAMON_SERVICE__*_TOKEN). The
service's snapshot is then the local one merged with the fresh shares; a member that did not
answer, or one rebuilding its flows, makes the answer partial (it says so in its notices and
in `GET /v1/shard`). One flow (`GET /v1/chains/{id}`) lives on one member: asked of the others
when this one does not hold it. A page of dead letters (`GET /v1/dead-letters`) is asked of
every member at once (`GET /v1/shard/dead-letters`: each member's own first rows of the page's
query) and merged; a member that does not answer within `shard.peer_timeout_s` makes the page
partial (its `notices` say so). A retry by filter (`POST /v1/retries` with `filters`) asks every
member for the addresses of its own dead letters the filters keep
(`GET /v1/shard/dead-letter-coords`, at most RETRY_DEPTH from each); the member that plans reads
those it does not hold from Kafka, and a member that does not answer makes the plan partial
(its `notices` say so).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from edamon.config import Settings
from edamon.model.api import PARTIAL_ANSWER, DeadLetterPage, EventDoc
from edamon.model.snapshot import (
    ChainSummary,
    ChainView,
    CollectDocument,
    DeadLetterGroup,
    Snapshot,
)
from edamon.shard.member import ShardCollector
from edamon.shard.merge import (
    LIST_CAP,
    merge_chains,
    merge_dead_letter_groups,
    merge_dead_letter_rows,
    merge_snapshots,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

SHARE_PATH = "/v1/shard/share"
LOCAL_CHAIN_PATH = "/v1/shard/chains/"
LOCAL_EVENT_PATH = "/v1/shard/events/"
LOCAL_TREES_PATH = "/v1/shard/trees"
LOCAL_DEAD_LETTERS_PATH = "/v1/shard/dead-letters"
LOCAL_DEAD_LETTER_COORDS_PATH = "/v1/shard/dead-letter-coords"
DEAD_LETTER_DEPTH = 10_000
"""The deepest row a shard group's page of dead letters reaches (`offset + limit`): each
member sends its first `offset + limit` rows of the page's query and the answering member
merges them, so a page's cost grows with its depth (about 10 MB of rows per member at this
one). Deeper rows are reached by narrowing the query (filter=, select=) or by ordering it."""
RETRY_DEPTH = 10_000
"""The most dead letters a shard group's retry by filter takes from each other member: the
newest 10,000 of its own that the filters keep (the member that plans reads each from Kafka,
one fetch per run of nearby offsets; its own it holds, all of them). A plan that reaches this
bound says so in its notices; narrower filters (since=, until=) reach the rest."""


@dataclass(frozen=True)
class MemberDoc:
    """One member of a shard group as `GET /v1/shard` shows it."""

    url: str
    index_partitions: tuple[int, ...]
    """Index-topic partitions it owns (its flows)."""
    source_partitions: tuple[str, ...]
    """Source partitions (`topic/partition`) it indexes; [] when it did not answer."""
    rebuilding: bool
    samples_lag: bool
    answered: bool
    """It answered the last request within shard.peer_timeout_s (this member: always)."""
    error: str | None = None
    index_records_written: int = 0
    index_bytes_written: int = 0
    topic_rates: tuple[tuple[str, float], ...] = ()
    """Records/s per watched topic from end-offset deltas (the member that samples lag)."""
    dead_letters_held: int = 0
    """Dead letters it holds (what its own pages of dead letters reach)."""


@dataclass(frozen=True)
class ShardDoc:
    """The shard group as this member sees it."""

    group: str
    index_topic: str
    this_member: str
    partial: bool
    """Some member is rebuilding its flows or did not answer: the merged state misses some."""
    members: tuple[MemberDoc, ...]
    topic_rates: tuple[tuple[str, float], ...] = ()
    """Records/s per watched topic, from the end offsets' deltas between two lag samples
    (exact, every record counted; the member that samples lag reads them)."""


@dataclass(frozen=True)
class ShareDoc:
    """One member's own share: its status and its unmerged snapshot."""

    member: MemberDoc
    snapshot: Snapshot


@dataclass(frozen=True)
class DeadLetterCoordsDoc:
    """The addresses of one member's own dead letters that a selection keeps
    (`GET /v1/shard/dead-letter-coords`): what another member's retry by filter plans."""

    total: int
    """How many of its own dead letters the selection keeps."""
    coords: tuple[str, ...]
    """The newest `first` of them (`topic/partition/offset`), newest first."""
    rebuilding: bool
    """It is rebuilding its flows: the dead letters it holds are not all there yet."""


_SHARE = TypeAdapter(ShareDoc)
_CHAIN = TypeAdapter(ChainView)
_EVENT = TypeAdapter(EventDoc)
_TREES = TypeAdapter(tuple[ChainView, ...])
_DEAD_LETTERS = TypeAdapter(DeadLetterPage)
_COORDS = TypeAdapter(DeadLetterCoordsDoc)


def own_doc(collector: ShardCollector) -> MemberDoc:
    status = collector.status()
    return MemberDoc(
        url=status.url,
        index_partitions=tuple(tp.partition for tp in status.index_partitions),
        source_partitions=tuple(str(tp) for tp in status.source_partitions),
        rebuilding=status.rebuilding,
        samples_lag=status.samples_lag,
        answered=True,
        index_records_written=status.index_records_written,
        index_bytes_written=status.index_bytes_written,
        topic_rates=status.topic_rates,
        dead_letters_held=collector.state.dead_letters_held(),
    )


@dataclass(frozen=True)
class _Answer(Generic[T]):
    """A member's answer, or (`value` None) why there is none."""

    value: T | None
    reason: str = ""


@dataclass
class _Fetched:
    share: ShareDoc | None
    at: float
    error: str | None


class ShardPeers:
    """Fetches the other members' shares on a clock; merges them into the local snapshot."""

    def __init__(self, collector: ShardCollector, settings: Settings, token: str | None) -> None:
        self.collector = collector
        self._settings = settings.shard
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._shares: dict[str, _Fetched] = {}
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                headers=self._headers, timeout=self._settings.peer_timeout_s
            )
        return self._http

    def others(self) -> list[str]:
        own = self.collector.url
        return [m.url for m in self.collector.roster.members if m.url != own]

    async def run(self) -> None:
        """Ask every other member for its share every peer_refresh_s, until cancelled."""
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self._settings.peer_refresh_s)
        finally:
            if self._http is not None:
                with suppress(httpx.HTTPError):
                    await self._http.aclose()

    async def refresh(self) -> None:
        urls = self.others()
        results = await asyncio.gather(*(self._fetch(url) for url in urls))
        self._shares = dict(zip(urls, results, strict=True))

    async def _fetch(self, url: str) -> _Fetched:
        now = time.monotonic()
        try:
            response = await self._client().get(url.rstrip("/") + SHARE_PATH)
            if response.status_code != 200:
                return _Fetched(None, now, f"HTTP {response.status_code}")
            return _Fetched(_SHARE.validate_json(response.content), now, None)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _Fetched(None, now, reason)
        except ValidationError as exc:
            return _Fetched(None, now, f"not a share: {exc.error_count()} errors")

    # ---- answers -------------------------------------------------------------------------

    def doc(self) -> ShardDoc:
        members = [own_doc(self.collector)]
        roster = {m.url: m for m in self.collector.roster.members}
        for url in self.others():
            fetched = self._shares.get(url)
            if fetched is not None and fetched.share is not None:
                members.append(fetched.share.member)
            else:
                partitions = roster[url].partitions if url in roster else ()
                members.append(
                    MemberDoc(
                        url=url,
                        index_partitions=partitions,
                        source_partitions=(),
                        rebuilding=False,
                        samples_lag=0 in partitions,
                        answered=False,
                        error=fetched.error if fetched is not None else "not asked yet",
                    )
                )
        partial = not self.collector.roster.members or any(
            m.rebuilding or not m.answered for m in members
        )
        return ShardDoc(
            group=self.collector.group,
            index_topic=self.collector.index_topic,
            this_member=self.collector.url,
            partial=partial,
            members=tuple(members),
            topic_rates=next((m.topic_rates for m in members if m.topic_rates), ()),
        )

    def merged(self, local: Snapshot) -> Snapshot:
        """`local` with every answering member's share merged in, and notices saying what is
        missing (a member rebuilding or not answering)."""
        others: list[Snapshot] = []
        notices: list[str] = []
        if self.collector.rebuilding:
            notices.append(f"{PARTIAL_ANSWER}{self.collector.url} is rebuilding its flows")
        for url in self.others():
            fetched = self._shares.get(url)
            if fetched is None or fetched.share is None:
                why = fetched.error if fetched is not None else "not asked yet"
                notices.append(f"{PARTIAL_ANSWER}no share from {url} ({why})")
                continue
            others.append(fetched.share.snapshot)
            if fetched.share.member.rebuilding:
                notices.append(f"{PARTIAL_ANSWER}{url} is rebuilding its flows")
        return merge_snapshots(local, others, notices)

    def merged_chains(self, local: Sequence[ChainSummary]) -> tuple[ChainSummary, ...]:
        """`local` flows with those of every answering member's share: the merged snapshot's
        `chains` (see `merged`), without merging the rest (its first rows when `local` holds
        this member's first ones)."""
        return merge_chains(local, self._shared_chains())

    def merged_chain_count(self, local: int) -> int:
        """How many flows `merged_chains` lists when this member lists `local` of its own."""
        return min(LIST_CAP, local + sum(len(chains) for chains in self._shared_chains()))

    def _shared_chains(self) -> list[tuple[ChainSummary, ...]]:
        return [share.snapshot.chains for share in self._answered()]

    def _answered(self) -> list[ShareDoc]:
        return [
            fetched.share
            for url in self.others()
            if (fetched := self._shares.get(url)) is not None and fetched.share is not None
        ]

    def dead_letters_held(self, local: int) -> int:
        """How many dead letters the group's pages of dead letters reach when this member
        holds `local`: the sum of the members' own (the others' as their last shares said)."""
        return local + sum(share.member.dead_letters_held for share in self._answered())

    def merged_dead_letter_groups(
        self, local: Sequence[DeadLetterGroup]
    ) -> tuple[DeadLetterGroup, ...]:
        """`local` dead-letter groups (this member's, as they are now) with those of every
        answering member's share: each member counts its own dead letters."""
        shared = [share.snapshot.dead_letter_groups for share in self._answered()]
        return merge_dead_letter_groups([local, *shared])

    async def dead_letter_page(
        self,
        own: DeadLetterPage,
        offset: int,
        limit: int,
        *,
        filter: str | None,
        order: str | None,
        select: Sequence[str],
    ) -> DeadLetterPage:
        """Rows `offset`..`offset+limit` of the whole group's dead letters that `filter` and
        `select` keep, in `order` (newest first without one). `own`: this member's first
        `offset+limit` rows of that query (offset 0). Every other member is asked for the
        same at once (`GET /v1/shard/dead-letters`); the total is the sum of the members'
        totals; a member that does not answer makes the page partial (`notices`)."""
        first = offset + limit
        params: list[tuple[str, str]] = [("first", str(first))]
        if filter:
            params.append(("filter", filter))
        if order:
            params.append(("order", order))
        params.extend(("select", spec) for spec in select)
        urls = self.others()
        asks = (self._get(url, LOCAL_DEAD_LETTERS_PATH, params, _DEAD_LETTERS) for url in urls)
        answers = await asyncio.gather(*asks)
        pages = {self.collector.url: own}
        notices = self._rebuilding_notices()
        if not self.collector.roster.members:
            notices.append(f"{PARTIAL_ANSWER}the group's members are not known yet")
        for url, answer in zip(urls, answers, strict=True):
            if answer.value is None:
                notices.append(f"{PARTIAL_ANSWER}no dead letters from {url} ({answer.reason})")
            else:
                pages[url] = answer.value
        merged = merge_dead_letter_rows([pages[url].items for url in sorted(pages)], order)
        return DeadLetterPage(
            total=sum(answer.total for answer in pages.values()),
            offset=offset,
            items=tuple(islice(merged, offset, first)),
            notices=tuple(notices),
        )

    def _rebuilding_notices(self) -> list[str]:
        """The members rebuilding their flows (this one now, the others as their shares
        said): what they hold is not whole yet."""
        rebuilding = [self.collector.url] if self.collector.rebuilding else []
        rebuilding += [s.member.url for s in self._answered() if s.member.rebuilding]
        return [f"{PARTIAL_ANSWER}{url} is rebuilding its flows" for url in rebuilding]

    async def dead_letter_coords(self, select: Sequence[str]) -> tuple[list[str], list[str]]:
        """The addresses of the dead letters the other members hold that `select` keeps
        (`key=value` texts, as `DeadLetterFilter.specs()` gives them), the newest RETRY_DEPTH
        of each member's, asked of all at once (`GET /v1/shard/dead-letter-coords`); and
        notices saying what a plan of them misses: a member that did not answer within
        shard.peer_timeout_s, one rebuilding its flows (this one too), one that keeps more
        than RETRY_DEPTH, or members not known yet."""
        params = [("first", str(RETRY_DEPTH)), *(("select", spec) for spec in select)]
        urls = self.others()
        asks = (self._get(url, LOCAL_DEAD_LETTER_COORDS_PATH, params, _COORDS) for url in urls)
        answers = await asyncio.gather(*asks)
        notices: list[str] = []
        if self.collector.rebuilding:
            notices.append(f"shard: partial plan: {self.collector.url} is rebuilding its flows")
        if not self.collector.roster.members:
            notices.append("shard: partial plan: the group's members are not known yet")
        coords: list[str] = []
        for url, answer in zip(urls, answers, strict=True):
            found = answer.value
            if found is None:
                notices.append(
                    f"shard: partial plan: {url} did not answer ({answer.reason}): "
                    "the dead letters it holds are not in this plan"
                )
                continue
            coords.extend(found.coords)
            if found.rebuilding:
                notices.append(f"shard: partial plan: {url} is rebuilding its flows")
            if found.total > len(found.coords):
                notices.append(
                    f"shard: partial plan: {url} holds {found.total:,} dead letters the "
                    f"filters keep; the plan takes its newest {len(found.coords):,} "
                    "(narrow the filters, e.g. since= and until=, to reach the rest)"
                )
        return coords, notices

    async def _get(
        self, url: str, path: str, params: Sequence[tuple[str, str]], kind: TypeAdapter[T]
    ) -> _Answer[T]:
        """`url`'s answer to `path` as `kind`, or why there is none."""
        try:
            response = await self._client().get(url.rstrip("/") + path, params=tuple(params))
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _Answer(None, why)
        if response.status_code != 200:
            return _Answer(None, f"HTTP {response.status_code}")
        try:
            return _Answer(kind.validate_json(response.content))
        except ValidationError as exc:
            return _Answer(None, f"not the answer expected: {exc.error_count()} errors")

    async def chain(self, correlation_id: str) -> ChainView | None:
        """The flow from the member that holds it (asked of all others at once)."""
        path = LOCAL_CHAIN_PATH + quote(correlation_id, safe="")
        found = [c for c in await self._ask_all(path, _CHAIN) if c is not None]
        return max(found, key=lambda c: c.summary.events) if found else None

    async def event(self, event_id: str) -> EventDoc | None:
        """The event from the member that holds it."""
        path = LOCAL_EVENT_PATH + quote(event_id, safe="")
        found = [e for e in await self._ask_all(path, _EVENT) if e is not None]
        return found[0] if found else None

    async def document(self, local: CollectDocument, max_trees: int) -> CollectDocument:
        """`collect --json` for the group: the merged snapshot, and the trees of its first
        `max_trees` flows from the members that hold them."""
        snapshot = self.merged(local.snapshot)
        trees = {t.summary.correlation_id: t for t in local.chain_trees}
        for answer in await self._ask_all(f"{LOCAL_TREES_PATH}?max_trees={max_trees}", _TREES):
            for tree in answer or ():
                trees.setdefault(tree.summary.correlation_id, tree)
        listed = [
            trees[c.correlation_id]
            for c in snapshot.chains[:max_trees]
            if c.correlation_id in trees
        ]
        return CollectDocument(local.schema_version, snapshot, tuple(listed))

    async def _ask_all(self, path: str, kind: TypeAdapter[T]) -> list[T | None]:
        asks = [self._ask(url + path, kind) for url in self.others()]
        return [cast("T | None", answer) for answer in await asyncio.gather(*asks)]

    async def _ask(self, url: str, kind: TypeAdapter[Any]) -> Any:
        """`url`'s answer as `kind`; None when it has none (404) or does not answer."""
        try:
            response = await self._client().get(url)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return kind.validate_json(response.content)
        except ValidationError:
            return None
