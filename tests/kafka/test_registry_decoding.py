"""Avro, Protobuf and JSON Schema in the Confluent wire format, against a real schema registry.

Schemas are registered over plain HTTP, payloads written with fastavro's writer and protobuf's
serializer, and framed by the test (tests/registry_helpers.py); edamon fetches each schema from
the registry in the background and decodes the records into envelopes.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from edamon.collector.state import CollectorState
from edamon.config import EnvelopeSettings, SchemaRegistrySettings, Settings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.registry import HttpSchemaRegistry, RegisteredSchema
from edamon.decode.schemas import SchemaStore
from edamon.model.envelope import Envelope, Undecodable, WireFormat
from edamon.model.records import RawRecord
from edamon.model.status import ConnectionState
from kafka_helpers import unique_name
from registry_helpers import (
    TcpProxy,
    avro,
    descriptor_base64,
    frame,
    proto_classes,
    register,
    until,
)

pytestmark = pytest.mark.kafka

METADATA = {
    "type": "record",
    "name": "Metadata",
    "fields": [
        {"name": "correlationId", "type": "string"},
        {"name": "causationId", "type": ["null", "string"], "default": None},
    ],
}
ORDER = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "shop",
    "fields": [
        {"name": "eventId", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "eventType", "type": "string"},
        {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "metadata", "type": METADATA},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
        {
            "name": "total",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        },
        {
            "name": "payment",
            "type": [
                "null",
                "string",
                {"type": "record", "name": "Card", "fields": [{"name": "last4", "type": "string"}]},
            ],
        },
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Line",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
                },
            },
        },
    ],
}
AT = dt.datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=dt.UTC)


def order(event_id: uuid.UUID, correlation: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": "OrderPlaced",
        "occurredAt": AT,
        "metadata": {"correlationId": correlation, "causationId": None},
        "status": "PAID",
        "total": Decimal("12.34"),
        "payment": {"last4": "4242"},
        "lines": [{"sku": "A-1", "qty": 2}],
        **extra,
    }


def record(value: bytes | None, key: bytes | None = None, headers: Any = (), offset: int = 0):
    return RawRecord("orders.OrderPlaced", 0, offset, 1_795_687_200_000, key, value, tuple(headers))


@pytest.fixture
async def store(schema_registry_url: str) -> AsyncIterator[SchemaStore]:
    registry = HttpSchemaRegistry(SchemaRegistrySettings(url=schema_registry_url))
    schemas = SchemaStore(registry, retry_s=0.3)
    try:
        yield schemas
    finally:
        await schemas.aclose()


async def decoded(decoder: EnvelopeDecoder, rec: RawRecord) -> Envelope | Undecodable:
    """Decode; a record awaiting a schema (its key's, its value's) is decoded again once the
    fetch ended."""
    result = decoder.decode(rec)
    for _ in range(2):
        if not isinstance(result, Undecodable) or result.awaiting is None:
            break
        await until(partial(_fetched, decoder.schemas, result.awaiting), what="the schema")
        result = decoder.decode(rec)
    return result


def _fetched(schemas: SchemaStore, schema_id: int) -> bool:
    return schemas.get(schema_id) is not None or schemas.failure(schema_id) is not None


async def envelope(decoder: EnvelopeDecoder, rec: RawRecord) -> Envelope:
    result = await decoded(decoder, rec)
    assert isinstance(result, Envelope), result
    return result


# -- Avro ----------------------------------------------------------------------------------


async def test_avro_nested_records_unions_enums_decimals_and_timestamps(
    schema_registry_url: str, store: SchemaStore
) -> None:
    subject = unique_name("orders") + "-value"
    schema_id = register(schema_registry_url, subject, ORDER)
    event_id = uuid.uuid4()
    value = frame(schema_id, avro(ORDER, order(event_id, "flow-7")))
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)

    first = decoder.decode(record(value))
    assert isinstance(first, Undecodable) and first.awaiting == schema_id  # never waits
    env = await envelope(decoder, record(value))

    assert env.event_id == str(event_id)
    assert env.event_type == "OrderPlaced"
    assert env.correlation_id == "flow-7"
    assert env.occurred_at == pytest.approx(AT.timestamp())
    assert env.version == 1  # the registry's version: the record has none
    assert env.schema is not None and env.schema.format is WireFormat.AVRO
    assert env.schema.label == f"Avro · schema {schema_id} · subject {subject} v1"
    assert env.record.value == value  # the bytes as read, never re-encoded
    assert env.schema.read is not None
    shown = env.schema.read(value)
    assert json.loads(json.dumps(shown)) == {
        "eventId": str(event_id),
        "eventType": "OrderPlaced",
        "occurredAt": "2026-11-26T10:00:00.123000+00:00",
        "metadata": {"correlationId": "flow-7", "causationId": None},
        "status": "PAID",
        "total": "12.34",
        "payment": {"last4": "4242"},
        "lines": [{"sku": "A-1", "qty": 2}],
    }
    # A string branch of the same union.
    other = frame(schema_id, avro(ORDER, order(uuid.uuid4(), "flow-8", payment="voucher-1")))
    assert env.schema.read(other)["payment"] == "voucher-1"  # type: ignore[index]


async def test_avro_key_gives_the_aggregate_id(
    schema_registry_url: str, store: SchemaStore
) -> None:
    prefix = unique_name("keys")
    key_id = register(schema_registry_url, f"{prefix}-key", {"type": "string"})
    value_id = register(schema_registry_url, f"{prefix}-value", ORDER)
    key = frame(key_id, avro({"type": "string"}, "order-77"))
    value = frame(value_id, avro(ORDER, order(uuid.uuid4(), "flow-k")))
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    env = await envelope(decoder, record(value, key))
    assert env.aggregate_id == "order-77"
    assert env.record.key == key
    # A plain JSON value with an Avro key: the key is decoded all the same.
    seed = json.dumps({"eventId": "j-1", "eventType": "OrderPlaced"}).encode()
    assert (await envelope(decoder, record(seed, key))).aggregate_id == "order-77"


async def test_v1_and_v2_writers_in_flight_together(
    schema_registry_url: str, store: SchemaStore
) -> None:
    subject = unique_name("evolving") + "-value"
    v2 = json.loads(json.dumps(ORDER))
    v2["fields"].append({"name": "currency", "type": "string", "default": "USD"})
    id1 = register(schema_registry_url, subject, ORDER)
    id2 = register(schema_registry_url, subject, v2)
    assert id1 != id2
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    old = frame(id1, avro(ORDER, order(uuid.uuid4(), "flow-v")))
    new = frame(id2, avro(v2, order(uuid.uuid4(), "flow-v", currency="EUR")))
    first, second = await envelope(decoder, record(old)), await envelope(decoder, record(new))
    assert (first.version, second.version) == (1, 2)
    assert first.schema is not None and second.schema is not None
    assert first.schema.label.endswith(f"{subject} v1")
    assert second.schema.label.endswith(f"{subject} v2")
    assert second.schema.read is not None
    assert second.schema.read(new)["currency"] == "EUR"  # type: ignore[index]

    # The throughput screen's versions in flight come from the registry.
    state = CollectorState(Settings(), cluster="test", schemas=store)
    state.catchup = type(state.catchup)(caught_up=True, records_behind=0, percent=100.0)
    state.ingest([record(old, offset=1), record(new, offset=2), record(new, offset=3)], 1e9)
    kinds = {k.event_type: k for k in state.snapshot(1e9).throughput.event_types}
    assert dict(kinds["OrderPlaced"].versions) == {1: 1, 2: 2}


async def test_unknown_id_and_corrupt_payload_are_undecodable_with_the_reason(
    schema_registry_url: str, store: SchemaStore
) -> None:
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    unknown = await decoded(decoder, record(frame(987_654_321, b"\x02\x04ab")))
    assert isinstance(unknown, Undecodable)
    assert unknown.reason == "schema 987654321 not found"

    schema_id = register(schema_registry_url, unique_name("corrupt") + "-value", ORDER)
    good = avro(ORDER, order(uuid.uuid4(), "flow-c"))
    for payload in (b"\xff\xff\xff\xff\xff", good[:-3], good + b"\x00\x00"):
        bad = await decoded(decoder, record(frame(schema_id, payload)))
        assert isinstance(bad, Undecodable), payload
        assert bad.reason.startswith(f"schema {schema_id}: corrupt Avro payload"), bad.reason
        assert bad.awaiting is None


# -- Protobuf ------------------------------------------------------------------------------

MONEY = """syntax = "proto3";
package common;
message Money { string currency = 1; int64 units = 2; }
"""
ORDERS = """syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/timestamp.proto";
message Audit { string who = 1; }
message OrderPlaced {
  string event_id = 1;
  string event_type = 2;
  google.protobuf.Timestamp occurred_at = 3;
  message Meta { string correlation_id = 1; string causation_id = 2; }
  Meta metadata = 4;
  common.Money total = 5;
  oneof payment { string card = 6; string voucher = 7; }
  enum Status { NEW = 0; PAID = 1; }
  Status status = 8;
  message Line { message Sku { string code = 1; } Sku sku = 1; int32 qty = 2; }
  repeated Line lines = 9;
}
"""


def _proto_order(classes: dict[str, Any], event_id: str, correlation: str) -> Any:
    message = classes["shop.OrderPlaced"](event_id=event_id, event_type="OrderPlaced")
    message.occurred_at.FromDatetime(AT)
    message.metadata.correlation_id = correlation
    message.total.currency = "EUR"
    message.total.units = 9_007_199_254_740_993
    message.voucher = "V-1"
    message.status = 1
    line = message.lines.add(qty=3)
    line.sku.code = "A-1"
    return message


@pytest.mark.parametrize("registered_as", ["proto text", "base64 descriptor"])
async def test_protobuf_nested_oneof_imports_and_message_indexes(
    schema_registry_url: str, store: SchemaStore, registered_as: str
) -> None:
    prefix = unique_name("proto")
    files = {"common/money.proto": MONEY, "shop/orders.proto": ORDERS}
    classes, fds = proto_classes(files, "shop/orders.proto")
    if registered_as == "proto text":
        money, orders = MONEY, ORDERS
    else:
        money = descriptor_base64(fds, "common/money.proto")
        orders = descriptor_base64(fds, "shop/orders.proto")
    register(schema_registry_url, f"{prefix}-money", money, "PROTOBUF")
    schema_id = register(
        schema_registry_url,
        f"{prefix}-value",
        orders,
        "PROTOBUF",
        [("common/money.proto", f"{prefix}-money", 1)],
    )
    message = _proto_order(classes, "p-1", "flow-p")
    value = frame(schema_id, message.SerializeToString(), (1,))  # the second top-level message
    assert value[5:7] == b"\x02\x02"
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    env = await envelope(decoder, record(value))

    assert (env.event_id, env.event_type, env.correlation_id) == ("p-1", "OrderPlaced", "flow-p")
    assert env.occurred_at == pytest.approx(AT.timestamp())
    assert env.schema is not None and env.schema.format is WireFormat.PROTOBUF
    assert env.schema.message == "shop.OrderPlaced"
    assert env.schema.label == (
        f"Protobuf · shop.OrderPlaced · schema {schema_id} · subject {prefix}-value v1"
    )
    assert env.schema.read is not None
    assert env.schema.read(value) == {
        "eventId": "p-1",
        "eventType": "OrderPlaced",
        "occurredAt": "2026-11-26T10:00:00.123Z",
        "metadata": {"correlationId": "flow-p"},
        "total": {"currency": "EUR", "units": 9_007_199_254_740_993},
        "voucher": "V-1",
        "status": "PAID",
        "lines": [{"sku": {"code": "A-1"}, "qty": 3}],
    }
    # A nested message (index [1, 0]: OrderPlaced.Meta) and the first one (the single 0).
    meta = classes["shop.OrderPlaced.Meta"](correlation_id="c-9")
    nested = frame(schema_id, meta.SerializeToString(), (1, 0))
    shown = decoder.decode(record(nested, headers=[("event-id", b"m-1"), ("event-type", b"M")]))
    assert isinstance(shown, Envelope)
    assert shown.correlation_id == "c-9"
    assert shown.schema is not None and shown.schema.message == "shop.OrderPlaced.Meta"
    audit = frame(schema_id, classes["shop.Audit"](who="ops").SerializeToString(), (0,))
    assert audit[5] == 0
    first = decoder.decode(record(audit, headers=[("event-id", b"a-1"), ("event-type", b"A")]))
    assert isinstance(first, Envelope) and first.schema is not None
    assert first.schema.message == "shop.Audit"
    # An index the schema does not have, and a payload protobuf refuses.
    missing = decoder.decode(record(frame(schema_id, b"", (7,))))
    assert isinstance(missing, Undecodable) and "no message at index [7]" in missing.reason
    corrupt = decoder.decode(record(frame(schema_id, b"\x0a\xff\xff", (1,))))
    assert isinstance(corrupt, Undecodable)
    assert corrupt.reason == f"schema {schema_id}: corrupt Protobuf payload"


# -- JSON Schema ---------------------------------------------------------------------------


async def test_json_schema_decodes_without_a_registry_and_names_its_subject_with_one(
    schema_registry_url: str, store: SchemaStore
) -> None:
    subject = unique_name("json") + "-value"
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"eventId": {"type": "string"}, "eventType": {"type": "string"}},
    }
    schema_id = register(schema_registry_url, subject, json.dumps(schema), "JSON")
    body = {"eventId": "j-1", "eventType": "OrderPlaced", "metadata": {"correlationId": "f"}}
    value = frame(schema_id, json.dumps(body).encode())

    alone = EnvelopeDecoder(EnvelopeSettings()).decode(record(value))
    assert isinstance(alone, Envelope), alone
    assert alone.correlation_id == "f"
    assert alone.schema is not None and alone.schema.label == f"JSON Schema · schema {schema_id}"

    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    assert isinstance(decoder.decode(record(value)), Envelope)  # at once, no waiting
    await until(lambda: store.get(schema_id) is not None, what="the JSON schema's subject")
    named = decoder.decode(record(value))
    assert isinstance(named, Envelope) and named.schema is not None
    assert named.schema.label == f"JSON Schema · schema {schema_id} · subject {subject} v1"


# -- the registry down, then back ----------------------------------------------------------


async def test_registry_down_then_back_decodes_the_records_held(schema_registry_url: str) -> None:
    host_port = schema_registry_url.split("//", 1)[1].split("/", 1)
    host, port = host_port[0].rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    await proxy.up()
    await proxy.down()  # the port is known and nothing answers on it
    url = f"http://127.0.0.1:{proxy.port}/{host_port[1]}"
    subject = unique_name("outage") + "-value"
    schema_id = register(schema_registry_url, subject, ORDER)
    settings = Settings(schema_registry={"url": url, "retry_s": 0.3, "hold_records": 10})
    store = SchemaStore(HttpSchemaRegistry(settings.schema_registry), retry_s=0.3)
    state = CollectorState(settings, cluster="test", schemas=store)
    store.on_resolved = lambda sid, reason: state.schema_resolved(sid, reason, 1e9)
    values = [frame(schema_id, avro(ORDER, order(uuid.uuid4(), "flow-o"))) for _ in range(3)]
    try:
        state.ingest([record(v, offset=i) for i, v in enumerate(values)], 1e9)
        assert state.snapshot(1e9).totals.events == 0
        reason = f"schema {schema_id}: registry unreachable (ConnectError)"
        await until(
            lambda: dict(state.snapshot(1e9).undecodable.by_reason).get(reason) == 3,
            what="3 records undecodable: registry unreachable",
        )
        snap = state.snapshot(1e9)
        assert snap.connection.registry is ConnectionState.ERROR
        assert "registry unreachable" in snap.connection.registry_message

        await proxy.up()  # the registry is back on the same port
        await until(lambda: state.snapshot(1e9).totals.events == 3, what="3 events decoded")
        snap = state.snapshot(1e9)
        assert snap.undecodable.count == 0 and snap.undecodable.samples == ()
        assert snap.connection.registry is ConnectionState.CONNECTED
        chain = state.chain("flow-o")
        assert chain is not None and chain.summary.events == 3
    finally:
        await store.aclose()
        await proxy.down()


class Counting(HttpSchemaRegistry):
    """The real registry client, counting the schemas asked for."""

    asked: list[int]

    async def schema(self, schema_id: int) -> RegisteredSchema:
        self.asked.append(schema_id)
        return await super().schema(schema_id)


async def test_one_request_per_unknown_id_while_its_records_wait(schema_registry_url: str) -> None:
    schema_id = register(schema_registry_url, unique_name("once") + "-value", ORDER)
    registry = Counting(SchemaRegistrySettings(url=schema_registry_url))
    registry.asked = []
    store = SchemaStore(registry)
    state = CollectorState(Settings(), cluster="test", schemas=store)
    store.on_resolved = lambda sid, reason: state.schema_resolved(sid, reason, 1e9)
    values = [frame(schema_id, avro(ORDER, order(uuid.uuid4(), f"f-{i}"))) for i in range(50)]
    try:
        for start in range(0, 50, 10):  # 50 records in 5 batches, before any answer
            batch = [record(v, offset=start + i) for i, v in enumerate(values[start : start + 10])]
            state.ingest(batch, 1e9)
        assert state.snapshot(1e9).totals.events == 0  # nothing waited on the network
        await until(lambda: state.snapshot(1e9).totals.events == 50, what="50 events")
        assert registry.asked == [schema_id]
        assert state.snapshot(1e9).undecodable.count == 0
    finally:
        await store.aclose()


async def test_beyond_the_hold_limit_the_oldest_records_are_undecodable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = Settings(schema_registry={"url": f"http://127.0.0.1:{port}", "hold_records": 2})
    store = SchemaStore(HttpSchemaRegistry(settings.schema_registry), retry_s=60)
    state = CollectorState(settings, cluster="test", schemas=store)
    store.on_resolved = lambda sid, reason: state.schema_resolved(sid, reason, 1e9)
    try:
        state.ingest([record(frame(7, b"\x02"), offset=i) for i in range(5)], 1e9)
        reasons = dict(state.snapshot(1e9).undecodable.by_reason)
        assert reasons == {"schema 7: too many records waiting": 3}
        down = "schema 7: registry unreachable (ConnectError)"
        await until(
            lambda: dict(state.snapshot(1e9).undecodable.by_reason).get(down) == 2,
            what="the 2 held records counted with the registry's reason",
        )
        snap = state.snapshot(1e9)
        assert snap.undecodable.count == 5
        assert {s.coords for s in snap.undecodable.samples} == {
            f"orders.OrderPlaced/0/{i}" for i in range(5)
        }
    finally:
        await store.aclose()


async def test_avro_times_in_microseconds_and_millis_read_the_same(
    schema_registry_url: str, store: SchemaStore
) -> None:
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    for logical in ("timestamp-micros", "timestamp-millis", "local-timestamp-micros"):
        schema = {
            "type": "record",
            "name": "Tick",
            "fields": [
                {"name": "eventId", "type": "string"},
                {"name": "eventType", "type": "string"},
                {"name": "occurredAt", "type": {"type": "long", "logicalType": logical}},
            ],
        }
        schema_id = register(schema_registry_url, unique_name("tick") + "-value", schema)
        at = AT.replace(tzinfo=None) if logical.startswith("local") else AT
        value = frame(schema_id, avro(schema, {"eventId": "t", "eventType": "T", "occurredAt": at}))
        env = await envelope(decoder, record(value))
        assert env.occurred_at == pytest.approx(AT.timestamp()), logical
        assert env.schema is not None and env.schema.read is not None
        assert env.schema.read(value)["occurredAt"].startswith("2026-11-26T10:00:00.123")  # type: ignore[index]
