"""Schema ids in Apicurio's record headers: reading the headers (pure), and what a record with
a bare payload becomes once its schema is known (compiled here, no registry). Fetching the
schemas from a real Apicurio Registry is in tests/kafka/test_registry_apicurio_headers.py."""

from __future__ import annotations

import asyncio
import io
import json
import struct
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from edamon.config import EnvelopeSettings, SchemaRegistrySettings
from edamon.decode.apicurio import avro_encoding, core_api_url, header_id
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.registry import HttpSchemaRegistry, RegisteredSchema, RegistryError
from edamon.decode.schemas import SchemaStore
from edamon.decode.wire import compile_schema
from edamon.model.envelope import Envelope, SchemaRef, Undecodable, WireFormat, schema_key_text
from edamon.model.records import RawRecord


def long(number: int) -> bytes:
    return struct.pack(">q", number)


@pytest.mark.parametrize(
    ("headers", "part", "expected"),
    [
        ({"apicurio.value.globalId": long(42)}, "value", ("globalId", 42)),
        ({"apicurio.value.contentId": long(7)}, "value", ("contentId", 7)),
        ({"apicurio.key.contentId": long(2**40)}, "key", ("contentId", 2**40)),
        # both: the globalId, as Apicurio's resolver takes it first
        (
            {"apicurio.value.contentId": long(7), "apicurio.value.globalId": long(42)},
            "value",
            ("globalId", 42),
        ),
        ({"apicurio.value.globalId": long(42)}, "key", None),  # the value's, not the key's
        ({"apicurio.key.globalId": long(42)}, "value", None),
        ({"event-type": b"OrderPlaced"}, "value", None),
        ({}, "value", None),
    ],
)
def test_the_id_in_the_headers(
    headers: dict[str, bytes], part: Any, expected: tuple[str, int] | None
) -> None:
    assert header_id(headers, part) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "0 bytes, not an 8-byte big-endian id"),
        (b"\x00\x00\x00\x2a", "4 bytes, not an 8-byte big-endian id"),  # a 4-byte int
        (b"42", "2 bytes, not an 8-byte big-endian id"),  # decimal text
        (long(42) + b"\x00", "9 bytes, not an 8-byte big-endian id"),
        (None, "null, not an 8-byte id"),
        (long(0), "0 is not a valid id"),
        (long(-1), "-1 is not a valid id"),
    ],
)
def test_a_malformed_id_header_gives_its_reason(raw: bytes | None, reason: str) -> None:
    found = header_id({"apicurio.value.globalId": raw}, "value")
    assert found == f"header apicurio.value.globalId: {reason}"


def test_the_avro_encoding_header() -> None:
    assert avro_encoding({}, "value") is None
    assert avro_encoding({"apicurio.value.encoding": b"BINARY"}, "value") is None
    assert avro_encoding({"apicurio.value.encoding": b"JSON"}, "key") is None  # the value's
    assert avro_encoding({"apicurio.value.encoding": b"JSON"}, "value") == (
        "header apicurio.value.encoding: Avro 'JSON' encoding is not read (only BINARY)"
    )


def test_the_core_api_beside_the_ccompat_one() -> None:
    assert core_api_url("http://reg:8080/apis/ccompat/v7") == "http://reg:8080/apis/registry/v3"
    assert core_api_url("https://h/x/apis/ccompat/v6/") == "https://h/x/apis/registry/v3"
    assert core_api_url("http://localhost:8081") is None  # Confluent, Redpanda, Karapace


def test_labels_name_the_kind_of_id() -> None:
    assert schema_key_text(42) == "schema 42"
    assert schema_key_text(("globalId", 42)) == "globalId 42"
    ref = SchemaRef(WireFormat.AVRO, 42, "orders-value", 3, id_kind="contentId")
    assert ref.label == "Avro · contentId 42 · subject orders-value v3"
    assert ref.key == ("contentId", 42)
    assert SchemaRef(WireFormat.AVRO, 42).key == 42


ORDER = {
    "type": "record",
    "name": "OrderPlaced",
    "fields": [
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "eventId", "type": "string"},
        {"name": "eventType", "type": "string"},
    ],
}
PROTO = """syntax = "proto3";
package shop;
message Audit { string who = 1; }
message OrderPaid { string event_id = 1; string event_type = 2; }
"""


def avro(schema: Any, value: Any) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), value)
    return buffer.getvalue()


def delimited_ref(name: bytes) -> bytes:
    ref = b"\x0a" + bytes([len(name)]) + name
    return bytes([len(ref)]) + ref


def record(value: bytes, headers: tuple[tuple[str, bytes | None], ...], key: bytes | None = None):
    return RawRecord("orders.OrderPlaced", 0, 5, 1_795_687_200_000, key, value, headers)


@pytest.fixture
def decoder() -> EnvelopeDecoder:
    store = SchemaStore(None)
    order = RegisteredSchema(json.dumps(ORDER))
    store.add(("globalId", 11), compile_schema(("globalId", 11), order, {}, "orders-value", 2))
    store.add(("contentId", 11), compile_schema(("contentId", 11), order, {}))
    store.add(11, compile_schema(11, RegisteredSchema('"string"'), {}))  # a Confluent id 11
    store.add(("contentId", 3), compile_schema(("contentId", 3), RegisteredSchema('"string"'), {}))
    proto = RegisteredSchema(PROTO, "PROTOBUF")
    store.add(("globalId", 12), compile_schema(("globalId", 12), proto, {}))
    return EnvelopeDecoder(EnvelopeSettings(), store)


