"""The HTTP API (/v1) over a running collector: FastAPI routes, auth, errors, size limits.

Every route is `async def`: it runs on the collector's loop, between two ingest slices (a plain
`def` would run in FastAPI's thread pool, beside the collector mutating its state).

Every request needs `Authorization: Bearer <token>`; `viewer` reads, `operator` also retries.
Every error is a JSON `ErrorDoc` (never a traceback). Answers use the dataclasses of
edamon.model.snapshot and edamon.model.api, serialised by pydantic TypeAdapter; the OpenAPI
document (`GET /v1/openapi.json`, also docs/openapi.json) is generated from them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, cast

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edamon import __version__
from edamon.actions.filters import DeadLetterFilter, FilterError, parse_filters
from edamon.broker.base import BrokerError
from edamon.collector.jsonout import build_document
from edamon.model.alerts import AlertsDoc
from edamon.model.api import (
    ROLE_OPERATOR,
    DeadLetterDoc,
    DeadLetterPage,
    ErrorDoc,
    EventDoc,
    Health,
    Overview,
    Page,
    Ready,
    RecordDoc,
    RetryJobDoc,
    RetryPlanDoc,
)
from edamon.model.search import SearchDoc, SearchField
from edamon.model.snapshot import (
    ChainSummary,
    ChainView,
    CollectDocument,
    DeadLetterGroup,
    EventTypeThroughput,
    GroupLag,
    PartitionLag,
    SagaInstance,
    SagaSummary,
    Snapshot,
    TimelineRow,
    TopicThroughput,
    UndecodableView,
)
from edamon.model.status import SagaState
from edamon.search import SearchError, build_query
from edamon.service import docs
from edamon.service.auth import Tokens
from edamon.service.backend import Backend, Busy, ReadOnly
from edamon.service.paging import DEFAULT_LIMIT, MAX_FILTER, MAX_LIMIT, PageError, page
from edamon.service.searches import TooMany
from edamon.shard.peers import (
    DEAD_LETTER_DEPTH,
    RETRY_DEPTH,
    DeadLetterCoordsDoc,
    ShardDoc,
    ShardPeers,
    ShareDoc,
    own_doc,
)


class AnythingConvertor(PathConvertor):
    """`path`, newlines included: an id from a record may hold any character (Starlette's
    `path` stops at a newline, so such an id would be a 404 instead of its flow)."""

    regex = r"[\s\S]*"


register_url_convertor("anything", AnythingConvertor())

log = logging.getLogger(__name__)

PREFIX = "/v1"
OVERVIEW_ROWS = 50
"""Rows of each list in `/v1/overview` by default."""
MAX_OVERVIEW_ROWS = 500
MAX_TREES = 1000
MAX_SEARCH_VALUE = 1000
MAX_COORDS = 10_000
"""Dead letters one retry request may name."""


class ApiError(Exception):
    """Answered as `status` with an ErrorDoc."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def error_response(status: int, error: str, message: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = docs.json_body(ErrorDoc, ErrorDoc(error, message))
    return Response(body, status, headers=headers, media_type="application/json")


class RetryRequest(BaseModel):
    """Dead letters to retry: by address, by filter (over those the service holds; in a shard
    group, those its members hold), or both."""

    model_config = ConfigDict(extra="forbid")

    coords: list[Annotated[str, Field(max_length=600)]] = Field(
        default_factory=list, max_length=MAX_COORDS
    )
    """Dead-letter addresses, `topic/partition/offset`."""
    filters: list[Annotated[str, Field(max_length=MAX_FILTER)]] = Field(
        default_factory=list, max_length=20
    )
    """`key=value` filters as `edamon dlq retry --filter` takes them (dlq-topic,
    original-topic, group, exception, since, until), over the dead letters the service holds
    (in a shard group: its members hold)."""
    force: bool = False
    """Send again what the ledger says was retried."""
    stop_on_failure: bool = True
    """Stop at the first failed send (POST /v1/retries only)."""


