"""How the demo's services write and read their events: JSON (the default), or Avro or Protobuf
through a schema registry, in the Confluent wire format (a zero byte, the 4-byte schema id, the
payload; Protobuf adds its message index, here the single byte 0).

The Avro envelope has the JSON one's fields; the payload is a record of optional fields (the
demo's payloads differ by event type), with what it does not name kept as JSON text in `extra`.
Subjects follow Confluent's TopicNameStrategy (`<topic>-value`). OrderPlaced v1 events (no
`currency`) are written with the schema's first version and v2 events with the second, so two
registry versions are in flight, as in a real schema evolution. The Protobuf envelope
(`edamon/demo/event.proto` below, registered as `.proto` text) has one version: `currency` is
an optional field.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any, Protocol

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from google.protobuf.message import DecodeError

from edamon.decode.registry import RegisteredSchema, RegistryError, SchemaRegistry
from edamon.decode.wire import WireError, compile_schema, proto_dict
from edamon.demo.events import Event, PoisonMessage, iso_time, parse_iso

__all__ = ["PROTO", "AvroCodec", "Codec", "JsonCodec", "ProtobufCodec", "avro_schema"]

_ID = struct.Struct(">I")
_OPTIONAL_TEXT = ("orderId", "customerId", "reservationId", "paymentId", "refundId")
_MORE_TEXT = ("trackingId", "carrier", "reason")


def _optional(name: str, kind: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None}


def avro_schema(version: int) -> dict[str, Any]:
    """The demo's Avro envelope; version 1 has no `currency` in its payload."""
    item = {
        "type": "record",
        "name": "Item",
        "fields": [
            {"name": "sku", "type": "string"},
            {"name": "qty", "type": "int"},
            {"name": "price", "type": "double"},
        ],
    }
    payload_fields = [
        *(_optional(name, "string") for name in _OPTIONAL_TEXT),
        _optional("items", {"type": "array", "items": item}),
        _optional("total", "double"),
        *([_optional("currency", "string")] if version >= 2 else []),
        *(_optional(name, "string") for name in _MORE_TEXT),
        {"name": "extra", "type": {"type": "map", "values": "string"}, "default": {}},
    ]
    return {
        "type": "record",
        "name": "DemoEvent",
        "namespace": "edamon.demo",
        "fields": [
            {"name": "eventId", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "eventType", "type": "string"},
            {"name": "aggregateId", "type": "string"},
            {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "version", "type": "int"},
            {
                "name": "payload",
                "type": {"type": "record", "name": "Payload", "fields": payload_fields},
            },
            {
                "name": "metadata",
                "type": {
                    "type": "record",
                    "name": "Metadata",
                    "fields": [
                        {"name": "correlationId", "type": "string"},
                        {"name": "causationId", "type": "string"},
                        {"name": "userId", "type": "string"},
                    ],
                },
            },
        ],
    }


class Codec(Protocol):
    """Event <-> record value."""

    name: str

    async def prepare(self, topics: list[str]) -> None:
        """Anything to do before the first event (register schemas). Raises RegistryError."""
        ...

    def encode(self, topic: str, event: Event) -> bytes: ...

    def decode(self, value: bytes | None) -> Event:
        """The event; PoisonMessage when the value is not one."""
        ...


class JsonCodec:
    """The demo's JSON envelope (conventions §1)."""

    name = "json"

    async def prepare(self, topics: list[str]) -> None:
        return None

    def encode(self, topic: str, event: Event) -> bytes:
        return event.to_json()

    def decode(self, value: bytes | None) -> Event:
        return Event.from_json(value)


