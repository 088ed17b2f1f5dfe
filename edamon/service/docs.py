"""Model objects -> the API's documents (edamon.model.api), and JSON bodies.

Bytes go through actions/report.py's helpers (`{text}` or `{base64}`), so a record reads the
same here as in `dlq show --json` and the flow export.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError
from starlette.responses import Response

from edamon.actions.ledger import LedgerEntry
from edamon.actions.plan import RedrivePlan, RedriveSummary
from edamon.actions.report import bytes_json, dead_letter_json, envelope_json
from edamon.model.api import (
    DeadLetterDoc,
    EventDoc,
    ListCounts,
    Overview,
    PlanItemDoc,
    RecordDoc,
    RetryItemDoc,
    RetryPlanDoc,
)
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.snapshot import RateSeries, Snapshot, ThroughputView


@cache
def adapter(kind: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type, built on first use (~10 ms for the snapshot)."""
    return TypeAdapter(kind)


def json_body(kind: Any, value: Any) -> bytes:
    """`value` (of type `kind`) as JSON. Text with a lone surrogate (read from a record's
    `\\ud800` escape) can't be UTF-8: such a document is written in ASCII with escapes."""
    try:
        return adapter(kind).dump_json(value)
    except PydanticSerializationError:
        data = adapter(kind).dump_python(value, mode="json")
        return json.dumps(data, ensure_ascii=True).encode("ascii")


def json_response(kind: Any, value: Any, status_code: int = 200) -> Response:
    return Response(json_body(kind, value), status_code, media_type="application/json")


def record_doc(record: RawRecord) -> RecordDoc:
    return {
        "coords": record.coords,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": bytes_json(record.key),  # type: ignore[typeddict-item]
        "headers": [
            {"key": key, **(bytes_json(value) or {})}  # type: ignore[typeddict-item]
            for key, value in record.headers
        ],
        "value": bytes_json(record.value),  # type: ignore[typeddict-item]
    }


def event_doc(envelope: Envelope, reread: RawRecord | None = None) -> EventDoc:
    """An event with its record: the held one, or `reread` when the held one was dropped."""
    record = reread if envelope.dropped else envelope.record
    return {
        "envelope": envelope_json(envelope),  # type: ignore[typeddict-item]
        "coords": envelope.record.coords,
        "timestamp_ms": envelope.record.timestamp_ms,
        "occurred_at": envelope.occurred_at,
        "trace_id": envelope.trace_id,
        "value_truncated": envelope.truncated and not envelope.dropped,
        "record_dropped": envelope.dropped,
        "record": record_doc(record) if record is not None else None,
    }


def dead_letter_doc(dead_letter: DeadLetter, entry: LedgerEntry | None) -> DeadLetterDoc:
    """What `dlq show --json` prints for `dead_letter`."""
    return dead_letter_json(dead_letter, entry, with_value=True)  # type: ignore[return-value]


def plan_doc(
    plan: RedrivePlan,
    problems: dict[str, str],
    *,
    rate: float,
    read_only: bool,
    ledger_error: str | None,
    notices: Sequence[str] = (),
) -> RetryPlanDoc:
    items = tuple(
        PlanItemDoc(
            coords=item.coords,
            action=item.action.value,
            target=item.target,
            source=item.source,
            reason=item.reason,
            strip=item.strip,
            attempt=item.attempt,
            already_retried=item.already_retried,
        )
        for item in plan.items
    )
    return RetryPlanDoc(
        items=items,
        problems=tuple(problems.items()),
        force=plan.force,
        targets=tuple(plan.targets().items()),
        stripped_headers=tuple(plan.stripped_headers().items()),
        rate=rate,
        read_only=read_only,
        ledger_error=ledger_error,
        notices=tuple(notices),
    )


def result_docs(summary: RedriveSummary, problems: dict[str, str]) -> tuple[RetryItemDoc, ...]:
    results = [
        RetryItemDoc(
            coords=result.coords,
            outcome=result.outcome.value,
            target_coords=result.target_coords,
            reason=result.reason,
            attempt=result.attempt,
            ledger_error=result.ledger_error,
        )
        for result in summary.results
    ]
    results += [
        RetryItemDoc(address, "refused", None, reason, None, None)
        for address, reason in problems.items()
    ]
    return tuple(results)


def overview(
    snapshot: Snapshot, rows: int, history: int | None = None, *, dead_letters: int | None = None
) -> Overview:
    """`snapshot` with every row list cut to `rows`, and the full counts; with `history`, each
    throughput series keeps only its newest `history` seconds (a sparkline's width).
    `dead_letters`: how many dead letters the pages of dead letters reach, when that is more
    than the snapshot lists (the service's pages reach every one it holds)."""
    throughput = (
        _recent(snapshot.throughput, history) if history is not None else snapshot.throughput
    )
    undecodable = snapshot.undecodable
    counts = ListCounts(
        lag=len(snapshot.lag),
        dead_letters=len(snapshot.dead_letters) if dead_letters is None else dead_letters,
        dead_letter_groups=len(snapshot.dead_letter_groups),
        sagas=len(snapshot.sagas),
        saga_instances=len(snapshot.saga_instances),
        chains=len(snapshot.chains),
        timeline=len(snapshot.timeline),
        topics=len(throughput.topics),
        event_types=len(throughput.event_types),
        undecodable_samples=len(undecodable.samples),
    )
    capped = replace(
        snapshot,
        lag=snapshot.lag[:rows],
        dead_letters=snapshot.dead_letters[:rows],
        dead_letter_groups=snapshot.dead_letter_groups[:rows],
        sagas=snapshot.sagas[:rows],
        saga_instances=snapshot.saga_instances[:rows],
        chains=snapshot.chains[:rows],
        timeline=snapshot.timeline[:rows],
        throughput=replace(
            throughput, topics=throughput.topics[:rows], event_types=throughput.event_types[:rows]
        ),
        undecodable=replace(undecodable, samples=undecodable.samples[:rows]),
    )
    return Overview(snapshot=capped, counts=counts, rows=rows)


def _series(series: RateSeries, seconds: int) -> RateSeries:
    return replace(series, history=series.history[-seconds:] if seconds else ())


def _recent(view: ThroughputView, seconds: int) -> ThroughputView:
    """`view` with every series' history cut to its newest `seconds` buckets."""
    return replace(
        view,
        events=_series(view.events, seconds),
        dead_letters=_series(view.dead_letters, seconds),
        events_by_timestamp=_series(view.events_by_timestamp, seconds),
        dead_letters_by_timestamp=_series(view.dead_letters_by_timestamp, seconds),
        topics=tuple(
            replace(
                topic,
                by_arrival=_series(topic.by_arrival, seconds),
                by_timestamp=_series(topic.by_timestamp, seconds),
            )
            for topic in view.topics
        ),
        event_types=tuple(
            replace(
                kind,
                series=_series(kind.series, seconds),
                by_timestamp=_series(kind.by_timestamp, seconds),
            )
            for kind in view.event_types
        ),
    )