class SearchRequest(BaseModel):
    """A search of Kafka's history (`edamon find`): one field and its value over a range."""

    model_config = ConfigDict(extra="forbid")

    by: SearchField
    value: str = Field(min_length=1, max_length=MAX_SEARCH_VALUE)
    """The value; `name=value` for a header, `$.payload.orderId=8812` for a JSON path."""
    from_ms: int = Field(ge=0)
    """Start of the range, epoch milliseconds."""
    until_ms: int | None = Field(default=None, ge=0)
    """End of the range (default: now)."""
    topics: list[Annotated[str, Field(max_length=249)]] = Field(
        default_factory=list, max_length=500
    )
    """Topics to read (default: every tailed topic and DLQ)."""
    full_scan: bool = False
    widen: bool = True
    budget_records: int = Field(default=5_000_000, ge=1, le=1_000_000_000)
    budget_seconds: float = Field(default=120.0, gt=0, le=3600)
    max_flows: int = Field(default=20, ge=1, le=200)
    rate: float | None = Field(default=None, gt=0)
    """Records read per second at most (default: unlimited)."""


class BodyLimit:
    """ASGI middleware: a request body larger than `limit` bytes gets 413 (by its
    Content-Length, or while it streams in)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._too_large(scope, receive, send)
                return
        # read the body first (bounded by the limit), then hand it to the app: an error raised
        # while the app reads would be taken for a malformed body
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body larger than {self.limit} bytes"
        await error_response(413, "too_large", message)(scope, receive, send)


_bearer = HTTPBearer(auto_error=False, description="A viewer or operator token")


async def role(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's role from its bearer token; 401 without a known one."""
    tokens: Tokens = request.app.state.tokens
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    found = tokens.role_of(header)
    if found is None:
        raise ApiError(401, "unauthorized", "a valid `Authorization: Bearer <token>` is needed")
    return found


async def operator(who: Annotated[str, Depends(role)]) -> str:
    """The operator role, else 403."""
    if who != ROLE_OPERATOR:
        raise ApiError(
            403, "forbidden", "retrying needs the operator role (this is a viewer token)"
        )
    return who


Role = Annotated[str, Depends(role)]
Operator = Annotated[str, Depends(operator)]
Offset = Annotated[int, Query(ge=0, description="First row (0-based).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows at most.")]
Filter = Annotated[
    str | None,
    Query(max_length=MAX_FILTER, description="Case-insensitive text a row's fields contain."),
]
Order = Annotated[
    str | None,
    Query(max_length=64, description="A field of the row; `-field` for descending."),
]
ShardFirst = Annotated[
    int,
    Query(
        ge=1,
        le=DEAD_LETTER_DEPTH,
        description="Rows at most, from the first (a shard group's page's offset + limit).",
    ),
]
RetryFirst = Annotated[
    int,
    Query(
        ge=1,
        le=RETRY_DEPTH,
        description="Addresses at most, the newest first (what a retry plan takes from a member).",
    ),
]
SagaStateQuery = Annotated[SagaState | None, Query(description="Only the instances in this state.")]
SagaName = Annotated[
    str | None,
    Query(max_length=MAX_FILTER, description="Only the instances of this saga (its name)."),
]
OverviewRows = Annotated[int, Query(ge=0, le=MAX_OVERVIEW_ROWS)]
MaxTrees = Annotated[int, Query(ge=0, le=MAX_TREES)]
History = Annotated[
    int | None,
    Query(ge=0, le=86_400, description="Seconds of throughput history kept (default: all)."),
]
Select = Annotated[
    list[str],
    Query(
        max_length=20,
        description="`key=value` as `edamon dlq list --filter` takes them "
        "(dlq-topic, original-topic, group, exception, since, until); repeatable.",
    ),
]


