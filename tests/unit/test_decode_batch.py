"""The decoder's batch path (`decode_many`) gives exactly what `decode` gives, record by record,
whatever the values, headers and configured field locations: the Python batch path, and the
accelerator's (`edamon_native`) when it is installed (in CI it must be: `.ci/run` builds it)."""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edamon.config import EnvelopeSettings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord
from tests.unit.test_decode_property import envelope_like, header_lists, json_values

SETTINGS = [
    EnvelopeSettings(max_value_bytes=400, keep_value_bytes=60),
    # leads that are headers, the key, deeper paths and a root read both whole and nested
    EnvelopeSettings(
        event_id=["header:event-id", "metadata.id", "eventId"],
        event_type=["meta.type.name", "eventType"],
        correlation_id=["metadata.correlationId", "metadata", "header:correlation-id"],
        aggregate_id=["key:", "aggregateId"],
        occurred_at=["metadata.at", "occurredAt", "time"],
        version=["metadata.v", "version"],
        source=["data.0", "source"],
    ),
    EnvelopeSettings(
        event_id=["metadata.eventId", "id"],
        causation_id=["metadata.causationId", "metadata.parent.id"],
    ),
    # the same kinds of leads with paths of at most two keys (all that the accelerator reads)
    EnvelopeSettings(
        event_id=["header:event-id", "metadata.id", "eventId"],
        event_type=["eventType", "metadata.v"],
        correlation_id=["metadata.correlationId", "metadata", "header:correlation-id"],
        aggregate_id=["key:", "aggregateId"],
        occurred_at=["metadata.at", "occurredAt", "header:source", "time"],
        version=["metadata.v", "header:event-id", "version"],
        source=["data", "metadata.source", "source"],
        keep_value_bytes=60,
    ),
]

SEED_KEYS = ["aggregateId", "occurredAt", "version", "source", "id"]
META_KEYS = ["correlationId", "causationId", "source", "id", "at", "v", "eventId", "parent"]
ids = st.one_of(
    st.text(min_size=1, max_size=12),
    st.text(min_size=1, max_size=12),
    st.text(max_size=12),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
)
seed_like = st.fixed_dictionaries(
    {"eventId": ids, "eventType": ids},
    optional={
        **{key: st.one_of(ids, json_values) for key in SEED_KEYS},
        "metadata": st.one_of(
            st.dictionaries(st.sampled_from(META_KEYS), ids, max_size=5),
            st.dictionaries(st.sampled_from(META_KEYS), st.one_of(ids, json_values), max_size=5),
            json_values,
        ),
        "payload": json_values,
    },
)


def _dump(obj: Any, ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


seed_values = st.tuples(seed_like, st.booleans()).map(lambda t: _dump(*t))
values = st.one_of(
    seed_values,
    seed_values,
    seed_values,
    st.tuples(envelope_like, st.booleans()).map(lambda t: _dump(*t)),
    st.binary(max_size=80),
    st.sampled_from(
        [
            b'{"eventId":"a","eventType":"T","payload":"\xff"}',  # not UTF-8 in the payload
            b'{"eventId":"a","eventType":"T","payload":"\\ud800"}',  # a lone surrogate
            b'{"eventId":"a","eventType":"T","version":1e400}',
            b'{"eventId":"a","eventType":"T","occurredAt":' + b"9" * 400 + b"}",
            b'{"eventId":' + b"7" * 5000 + b',"eventType":"T"}',
            b'{"eventId":"a","eventType":"T","payload":' + b"[" * 900 + b"]" * 900 + b"}",
            b'{"eventId":"a","eventId":"b","eventType":"T"}',
            b' {"eventId":"a","eventType":"T"} ',
            b'{"eventId":"a","eventType":"T","metadata":"text"}',
            b'{"eventId":"a","eventType":"T","metadata":{"correlationId":5}}',
            b'\x00\x00\x00\x00\x07{"eventId":"a"}',
            b'{"eventId":"a","eventType":"T"} x',
            b'{"eventId":"a","eventType":"T",}',
            b"[]",
        ]
    ),
)
simple_headers = st.lists(
    st.tuples(
        st.sampled_from(["event-id", "correlation-id", "source", "traceparent", "x"]),
        st.sampled_from(
            [b"h-1", b"", b"\xff", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]
        ),
    ),
    max_size=3,
).map(tuple)
records = st.builds(
    RawRecord,
    topic=st.sampled_from(["orders.OrderPlaced", "t"]),
    partition=st.integers(0, 3),
    offset=st.integers(0, 2**40),
    timestamp_ms=st.integers(0, 2**42),
    key=st.one_of(
        st.none(), st.sampled_from([b"order-1", b"\x00\x00\x00\x00\x01k"]), st.binary(max_size=8)
    ),
    value=st.one_of(values, values, st.none()),
    headers=st.one_of(st.just(()), simple_headers, header_lists),
)


names = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8)
usual = st.fixed_dictionaries(
    {
        "eventId": names,
        "eventType": names,
        "metadata": st.dictionaries(st.sampled_from(META_KEYS), st.one_of(names, ids), max_size=5),
    },
    optional={key: st.one_of(names, ids) for key in SEED_KEYS},
)
usual_records = st.builds(
    RawRecord,
    topic=st.just("orders.OrderPlaced"),
    partition=st.integers(0, 3),
    offset=st.integers(0, 2**40),
    timestamp_ms=st.integers(0, 2**42),
    key=st.one_of(st.none(), st.just(b"order-1")),
    value=usual.map(lambda obj: _dump(obj, True)),
    headers=st.one_of(st.just(()), simple_headers),
)


