"""The client of edamon's HTTP API (`edamon serve`, /v1): the only way the dashboard reaches data.

Usage (on the caller's event loop; one shared `httpx.AsyncClient` inside)::

    async with EdamonClient("http://127.0.0.1:8765", token) as client:   # or "unix:/path/sock"
        overview = await client.overview(rows=50)          # Overview: capped Snapshot + counts
        page = await client.chains(offset=0, limit=100, filter="order", order="-last_update")
        tree = await client.chain(correlation_id)          # ChainView
        env = await client.event(event_id)                 # Envelope (record re-read if dropped)
        dead = await client.dead_letter("orders.DLT/0/42") # DeadLetter (+ .retry: ledger doc)

Every answer is one of the model dataclasses (edamon.model.snapshot, edamon.model.api,
edamon.model.envelope/deadletter/records), decoded with pydantic TypeAdapter from the same
types the service serialises. Methods (all `async`):

- state: `health()` -> Health, `ready()` -> Ready (also when not ready: `.ready` False and
  `.reason`), `overview(rows=50, history=None)` -> Overview (`history`: seconds of throughput
  history kept per series, e.g. a sparkline's width), `collect(max_trees=200)` -> dict (the
  `collect --json` document as parsed JSON), `collect_document()` -> CollectDocument,
  `undecodable()` -> UndecodableView;
- pages (`offset=0, limit=100, filter=None, order=None`; returns Page[T] with `total`, `offset`,
  `items`): `chains` (ChainSummary), `dead_letters` (a DeadLetterPage of DeadLetterRow,
  with `notices`: why rows may be missing in a shard group; `select=[...]` takes
  `dlq --filter` specs), `dead_letter_groups`, `sagas` (SagaInstance), `saga_summaries`,
  `lag` (GroupLag), `lag_partitions(group)` (PartitionLag), `topics` (TopicThroughput),
  `event_types` (EventTypeThroughput), `timeline` (TimelineRow);
- one thing: `chain(cid)` -> ChainView, `event(event_id)` -> Envelope, `event_doc(event_id)`
  -> EventDoc, `dead_letter(coords)` -> DeadLetterDetail (`.dead_letter`: DeadLetter,
  `.doc`: the `dlq show --json` dict), `record(coords)` -> RawRecord;
- retries: `retry_preview(coords, filters=(), force=False)` -> RetryPlanDoc,
  `retry(coords, filters=(), force=False, stop_on_failure=True)` -> RetryJobDoc (202, running),
  `retry_job(id)` -> RetryJobDoc, `retry_cancel(id)` -> RetryJobDoc.

Errors are `ClientError` subclasses with a clear message: `Unreachable` (connect/timeout: the
service is down or the URL is wrong), `Unauthorized` (401: no or wrong token), `Forbidden` (403:
a viewer retrying; `.error == "read_only"` when the service is read-only), `NotFound` (404),
`BadRequest` (400, 413, 409 conflict), `Unavailable` (503: the cluster did not answer),
`ServerError` (5xx). Not-found lookups raise NotFound (never return None).
"""

from edamon.client.client import (
    BadRequest,
    ClientError,
    DeadLetterDetail,
    EdamonClient,
    Forbidden,
    NotFound,
    ServerError,
    Unauthorized,
    Unavailable,
    Unreachable,
)

__all__ = [
    "BadRequest",
    "ClientError",
    "DeadLetterDetail",
    "EdamonClient",
    "Forbidden",
    "NotFound",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
]