class AvroCodec:
    """Avro in the Confluent wire format, schemas registered in `registry`."""

    name = "avro"

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._parsed = {version: parse_schema(avro_schema(version)) for version in (1, 2)}
        self._ids: dict[tuple[str, int], int] = {}
        """(topic, schema version) -> schema id."""
        self._by_id: dict[int, Any] = {}

    async def prepare(self, topics: list[str]) -> None:
        """Register the envelope under every topic's value subject (v1 then v2 for
        OrderPlaced, whose v1 events lack `currency`)."""
        register = getattr(self.registry, "register_schema", None)
        if register is None:
            raise RegistryError(f"{self.registry.name} does not take new schemas")
        texts = {v: json.dumps(avro_schema(v), separators=(",", ":")) for v in (1, 2)}
        for topic in topics:
            versions = (1, 2) if topic.endswith(".OrderPlaced") else (2,)
            for version in versions:
                schema_id = await register(f"{topic}-value", RegisteredSchema(texts[version]))
                self._ids[topic, version] = schema_id
                self._by_id[schema_id] = self._parsed[version]

    def encode(self, topic: str, event: Event) -> bytes:
        version = 1 if event.event_type == "OrderPlaced" and event.version == 1 else 2
        schema_id = self._ids.get((topic, version)) or self._ids[topic, 2]
        known = set(_OPTIONAL_TEXT) | set(_MORE_TEXT) | {"items", "total"}
        if version >= 2:
            known.add("currency")
        payload: dict[str, Any] = {k: v for k, v in event.payload.items() if k in known}
        if "items" in payload:
            payload["items"] = [
                {"sku": str(i["sku"]), "qty": int(i["qty"]), "price": float(i["price"])}
                for i in payload["items"]
            ]
        if "total" in payload:
            payload["total"] = float(payload["total"])
        payload["extra"] = {k: json.dumps(v) for k, v in event.payload.items() if k not in known}
        record = {
            "eventId": event.event_id,
            "eventType": event.event_type,
            "aggregateId": event.aggregate_id,
            "occurredAt": round(event.occurred_at * 1000),
            "version": event.version,
            "payload": payload,
            "metadata": {
                "correlationId": event.correlation_id,
                "causationId": event.causation_id,
                "userId": event.user_id,
            },
        }
        buffer = io.BytesIO()
        buffer.write(b"\x00" + _ID.pack(schema_id))
        schemaless_writer(buffer, self._by_id[schema_id], record)
        return buffer.getvalue()

    def decode(self, value: bytes | None) -> Event:
        if value is None:
            raise PoisonMessage("the record has no value")
        if len(value) < 5 or value[0] != 0:
            raise PoisonMessage("not in the Confluent wire format")
        parsed = self._by_id.get(_ID.unpack_from(value, 1)[0])
        if parsed is None:
            raise PoisonMessage("unknown schema id")
        stream = io.BytesIO(value)
        stream.seek(5)
        try:
            data = schemaless_reader(stream, parsed, None, return_record_name=False)
        except (ValueError, EOFError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise PoisonMessage(f"invalid Avro: {exc}") from None
        if not isinstance(data, dict) or stream.tell() != len(value):
            raise PoisonMessage("invalid Avro: bytes left over")
        raw = data["payload"]
        payload = {k: v for k, v in raw.items() if v is not None and k != "extra"}
        try:
            payload.update((key, json.loads(text)) for key, text in raw["extra"].items())
        except ValueError as exc:
            raise PoisonMessage(f"invalid Avro: extra payload field: {exc}") from None
        meta = data["metadata"]
        return Event(
            event_id=str(data["eventId"]),
            event_type=data["eventType"],
            aggregate_id=data["aggregateId"],
            occurred_at=parse_iso(iso_time(data["occurredAt"].timestamp())),
            version=data["version"],
            payload=payload,
            correlation_id=meta["correlationId"],
            causation_id=meta["causationId"],
            user_id=meta["userId"],
        )


PROTO = """syntax = "proto3";
package edamon.demo;
import "google/protobuf/timestamp.proto";

message DemoEvent {
  string event_id = 1;
  string event_type = 2;
  string aggregate_id = 3;
  google.protobuf.Timestamp occurred_at = 4;
  int32 version = 5;
  message Item { string sku = 1; int32 qty = 2; double price = 3; }
  message Payload {
    optional string order_id = 1;
    optional string customer_id = 2;
    optional string reservation_id = 3;
    optional string payment_id = 4;
    optional string refund_id = 5;
    repeated Item items = 6;
    optional double total = 7;
    optional string currency = 8;
    optional string tracking_id = 9;
    optional string carrier = 10;
    optional string reason = 11;
    map<string, string> extra = 12;  // other payload fields, as JSON text
  }
  Payload payload = 6;
  message Metadata { string correlation_id = 1; string causation_id = 2; string user_id = 3; }
  Metadata metadata = 7;
}
"""
_PROTO_KNOWN = frozenset({*_OPTIONAL_TEXT, *_MORE_TEXT, "items", "total", "currency"})
_PROTO_FIELDS = {
    "orderId": "order_id",
    "customerId": "customer_id",
    "reservationId": "reservation_id",
    "paymentId": "payment_id",
    "refundId": "refund_id",
    "trackingId": "tracking_id",
    "carrier": "carrier",
    "reason": "reason",
    "currency": "currency",
}


class ProtobufCodec:
    """Protobuf in the Confluent wire format (message index 0: DemoEvent), the `.proto` text
    registered in `registry` and compiled here at run time (no generated classes)."""

    name = "protobuf"

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._ids: dict[str, int] = {}
        self._classes: dict[int, Any] = {}

    async def prepare(self, topics: list[str]) -> None:
        register = getattr(self.registry, "register_schema", None)
        if register is None:
            raise RegistryError(f"{self.registry.name} does not take new schemas")
        for topic in topics:
            schema_id = await register(f"{topic}-value", RegisteredSchema(PROTO, "PROTOBUF"))
            self._ids[topic] = schema_id
            if schema_id not in self._classes:
                try:
                    compiled = compile_schema(schema_id, RegisteredSchema(PROTO, "PROTOBUF"), {})
                except WireError as exc:
                    raise RegistryError(str(exc)) from None
                assert hasattr(compiled, "message_class")
                self._classes[schema_id] = compiled.message_class()

    def encode(self, topic: str, event: Event) -> bytes:
        schema_id = self._ids[topic]
        message = self._classes[schema_id](
            event_id=event.event_id,
            event_type=event.event_type,
            aggregate_id=event.aggregate_id,
            version=event.version,
        )
        message.occurred_at.FromMilliseconds(round(event.occurred_at * 1000))
        payload = message.payload
        for key, value in event.payload.items():
            field = _PROTO_FIELDS.get(key)
            if field is not None:
                setattr(payload, field, str(value))
            elif key == "total":
                payload.total = float(value)
            elif key == "items":
                for item in value:
                    payload.items.add(
                        sku=str(item["sku"]), qty=int(item["qty"]), price=float(item["price"])
                    )
            else:
                payload.extra[key] = json.dumps(value)
        metadata = message.metadata
        metadata.correlation_id = event.correlation_id
        metadata.causation_id = event.causation_id
        metadata.user_id = event.user_id
        body: bytes = message.SerializeToString()
        return b"\x00" + _ID.pack(schema_id) + b"\x00" + body

    def decode(self, value: bytes | None) -> Event:
        if value is None:
            raise PoisonMessage("the record has no value")
        if len(value) < 6 or value[0] != 0 or value[5] != 0:
            raise PoisonMessage("not in the Confluent wire format")
        cls = self._classes.get(_ID.unpack_from(value, 1)[0])
        if cls is None:
            raise PoisonMessage("unknown schema id")
        try:
            message = cls.FromString(value[6:])
        except DecodeError as exc:
            raise PoisonMessage(f"invalid Protobuf: {exc}") from None
        shown = proto_dict(message.payload)
        assert isinstance(shown, dict)
        extra = shown.pop("extra", {})
        try:
            shown.update((key, json.loads(text)) for key, text in extra.items())
        except ValueError as exc:
            raise PoisonMessage(f"invalid Protobuf: extra payload field: {exc}") from None
        return Event(
            event_id=message.event_id,
            event_type=message.event_type,
            aggregate_id=message.aggregate_id,
            occurred_at=message.occurred_at.ToMilliseconds() / 1000,
            version=message.version,
            payload=shown,
            correlation_id=message.metadata.correlation_id,
            causation_id=message.metadata.causation_id,
            user_id=message.metadata.user_id,
        )
