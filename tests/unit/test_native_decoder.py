"""The accelerator (`edamon_native`, the `native/` crate) reads the usual record itself, gives
exactly what the exact path gives, and hands back whatever it is unsure of.

tests/unit/test_decode_batch.py compares both batch paths with `decode` on generated records;
these are the cases named one by one, each also checked for *who* read it (the accelerator or
the exact path), so that a scanner that gave up on everything could not pass."""

from __future__ import annotations

import json

import pytest

from edamon.config import ConfigError, EnvelopeSettings, load_settings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.native import NativeDecoder, decoder_in_use
from edamon.model.envelope import Envelope, Undecodable
from edamon.model.records import FlawedRecord, RawRecord
from tests.unit.test_decode_batch import _native_mode


def _decoder(**settings: object) -> tuple[EnvelopeDecoder, NativeDecoder]:
    decoder = EnvelopeDecoder(EnvelopeSettings(native=_native_mode("required"), **settings))
    native = decoder._native
    assert native is not None
    return decoder, native


def _read(records: list[RawRecord], **settings: object) -> tuple[list[object], list[int]]:
    """(decode_many's results, the indexes the accelerator left to the exact path), after
    checking the results against `decode`'s."""
    decoder, native = _decoder(**settings)
    _, pending = native.decode(records, {}, {}, {}, decoder._share_header)
    results = decoder.decode_many(records)
    exact = EnvelopeDecoder(EnvelopeSettings(native="off", **settings))  # type: ignore[arg-type]
    assert results == [exact.decode(record) for record in records]
    return results, pending


def _record(
    value: bytes, headers: tuple[tuple[str, bytes], ...] = (), key: bytes | None = None
) -> RawRecord:
    return RawRecord("orders", 0, 7, 1_700_000_000_005, key, value, headers)


def _seed(**fields: object) -> bytes:
    return json.dumps({"eventId": "e-1", "eventType": "OrderPlaced", **fields}).encode()


READ_HERE = [
    _seed(),
    _seed(occurredAt=1_700_000_000_123, version=3, aggregateId="order-1"),
    _seed(occurredAt=1_700_000_000, version=-0),
    _seed(version=9_223_372_036_854_775_807),  # the largest i64
    _seed(aggregateId=12345),  # an integer id reads as its digits
    _seed(occurredAt="2026-12-07T10:00:00.5Z"),  # time text: the Python converter
    _seed(version="7"),
    _seed(metadata={"correlationId": "c-1", "causationId": "e-0", "source": "billing"}),
    _seed(metadata={"correlationId": "c\u00e9-\U0001f600"}).replace(b"\\u00e9", b"\\u00E9"),
    b'{"eventId":"e\\"1\\\\","eventType":"T\\u0041","payload":{"a":[1,2.5e-3,true,null,{}]}}',
    b' \n{ "eventId" : "e-1" ,\t"eventType":"T" }\r\n',
    b'{"eventId":"a","eventId":"b","eventType":"T"}',  # the last one wins, as in a dict
    b'{"eventId":"e-1","eventType":"T","ev\\u0065ntId":"e-2"}',  # an escaped key
    b'{"eventId":"e-1","eventType":"T","metadata":{"x":1},"metadata":"text"}',
    b'{"eventType":"T"}',  # no event id: the missing reason
]

LEFT_TO_THE_EXACT_PATH = [
    _seed(version=9_223_372_036_854_775_808),  # beyond an i64
    _seed(version=2.0),
    _seed(aggregateId=True),
    _seed(eventType=["a"]),
    _seed(occurredAt=9_300_000_000_000_000_000),
    b'{"eventId":"e-1","eventType":"T","payload":"\\ud800"}',  # a lone surrogate
    b'{"eventId":"e-1","eventType":"T","payload":"\\udc00\\ud800"}',
    b'{"eventId":"e-1","eventType":"T","payload":"a\tb"}',  # a raw control character
    b'{"eventId":"e-1","eventType":"T","n":01}',
    b'{"eventId":"e-1","eventType":"T","n":1.}',
    b'{"eventId":"e-1","eventType":"T","n":-}',
    b'{"eventId":"e-1","eventType":"T","x":tru}',
    b'{"eventId":"e-1","eventType":"T",}',
    b'{"eventId":"e-1","eventType":"T"} x',
    b'{"eventId":"e-1","eventType":"T"',
    b'{"eventId":"e-1","eventType":"T","p":' + b"[" * 80 + b"]" * 80 + b"}",
    '{"eventId":"é","eventType":"T"}'.encode(),  # not ASCII
    b"[1]",
    b'"text"',
    b"\x00\x00\x00\x00\x01{}",
]


