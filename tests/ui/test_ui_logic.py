"""The dashboard's pure pieces: formatting, alerts, detail renderings (no app running)."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
from decimal import Decimal

import pytest
from fakes import NOW, make_snapshot
from fastavro import parse_schema, schemaless_writer
from rich.console import Console, RenderableType
from rich.text import Text

from edamon.decode.registry import RegisteredSchema
from edamon.decode.wire import compile_schema
from edamon.model.snapshot import CatchUpView, ConnectionView, Totals, UndecodableView
from edamon.model.status import ConnectionState, GroupStatus, PartitionStatus, SagaState
from edamon.ui.alerts import AlertTracker
from edamon.ui.format import (
    DASH,
    GREEN,
    ORANGE,
    RED,
    Times,
    ago,
    compact,
    duration,
    header_value,
    rate,
    shorten,
    shorten_middle,
    spark,
    status_style,
)
from edamon.ui.screens.help import help_table
from edamon.ui.widgets.detail import Fields, headers_table, payload_view
from edamon.ui.widgets.rates import spark_bars


def text(renderable: RenderableType, width: int = 100) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


# --- format ---------------------------------------------------------------------------------


def test_fields_fold_values_under_their_column_and_long_names_too() -> None:
    fields = Fields([(Text("topic"), Text("orders")), (Text("key"), Text("a" * 30))], style="bold")
    assert [line.rstrip() for line in text(fields, 20).splitlines()] == [
        "topic  orders",
        "key    aaaaaaaaaaaaa",
        "       aaaaaaaaaaaaa",
        "       aaaa",
    ]
    long_name = Fields([(Text("n" * 20), Text("value"))], style="bold")
    assert [line.rstrip() for line in text(long_name, 20).splitlines()] == [
        "nnnnnn  value",
        "nnnnnn",
        "nnnnnn",
        "nn",
    ]


def test_spark_bars_scale_lowest_to_highest_over_their_lines() -> None:
    def chars(data: list[float], width: int, height: int) -> list[str]:
        return ["".join(c for c, _ in line) for line in spark_bars(data, width, height)]

    assert chars([0, 7], 2, 1) == ["▁█"]
    assert chars([0, 4, 8], 3, 1) == ["▁▄█"]
    # Two lines: 16 eighths, the lower line full before the upper one starts.
    assert chars([0, 8, 16], 3, 2) == ["  █", "▁██"]
    assert chars([], 3, 2) == ["   ", "▁▁▁"]  # no data: the lowest bar
    assert chars([5], 2, 1) == ["██"]  # one value: full bars
    # Buckets show their largest value; fewer values than cells repeat each value.
    assert chars([0, 9, 0, 0], 2, 1) == ["█▁"]
    assert chars([0, 8], 4, 1) == ["▁▁██"]
    levels = [level for _, level in spark_bars([2, 4, 6], 3, 1)[0]]
    assert levels == [0.0, 0.5, 1.0]
    assert spark_bars([1, 2], 0, 1) == [[]]


def test_spark_scales_to_the_maximum_and_buckets_to_width() -> None:
    assert spark([0, 4, 8]) == "▁▅█"
    assert spark([0, 0]) == "▁▁"
    assert spark([]) == ""
    # 8 values into 4 cells: max of each pair, newest last
    assert spark([1, 0, 0, 0, 0, 0, 0, 8], 4) == "▂▁▁█"
    assert spark([5], 3) == "  █"  # fewer values than cells: padded on the left


def test_numbers_and_durations() -> None:
    assert compact(950) == "950"
    assert compact(12_345) == "12.3k"
    assert compact(4_500_000) == "4.5M"
    assert rate(0) == "0/s"
    assert rate(0.05) == "0.05/s"
    assert rate(12.34) == "12.3/s"
    assert duration(None) == DASH
    assert duration(-3) == "0ms"
    assert duration(0.85) == "850ms"
    assert duration(245) == "4m05s"


def test_relative_times_use_one_unit() -> None:
    assert ago(NOW, NOW) == "now"
    assert ago(NOW - 12, NOW) == "12s ago"
    assert ago(NOW - 245, NOW) == "4m ago"
    assert ago(NOW - 3 * 3600 - 5, NOW) == "3h ago"
    assert ago(NOW + 3, NOW) == "in 3s"


def test_times_follow_the_injected_clock_and_the_toggle() -> None:
    now = [NOW]
    times = Times(lambda: now[0])
    assert times(NOW - 5) == "5s ago"
    now[0] += 60
    assert times(NOW - 5) == "1m ago"
    times.absolute = True
    assert times(NOW - 5).count(":") == 2
    assert times(None) == DASH


def test_shortening_keeps_what_matters() -> None:
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("abcdefghij", 5) == "abcd…"
    topic = "shipping.ShipmentScheduled.DLT"
    cut = shorten_middle(topic, 16)
    assert cut == "ship…heduled.DLT"


@pytest.mark.parametrize("width", range(14, 30))
def test_topic_names_cut_to_any_width_stay_distinct(width: int) -> None:
    topics = [
        "nc.demo.commands.ChargePayment",
        "nc.demo.commands.RefundPayment",
        "nc.demo.checkout.CheckoutStarted",
        "nc.demo.checkout.replies",
        "orders.OrderPlaced",
        "orders.OrderPlaced.DLT",
    ]
    cuts = [shorten_middle(topic, width) for topic in topics]
    assert all(len(cut) <= width for cut in cuts)
    assert len(set(cuts)) == len(topics), cuts


def test_header_values_are_text_or_hex() -> None:
    assert header_value(b"OrderPlaced") == "OrderPlaced"
    assert header_value(b"\x00\x00\x00\x07") == "0x 00 00 00 07"
    assert header_value(b"\xff\xfe") == "0x ff fe"


def test_status_colours() -> None:
    assert status_style(GroupStatus.ERR) == RED
    assert status_style(PartitionStatus.STOP) == RED
    assert status_style(SagaState.COMPLETED) == GREEN
    assert status_style(SagaState.STUCK) == ORANGE


# --- detail ---------------------------------------------------------------------------------


def test_payload_is_pretty_json_raw_text_or_hex() -> None:
    pretty = text(payload_view(b'{"a": {"b": 1}}'))
    assert '"b": 1' in pretty and "\n" in pretty.strip()
    raw = text(payload_view(b"not json"))
    assert "not JSON" in raw and "not json" in raw
    cut = text(payload_view(b'{"a": "abc', truncated=True))
    assert "truncated to 10 bytes" in cut and '{"a": "abc' in cut
    assert "0x ff 00" in text(payload_view(b"\xff\x00"))
    assert "tombstone" in text(payload_view(None))


def test_an_avro_payload_is_shown_as_json_with_its_schema() -> None:
    schema = {
        "type": "record",
        "name": "Paid",
        "fields": [
            {"name": "eventId", "type": "string"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                        "precision": 9, "scale": 2}},
        ],
    }  # fmt: skip
    compiled = compile_schema(
        42, RegisteredSchema(json.dumps(schema)), {}, subject="payments-value", version=3
    )
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(schema), {"eventId": "e-1", "amount": Decimal("9.5")})
    value = b"\x00" + struct.pack(">I", 42) + buffer.getvalue()
    shown = text(payload_view(value, schema=compiled.ref))
    assert "Avro · schema 42 · subject payments-value v3" in shown
    assert '"eventId": "e-1"' in shown and '"amount": "9.50"' in shown
    broken = text(payload_view(value[:-2], schema=compiled.ref))
    assert "not decoded: corrupt Avro payload" in broken


def test_a_long_json_value_folds_onto_the_next_line_instead_of_being_cut() -> None:
    value = "x" * 50 + "-end"
    rendered = text(payload_view(('{"eventId": "' + value + '"}').encode()), width=30)
    assert "-end" in rendered
    assert all(len(line) <= 30 for line in rendered.splitlines())


def test_headers_keep_order_and_repeats() -> None:
    rendered = text(headers_table([("b", b"1"), ("a", b"2"), ("b", b"\x00\x01")]))
    lines = [line.split() for line in rendered.strip().splitlines()]
    assert lines == [["b", "1"], ["a", "2"], ["b", "0x", "00", "01"]]


def test_help_table_puts_app_keys_in_the_second_column() -> None:
    rendered = text(
        help_table([("This screen", "p", "Pause"), ("Everywhere", "q", "Quit")]), width=80
    )
    first_line = next(line for line in rendered.splitlines() if "This screen" in line)
    assert "Everywhere" in first_line


# --- alerts -----------------------------------------------------------------------------------


def _with(**changes: object):  # type: ignore[no-untyped-def]
    return dataclasses.replace(make_snapshot(), **changes)


def test_a_connection_error_is_reported_once_and_recovery_once() -> None:
    tracker = AlertTracker(lambda: NOW)
    assert tracker.check(make_snapshot()) == []
    down = ConnectionView(ConnectionState.ERROR, "k:9092", "timed out")
    first = tracker.check(_with(connection=down))
    assert [(a.message, a.severity) for a in first] == [("Kafka k:9092: timed out", "error")]
    assert tracker.check(_with(connection=down)) == []
    up = ConnectionView(ConnectionState.CONNECTED, "k:9092")
    assert [a.severity for a in tracker.check(_with(connection=up))] == ["information"]
    assert tracker.last is not None and "connected again" in tracker.last.message


def test_growing_counts_are_summed_and_throttled() -> None:
    now = [NOW]
    tracker = AlertTracker(lambda: now[0], interval_s=10)
    base = make_snapshot()
    tracker.check(base)

    def grown(dead: int, undecodable: int):  # type: ignore[no-untyped-def]
        totals = dataclasses.replace(base.totals, dead_letters=dead)
        view = UndecodableView(undecodable, (), ())
        return dataclasses.replace(base, totals=totals, undecodable=view)

    first = tracker.check(grown(214, 3))  # undecodable unchanged: only dead letters
    assert [a.message for a in first] == ["2 new dead letters (press 3)"]
    now[0] += 1
    second = tracker.check(grown(216, 4))  # dead letters held back; undecodable is news
    assert [a.message for a in second] == ["1 new undecodable record (press u)"]
    now[0] += 1
    assert tracker.check(grown(219, 6)) == []  # both within their interval
    now[0] += 10
    later = tracker.check(grown(219, 6))
    assert sorted(a.message for a in later) == [
        "2 new undecodable records (press u)",
        "5 new dead letters (press 3)",
    ]


def test_catch_up_and_disabled_dead_letter_alerts_are_silent() -> None:
    tracker = AlertTracker(lambda: NOW, notify_dead_letters=False)
    catching = _with(catchup=CatchUpView(False, 1000, 40.0))
    tracker.check(catching)
    more = dataclasses.replace(
        catching,
        totals=Totals(1, 0, 999, 50, 1, 1, 0),
        undecodable=UndecodableView(50, (), ()),
    )
    assert tracker.check(more) == []  # history read during catch-up is not news
    caught_up = dataclasses.replace(more, catchup=CatchUpView(True, 0, 100.0))
    assert (
        tracker.check(dataclasses.replace(caught_up, totals=Totals(1, 0, 1500, 50, 1, 1, 0))) == []
    )


def test_notices_are_reported_once_each_and_capped() -> None:
    tracker = AlertTracker(lambda: NOW)
    notices = tuple(f"notice {i}" for i in range(5))
    alerts = tracker.check(_with(notices=notices))
    assert [a.message for a in alerts] == [
        "notice 0",
        "notice 1",
        "notice 2",
        "… and 2 more notices",
    ]
    assert tracker.check(_with(notices=notices)) == []
    assert [a.message for a in tracker.check(_with(notices=(*notices, "new")))] == ["new"]
