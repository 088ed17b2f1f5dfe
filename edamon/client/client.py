"""`EdamonClient`: the async httpx client of the /v1 API (see the package doc for the interface)."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from edamon.model.api import (
    BytesValue,
    DeadLetterDoc,
    DeadLetterPage,
    EnvelopeDoc,
    EventDoc,
    HeaderValue,
    Health,
    Overview,
    Page,
    Ready,
    RecordDoc,
    RetryJobDoc,
    RetryPlanDoc,
)
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord, parse_coords
from edamon.model.search import SearchDoc, SearchQuery
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
    TimelineRow,
    TopicThroughput,
    UndecodableView,
)

T = TypeVar("T")

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
"""Default timeouts: 3 s to connect, 10 s for an answer (a record re-read may wait on Kafka)."""
UDS_BASE = "http://edamon"
"""Base URL of requests over a Unix socket (the host part is not used)."""


class ClientError(Exception):
    """A request to the service failed; `str()` says why, for people."""

    status: int | None = None
    error: str | None = None
    """The service's error code (ErrorDoc.error), when it answered."""

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class Unreachable(ClientError):
    """No answer: the service is not running there, or the network failed or timed out."""


class Unauthorized(ClientError):
    """401: no token, or one the service does not know."""


class Forbidden(ClientError):
    """403: the token's role may not do this (a viewer retrying), or the service is read-only
    (`error == "read_only"`)."""


class NotFound(ClientError):
    """404: no such chain, event, dead letter, record, group or job."""


class BadRequest(ClientError):
    """400 (a malformed request), 409 (a retry is already running), 413 (too large)."""


class Unavailable(ClientError):
    """503: the service runs but the cluster did not answer (re-reads, ledger)."""


class ServerError(ClientError):
    """5xx: the service failed (its log has the details), or answered something unreadable."""


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def decode_bytes(value: BytesValue | HeaderValue | None) -> bytes | None:
    """Record bytes back from `{"text": ...}` / `{"base64": ...}` (None stays None)."""
    if value is None:
        return None
    if "text" in value:
        return value["text"].encode("utf-8", "surrogatepass")
    if "base64" in value:
        return base64.b64decode(value["base64"])
    return b""


def record_from(doc: RecordDoc) -> RawRecord:
    return RawRecord(
        topic=doc["topic"],
        partition=doc["partition"],
        offset=doc["offset"],
        timestamp_ms=doc["timestamp_ms"],
        key=decode_bytes(doc["key"]),
        value=decode_bytes(doc["value"]),
        headers=tuple((h["key"], decode_bytes(h) or b"") for h in doc["headers"]),
    )


def envelope_from(
    doc: EnvelopeDoc,
    record: RawRecord,
    *,
    occurred_at: float | None = None,
    trace_id: str | None = None,
    truncated: bool = False,
    dropped: bool = False,
) -> Envelope:
    return Envelope(
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        correlation_id=doc["correlation_id"],
        causation_id=doc["causation_id"],
        aggregate_id=doc["aggregate_id"],
        occurred_at=occurred_at,
        version=doc["version"],
        source=doc["source"],
        trace_id=trace_id,
        format=EnvelopeFormat(doc["format"]),
        record=record,
        truncated=truncated,
        dropped=dropped,
    )


def dead_letter_from(doc: DeadLetterDoc) -> DeadLetter:
    """The DeadLetter of a `dlq show --json` document (one with headers and value). Its
    envelope has no occurred_at nor trace_id (the document does not carry them)."""
    record = RawRecord(
        topic=doc["dlq_topic"],
        partition=doc["partition"],
        offset=doc["offset"],
        timestamp_ms=doc["timestamp_ms"],
        key=decode_bytes(doc["key"]),
        value=decode_bytes(doc.get("value")),
        headers=tuple((h["key"], decode_bytes(h) or b"") for h in doc.get("headers", [])),
    )
    info = DeadLetterInfo(
        convention=doc["convention"],
        original_topic=doc["original_topic"],
        original_partition=doc["original_partition"],
        original_offset=doc["original_offset"],
        original_timestamp_ms=doc["original_timestamp_ms"],
        consumer_group=doc["consumer_group"],
        exception_class=doc["exception_class"],
        cause_class=doc["cause_class"],
        exception_message=doc["exception_message"],
        stacktrace=doc.get("stacktrace"),
        attempts=doc["attempts"],
        handler=doc["handler"],
        problems=tuple(doc["problems"]),
    )
    event = doc["event"]
    envelope = envelope_from(event, record) if event is not None else None
    return DeadLetter(record, info, envelope, doc["decode_error"])


