"""Records and envelopes as JSON-able data, as every JSON output of edamon writes them
(`collect --json`, `dlq show --json`, the chain export, the API): bytes as `{"text": ...}` when
printable UTF-8, else `{"base64": ...}`, so nothing is lost."""

from __future__ import annotations

import base64
from typing import Any

from edamon.model.envelope import Envelope

__all__ = ["bytes_json", "envelope_json", "printable_text"]


def printable_text(data: bytes) -> str | None:
    """`data` as text when it is UTF-8 without control characters (tab and newlines allowed)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ch < " " and ch not in "\t\r\n") or ch == "\x7f" for ch in text):
        return None
    return text


def bytes_json(data: bytes | None) -> dict[str, Any] | None:
    """Record bytes as JSON-able data: `{"text": ...}` when printable UTF-8, else
    `{"base64": ...}`; None stays None."""
    if data is None:
        return None
    text = printable_text(data)
    if text is not None:
        return {"text": text}
    return {"base64": base64.b64encode(data).decode("ascii")}


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """An event's decoded envelope fields as JSON-able data."""
    return {
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "aggregate_id": envelope.aggregate_id,
        "version": envelope.version,
        "source": envelope.source,
        "format": envelope.format.value,
    }
