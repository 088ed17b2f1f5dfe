"""An Apicurio key header must not change how the value is read (found by a review)."""

from __future__ import annotations

import io
import json
import struct

from fastavro import parse_schema, schemaless_writer

from edamon.config import EnvelopeSettings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.registry import RegisteredSchema
from edamon.decode.schemas import SchemaStore
from edamon.decode.wire import compile_schema
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord


def test_a_structured_cloudevent_with_an_apicurio_key_is_still_a_cloudevent() -> None:
    store = SchemaStore(None)
    store.add(("contentId", 3), compile_schema(("contentId", 3), RegisteredSchema('"string"'), {}))
    decoder = EnvelopeDecoder(EnvelopeSettings(), store)
    key = io.BytesIO()
    schemaless_writer(key, parse_schema("string"), "order-42")
    event = {
        "specversion": "1.0",
        "id": "e1",
        "type": "OrderPlaced",
        "source": "shop",
        "correlationid": "c-1",
    }
    headers = (
        ("content-type", b"application/cloudevents+json"),
        ("apicurio.key.contentId", struct.pack(">q", 3)),
    )
    record = RawRecord("orders", 0, 0, 0, key.getvalue(), json.dumps(event).encode(), headers)
    for found in (decoder.decode(record), decoder.decode_many([record])[0]):
        assert isinstance(found, Envelope), found
        assert found.correlation_id == "c-1"  # the CloudEvents extension
        assert found.format is EnvelopeFormat.CLOUDEVENTS_STRUCTURED
        assert found.aggregate_id == "order-42"


def test_a_plain_json_value_with_an_apicurio_key_reads_the_same_one_by_one_and_in_batches() -> None:
    """The batch paths (Python and the accelerator) leave a record with an Apicurio id
    header to `decode`, so its key is read through the registry on every path."""
    store = SchemaStore(None)
    store.add(("contentId", 3), compile_schema(("contentId", 3), RegisteredSchema('"string"'), {}))
    key = io.BytesIO()
    schemaless_writer(key, parse_schema("string"), "order-42")
    value = json.dumps({"eventId": "e1", "eventType": "OrderPlaced"}).encode()
    headers = (("apicurio.key.contentId", struct.pack(">q", 3)),)
    record = RawRecord("orders", 0, 0, 0, key.getvalue(), value, headers)
    for native in ("off", "auto"):
        decoder = EnvelopeDecoder(EnvelopeSettings(native=native), store)
        one = decoder.decode(record)
        (batch,) = decoder.decode_many([record])
        assert isinstance(one, Envelope) and isinstance(batch, Envelope), (one, batch)
        assert one.aggregate_id == batch.aggregate_id == "order-42", native