def decode(kind: Any, body: bytes, source: str = "the edamon service") -> Any:
    """A JSON `body` as a `kind` (a model dataclass, Page[...], a TypedDict): pydantic parses
    and validates in one pass; a document with a lone surrogate escape (`\\ud800`, text from a
    record) goes through the json module. Raises ServerError when it is not a `kind`."""
    adapter = _adapter(kind)
    try:
        try:
            return adapter.validate_json(body)
        except ValidationError as exc:
            if not any(e["type"] == "json_invalid" for e in exc.errors()):
                raise
            return adapter.validate_python(json.loads(body))
    except ValueError as exc:  # ValidationError included
        raise ServerError(
            f"{source}: unexpected answer ({exc}; is it another version of edamon?)"
        ) from None


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    """One dead letter: as model data, and the `dlq show --json` document it came from (which
    also has its retry status: `doc["retry"]`, the ledger's latest entry or None)."""

    dead_letter: DeadLetter
    doc: DeadLetterDoc


_ERRORS: dict[int, type[ClientError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: BadRequest,
    413: BadRequest,
    422: BadRequest,
    503: Unavailable,
}


class EdamonClient:
    """An async client of one edamon service. `url`: `http(s)://host:port` or `unix:/path`;
    `verify`: TLS verification (an `ssl.SSLContext` trusting a private CA, or False). Use as
    `async with`, or call `aclose()`. `transport`: another httpx transport (tests serve the
    service's ASGI app in process with `httpx.ASGITransport`)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: httpx.Timeout | float = TIMEOUT,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if transport is not None:
            self._http = httpx.AsyncClient(
                base_url=url.rstrip("/"), transport=transport, headers=headers, timeout=timeout
            )
        elif url.startswith("unix:"):
            transport = httpx.AsyncHTTPTransport(uds=url.removeprefix("unix:"))
            self._http = httpx.AsyncClient(
                base_url=UDS_BASE, transport=transport, headers=headers, timeout=timeout
            )
        else:
            self._http = httpx.AsyncClient(
                base_url=url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
            )

    def __repr__(self) -> str:  # never the token
        return f"EdamonClient({self.url!r})"

    async def __aenter__(self) -> EdamonClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- transport -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> bytes:
        """The JSON body of a successful `method path`; raises a ClientError subclass."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(
                method, f"/v1/{path}", params=query, json=body if body is not None else None
            )
        except httpx.TimeoutException:
            raise Unreachable(f"edamon service at {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"cannot reach the edamon service at {self.url}: {reason}") from None
        if response.status_code in ok:
            return response.content
        error = message = None
        try:
            data = json.loads(response.content) if response.content else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            error, message = data.get("error"), data.get("message")
        kind = _ERRORS.get(response.status_code, ServerError)
        text = message or response.reason_phrase or "error"
        raise kind(
            f"edamon service: {text} (HTTP {response.status_code})",
            status=response.status_code,
            error=error if isinstance(error, str) else None,
        )

    async def _get(self, kind: Any, path: str, **params: Any) -> Any:
        return self._decode(kind, await self._request("GET", path, params=params))

    def _decode(self, kind: Any, body: bytes) -> Any:
        return decode(kind, body, self.url)

    # ---- state ---------------------------------------------------------------------------

    async def health(self) -> Health:
        result: Health = await self._get(Health, "health")
        return result

    async def ready(self) -> Ready:
        """Whether the collector is connected and caught up (503 is an answer here)."""
        data = await self._request("GET", "ready", ok=(200, 503))
        result: Ready = self._decode(Ready, data)
        return result

    async def overview(self, rows: int = 50, history: int | None = None) -> Overview:
        """`history`: seconds of throughput history per series (default: the whole window)."""
        result: Overview = await self._get(Overview, "overview", rows=rows, history=history)
        return result

    async def collect(self, max_trees: int = 200) -> dict[str, Any]:
        """The `collect --json` document, as parsed JSON."""
        body = await self._request("GET", "collect", params={"max_trees": max_trees})
        try:
            data: dict[str, Any] = json.loads(body)
        except ValueError:
            raise ServerError(f"edamon service at {self.url}: answer is not JSON") from None
        return data

    async def collect_document(self, max_trees: int = 200) -> CollectDocument:
        body = await self._request("GET", "collect", params={"max_trees": max_trees})
        result: CollectDocument = self._decode(CollectDocument, body)
        return result

    async def undecodable(self) -> UndecodableView:
        result: UndecodableView = await self._get(UndecodableView, "undecodable")
        return result

    # ---- pages ---------------------------------------------------------------------------

    async def _page(
        self,
        kind: type[T],
        path: str,
        offset: int,
        limit: int,
        filter: str | None,
        order: str | None,
        **extra: Any,
    ) -> Page[T]:
        params = {"offset": offset, "limit": limit, "filter": filter, "order": order, **extra}
        result: Page[T] = await self._get(Page[kind], path, **params)  # type: ignore[valid-type]
        return result

    async def chains(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[ChainSummary]:
        return await self._page(ChainSummary, "chains", offset, limit, filter, order)

    async def dead_letters(
        self,
        offset: int = 0,
        limit: int = 100,
        filter: str | None = None,
        order: str | None = None,
        select: Sequence[str] = (),
    ) -> DeadLetterPage:
        """`select`: `key=value` filters as `edamon dlq list --filter` takes them. In a shard
        group the page's `notices` say why rows may be missing from it (a member that did not
        answer in time); empty when it is whole."""
        extra = {"select": list(select)} if select else {}
        result: DeadLetterPage = await self._get(
            DeadLetterPage,
            "dead-letters",
            offset=offset,
            limit=limit,
            filter=filter,
            order=order,
            **extra,
        )
        return result

    async def dead_letter_groups(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[DeadLetterGroup]:
        return await self._page(DeadLetterGroup, "dead-letter-groups", offset, limit, filter, order)

    async def sagas(
        self,
        offset: int = 0,
        limit: int = 100,
        filter: str | None = None,
        order: str | None = None,
        *,
        state: str | None = None,
        saga: str | None = None,
    ) -> Page[SagaInstance]:
        """`state` (a SagaState's value) and `saga` (a saga's name): only those instances."""
        return await self._page(
            SagaInstance, "sagas", offset, limit, filter, order, state=state, saga=saga
        )

    async def saga_summaries(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[SagaSummary]:
        return await self._page(SagaSummary, "saga-summaries", offset, limit, filter, order)

    async def lag(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[GroupLag]:
        return await self._page(GroupLag, "lag", offset, limit, filter, order)

    async def lag_partitions(
        self,
        group: str,
        offset: int = 0,
        limit: int = 100,
        filter: str | None = None,
        order: str | None = None,
    ) -> Page[PartitionLag]:
        path = f"lag/{quote(group, safe='')}"
        return await self._page(PartitionLag, path, offset, limit, filter, order)

    async def topics(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[TopicThroughput]:
        return await self._page(TopicThroughput, "throughput/topics", offset, limit, filter, order)

    async def event_types(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[EventTypeThroughput]:
        path = "throughput/event-types"
        return await self._page(EventTypeThroughput, path, offset, limit, filter, order)

    async def timeline(
        self, offset: int = 0, limit: int = 100, filter: str | None = None, order: str | None = None
    ) -> Page[TimelineRow]:
        return await self._page(TimelineRow, "timeline", offset, limit, filter, order)

    # ---- one thing -----------------------------------------------------------------------

    async def chain(self, correlation_id: str) -> ChainView:
        result: ChainView = await self._get(ChainView, f"chains/{quote(correlation_id, safe='')}")
        return result

    async def event_doc(self, event_id: str) -> EventDoc:
        result: EventDoc = await self._get(EventDoc, f"events/{quote(event_id, safe='')}")
        return result

    async def event(self, event_id: str) -> Envelope:
        """The event with its record: the held bytes, or the record read again from Kafka when
        the service had dropped them (then `dropped` is False and the bytes are whole; a record
        gone from Kafka leaves `dropped` True and no bytes)."""
        doc = await self.event_doc(event_id)
        record_doc = doc["record"]
        if record_doc is not None:
            record = record_from(record_doc)
            dropped = False
        else:
            topic, partition, offset = parse_coords(doc["coords"])
            record = RawRecord(topic, partition, offset, doc["timestamp_ms"], None, None)
            dropped = True
        return envelope_from(
            doc["envelope"],
            record,
            occurred_at=doc["occurred_at"],
            trace_id=doc["trace_id"],
            truncated=doc["value_truncated"],
            dropped=dropped,
        )

    async def dead_letter(self, coords: str) -> DeadLetterDetail:
        path = f"dead-letters/{quote(coords, safe='/')}"
        doc: DeadLetterDoc = await self._get(DeadLetterDoc, path)
        return DeadLetterDetail(dead_letter_from(doc), doc)

    async def record(self, coords: str) -> RawRecord:
        """The record at `topic/partition/offset`, read again from Kafka."""
        doc: RecordDoc = await self._get(RecordDoc, f"records/{quote(coords, safe='/')}")
        return record_from(doc)

    # ---- retries -------------------------------------------------------------------------

    async def retry_preview(
        self, coords: Sequence[str], filters: Sequence[str] = (), *, force: bool = False
    ) -> RetryPlanDoc:
        body = {"coords": list(coords), "filters": list(filters), "force": force}
        data = await self._request("POST", "retries/preview", body=body)
        result: RetryPlanDoc = self._decode(RetryPlanDoc, data)
        return result

    async def retry(
        self,
        coords: Sequence[str],
        filters: Sequence[str] = (),
        *,
        force: bool = False,
        stop_on_failure: bool = True,
    ) -> RetryJobDoc:
        """Start a retry job on the service (operator role). Forbidden when read-only."""
        body = {
            "coords": list(coords),
            "filters": list(filters),
            "force": force,
            "stop_on_failure": stop_on_failure,
        }
        data = await self._request("POST", "retries", body=body, ok=(202,))
        result: RetryJobDoc = self._decode(RetryJobDoc, data)
        return result

    async def retry_job(self, job_id: str) -> RetryJobDoc:
        result: RetryJobDoc = await self._get(RetryJobDoc, f"retries/{quote(job_id, safe='')}")
        return result

    async def retry_cancel(self, job_id: str) -> RetryJobDoc:
        data = await self._request("DELETE", f"retries/{quote(job_id, safe='')}")
        result: RetryJobDoc = self._decode(RetryJobDoc, data)
        return result

    # ---- searches (issue 16) -------------------------------------------------------------

    async def search(self, query: SearchQuery) -> SearchDoc:
        """Start a search of Kafka's history on the service (202: running; poll
        `search_status`). BadRequest for a malformed JSON path, a future range or an unknown
        topic; BadRequest (409) when the service holds too many searches."""
        body = asdict(query)
        body["topics"] = list(query.topics)
        data = await self._request("POST", "searches", body=body, ok=(202,))
        result: SearchDoc = self._decode(SearchDoc, data)
        return result

    async def search_status(self, search_id: str) -> SearchDoc:
        """A search's progress (records scanned of an estimate per topic), then its result."""
        result: SearchDoc = await self._get(SearchDoc, f"searches/{quote(search_id, safe='')}")
        return result

    async def search_cancel(self, search_id: str) -> SearchDoc:
        """Cancel a running search (it keeps what it found, state `cancelled`); a finished
        one is dismissed. Same request as `search_dismiss`."""
        data = await self._request("DELETE", f"searches/{quote(search_id, safe='')}")
        result: SearchDoc = self._decode(SearchDoc, data)
        return result

    async def search_dismiss(self, search_id: str) -> SearchDoc:
        """Forget a finished search's result (a running one is cancelled instead)."""
        return await self.search_cancel(search_id)