def create_app(backend: Backend, tokens: Tokens, *, max_body_bytes: int) -> FastAPI:
    """The API over `backend`, answering holders of `tokens`."""
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorDoc, "description": text}
        for code, text in (
            (400, "Bad request"),
            (401, "No or unknown token"),
            (404, "Not found"),
        )
    }
    app = FastAPI(
        title="edamon",
        version=__version__,
        summary="The collector of edamon as a service: snapshot, pages of rows, retries.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        responses=errors,
    )
    app.state.tokens = tokens
    app.add_middleware(BodyLimit, limit=max_body_bytes)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.error, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for item in exc.errors()[:5]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
            message = "unknown field" if item.get("type") == "extra_forbidden" else item["msg"]
            parts.append(f"{where}: {message}")
        return error_response(400, "bad_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(BrokerError)
    async def broker_error(request: Request, exc: BrokerError) -> Response:
        return error_response(503, "unavailable", f"the cluster did not answer: {exc}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal error (the service log has details)")

    def rows_page(
        rows: Any, kind: type, offset: int, limit: int, filter: str | None, order: str | None
    ) -> Response:
        try:
            result = page(rows, kind, offset=offset, limit=limit, filter=filter, order=order)
        except PageError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return docs.json_response(Page[kind], result)  # type: ignore[valid-type]

    # ---- state -----------------------------------------------------------------------------

    @app.get(f"{PREFIX}/health", response_model=Health, tags=["state"])
    async def health(who: Role) -> Response:
        """The service answers (200 whatever the cluster does)."""
        body = Health("ok", __version__, who, backend.settings.read_only)
        return docs.json_response(Health, body)

    @app.get(f"{PREFIX}/ready", response_model=Ready, tags=["state"])
    async def ready(who: Role) -> Response:
        """Connected to the cluster and caught up with the log ends; 503 with the reason when
        not (same body)."""
        answer = backend.ready()
        return docs.json_response(Ready, answer, 200 if answer.ready else 503)

    @app.get(f"{PREFIX}/overview", response_model=Overview, tags=["state"])
    async def overview(
        who: Role,
        rows: OverviewRows = OVERVIEW_ROWS,
        history: History = None,
    ) -> Response:
        """The snapshot with each row list cut to `rows`, plus each list's full count; with
        `history`, throughput series keep only their newest `history` 1-second buckets."""
        answer = docs.overview(
            backend.snapshot(), rows, history, dead_letters=backend.dead_letters_listed()
        )
        return docs.json_response(Overview, answer)

    @app.get(f"{PREFIX}/collect", response_model=CollectDocument, tags=["state"])
    async def collect(who: Role, max_trees: MaxTrees = 200) -> Response:
        """What `edamon collect --json` prints: the snapshot and the listed chains' trees."""
        document = build_document(backend.collector, max_trees)
        if backend.shard is not None:  # the whole group's
            document = await backend.shard.document(document, max_trees)
        return docs.json_response(CollectDocument, document)

    @app.get(f"{PREFIX}/undecodable", response_model=UndecodableView, tags=["state"])
    async def undecodable(who: Role) -> Response:
        """Records that could not be decoded: count by reason and the latest samples."""
        return docs.json_response(UndecodableView, backend.snapshot().undecodable)

    # ---- pages -------------------------------------------------------------------------------

    def listing(
        path: str,
        kind: type,
        rows_of: Callable[[], Sequence[Any]],
        doc: str,
        first_rows: Callable[[int], tuple[Sequence[Any], int]] | None = None,
    ) -> None:
        """A page route over `rows_of()`; `first_rows(n)`, when given, answers an unfiltered,
        unordered page: the first `n` rows and how many there are."""

        async def endpoint(
            who: Role,
            offset: Offset = 0,
            limit: Limit = DEFAULT_LIMIT,
            filter: Filter = None,
            order: Order = None,
        ) -> Response:
            if first_rows is not None and not filter and not order:
                rows, total = first_rows(offset + limit)
                result = Page(total=total, offset=offset, items=tuple(rows[offset:]))
                return docs.json_response(Page[kind], result)  # type: ignore[valid-type]
            return rows_page(rows_of(), kind, offset, limit, filter, order)

        endpoint.__doc__ = doc
        app.get(
            f"{PREFIX}/{path}",
            response_model=Page[kind],  # type: ignore[valid-type]
            tags=["pages"],
            name=path.replace("/", "_").replace("-", "_"),
        )(endpoint)

    def of_snapshot(pick: Callable[[Snapshot], Sequence[Any]]) -> Callable[[], Sequence[Any]]:
        return lambda: pick(backend.snapshot())

    # the flows alone (cached per flow), not a whole snapshot: the page a dashboard scrolls
    listing(
        "chains",
        ChainSummary,
        lambda: backend.chains(),
        "Flows, most recently updated first.",
        lambda first: backend.first_chains(first),
    )

    @app.get(f"{PREFIX}/sagas", response_model=Page[SagaInstance], tags=["pages"], name="sagas")
    async def sagas(
        who: Role,
        offset: Offset = 0,
        limit: Limit = DEFAULT_LIMIT,
        filter: Filter = None,
        order: Order = None,
        state: SagaStateQuery = None,
        saga: SagaName = None,
    ) -> Response:
        """Saga instances, most recently updated first: the newest 1,000 (the counts of
        `saga-summaries` count every instance followed). `state` and `saga` select the
        instances in that state, of that saga (exact, unlike `filter`): every one followed,
        not only the newest 1,000 (in a shard group: among the newest 1,000)."""
        rows = backend.saga_instances(state, saga)
        return rows_page(rows, SagaInstance, offset, limit, filter, order)

    listing(
        "saga-summaries",
        SagaSummary,
        of_snapshot(lambda s: s.sagas),
        "Each saga's counts per state.",
    )
    listing("lag", GroupLag, of_snapshot(lambda s: s.lag), "Consumer groups, worst first.")
    listing(
        "throughput/topics",
        TopicThroughput,
        of_snapshot(lambda s: s.throughput.topics),
        "Topics' rates.",
    )
    listing(
        "throughput/event-types",
        EventTypeThroughput,
        of_snapshot(lambda s: s.throughput.event_types),
        "Event types' rates.",
    )
    listing(
        "timeline", TimelineRow, of_snapshot(lambda s: s.timeline), "The live tail, newest first."
    )
    listing(
        "dead-letter-groups",
        DeadLetterGroup,
        lambda: backend.dead_letter_groups(),
        "Dead letters by source topic, group and exception: every one seen (evicted ones too).",
    )

    @app.get(f"{PREFIX}/dead-letters", response_model=DeadLetterPage, tags=["pages"])
    async def dead_letters(
        who: Role,
        offset: Offset = 0,
        limit: Limit = DEFAULT_LIMIT,
        filter: Filter = None,
        order: Order = None,
        select: Select = [],  # noqa: B006 - FastAPI copies query defaults
    ) -> Response:
        """Dead letters the service holds, newest first: every one it holds
        (retention.max_dead_letters), not only the newest 2,000 the overview's snapshot lists.
        In a shard group: every one its members hold, each member asked for its own first
        `offset+limit` rows at once and the rows merged (`offset+limit` at most 10,000 there);
        a member that does not answer in time makes the page partial (`notices`)."""
        selector = _selector(select) if select else None
        try:
            result = await backend.dead_letters(
                offset, limit, filter=filter, order=order, select=select, selector=selector
            )
        except PageError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return docs.json_response(DeadLetterPage, result)

    @app.get(
        f"{PREFIX}/lag/{{group}}",
        response_model=Page[PartitionLag],
        tags=["pages"],
        responses={404: {"model": ErrorDoc}},
    )
    async def lag_partitions(
        group: str,
        who: Role,
        offset: Offset = 0,
        limit: Limit = DEFAULT_LIMIT,
        filter: Filter = None,
        order: Order = None,
    ) -> Response:
        """One consumer group's partitions."""
        for found in backend.snapshot().lag:
            if found.group == group:
                return rows_page(found.partitions, PartitionLag, offset, limit, filter, order)
        raise ApiError(404, "not_found", "no such consumer group")

    # ---- one thing ---------------------------------------------------------------------------

    @app.get(f"{PREFIX}/chains/{{correlation_id:anything}}", response_model=ChainView, tags=["one"])
    async def chain(correlation_id: str, who: Role) -> Response:
        """One flow as a tree in waterfall order."""
        found = backend.collector.chain(correlation_id)
        if found is None and backend.shard is not None:  # held by another member
            found = await backend.shard.chain(correlation_id)
        if found is None:
            raise ApiError(404, "not_found", "no such flow (unknown, or evicted)")
        return docs.json_response(ChainView, found)

    # ---- a shard group (`serve --shard-group`, edamon/shard) ----------------------------------

    def shard_of() -> ShardPeers:
        if backend.shard is None:
            raise ApiError(404, "not_found", "this service is not a member of a shard group")
        return backend.shard

    @app.get(f"{PREFIX}/shard", response_model=ShardDoc, tags=["shard"])
    async def shard(who: Role) -> Response:
        """The shard group as this member sees it: members, what each owns, whether the
        answers are partial (a member rebuilding or not answering)."""
        return docs.json_response(ShardDoc, shard_of().doc())

    @app.get(f"{PREFIX}/shard/share", response_model=ShareDoc, tags=["shard"])
    async def shard_share(who: Role) -> Response:
        """This member's own share (status and unmerged snapshot): what the other members
        merge."""
        peers = shard_of()
        share = ShareDoc(own_doc(peers.collector), peers.collector.snapshot())
        return docs.json_response(ShareDoc, share)

    @app.get(
        f"{PREFIX}/shard/chains/{{correlation_id:anything}}",
        response_model=ChainView,
        tags=["shard"],
    )
    async def shard_chain(correlation_id: str, who: Role) -> Response:
        """One flow, if this member holds it (no fan-out)."""
        shard_of()
        found = backend.collector.chain(correlation_id)
        if found is None:
            raise ApiError(404, "not_found", "no such flow on this member")
        return docs.json_response(ChainView, found)

    @app.get(
        f"{PREFIX}/shard/events/{{event_id:anything}}", response_model=EventDoc, tags=["shard"]
    )
    async def shard_event(event_id: str, who: Role) -> Response:
        """One event, if this member holds it (no fan-out)."""
        shard_of()
        return await local_event(event_id)

    @app.get(f"{PREFIX}/shard/dead-letters", response_model=DeadLetterPage, tags=["shard"])
    async def shard_dead_letters(
        who: Role,
        first: ShardFirst = DEFAULT_LIMIT,
        filter: Filter = None,
        order: Order = None,
        select: Select = [],  # noqa: B006 - FastAPI copies query defaults
    ) -> Response:
        """The first `first` rows of this member's own dead letters that `filter` and
        `select` keep, newest first or in `order`, and how many it holds that they keep (no
        fan-out): what the member answering `/v1/dead-letters` merges."""
        shard_of()
        selector = _selector(select) if select else None
        try:
            result = backend.own_dead_letters(0, first, filter, selector, order)
        except PageError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return docs.json_response(DeadLetterPage, result)

    @app.get(
        f"{PREFIX}/shard/dead-letter-coords", response_model=DeadLetterCoordsDoc, tags=["shard"]
    )
    async def shard_dead_letter_coords(
        who: Role,
        first: RetryFirst = RETRY_DEPTH,
        select: Select = [],  # noqa: B006 - FastAPI copies query defaults
    ) -> Response:
        """The addresses of the newest `first` of this member's own dead letters that
        `select` keeps (all of them without `select`), and how many it holds that it keeps
        (no fan-out): what the member planning a retry by filter reads from Kafka."""
        shard_of()
        found = backend.own_dead_letter_coords(_selector(select), first)
        return docs.json_response(DeadLetterCoordsDoc, found)

    @app.get(f"{PREFIX}/shard/trees", response_model=list[ChainView], tags=["shard"])
    async def shard_trees(who: Role, max_trees: MaxTrees = 200) -> Response:
        """The trees of this member's most recently updated flows (no fan-out)."""
        shard_of()
        trees = build_document(backend.collector, max_trees).chain_trees
        return docs.json_response(tuple[ChainView, ...], trees)

    @app.get(f"{PREFIX}/events/{{event_id:anything}}", response_model=EventDoc, tags=["one"])
    async def event(event_id: str, who: Role) -> Response:
        """One event the collector holds, with its record (read again from Kafka when the
        collector dropped its bytes for memory)."""
        envelope = backend.collector.event(event_id)
        if envelope is None and backend.shard is not None:  # held by another member
            found = await backend.shard.event(event_id)
            if found is not None:
                return docs.json_response(EventDoc, found)
        return await local_event(event_id)

    async def local_event(event_id: str) -> Response:
        envelope = backend.collector.event(event_id)
        if envelope is None:
            raise ApiError(404, "not_found", "no such event held (unknown, or evicted)")
        reread = None
        if envelope.dropped or backend.shard is not None:
            reread = await backend.collector.read_record(envelope.record.coords)
        found = docs.event_doc(envelope, reread)
        if backend.shard is not None:  # a shard member holds the index record: the source's
            found["record"] = docs.record_doc(reread) if reread is not None else None
            found["record_dropped"] = True
        return docs.json_response(EventDoc, found)

    @app.get(
        f"{PREFIX}/dead-letters/{{coords:anything}}", response_model=DeadLetterDoc, tags=["one"]
    )
    async def dead_letter(coords: str, who: Role) -> Response:
        """One dead letter as `dlq show --json` prints it (held, else read from Kafka)."""
        try:
            found = await backend.dead_letter(coords)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        if found is None:
            raise ApiError(404, "not_found", f"no dead letter at {coords}")
        doc = docs.dead_letter_doc(found, backend.ledger_entry(found))
        return docs.json_response(DeadLetterDoc, doc)

    @app.get(f"{PREFIX}/records/{{coords:anything}}", response_model=RecordDoc, tags=["one"])
    async def record(coords: str, who: Role) -> Response:
        """Any record read again from Kafka by its address (topic/partition/offset)."""
        try:
            found = await backend.collector.read_record(coords)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        if found is None:
            raise ApiError(404, "not_found", f"no record at {coords}")
        return docs.json_response(RecordDoc, docs.record_doc(found))

    # ---- retries -------------------------------------------------------------------------------

    def selector_of(body: RetryRequest) -> DeadLetterFilter | None:
        if not body.coords and not body.filters:
            raise ApiError(400, "bad_request", "give coords, filters or both")
        return _selector(body.filters) if body.filters else None

    @app.post(f"{PREFIX}/retries/preview", response_model=RetryPlanDoc, tags=["retries"])
    async def retry_preview(body: RetryRequest, who: Role) -> Response:
        """What a retry would do now: each dead letter's action and reason. Sends nothing.
        In a shard group, `filters` reach the dead letters every member holds; a member that
        does not answer in time makes the plan partial (`notices`)."""
        selector = selector_of(body)
        try:
            _, doc, _ = await backend.plan(body.coords, selector, force=body.force)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return docs.json_response(RetryPlanDoc, doc)

    @app.post(
        f"{PREFIX}/retries",
        response_model=RetryJobDoc,
        status_code=202,
        tags=["retries"],
        responses={403: {"model": ErrorDoc}, 409: {"model": ErrorDoc}},
    )
    async def retry_start(body: RetryRequest, who: Operator) -> Response:
        """Start a retry job (operator role; 403 when read-only; 409 while another runs).
        In a shard group, a plan that misses some member's dead letters still runs: its
        `notices` (in the job's `plan`) say what it missed; a later retry by the same
        filters sends those and skips the ones already retried."""
        selector = selector_of(body)
        try:
            job = await backend.start_retry(
                body.coords, selector, force=body.force, stop_on_failure=body.stop_on_failure
            )
        except ReadOnly as exc:
            raise ApiError(403, "read_only", str(exc)) from None
        except Busy as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return docs.json_response(RetryJobDoc, job.doc(), 202)

    @app.get(f"{PREFIX}/retries/{{job_id}}", response_model=RetryJobDoc, tags=["retries"])
    async def retry_job(job_id: str, who: Role) -> Response:
        """A retry job's progress, then its summary."""
        job = backend.job(job_id)
        if job is None:
            raise ApiError(404, "not_found", "no such retry job")
        return docs.json_response(RetryJobDoc, job.doc())

    @app.delete(
        f"{PREFIX}/retries/{{job_id}}",
        response_model=RetryJobDoc,
        tags=["retries"],
        responses={403: {"model": ErrorDoc}},
    )
    async def retry_cancel(job_id: str, who: Operator) -> Response:
        """Cancel a running job: it stops after the record being sent (operator role)."""
        job = backend.job(job_id)
        if job is None:
            raise ApiError(404, "not_found", "no such retry job")
        backend.cancel(job)
        return docs.json_response(RetryJobDoc, job.doc())

    # ---- searches (issue 16) ------------------------------------------------------------------

    @app.post(
        f"{PREFIX}/searches",
        response_model=SearchDoc,
        status_code=202,
        tags=["searches"],
        responses={409: {"model": ErrorDoc}, 503: {"model": ErrorDoc}},
    )
    async def search_start(body: SearchRequest, who: Role) -> Response:
        """Start a search of a time range of Kafka (no consumer group, no commits); poll it
        with GET. 400: a malformed JSON path, a range in the future, an unknown topic; 409:
        too many searches held or running."""
        now_ms = round(time.time() * 1000)
        if body.from_ms > now_ms:
            raise ApiError(400, "bad_request", "the range starts in the future")
        if body.until_ms is not None and body.until_ms <= body.from_ms:
            raise ApiError(400, "bad_request", "until_ms must be after from_ms")
        until_ms = None if body.until_ms is None or body.until_ms > now_ms else body.until_ms
        try:
            query = build_query(
                body.by,
                body.value,
                body.from_ms,
                until_ms,
                topics=tuple(body.topics),
                full_scan=body.full_scan,
                widen=body.widen,
                budget_records=body.budget_records,
                budget_seconds=body.budget_seconds,
                max_flows=body.max_flows,
                rate=body.rate,
            )
            search = await backend.searches.start(query)
        except SearchError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        except TooMany as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        except BrokerError as exc:
            raise ApiError(503, "unavailable", str(exc)) from None
        return docs.json_response(SearchDoc, search.doc(), 202)

    @app.get(f"{PREFIX}/searches/{{search_id}}", response_model=SearchDoc, tags=["searches"])
    async def search_status(search_id: str, who: Role) -> Response:
        """A search's progress (records scanned of an estimate, per topic), then its result:
        the flows found as chain trees, what was not scanned. Kept until dismissed."""
        found = backend.searches.get(search_id)
        if found is None:
            raise ApiError(404, "not_found", "no such search")
        return docs.json_response(SearchDoc, found)

    @app.delete(f"{PREFIX}/searches/{{search_id}}", response_model=SearchDoc, tags=["searches"])
    async def search_delete(search_id: str, who: Role) -> Response:
        """Cancel a running search (it keeps what it found: state `cancelled`), or dismiss a
        finished one (its result is forgotten)."""
        found = backend.searches.delete(search_id)
        if found is None:
            raise ApiError(404, "not_found", "no such search")
        return docs.json_response(SearchDoc, found)

    # ---- operations --------------------------------------------------------------------------

    @app.get(f"{PREFIX}/alerts", response_model=AlertsDoc, tags=["state"])
    async def alerts(who: Role) -> Response:
        """Active alerts (firing first, then pending) and each receiver's deliveries."""
        return docs.json_response(AlertsDoc, backend.alerts_doc())

    scrape: list[CollectorRegistry] = []

    @app.get(
        "/metrics",
        tags=["state"],
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}}, 404: {"model": ErrorDoc}},
    )
    async def metrics(who: Role) -> Response:
        """Prometheus metrics (text format 0.0.4), read from the collector at each scrape
        (README, "Operations"); 404 when settings.metrics.enabled is false."""
        # On the event loop (async), like the collector: its state is read between two
        # ingest slices, never from a worker thread while it changes.
        if not backend.settings.metrics.enabled:
            raise ApiError(404, "not_found", "metrics are disabled (metrics.enabled = false)")
        if not scrape:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(backend.metrics())
            scrape.append(registry)
        return Response(generate_latest(scrape[0]), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    # ---- the document ------------------------------------------------------------------------

    @app.get(f"{PREFIX}/openapi.json", include_in_schema=False)
    async def openapi_document(who: Role) -> Response:
        return docs.json_response(dict[str, Any], app.openapi())

    return app


def _selector(specs: list[str]) -> DeadLetterFilter:
    import time

    try:
        return parse_filters(specs, now=time.time())
    except FilterError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document every service serves at /v1/openapi.json (docs/openapi.json)."""
    app = create_app(cast(Backend, None), Tokens(None, None), max_body_bytes=1)
    return app.openapi()


__all__ = ["ApiError", "RetryRequest", "create_app", "openapi_document"]
