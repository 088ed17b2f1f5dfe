"""The headless JSON document: the snapshot plus every listed chain's tree.

Its shape is `CollectDocument`; docs/collect-json.schema.json is generated from it (and a test
keeps the two equal), so the documented schema is the one the code writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from edamon.collector.api import CollectorView
from edamon.model.recordjson import bytes_json, envelope_json
from edamon.model.snapshot import SNAPSHOT_SCHEMA_VERSION, ChainView, CollectDocument

__all__ = ["CollectDocument", "build_document", "chain_export", "document_json", "json_schema"]


def build_document(view: CollectorView, max_trees: int = 200) -> CollectDocument:
    snapshot = view.snapshot()
    trees: list[ChainView] = []
    for summary in snapshot.chains[:max_trees]:
        tree = view.chain(summary.correlation_id)
        if tree is not None:
            trees.append(tree)
    return CollectDocument(SNAPSHOT_SCHEMA_VERSION, snapshot, tuple(trees))


def document_json(document: CollectDocument, *, indent: int | None = 2) -> str:
    """The document as JSON text in ASCII (other characters escaped): valid whatever the
    output's encoding, also for a lone surrogate read from a record's `\\ud800` escape."""
    return json.dumps(asdict(document), indent=indent, ensure_ascii=True)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the document (pydantic reads the dataclasses)."""
    from pydantic import TypeAdapter

    return TypeAdapter(CollectDocument).json_schema(mode="serialization")


def chain_export(view: CollectorView, chain: ChainView) -> dict[str, Any]:
    """One flow for an incident ticket: its tree (as `collect --json` writes it) and each
    event the collector still holds, with its envelope and record (coordinates, timestamp,
    key, headers and value as `dlq show --json` writes them; a record whose data was dropped
    for memory has none)."""
    events: dict[str, Any] = {}
    for node in chain.nodes:
        env = view.event(node.event_id)
        if env is None:
            continue
        record = env.record
        events[node.event_id] = {
            **envelope_json(env),
            "occurred_at": env.occurred_at,
            "trace_id": env.trace_id,
            "coords": record.coords,
            "timestamp_ms": record.timestamp_ms,
            "key": bytes_json(record.key),
            "headers": [{"key": key, **(bytes_json(value) or {})} for key, value in record.headers],
            "value": bytes_json(record.value),
            "value_truncated": env.truncated,
            "record_dropped": env.dropped,
        }
    return {"schema_version": SNAPSHOT_SCHEMA_VERSION, "chain": asdict(chain), "events": events}
