"""Target resolution, filters and planning of DLQ redrives (no broker)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from edamon.actions.filters import DeadLetterFilter, FilterError, parse_filters
from edamon.actions.ledger import Ledger, RetryResult
from edamon.actions.plan import Action, TargetRules, resolve_target
from edamon.actions.redrive import Redriver
from edamon.broker.memory import MemoryBroker
from edamon.config import EnvelopeSettings, Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter
from edamon.model.records import Header, RawRecord

DECODER = DeadLetterDecoder(EnvelopeDecoder(EnvelopeSettings()))
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


def dead_letter(
    topic: str, offset: int, headers: list[Header], *, ts: float = NOW, key: bytes = b"k"
) -> DeadLetter:
    record = RawRecord(topic, 0, offset, int(ts * 1000), key, b"{}", tuple(headers))
    return DECODER.decode(record)


def spring(
    topic: str, group: str = "billing", fqcn: str = "a.b.IllegalStateException"
) -> list[Header]:
    return [
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 1)),
        ("kafka_dlt-original-offset", struct.pack(">q", 99)),
        ("kafka_dlt-original-consumer-group", group.encode()),
        ("kafka_dlt-exception-fqcn", b"org.springframework.ListenerExecutionFailedException"),
        ("kafka_dlt-exception-cause-fqcn", fqcn.encode()),
    ]


CONNECT = [("__connect.errors.topic", b"payments"), ("__connect.errors.offset", b"3")]
X_ORIGINAL = [("x-original-topic", b"shipping"), ("x-exception-fqcn", b"TimeoutError")]


# -- targets -------------------------------------------------------------------------------


def rules(routes: dict[str, str], **dlq: object) -> TargetRules:
    return TargetRules.from_settings(Settings(dlq={"routes": routes, **dlq}))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [(spring("orders"), "orders"), (CONNECT, "payments"), (X_ORIGINAL, "shipping")],
)
def test_target_from_headers_of_each_convention(headers: list[Header], expected: str) -> None:
    resolution = resolve_target(dead_letter("any.DLT", 0, headers), rules({"any.DLT": "elsewhere"}))
    assert (resolution.target, resolution.source, resolution.refusal) == (expected, "header", None)


def test_target_from_route_when_headers_name_none() -> None:
    resolution = resolve_target(dead_letter("orders.DLQ", 0, []), rules({"orders.DLQ": "orders"}))
    assert (resolution.target, resolution.source) == ("orders", "route")


def test_refused_without_header_or_route() -> None:
    resolution = resolve_target(dead_letter("orders.DLQ", 0, []), rules({"other.DLQ": "x"}))
    assert resolution.target is None
    assert resolution.refusal is not None and "orders.DLQ" in resolution.refusal


@pytest.mark.parametrize("bad", ["has space", "..", "a/b", "x" * 250, "ünïcode"])
def test_refused_for_invalid_topic_names(bad: str) -> None:
    resolution = resolve_target(dead_letter("orders.DLQ", 0, []), rules({"orders.DLQ": bad}))
    assert resolution.target is None
    assert resolution.refusal is not None and "not a valid topic name" in resolution.refusal


def test_refused_when_target_is_the_dlq_itself() -> None:
    resolution = resolve_target(dead_letter("orders.DLT", 0, spring("orders.DLT")), rules({}))
    assert resolution.target is None
    assert resolution.refusal == "target orders.DLT is the DLQ itself"


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("__consumer_offsets", "target __consumer_offsets is an internal topic (__*)"),
        ("__cluster_metadata", "target __cluster_metadata is an internal topic (__*)"),
        ("edamon.retries", "target edamon.retries is edamon's retry ledger (dlq.ledger_topic)"),
        ("payments.DLT", "target payments.DLT is a DLQ topic (topics.dlq)"),
        ("dlq.audit", "target dlq.audit is a DLQ topic (topics.dlq)"),
        ("parked", "target parked is a DLQ topic (topics.dlq)"),  # a DLQ by its dlq.routes entry
    ],
)
def test_refused_targets_named_by_a_header(target: str, why: str) -> None:
    """The original-topic header is written by whoever wrote the dead letter: it cannot aim a
    retry at Kafka's internals, edamon's ledger or another DLQ."""
    letter = dead_letter("orders.DLT", 0, spring(target))
    resolution = resolve_target(letter, rules({"parked": "orders"}))
    assert resolution.target is None
    assert resolution.refusal is not None and resolution.refusal.startswith(why)


def test_a_route_may_send_a_dlq_to_another_dlq_and_nothing_else_may() -> None:
    letter = dead_letter("orders.retry.DLQ", 0, [])
    allowed = resolve_target(letter, rules({"orders.retry.DLQ": "orders.final.DLQ"}))
    assert (allowed.target, allowed.source) == ("orders.final.DLQ", "route")
    by_header = dead_letter("orders.retry.DLQ", 1, spring("orders.final.DLQ"))
    refused = resolve_target(by_header, rules({"orders.retry.DLQ": "orders"}))
    assert refused.target is None
    # The ledger and internal topics stay refused even when a route names them.
    for target in ("edamon.retries", "__consumer_offsets"):
        assert resolve_target(letter, rules({"orders.retry.DLQ": target})).target is None


def test_allowed_targets_limits_where_retries_go() -> None:
    letters = [dead_letter("x.DLT", i, spring(t)) for i, t in enumerate(["orders", "billing"])]
    only_orders = rules({}, allowed_targets=[r"orders(\..*)?"])
    results = [resolve_target(dl, only_orders) for dl in letters]
    assert [r.target for r in results] == ["orders", None]
    assert results[1].refusal == "target billing is outside dlq.allowed_targets"
    # Whole names: a prefix is not enough.
    assert resolve_target(dead_letter("x.DLT", 5, spring("orders2")), only_orders).target is None


# -- filters -------------------------------------------------------------------------------

LETTERS = [
    dead_letter("orders.DLT", 0, spring("orders", "billing"), ts=NOW - 3600),
    dead_letter("orders.DLT", 1, spring("orders", "audit", "a.b.TimeoutException"), ts=NOW - 60),
    dead_letter("payments-dlq", 0, CONNECT, ts=NOW - 7200),
    dead_letter("shipping.DLQ", 0, X_ORIGINAL, ts=NOW - 10),
]


def _coords(flt: DeadLetterFilter) -> list[str]:
    return [dl.coords for dl in flt.apply(LETTERS)]


def test_empty_filter_keeps_everything() -> None:
    assert _coords(parse_filters([], now=NOW)) == [dl.coords for dl in LETTERS]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["dlq-topic=orders.DLT"], ["orders.DLT/0/0", "orders.DLT/0/1"]),
        (["dlq-topic=*.DLQ"], ["shipping.DLQ/0/0"]),
        (
            ["dlq-topic=payments-dlq", "dlq-topic=shipping.DLQ"],
            ["payments-dlq/0/0", "shipping.DLQ/0/0"],
        ),
        (["original-topic=pay*"], ["payments-dlq/0/0"]),
        (["group=audit"], ["orders.DLT/0/1"]),
        (["exception=timeout"], ["orders.DLT/0/1", "shipping.DLQ/0/0"]),
        (["exception=ListenerExecution"], ["orders.DLT/0/0", "orders.DLT/0/1"]),
        (["exception=/^Timeout/"], ["shipping.DLQ/0/0"]),
        (["exception=/timeout/"], []),
        (["since=30m"], ["orders.DLT/0/1", "shipping.DLQ/0/0"]),
        (["until=30m"], ["orders.DLT/0/0", "payments-dlq/0/0"]),
        (["since=2h", "until=1h"], ["payments-dlq/0/0"]),
        (["since=2026-11-26T11:00:00Z"], ["orders.DLT/0/0", "orders.DLT/0/1", "shipping.DLQ/0/0"]),
        (["dlq-topic=orders.DLT", "exception=Timeout"], ["orders.DLT/0/1"]),
    ],
)
def test_filters(specs: list[str], expected: list[str]) -> None:
    assert _coords(parse_filters(specs, now=NOW)) == expected
    # the remembering matcher (pages over a whole store) keeps the same, twice over
    keep = parse_filters(specs, now=NOW).matcher()
    for _ in range(2):
        assert [dl.coords for dl in LETTERS if keep(dl)] == expected


@pytest.mark.parametrize(
    "specs",
    [
        [],
        ["dlq-topic=orders.DLT", "dlq-topic=*.DLQ", "original-topic=pay*", "group=audit"],
        ["exception=/^Timeout/", "exception=ListenerExecution"],
        ["since=30m"],
        ["since=2h", "until=1h"],
        ["until=2026-11-26T11:30:00Z"],
    ],
)
def test_a_filter_as_texts_keeps_the_same_later(specs: list[str]) -> None:
    """What a shard member is asked with: durations ago become times, so the member that
    parses the texts later (its own `now`) keeps the same dead letters."""
    flt = parse_filters(specs, now=NOW)
    again = parse_filters(flt.specs(), now=NOW + 3600)
    assert _coords(again) == _coords(flt)
    assert again.dlq_topics == flt.dlq_topics and again.exceptions == flt.exceptions
    for mine, theirs in ((flt.since, again.since), (flt.until, again.until)):
        assert mine == theirs or abs((mine or 0) - (theirs or 0)) < 1e-5


def test_since_is_inclusive_until_exclusive() -> None:
    exact = NOW - 60
    flt = DeadLetterFilter(since=exact, until=exact + 0.001)
    assert _coords(flt) == ["orders.DLT/0/1"]
    assert _coords(DeadLetterFilter(until=exact)) == ["orders.DLT/0/0", "payments-dlq/0/0"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("colour=red", "unknown filter key"),
        ("group", "not key=value"),
        ("group=", "not key=value"),
        ("since=yesterday", "expected a duration ago"),
        ("exception=/(unclosed/", "invalid regular expression"),
    ],
)
def test_filter_errors(spec: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filters([spec], now=NOW)


# -- planning ------------------------------------------------------------------------------


def test_plan_actions_targets_and_stripped_headers() -> None:
    settings = Settings(dlq={"routes": {"orders.DLQ": "orders"}})
    ledger = Ledger()
    done = LETTERS[1].coords
    ledger.apply(
        ledger.new_entry(LETTERS[1].record, RetryResult.SENT, target_topic="orders", by="t", at=1)
    )
    failed = LETTERS[2].coords
    ledger.apply(
        ledger.new_entry(LETTERS[2].record, RetryResult.FAILED, target_topic="x", by="t", at=1)
    )
    unroutable = dead_letter("lost.DLQ", 0, [("traceparent", b"00-x")])
    letters = [*LETTERS, unroutable, LETTERS[0]]  # a repeat is dropped

    redriver = Redriver(MemoryBroker(), settings, ledger)
    plan = redriver.plan(letters)
    actions = {item.coords: item.action for item in plan.items}
    assert actions == {
        LETTERS[0].coords: Action.SEND,
        done: Action.SKIP,
        failed: Action.SEND,
        LETTERS[3].coords: Action.SEND,
        unroutable.coords: Action.REFUSE,
    }
    assert plan.targets() == {"orders": 1, "payments": 1, "shipping": 1}
    by_coords = {item.coords: item for item in plan.items}
    assert by_coords[failed].attempt == 2 and by_coords[LETTERS[0].coords].attempt == 1
    assert by_coords[done].already_retried and not by_coords[failed].already_retried
    stripped = plan.stripped_headers()
    assert stripped["kafka_dlt-original-topic"] == 1
    assert stripped["__connect.errors.topic"] == 1
    assert stripped["x-original-topic"] == 1

    forced = redriver.plan(letters, force=True)
    assert {i.coords: i.action for i in forced.items}[done] is Action.SEND
    assert {i.coords: i.attempt for i in forced.items}[done] == 2


@pytest.mark.parametrize(
    "specs",
    [
        ["until=100000000d"],  # a duration ago before year 1
        ["until=0001-01-01T00:30:00+01:00"],  # before year 1 in UTC
        ["since=9999-12-31T23:00:00-05:00"],  # after year 9999 in UTC
    ],
)
def test_a_bound_out_of_iso_range_keeps_nothing_on_another_member_either(
    specs: list[str],
) -> None:
    """A shard member asked with `specs()` of a filter that keeps nothing here must keep
    nothing either (a dropped bound made it keep its newest 10,000)."""
    flt = parse_filters(specs, now=NOW)
    assert _coords(flt) == []
    assert _coords(parse_filters(flt.specs(), now=NOW)) == []


@pytest.mark.parametrize("offset", [-1.5e-6, -0.4e-6, 0.0, 0.4e-6, 1.5e-6])
def test_bounds_a_hair_off_a_dead_letters_time_keep_the_same_after_specs(offset: float) -> None:
    """`since` and `until` are any float (a duration ago); written to the microsecond for
    another member, they keep the dead letters they keep here."""
    at = NOW - 60 + offset
    for flt in (DeadLetterFilter(since=at), DeadLetterFilter(until=at)):
        assert _coords(parse_filters(flt.specs(), now=NOW)) == _coords(flt), (flt, offset)