def test_a_bare_avro_value_decodes_by_its_header_even_with_a_leading_zero(
    decoder: EnvelopeDecoder,
) -> None:
    value = avro(ORDER, {"note": None, "eventId": "e-1", "eventType": "OrderPlaced"})
    assert value[0] == 0  # the union's null: it looks like the Confluent framing
    for headers in [
        (("apicurio.value.globalId", long(11)),),
        (("apicurio.value.globalId", long(11)), ("apicurio.value.encoding", b"BINARY")),
    ]:
        env = decoder.decode(record(value, headers))
        assert isinstance(env, Envelope), env
        assert (env.event_id, env.event_type) == ("e-1", "OrderPlaced")
        assert env.schema is not None
        assert env.schema.label == "Avro · globalId 11 · subject orders-value v2"
        assert env.version == 2
        assert env.schema.read is not None
        shown = env.schema.read(value)
        assert shown == {"note": None, "eventId": "e-1", "eventType": "OrderPlaced"}
        assert decoder.decode_many([record(value, headers)]) == [env]
    env = decoder.decode(record(value, (("apicurio.value.contentId", long(11)),)))
    assert isinstance(env, Envelope) and env.schema is not None
    assert env.schema.label == "Avro · contentId 11"


def test_a_key_decodes_by_its_own_header(decoder: EnvelopeDecoder) -> None:
    value = avro(ORDER, {"note": None, "eventId": "e-1", "eventType": "OrderPlaced"})
    headers = (("apicurio.value.globalId", long(11)), ("apicurio.key.contentId", long(3)))
    env = decoder.decode(record(value, headers, key=avro("string", "order-9")))
    assert isinstance(env, Envelope), env
    assert env.aggregate_id == "order-9"


def test_a_protobuf_value_after_apicurios_ref(decoder: EnvelopeDecoder) -> None:
    message = b"\x0a\x03e-3\x12\x09OrderPaid"  # event_id, event_type
    headers = (("apicurio.value.globalId", long(12)),)
    env = decoder.decode(record(delimited_ref(b"OrderPaid") + message, headers))
    assert isinstance(env, Envelope), env
    assert (env.event_id, env.event_type) == ("e-3", "OrderPaid")
    assert env.schema is not None
    assert env.schema.label == "Protobuf · shop.OrderPaid · globalId 12"
    nowhere = decoder.decode(record(delimited_ref(b"Refund") + message, headers))
    assert isinstance(nowhere, Undecodable)
    assert nowhere.reason == "globalId 12: no top-level message 'Refund' in the schema"
    for broken in [b"\x0b\x0a\x07OrderPaid", b"\x03\x12\x01x", b"\xff"]:
        bad = decoder.decode(record(broken, headers))
        assert isinstance(bad, Undecodable)
        assert bad.reason == "globalId 12: corrupt Protobuf type reference (Apicurio Ref)"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (
            (("apicurio.value.globalId", b"\x00\x0b"),),
            "header apicurio.value.globalId: 2 bytes, not an 8-byte big-endian id",
        ),
        (
            (("apicurio.value.globalId", long(11)), ("apicurio.value.encoding", b"JSON")),
            "header apicurio.value.encoding: Avro 'JSON' encoding is not read (only BINARY)",
        ),
        (
            (("apicurio.value.globalId", long(11)), ("apicurio.key.globalId", b"x")),
            "key header apicurio.key.globalId: 1 bytes, not an 8-byte big-endian id",
        ),
        (
            (("apicurio.value.globalId", long(99)),),
            "globalId 99: no schema registry configured",
        ),
    ],
)
def test_what_does_not_decode_says_why(
    decoder: EnvelopeDecoder, headers: tuple[tuple[str, bytes], ...], reason: str
) -> None:
    value = avro(ORDER, {"note": None, "eventId": "e-1", "eventType": "OrderPlaced"})
    for result in (decoder.decode(record(value, headers, key=b"k")),
                   decoder.decode_many([record(value, headers, key=b"k")])[0]):  # fmt: skip
        assert isinstance(result, Undecodable)
        assert result.reason == reason
        assert result.awaiting is None


def test_corrupt_bare_avro(decoder: EnvelopeDecoder) -> None:
    bad = decoder.decode(record(b"\x02\xff", (("apicurio.value.globalId", long(11)),)))
    assert isinstance(bad, Undecodable)
    assert bad.reason.startswith("globalId 11: corrupt Avro payload")


async def test_an_apicurio_id_without_apicurios_api_says_what_to_set() -> None:
    """A Confluent-style registry URL (not Apicurio's ccompat API) and no apicurio_url: the
    schema store's reason names the setting; nothing is asked over the network."""
    registry = HttpSchemaRegistry(SchemaRegistrySettings(url="http://127.0.0.1:9"))
    store = SchemaStore(registry, retry_s=60)
    try:
        with pytest.raises(RegistryError, match=r"set schema_registry\.apicurio_url"):
            await registry.schema(("globalId", 1))
        resolved: list[tuple[object, str | None]] = []
        store.on_resolved = lambda key, reason: resolved.append((key, reason))
        assert store.want(("globalId", 1)) == "globalId 1: fetching"
        while not resolved:
            await asyncio.sleep(0.01)
        reason = "globalId 1: not Apicurio's API (set schema_registry.apicurio_url)"
        assert resolved == [(("globalId", 1), reason)]
        assert store.failure(("globalId", 1)) == reason
        configured = HttpSchemaRegistry(
            SchemaRegistrySettings(
                url="http://127.0.0.1:9", apicurio_url="http://a/apis/registry/v3/"
            )
        )
        assert configured.apicurio_api == "http://a/apis/registry/v3"
        assert registry.apicurio_api is None
        await configured.aclose()
    finally:
        await store.aclose()
