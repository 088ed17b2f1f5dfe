"""The Confluent wire format's framing (schema id, Protobuf message indexes) and what a record in
it becomes without a registry. Decoding against registry schemas is in
tests/kafka/test_registry_decoding.py (a real registry)."""

from __future__ import annotations

import json

import pytest

from edamon.config import EnvelopeSettings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.wire import WireError, message_indexes, schema_id_of
from edamon.model.envelope import Envelope, SchemaRef, Undecodable, WireFormat
from edamon.model.records import RawRecord

HEAD = b"\x00\x00\x00\x00\x2a"  # magic byte 0, schema id 42


def test_schema_id_of_the_header() -> None:
    assert schema_id_of(HEAD + b"payload") == 42
    assert schema_id_of(b"\x00\xff\xff\xff\xff") == 2**32 - 1
    assert schema_id_of(b"\x00\x00\x00\x2a") is None  # 4 bytes: no room for the id
    assert schema_id_of(b'{"eventId": 1}') is None
    assert schema_id_of(None) is None


@pytest.mark.parametrize(
    ("indexes", "expected"),
    [
        (b"\x00", ((0,), 6)),  # the common case: the first top-level message, one byte
        (b"\x02\x02", ((1,), 7)),  # count 1, index 1 (zigzag)
        (b"\x04\x02\x00", ((1, 0), 8)),  # the first nested message of the second one
        (b"\x02\x96\x01", ((75,), 8)),  # a two-byte varint: zigzag 150 = 75
    ],
)
def test_protobuf_message_indexes(indexes: bytes, expected: tuple[tuple[int, ...], int]) -> None:
    assert message_indexes(HEAD + indexes + b"\x0a\x01x") == expected


@pytest.mark.parametrize("indexes", [b"", b"\x01", b"\x02", b"\x02\x01", b"\x80"])
def test_bad_message_indexes(indexes: bytes) -> None:
    with pytest.raises(WireError, match="corrupt Protobuf message indexes"):
        message_indexes(HEAD + indexes)


def test_schema_labels() -> None:
    avro = SchemaRef(WireFormat.AVRO, 42, "orders-value", 3)
    assert avro.label == "Avro · schema 42 · subject orders-value v3"
    proto = SchemaRef(WireFormat.PROTOBUF, 7, "shop-value", 1, "shop.OrderPlaced")
    assert proto.label == "Protobuf · shop.OrderPlaced · schema 7 · subject shop-value v1"
    assert SchemaRef(WireFormat.JSON_SCHEMA, 9).label == "JSON Schema · schema 9"


def record(value: bytes, headers: tuple[tuple[str, bytes], ...] = ()) -> RawRecord:
    return RawRecord("orders.OrderPlaced", 0, 5, 1_795_687_200_000, b"order-1", value, headers)


def test_without_a_registry_avro_is_undecodable_unless_the_headers_say_enough() -> None:
    decoder = EnvelopeDecoder(EnvelopeSettings())
    bare = decoder.decode(record(HEAD + b"\x02\x04ab"))
    assert isinstance(bare, Undecodable)
    assert bare.reason == "schema 42: no schema registry configured"
    assert bare.awaiting is None  # nothing will ever fetch it
    headers = (("event-id", b"e-1"), ("event-type", b"OrderPlaced"))
    env = decoder.decode(record(HEAD + b"\x02\x04ab", headers))
    assert isinstance(env, Envelope)
    assert (env.event_id, env.event_type, env.aggregate_id) == ("e-1", "OrderPlaced", "order-1")
    assert env.schema is None


def test_json_schema_values_need_no_registry() -> None:
    body = {"eventId": "e-2", "eventType": "Paid", "metadata": {"correlationId": "f-1"}}
    env = EnvelopeDecoder(EnvelopeSettings()).decode(record(HEAD + json.dumps(body).encode()))
    assert isinstance(env, Envelope)
    assert (env.event_id, env.correlation_id) == ("e-2", "f-1")
    assert env.schema is not None and env.schema.format is WireFormat.JSON_SCHEMA
    assert env.schema.schema_id == 42
    broken = EnvelopeDecoder(EnvelopeSettings()).decode(record(HEAD + b'{"eventId": '))
    assert isinstance(broken, Undecodable)
    assert broken.reason == "schema 42: corrupt JSON Schema payload (not JSON)"
