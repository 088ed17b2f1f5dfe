"""The wire between the service and the client: what the service writes (edamon.service.docs)
the client reads back (edamon.client) as the same model objects, bytes included."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from builders import event_value, spring_dlt_headers
from edamon.client.client import (
    ServerError,
    dead_letter_from,
    decode,
    envelope_from,
    record_from,
)
from edamon.config import EnvelopeSettings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.snapshot import TimelineRow
from edamon.service import docs

BINARY = bytes(range(256))


def wire(doc: object) -> object:
    """Through JSON text, as it travels."""
    return json.loads(json.dumps(doc))


def test_a_record_with_binary_key_value_and_headers_comes_back_whole() -> None:
    record = RawRecord(
        "t",
        3,
        42,
        1_795_000_000_000,
        key=BINARY,
        value="héllo ✓\n".encode(),
        headers=(("a", b"1"), ("bin", b"\x00\xff"), ("a", b"2"), ("empty", b"")),
    )
    doc = docs.record_doc(record)
    assert doc["key"] is not None and "base64" in doc["key"]
    assert doc["value"] == {"text": "héllo ✓\n"}
    assert record_from(wire(doc)) == record  # type: ignore[arg-type]
    assert record_from(wire(docs.record_doc(replace(record, key=None, value=None)))).value is None  # type: ignore[arg-type]


def test_a_dead_letter_comes_back_as_the_decoder_made_it() -> None:
    decoder = DeadLetterDecoder(EnvelopeDecoder(EnvelopeSettings()))
    value = event_value("e-1", "OrderPlaced", "c-1")
    headers = (*spring_dlt_headers("orders", 2, 7), ("x-bin", b"\x00\x01"))
    dead = decoder.decode(RawRecord("orders.DLT", 0, 5, 1_795_000_000_000, b"k", value, headers))
    back = dead_letter_from(wire(docs.dead_letter_doc(dead, None)))  # type: ignore[arg-type]
    assert back.record == dead.record
    assert back.info == dead.info
    assert dead.envelope is not None and back.envelope is not None
    # the dlq show --json document carries no event time nor trace id
    assert back.envelope == replace(dead.envelope, occurred_at=None, trace_id=None)


def test_an_event_comes_back_with_its_record() -> None:
    decoded = EnvelopeDecoder(EnvelopeSettings()).decode(
        RawRecord("orders", 0, 1, 1_795_000_000_000, b"k", event_value("e-1", "OrderPlaced", "c"))
    )
    assert isinstance(decoded, Envelope)
    doc = wire(docs.event_doc(decoded))
    back = envelope_from(
        doc["envelope"],  # type: ignore[index]
        record_from(doc["record"]),  # type: ignore[index]
        occurred_at=doc["occurred_at"],  # type: ignore[index]
        trace_id=doc["trace_id"],  # type: ignore[index]
    )
    assert back == decoded


def test_a_lone_surrogate_from_a_record_survives_the_trip() -> None:
    row = TimelineRow(1.0, "t", "Odd\ud800Type", "e", None, "t/0/0")
    body = docs.json_body(TimelineRow, row)  # UTF-8 can't hold it: ASCII with escapes
    assert body.isascii()
    assert decode(TimelineRow, body) == row


def test_an_answer_of_another_shape_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="unexpected answer"):
        decode(TimelineRow, b'{"time": "soon"}')
    with pytest.raises(ServerError, match="unexpected answer"):
        decode(TimelineRow, b"<html>")
