"""Plain-data views of dead letters (JSON and text output)."""

from __future__ import annotations

import json
import struct

from edamon.actions.ledger import LedgerEntry, RetryResult
from edamon.actions.report import (
    dead_letter_json,
    describe_fields,
    header_display,
    printable_text,
    retry_text,
    value_display,
)
from edamon.config import EnvelopeSettings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.records import RawRecord


def test_header_display_text_hex_and_spring_integers() -> None:
    assert header_display(b"orders") == "orders"
    assert header_display(b"") == ""
    assert header_display(struct.pack(">i", 7)) == "0x00000007 (int 7)"
    assert header_display(struct.pack(">q", -1)) == "0xffffffffffffffff (int -1)"
    assert header_display(b"\xff\x00") == "0xff00"


def test_printable_text_rejects_control_characters_but_keeps_newlines() -> None:
    assert printable_text(b"a\tb\nc") == "a\tb\nc"
    assert printable_text(b"a\x00b") is None
    assert printable_text(b"\x7f") is None
    assert printable_text("é".encode()) == "é"
    assert printable_text(b"\xc3") is None


def test_value_display() -> None:
    assert value_display(None) == "(null)"
    assert value_display(b'{"a":[1]}') == '{\n  "a": [\n    1\n  ]\n}'
    assert value_display(b"plain text") == "plain text"
    shown = value_display(bytes(range(100)))
    assert shown.startswith("binary: 00 01 02") and shown.endswith("(100 bytes)")
    java = b"\xac\xed\x00\x05t\x00\x05hello"
    assert value_display(java) == "Java-serialized: ac ed 00 05 74 00 05 68 65 6c 6c 6f"


def test_dead_letter_json_and_fields() -> None:
    record = RawRecord(
        "orders.DLT",
        0,
        3,
        1_795_687_200_000,
        b"\x00key",
        b'{"eventId": "e1", "eventType": "OrderPlaced"}',
        (
            ("x-original-topic", b"orders"),
            ("x-exception-fqcn", b"TimeoutError"),
            ("x-exception-stacktrace", b"Traceback..."),
        ),
    )
    dl = DeadLetterDecoder(EnvelopeDecoder(EnvelopeSettings())).decode(record)
    entry = LedgerEntry(dl.coords, "orders", 1, 9, RetryResult.SENT, None, 1.795e9, "bob", 1, 1)
    data = dead_letter_json(dl, entry, with_value=True)
    json.dumps(data)  # serialisable
    assert data["coords"] == "orders.DLT/0/3"
    assert data["time"] == "2026-11-26T10:00:00.000Z"
    assert data["key"] == {"base64": "AGtleQ=="}
    assert data["event"]["event_id"] == "e1"
    assert data["headers"][0] == {"key": "x-original-topic", "text": "orders"}
    assert data["retry"]["status"] == "sent" and data["retry"]["target_topic"] == "orders"
    assert data["stacktrace"] == "Traceback..."
    assert "headers" not in dead_letter_json(dl)

    fields = dict(describe_fields(dl, entry))
    assert fields["original"] == "orders"
    assert fields["exception"] == "TimeoutError"
    assert fields["retry target"] == "orders/1/9"
    assert fields["key"] == "0x006b6579 (int 7038329)"
    assert "cause" not in fields
    assert dict(describe_fields(dl, None))["retry"] == "never retried"


def test_retry_text() -> None:
    assert retry_text(None) == "-"
    failed_after_sent = LedgerEntry("a/0/1", "t", None, None, RetryResult.FAILED, "x", 0, "u", 2, 1)
    assert retry_text(failed_after_sent) == "failed: x (#2) [sent before]"
    sent = LedgerEntry("a/0/1", "t", 0, 1, RetryResult.SENT, None, 0, "u", 1, 1)
    assert retry_text(sent) == "sent #1 1970-01-01 00:00:00"
