"""Records written the way Apicurio's own serdes write them with headers enabled, on a real
cluster with a real Apicurio Registry: the schema id in `apicurio.value.globalId` /
`apicurio.value.contentId` (and the key's) as an 8-byte big-endian long, the payload bare
(Avro from fastavro's schemaless writer; Protobuf after Apicurio's length-delimited `Ref`).
The collector fetches each schema by globalId or contentId from Apicurio's core API and
decodes the records into one chain; a malformed header is undecodable with a precise reason,
and nothing else in the batch is lost."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer

from edamon.collector.jsonout import build_document, document_json
from edamon.config import EnvelopeSettings, SchemaRegistrySettings, Settings, load_settings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.registry import HttpSchemaRegistry
from edamon.decode.schemas import SchemaStore
from edamon.model.envelope import Envelope, Undecodable
from edamon.model.records import RawRecord
from kafka_helpers import MakeTopic, Produce, UniqueName, running_collector
from registry_helpers import (
    apicurio_id_header,
    apicurio_ids,
    apicurio_ref,
    avro,
    proto_classes,
    register,
    until,
)

pytestmark = pytest.mark.kafka

ORDER = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "shop",
    "fields": [
        # null first: every payload starts with a zero byte, as the Confluent framing does;
        # the header must win (Apicurio's deserializer reads the headers first)
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "eventId", "type": "string"},
        {"name": "eventType", "type": "string"},
        {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "metadata",
            "type": {
                "type": "record",
                "name": "Metadata",
                "fields": [
                    {"name": "correlationId", "type": "string"},
                    {"name": "causationId", "type": ["null", "string"], "default": None},
                ],
            },
        },
    ],
}
PAYMENTS = """syntax = "proto3";
package shop.payments;

message Audit {
  string who = 1;
}

message Metadata {
  string correlation_id = 1;
  string causation_id = 2;
}

message PaymentProcessed {
  string event_id = 1;
  string event_type = 2;
  Metadata metadata = 3;
  int64 amount_cents = 4;
}
"""
AT = dt.datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=dt.UTC)


def order(event_id: str, cause: str | None) -> dict[str, Any]:
    return {
        "note": None,
        "eventId": event_id,
        "eventType": "OrderPlaced",
        "occurredAt": AT,
        "metadata": {"correlationId": "flow-1", "causationId": cause},
    }


def avro_text(text: str) -> bytes:
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema("string"), text)
    return buffer.getvalue()


def settings_for(bootstrap: str, registry: str, prefix: str) -> Settings:
    return load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 5},
            "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 0.5},
            "lag": {"interval_s": 0.3},
            "schema_registry": {"url": registry, "retry_s": 0.5},
        },
        use_default_path=False,
    )


async def test_ids_in_apicurio_headers_decode_through_the_collector(
    kafka_bootstrap: str,
    schema_registry_url: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    prefix = unique_name("apicurio")
    orders = await make_topic(f"{prefix}.OrderPlaced")
    payments = await make_topic(f"{prefix}.PaymentProcessed")
    url = schema_registry_url
    # the same content under two subjects: one contentId, two globalIds (the second one is
    # the topic's, never equal to the contentId)
    register(url, f"{prefix}.first-value", ORDER)
    register(url, f"{orders}-value", ORDER)
    global_id, content_id = apicurio_ids(url, f"{orders}-value")
    assert global_id != content_id
    register(url, f"{orders}-key", '"string"')
    key_global_id, _ = apicurio_ids(url, f"{orders}-key")
    register(url, f"{payments}-value", PAYMENTS, "PROTOBUF")
    payment_global_id, _ = apicurio_ids(url, f"{payments}-value")
    classes, _ = proto_classes({"shop/payments.proto": PAYMENTS}, "shop/payments.proto")
    payment = classes["shop.payments.PaymentProcessed"](
        event_id="e3",
        event_type="PaymentProcessed",
        metadata={"correlation_id": "flow-1", "causation_id": "e2"},
        amount_cents=4200,
    )

    first = avro(ORDER, order("e1", None))
    assert first[0] == 0  # would read as the Confluent framing without the header
    await produce(
        orders,
        [
            (
                avro_text("order-1"),
                first,
                [
                    apicurio_id_header("key", "globalId", key_global_id),
                    apicurio_id_header("value", "globalId", global_id),
                    ("apicurio.value.encoding", b"BINARY"),
                ],
            ),
            (b"order-1", avro(ORDER, order("e2", "e1")),
             [apicurio_id_header("value", "contentId", content_id)]),
            (b"order-1", avro(ORDER, order("e8", None)),
             [("apicurio.value.globalId", b"\x00\x00\x00\x07")]),  # 4 bytes: malformed
            (b"order-1", avro(ORDER, order("e9", None)),
             [apicurio_id_header("value", "globalId", 2**40)]),  # no such schema
        ],
    )  # fmt: skip
    await produce(
        payments,
        [
            (
                b"order-1",
                apicurio_ref("PaymentProcessed") + payment.SerializeToString(),
                [
                    apicurio_id_header("value", "globalId", payment_global_id),
                    ("apicurio.value.msgType", b"shop.payments.Payments$PaymentProcessed"),
                    ("apicurio.protobuf.type", b"PaymentProcessed"),
                ],
            )
        ],
    )

    async with running_collector(settings_for(kafka_bootstrap, url, prefix)) as collector:
        await until(
            lambda: (v := collector.chain("flow-1")) is not None and v.summary.events == 3,
            what="flow-1 with its 3 events",
        )
        await until(lambda: collector.snapshot().undecodable.count == 2, what="2 undecodable")
        view = collector.chain("flow-1")
        assert view is not None
        assert [(n.event_id, n.depth) for n in view.nodes] == [("e1", 0), ("e2", 1), ("e3", 2)]
        assert [(n.wire_format, n.schema_id, n.schema_id_kind) for n in view.nodes] == [
            ("avro", global_id, "globalId"),
            ("avro", content_id, "contentId"),
            ("protobuf", payment_global_id, "globalId"),
        ]
        e1 = collector.event("e1")
        assert e1 is not None and e1.schema is not None
        assert e1.schema.label == f"Avro · globalId {global_id} · subject {orders}-value v1"
        assert e1.aggregate_id == "order-1"  # the key, decoded through its own header
        assert e1.occurred_at == pytest.approx(AT.timestamp())
        assert e1.record.value == first  # kept as written
        e2 = collector.event("e2")
        assert e2 is not None and e2.schema is not None
        assert e2.schema.label.startswith(f"Avro · contentId {content_id} · subject ")
        e3 = collector.event("e3")
        assert e3 is not None and e3.schema is not None
        assert e3.schema.label == (
            f"Protobuf · shop.payments.PaymentProcessed · globalId {payment_global_id}"
            f" · subject {payments}-value v1"
        )
        assert e3.schema.read is not None
        assert e3.schema.read(e3.record.value or b"")["amountCents"] == 4200
        assert dict(collector.snapshot().undecodable.by_reason) == {
            "header apicurio.value.globalId: 4 bytes, not an 8-byte big-endian id": 1,
            f"globalId {2**40} not found": 1,
        }

        document = json.loads(document_json(build_document(collector)))
        tree = next(
            t for t in document["chain_trees"] if t["summary"]["correlation_id"] == "flow-1"
        )
        assert [(n["schema_id"], n["schema_id_kind"]) for n in tree["nodes"]] == [
            (global_id, "globalId"),
            (content_id, "contentId"),
            (payment_global_id, "globalId"),
        ]


async def test_a_record_waits_for_its_globalid_then_decodes(
    kafka_bootstrap: str,
    schema_registry_url: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    """A globalId the registry does not have yet: the record is held, counted undecodable
    with the registry's reason, and decoded once the schema is registered."""
    prefix = unique_name("apicurio-late")
    orders = await make_topic(f"{prefix}.OrderPlaced")
    url = schema_registry_url
    register(url, f"{prefix}.probe-value", {"type": "record", "name": "P", "fields": []})
    probe_global_id, _ = apicurio_ids(url, f"{prefix}.probe-value")
    future = probe_global_id + 1  # the next registration's globalId (a fresh artifact)
    await produce(
        orders,
        [(b"order-1", avro(ORDER, order("e1", None)),
          [apicurio_id_header("value", "globalId", future)])],
    )  # fmt: skip
    async with running_collector(settings_for(kafka_bootstrap, url, prefix)) as collector:
        await until(
            lambda: (
                dict(collector.snapshot().undecodable.by_reason)
                == {f"globalId {future} not found": 1}
            ),
            what="the record counted undecodable while its schema is missing",
        )
        register(url, f"{orders}-value", ORDER)
        assert apicurio_ids(url, f"{orders}-value")[0] == future
        await until(lambda: collector.event("e1") is not None, what="e1 decoded")
        assert collector.snapshot().undecodable.count == 0