def test_the_usual_records_are_read_by_the_accelerator() -> None:
    records = [_record(value) for value in READ_HERE]
    results, pending = _read(records)
    assert pending == [len(READ_HERE) - 1]  # only the one whose reason the caller words
    assert results[-1] == Undecodable(records[-1], "no event id")
    first = results[1]
    assert isinstance(first, Envelope)
    assert (first.occurred_at, first.version, first.aggregate_id) == (
        1_700_000_000.123,
        3,
        "order-1",
    )
    escaped = results[9]
    assert isinstance(escaped, Envelope)
    assert (escaped.event_id, escaped.event_type) == ('e"1\\', "TA")
    assert isinstance(results[8], Envelope) and results[8].correlation_id == "c\u00e9-\U0001f600"
    assert isinstance(results[11], Envelope) and results[11].event_id == "b"
    assert isinstance(results[12], Envelope) and results[12].event_id == "e-2"


@pytest.mark.parametrize("value", LEFT_TO_THE_EXACT_PATH)
def test_what_the_accelerator_is_unsure_of_goes_the_exact_way(value: bytes) -> None:
    _, pending = _read([_record(value)])
    assert pending == [0]


CE_JSON = b" Application/CloudEvents+json"


def test_headers_and_keys_are_read_as_the_python_path_reads_them() -> None:
    trace = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    records = [
        _record(b'{"eventType":"T"}', (("event-id", b"h-1"), ("event-id", b"h-2")), b"k-1"),
        _record(b'{"eventId":"e-1","eventType":"T"}', (("traceparent", trace),), b"k-1"),
        _record(b'{"eventId":"e-1","eventType":"T"}', (("correlation-id", b"\xff"),)),
        _record(b'{"eventId":"e-1","eventType":"T"}', (("source", b""),)),
        _record(b'{"eventId":"e-1","eventType":"T"}', (("ce_specversion", b"1.0"),)),
        _record(b'{"eventId":"e-1","eventType":"T"}', (("content-type", CE_JSON),)),
    ]
    results, pending = _read(records)
    assert pending == [4, 5]  # CloudEvents: the exact path's own shapes
    by_header, traced = results[0], results[1]
    assert isinstance(by_header, Envelope) and by_header.event_id == "h-2"  # the last header
    assert by_header.aggregate_id == "k-1"  # `key:`
    assert isinstance(traced, Envelope)
    assert traced.trace_id == traced.correlation_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_ids_keys_and_headers_are_shared_and_long_values_cut() -> None:
    decoder, _ = _decoder(keep_value_bytes=40)
    headers = (("event-type", b"OrderPlaced"),)
    first = _record(_seed(eventId="e-1", aggregateId="order-1"), headers, b"order-1")
    second = _record(_seed(eventId="e-2", metadata={"causationId": "e-1"}), headers, b"order-1")
    one, two = decoder.decode_many([first, second])
    assert isinstance(one, Envelope) and isinstance(two, Envelope)
    assert two.causation_id is one.event_id
    assert two.record.key is one.record.key and two.record.headers[0] is one.record.headers[0]
    assert one.truncated and one.record.value == first.value[:40]
    assert one.record.topic == "orders" and one.record.offset == 7


def test_records_of_other_shapes_go_the_exact_way() -> None:
    flawed = FlawedRecord("orders", 0, 1, 5, None, _seed(), (), flaw="header name not UTF-8: \\xff")
    results, pending = _read([flawed, _record(b""), RawRecord("orders", 0, 2, 5, None, None, ())])
    assert pending == [0, 1, 2]
    assert all(isinstance(result, Undecodable) for result in results)


def test_a_path_of_three_keys_leaves_the_python_batch_path_in_charge() -> None:
    decoder = EnvelopeDecoder(
        EnvelopeSettings(native=_native_mode("required"), event_id=["meta.a.id", "eventId"])
    )
    assert decoder._native is None
    [env] = decoder.decode_many([_record(_seed())])
    assert isinstance(env, Envelope) and env.event_id == "e-1"


def test_required_without_the_accelerator_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError, match=r"envelope\.native.*not installed"):
        load_settings(None, {"envelope": {"native": "required"}}, use_default_path=False)


def test_serve_says_which_decoder_it_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert decoder_in_use("off") == "Python (envelope.native = off)"
    if _native_mode("required") == "required":  # skipped outside CI without the accelerator
        assert decoder_in_use("auto") == "the accelerator (edamon_native)"
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    assert "not installed: pip install ./native" in decoder_in_use("auto")
