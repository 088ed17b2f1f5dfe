"""Plain-data views of dead letters and ledger entries, for JSON output and text views.

No markup and no terminal formatting: the CLI and the UI decide how to show these.
"""

from __future__ import annotations

import json
import time
from typing import Any

from edamon.actions.headers import iso_utc
from edamon.actions.ledger import LedgerEntry
from edamon.model.deadletter import DeadLetter
from edamon.model.recordjson import bytes_json, envelope_json, printable_text

__all__ = [
    "bytes_json",
    "dead_letter_json",
    "describe_fields",
    "envelope_json",
    "header_display",
    "ledger_json",
    "printable_text",
    "retry_text",
    "value_display",
    "when_text",
]


def header_display(value: bytes) -> str:
    """A header value for people: its text, or hex (with the integer for 4 and 8 bytes, as
    Spring writes partitions, offsets and timestamps)."""
    text = printable_text(value)
    if text is not None and (text or not value):
        return text
    shown = "0x" + value.hex()
    if len(value) in (4, 8):
        shown += f" (int {int.from_bytes(value, 'big', signed=True)})"
    return shown


def value_display(value: bytes | None) -> str:
    """A record value for people: pretty JSON, text, or a hex dump line for binary (named
    `Java-serialized` for Java's serialization stream, magic AC ED)."""
    if value is None:
        return "(null)"
    text = printable_text(value)
    if text is None:
        head = value[:64].hex(" ")
        more = f" ... ({len(value)} bytes)" if len(value) > 64 else ""
        kind = "Java-serialized" if value[:2] == b"\xac\xed" else "binary"
        return f"{kind}: {head}{more}"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def ledger_json(entry: LedgerEntry | None) -> dict[str, Any] | None:
    """The ledger entry as JSON-able data (None: never retried)."""
    if entry is None:
        return None
    data = entry.to_json()
    data["status"] = entry.status
    data["retried"] = entry.retried
    data["at_iso"] = iso_utc(entry.at)
    return data


def dead_letter_json(
    dead_letter: DeadLetter, retry: LedgerEntry | None = None, *, with_value: bool = False
) -> dict[str, Any]:
    """Everything known about one dead letter as JSON-able data (headers as an ordered list)."""
    record = dead_letter.record
    info = dead_letter.info
    envelope = dead_letter.envelope
    data: dict[str, Any] = {
        "coords": record.coords,
        "dlq_topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "time": iso_utc(record.timestamp_ms / 1000.0),
        "convention": info.convention,
        "original_topic": info.original_topic,
        "original_partition": info.original_partition,
        "original_offset": info.original_offset,
        "original_timestamp_ms": info.original_timestamp_ms,
        "consumer_group": info.consumer_group,
        "exception_class": info.exception_class,
        "cause_class": info.cause_class,
        "exception_message": info.exception_message,
        "attempts": info.attempts,
        "handler": info.handler,
        "problems": list(info.problems),
        "key": bytes_json(record.key),
        "event": None,
        "decode_error": dead_letter.decode_error,
        "retry": ledger_json(retry),
    }
    if envelope is not None:
        data["event"] = envelope_json(envelope)
    if with_value:
        data["stacktrace"] = info.stacktrace
        data["headers"] = [
            {"key": key, **(bytes_json(value) or {})} for key, value in record.headers
        ]
        data["value"] = bytes_json(record.value)
    return data


def when_text(epoch_s: float) -> str:
    """`2026-11-26 10:00:00` (UTC, seconds)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))


def retry_text(entry: LedgerEntry | None) -> str:
    """One line on the retry status: `-`, `sent #1 <time>` or `failed: <reason> (#2)`."""
    if entry is None:
        return "-"
    if entry.sent:
        return f"sent #{entry.attempt} {when_text(entry.at)}"
    earlier = " [sent before]" if entry.retried else ""
    return f"{entry.status} (#{entry.attempt}){earlier}"


def describe_fields(dead_letter: DeadLetter, retry: LedgerEntry | None) -> list[tuple[str, str]]:
    """(name, value) lines describing a dead letter for people; absent facts are left out."""
    info, record, env = dead_letter.info, dead_letter.record, dead_letter.envelope
    fields: list[tuple[str, object]] = [
        ("dead letter", record.coords),
        ("time", f"{when_text(record.timestamp_ms / 1000)} UTC ({record.timestamp_ms} ms)"),
        ("convention", info.convention),
        ("original", info.original_coords or info.original_topic),
        ("consumer group", info.consumer_group),
        ("exception", info.exception_class),
        ("cause", info.cause_class),
        ("message", info.exception_message),
        ("attempts", info.attempts),
        ("handler", info.handler),
        ("event type", env.event_type if env else None),
        ("event id", env.event_id if env else None),
        ("correlation id", env.correlation_id if env else None),
        ("causation id", env.causation_id if env else None),
        ("decode error", dead_letter.decode_error),
        ("header problems", "; ".join(info.problems) or None),
        ("retry", retry_text(retry) if retry else "never retried"),
        ("retry by", f"{retry.by} at {when_text(retry.at)} UTC" if retry else None),
        ("retry target", retry.target_coords if retry else None),
        ("key", header_display(record.key) if record.key is not None else "(null)"),
    ]
    return [(name, str(value)) for name, value in fields if value is not None]