def _native_mode(mode: str) -> str:
    """The mode under test; "required" needs the accelerator, which CI always builds."""
    if (
        mode == "required"
        and importlib.util.find_spec("edamon_native") is None
        and not os.environ.get("CI")
    ):
        pytest.skip("the accelerator is not installed (pip install ./native)")
    return mode


BATCH_PATHS = pytest.mark.parametrize("native", ["off", "required"], ids=["python", "native"])


@BATCH_PATHS
@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(usual_records, records), max_size=8), st.sampled_from(range(len(SETTINGS)))
)
def test_batch_path_decodes_as_decode_does(native: str, batch: list[RawRecord], which: int) -> None:
    configured = SETTINGS[which].model_copy(update={"native": _native_mode(native)})
    expected = [EnvelopeDecoder(configured).decode(record) for record in batch]
    assert EnvelopeDecoder(configured).decode_many(batch) == expected


def test_usual_records_take_the_batch_path_and_share_ids() -> None:
    """A seed envelope decodes with its fields read, its parent's id shared as its cause."""
    decoder = EnvelopeDecoder(EnvelopeSettings())

    def value(event_id: str, cause: str | None) -> bytes:
        return json.dumps(
            {
                "eventId": event_id,
                "eventType": "OrderPlaced",
                "aggregateId": "order-1",
                "occurredAt": 1_700_000_000_123,
                "version": 2,
                "payload": {"lines": [{"sku": "a", "qty": 1}]},
                "metadata": {"correlationId": "c-1", "causationId": cause},
            }
        ).encode()

    first = RawRecord("orders.OrderPlaced", 0, 1, 5, b"order-1", value("e-1", None))
    second = RawRecord("orders.OrderPlaced", 0, 2, 6, b"order-1", value("e-2", "e-1"))
    parent, child = decoder.decode_many([first, second])
    assert isinstance(parent, Envelope) and isinstance(child, Envelope)
    assert (parent.event_id, parent.event_type, parent.correlation_id) == (
        "e-1",
        "OrderPlaced",
        "c-1",
    )
    assert (parent.aggregate_id, parent.occurred_at, parent.version) == (
        "order-1",
        1_700_000_000.123,
        2,
    )
    assert parent.causation_id is None and parent.format is EnvelopeFormat.SEED
    assert child.causation_id == "e-1" and child.causation_id is parent.event_id
    assert child.correlation_id is parent.correlation_id
    assert child.record == second


def test_configured_names_are_data_not_code() -> None:
    """The batch path's field reader is generated for the configured locations: a header name,
    a subkey or a path that looks like code is read as a name, the same as `decode` reads it;
    a JSON key the batch parser can't name (a double quote) leaves the batch path aside."""
    odd = "x'); raise SystemExit('injected"
    quoted = 'x"); raise SystemExit("injected'
    for key in (odd, quoted):
        decoder = EnvelopeDecoder(
            EnvelopeSettings(
                event_id=["eventId"],
                source=[f"header:{quoted}", "source"],
                aggregate_id=[f"meta.{key}", "aggregateId"],
                version=[f"deep.{key}.v", "version"],
            )
        )
        value = json.dumps(
            {"eventId": "e-1", "eventType": "T", "meta": {key: "agg-9"}, "deep": {key: {"v": 7}}}
        ).encode()
        record = RawRecord("t", 0, 1, 5, None, value, ((quoted, b"billing"),))
        [env] = decoder.decode_many([record])
        assert env == decoder.decode(record)
        assert isinstance(env, Envelope)
        assert (env.source, env.aggregate_id, env.version) == ("billing", "agg-9", 7)