async def test_a_globalid_schema_with_references(
    schema_registry_url: str, unique_name: UniqueName
) -> None:
    """An Avro schema importing another (a reference): the globalId's references come from
    Apicurio's core API, the imported schema through its subject; the decode path (the real
    registry client, no broker) reads the record."""
    prefix = unique_name("apicurio-refs").replace("-", "_").replace(".", "_")
    meta = {
        "type": "record",
        "name": "Meta",
        "namespace": prefix,
        "fields": [{"name": "correlationId", "type": "string"}],
    }
    event = {
        "type": "record",
        "name": "Event",
        "namespace": prefix,
        "fields": [
            {"name": "eventId", "type": "string"},
            {"name": "eventType", "type": "string"},
            {"name": "metadata", "type": f"{prefix}.Meta"},
        ],
    }
    url = schema_registry_url
    register(url, f"{prefix}-meta", meta)
    register(url, f"{prefix}-value", event, references=[(f"{prefix}.Meta", f"{prefix}-meta", 1)])
    global_id, _ = apicurio_ids(url, f"{prefix}-value")
    named: dict[str, Any] = {}
    parse_schema(meta, named_schemas=named)
    buffer = io.BytesIO()
    body = {"eventId": "e1", "eventType": "Placed", "metadata": {"correlationId": "flow-9"}}
    schemaless_writer(buffer, parse_schema(event, named_schemas=named), body)
    record = RawRecord(
        "t", 0, 0, 0, None, buffer.getvalue(), (apicurio_id_header("value", "globalId", global_id),)
    )
    store = SchemaStore(HttpSchemaRegistry(SchemaRegistrySettings(url=url)), retry_s=0.3)
    try:
        decoder = EnvelopeDecoder(EnvelopeSettings(), store)
        first = decoder.decode(record)
        assert isinstance(first, Undecodable) and first.awaiting == ("globalId", global_id)
        assert first.reason == f"globalId {global_id}: fetching"
        await until(lambda: store.get(("globalId", global_id)) is not None, what="the schema")
        env = decoder.decode(record)
        assert isinstance(env, Envelope), env
        assert (env.event_id, env.correlation_id) == ("e1", "flow-9")
        assert env.schema is not None
        assert env.schema.label == f"Avro · globalId {global_id} · subject {prefix}-value v1"
    finally:
        await store.aclose()
