"""Avro events on a real cluster with a real schema registry: the collector decodes them into
chains and sagas as it does JSON, CloudEvents binary mode carries an Avro body, a dead letter in
Avro is shown decoded and redriven byte for byte, and `collect --json` names each event's
format and schema id."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastavro import parse_schema, schemaless_reader

from builders import spring_dlt_headers
from edamon.actions.ledger import Ledger
from edamon.actions.redrive import Redriver
from edamon.broker.kafka import KafkaBroker
from edamon.collector.jsonout import build_document, document_json
from edamon.config import Settings, load_settings
from edamon.demo.sagas import demo_sagas
from edamon.model.status import ConnectionState, SagaState
from kafka_helpers import MakeTopic, Produce, UniqueName, running_collector
from registry_helpers import avro, frame, register, until

pytestmark = pytest.mark.kafka

EVENT = {
    "type": "record",
    "name": "DomainEvent",
    "namespace": "shop",
    "fields": [
        {"name": "eventId", "type": "string"},
        {"name": "eventType", "type": "string"},
        {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "aggregateId", "type": "string"},
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
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
    ],
}
CE_DATA = {
    "type": "record",
    "name": "StockData",
    "namespace": "shop",
    "fields": [
        {"name": "correlationId", "type": "string"},
        {"name": "causationId", "type": "string"},
        {"name": "sku", "type": "string"},
    ],
}
STEPS = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled"]


def event(eid: str, etype: str, flow: str, cause: str | None, at_ms: int) -> dict[str, Any]:
    return {
        "eventId": eid,
        "eventType": etype,
        "occurredAt": dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC),
        "aggregateId": "order-1",
        "metadata": {"correlationId": flow, "causationId": cause},
        "amount": Decimal("42.00"),
    }


def settings_for(bootstrap: str, registry: str, prefix: str) -> Settings:
    settings = load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 5},
            "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 0.5},
            "lag": {"interval_s": 0.3},
            "schema_registry": {"url": registry, "retry_s": 0.5},
            "dlq": {"ledger_topic": f"{prefix}.ledger"},
        },
        use_default_path=False,
    )
    settings.sagas.definitions = [demo_sagas()[0]]
    return settings


async def read_values(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        end = (await asyncio.wait_for(consumer.end_offsets([tp]), 10))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        values: list[bytes] = []
        deadline = time.monotonic() + 15
        while await consumer.position(tp) < end:
            assert time.monotonic() < deadline, f"could not read {topic}"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                values.extend(r.value for r in batch)
        return values
    finally:
        await consumer.stop()


async def test_avro_events_make_chains_sagas_and_dead_letters_like_json(
    kafka_bootstrap: str,
    schema_registry_url: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    prefix = unique_name("avro")
    for step in STEPS:
        await make_topic(f"{prefix}.{step}")
    dlt = await make_topic(f"{prefix}.PaymentProcessed.DLT")
    event_id = register(schema_registry_url, f"{prefix}.OrderPlaced-value", EVENT)
    data_id = register(schema_registry_url, f"{prefix}.StockReserved-value", CE_DATA)
    now_ms = int(time.time() * 1000)

    written: dict[str, bytes] = {}
    for i, step in reversed(list(enumerate(STEPS))):  # out of order: the last step first
        cause = f"e{i - 1}" if i else None
        if step == "StockReserved":  # CloudEvents binary mode: ce_* headers, an Avro data body
            body = {"correlationId": "flow-1", "causationId": "e0", "sku": "A-1"}
            value = frame(data_id, avro(CE_DATA, body))
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", b"e1"),
                ("ce_type", b"StockReserved"),
                ("ce_source", b"/stock"),
                ("ce_time", dt.datetime.fromtimestamp((now_ms + 100) / 1000, dt.UTC)
                 .isoformat().encode()),
                ("content-type", b"application/avro"),
            ]  # fmt: skip
        else:
            value = frame(
                event_id, avro(EVENT, event(f"e{i}", step, "flow-1", cause, now_ms + i * 100))
            )
            headers = []
        written[f"e{i}"] = value
        await produce(f"{prefix}.{step}", [(b"order-1", value, headers)])
    failed = frame(event_id, avro(EVENT, event("e9", "PaymentProcessed", "flow-2", None, now_ms)))
    await produce(
        dlt, [(b"order-2", failed, spring_dlt_headers(f"{prefix}.PaymentProcessed", 0, 7))]
    )

    settings = settings_for(kafka_bootstrap, schema_registry_url, prefix)
    async with running_collector(settings) as collector:
        await until(
            lambda: (v := collector.chain("flow-1")) is not None and v.summary.events == 4,
            what="flow-1 with its 4 Avro events",
        )
        await until(lambda: collector.snapshot().totals.dead_letters == 1, what="dead letter")
        await until(
            lambda: collector.snapshot().connection.registry is ConnectionState.CONNECTED,
            what="the registry connected",
        )
        view = collector.chain("flow-1")
        assert view is not None
        assert [n.event_type for n in view.nodes] == STEPS
        assert [n.depth for n in view.nodes] == [0, 1, 2, 3]
        assert view.summary.saga_state == SagaState.COMPLETED
        assert [(n.wire_format, n.schema_id) for n in view.nodes] == [
            ("avro", event_id), ("avro", data_id), ("avro", event_id), ("avro", event_id),
        ]  # fmt: skip
        stock = collector.event("e1")
        assert stock is not None and stock.format.value == "cloudevents-binary"
        assert stock.source == "/stock" and stock.causation_id == "e0"
        assert stock.record.value == written["e1"]
        snap = collector.snapshot()
        assert snap.undecodable.count == 0
        assert snap.connection.state is ConnectionState.CONNECTED

        dead = next(iter(collector.state.dead_letters()))
        assert dead.envelope is not None and dead.correlation_id == "flow-2"
        assert dead.envelope.schema is not None
        assert dead.envelope.schema.label.startswith(f"Avro · schema {event_id} · subject ")

        document = json.loads(document_json(build_document(collector)))
        tree = next(
            t for t in document["chain_trees"] if t["summary"]["correlation_id"] == "flow-1"
        )
        assert {(n["wire_format"], n["schema_id"]) for n in tree["nodes"]} == {
            ("avro", event_id), ("avro", data_id)
        }  # fmt: skip
        assert document["snapshot"]["connection"]["registry"] == "connected"

    # Redrive the Avro dead letter: the very bytes go back, never re-encoded.
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        ledger = Ledger(settings.dlq.ledger_topic)
        await ledger.load(broker)
        redriver = Redriver(broker, settings, ledger)
        summary = await redriver.execute(redriver.plan([dead]), rate=50)
        assert summary.ok, summary
    finally:
        await broker.close()
    copies = await read_values(kafka_bootstrap, f"{prefix}.PaymentProcessed")
    assert copies[-1] == failed
    payload = schemaless_reader(io.BytesIO(copies[-1][5:]), parse_schema(EVENT), None)
    assert payload["eventId"] == "e9" and payload["amount"] == Decimal("42.00")
