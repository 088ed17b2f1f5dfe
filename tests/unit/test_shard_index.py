"""The shard's index hop and merge, without Kafka: a flow that goes through the index (stage 1
packs -> stage 2) comes out as the single collector builds it, an index written in the former
format (one record per event) still reads, what edamon did not write is refused or counted,
and the members' shares merge into the single collector's totals."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace

import msgspec
import pytest
from pydantic import SecretStr

from builders import BASE_MS, event_record, event_value, spring_dlt_headers
from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.decode.ledger import SIGNATURE_HEADER, LedgerEntry, LedgerSigner, RetryResult
from edamon.demo.sagas import demo_sagas
from edamon.model.envelope import EnvelopeFormat
from edamon.model.records import TP, FlawedRecord, RawRecord
from edamon.model.status import NodeStatus, SagaState
from edamon.shard import index as shard_index
from edamon.shard.index import BadIndexRecord, IndexReader, IndexWriter
from edamon.shard.member import RosterMember, TopicRates, decode_roster, encode_roster
from edamon.shard.merge import merge_snapshots

NOW = BASE_MS / 1000 + 60
INDEX = "edamon-shard.t.index"
PARTITIONS = 12


def settings(sagas: bool = True) -> Settings:
    """With a saga (the state applies events one by one) or without (a run at a time)."""
    s = Settings()
    s.sagas.definitions = [demo_sagas()[0]] if sagas else []  # reserve stock, pay, ship
    return s


def flow(cid: str, offset: int) -> list[RawRecord]:
    steps = [
        ("orders.OrderPlaced", "OrderPlaced"),
        ("inventory.StockReserved", "StockReserved"),
        ("payments.PaymentProcessed", "PaymentProcessed"),
        ("shipping.ShipmentScheduled", "ShipmentScheduled"),
    ]
    records = []
    parent: str | None = None
    for i, (topic, kind) in enumerate(steps):
        eid = f"{cid}-e{i}"
        records.append(event_record(topic, offset, eid, kind, cid, parent, at_ms=BASE_MS + 100 * i))
        parent = eid
    return records


def index_records(records: list[RawRecord], writer: IndexWriter) -> list[RawRecord]:
    """The index records stage 1 writes for `records` (one fetch), as stored in the index."""
    out = []
    for partition, pack in sorted(writer.packs(records, PARTITIONS).items()):
        for value in pack.encode():
            headers = (("edamon-index", b"2"),)
            out.append(
                RawRecord(INDEX, partition, len(out), pack.timestamp_ms, None, value, headers)
            )
    return out


def apply_index(state: CollectorState, index: list[RawRecord]) -> None:
    """What stage 2 does with a fetch of the index."""
    reader = IndexReader()
    for record in index:
        reader.read(record)
    state.ingest_decoded(reader.events, NOW)
    state.ingest(reader.records, NOW)


def dead_letter(cid: str) -> RawRecord:
    return RawRecord(
        "inventory.StockReserved.DLT",
        0,
        7,
        BASE_MS + 500,
        b"order-1",
        event_value(f"{cid}-e1", "StockReserved", cid, f"{cid}-e0", at_ms=BASE_MS + 100),
        tuple(spring_dlt_headers("inventory.StockReserved", 0, 0)),
    )


def assert_same_flows(direct: CollectorState, sharded: CollectorState, cids: list[str]) -> None:
    for cid in cids:
        want, got = direct.chain(cid), sharded.chain(cid)
        assert want is not None and got is not None
        assert [(n.event_id, n.event_type, n.parent_id, n.status) for n in got.nodes] == [
            (n.event_id, n.event_type, n.parent_id, n.status) for n in want.nodes
        ]
        assert [n.coords for n in got.nodes] == [n.coords for n in want.nodes]
        assert [n.time for n in got.nodes] == [n.time for n in want.nodes]
        assert got.summary.saga_state == want.summary.saga_state
    a, b = direct.snapshot(NOW), sharded.snapshot(NOW)
    assert b.totals == a.totals
    assert [(t.topic, t.by_arrival.total) for t in b.throughput.topics] == [
        (t.topic, t.by_arrival.total) for t in a.throughput.topics
    ]


def mixed_records() -> list[RawRecord]:
    records = [*flow("c1", 0), *flow("c2", 1), dead_letter("c2"), *flow("c1", 2)[:1]]
    records.append(RawRecord("orders.OrderPlaced", 0, 9, BASE_MS, b"k", b"not json", ()))
    return records


@pytest.mark.parametrize("sagas", [True, False])
def test_a_flow_through_the_index_is_the_flow_the_single_collector_builds(sagas: bool) -> None:
    records = mixed_records()
    direct = CollectorState(settings(sagas), cluster="t")
    direct.ingest(records, NOW)
    sharded = CollectorState(settings(sagas), cluster="t")
    index = index_records(records, IndexWriter(settings(sagas)))
    assert len(index) < len(records)  # packed: one index record per index partition
    apply_index(sharded, index)

    assert_same_flows(direct, sharded, ["c1", "c2"])
    if sagas:
        c1 = sharded.chain("c1")
        assert c1 is not None and c1.summary.saga_state == SagaState.COMPLETED
    b = sharded.snapshot(NOW)
    assert b.totals.duplicates == 1 and b.totals.undecodable == 1 and b.totals.dead_letters == 1
    assert b.dead_letters[0].original_coords == "inventory.StockReserved/0/0"
    assert b.dead_letters[0].correlation_id == "c2"
    assert b.undecodable.by_reason == direct.snapshot(NOW).undecodable.by_reason
    event = sharded.event("c1-e0")
    assert event is not None and event.record.key == b"order-1"
    assert event.aggregate_id == "order-1" and event.version == 1
    assert event.record.coords == "orders.OrderPlaced/0/0"
    assert event.format == EnvelopeFormat.SEED


def test_an_event_keeps_its_envelope_fields_through_the_index() -> None:
    """CloudEvents binary: source, trace id, format and event time arrive as decoded."""
    trace = "0af7651916cd43dd8448eb211c80319c"
    record = RawRecord(
        "orders.OrderPlaced",
        3,
        41,
        BASE_MS,
        b"order-9",
        b'{"total": 5}',
        (
            ("ce_specversion", b"1.0"),
            ("ce_id", b"ev-9"),
            ("ce_type", b"OrderPlaced"),
            ("ce_source", b"/orders"),
            ("ce_time", b"2026-11-18T10:00:00.5Z"),
            ("ce_correlationid", b"flow-9"),
            ("traceparent", f"00-{trace}-00f067aa0ba902b7-01".encode()),
        ),
    )
    direct = CollectorState(settings(), cluster="t")
    direct.ingest([record], NOW)
    sharded = CollectorState(settings(), cluster="t")
    apply_index(sharded, index_records([record], IndexWriter(settings())))
    want, got = direct.event("ev-9"), sharded.event("ev-9")
    assert want is not None and got is not None
    assert got.format == EnvelopeFormat.CLOUDEVENTS_BINARY
    assert (got.source, got.trace_id, got.occurred_at, got.correlation_id) == (
        "/orders",
        trace,
        want.occurred_at,
        "flow-9",
    )
    assert got.record.key == b"order-9" and got.record.timestamp_ms == BASE_MS


def test_a_redriven_copy_is_a_retry_through_the_index_too() -> None:
    dl = dead_letter("c5")
    copy = event_record("inventory.StockReserved", 30, "c5-e1", "StockReserved", "c5", "c5-e0")
    copy = RawRecord(
        copy.topic,
        copy.partition,
        copy.offset,
        BASE_MS + 900,
        copy.key,
        copy.value,
        (*copy.headers, ("edamon-retry-of", dl.coords.encode())),
    )
    records = [*flow("c5", 0), dl, copy]
    direct = CollectorState(settings(), cluster="t")
    direct.ingest(records, NOW)
    sharded = CollectorState(settings(), cluster="t")
    apply_index(sharded, index_records(records, IndexWriter(settings())))
    chain = sharded.chain("c5")
    assert chain is not None and any(n.status == NodeStatus.RETRIED for n in chain.nodes)
    assert_same_flows(direct, sharded, ["c5"])


def test_a_flow_and_its_dead_letter_land_in_one_index_partition() -> None:
    writer = IndexWriter(settings())
    flows = {f"flow-{i}": [*flow(f"flow-{i}", i), dead_letter(f"flow-{i}")] for i in range(40)}
    where: dict[str, set[int]] = {cid: set() for cid in flows}
    for partition, pack in writer.packs(
        [r for records in flows.values() for r in records], PARTITIONS
    ).items():
        for entry in pack.events:
            where[entry[2]].add(partition)
        for entry in pack.forwarded:
            where[json.loads(entry[5])["metadata"]["correlationId"]].add(partition)
    assert all(len(partitions) == 1 for partitions in where.values()), where
    assert len(set().union(*where.values())) > 1  # flows spread over the partitions


def test_a_retry_ledger_entry_reaches_the_member_that_holds_its_dead_letter() -> None:
    """A ledger entry names its dead letter by address only: every index partition gets it,
    so whichever member owns the dead letter's flow shows it as retried."""
    config = settings(sagas=False)
    config.dlq.ledger_secret = SecretStr("shared-secret")
    signer = LedgerSigner(b"shared-secret")
    ledger_topic = config.dlq.ledger_topic
    writer = IndexWriter(config)
    records: list[RawRecord] = []
    letters: list[str] = []
    for i in range(24):
        cid = f"flow-{i}"
        records += flow(cid, i)
        dead = replace(dead_letter(cid), offset=100 + i)
        records.append(dead)
        letters.append(dead.coords)
    for i, coords in enumerate(letters):
        entry = LedgerEntry(
            coords,
            "inventory.StockReserved",
            0,
            500 + i,
            RetryResult.SENT,
            None,
            NOW,
            "oncall",
            1,
            1,
            BASE_MS + 500,
        )
        key, value = entry.key(), entry.encode()
        signature = signer.signature(ledger_topic, key, value)
        records.append(
            RawRecord(
                ledger_topic, 0, i, BASE_MS + 900, key, value, ((SIGNATURE_HEADER, signature),)
            )
        )
    index = index_records(records, writer)
    members = [CollectorState(config, cluster="t"), CollectorState(config, cluster="t")]
    for member, owned in zip(
        members, (range(0, PARTITIONS, 2), range(1, PARTITIONS, 2)), strict=True
    ):
        apply_index(member, [r for r in index if r.partition in owned])
    rows = {row.coords: row for member in members for row in member.snapshot(NOW).dead_letters}
    assert sorted(rows) == sorted(letters)
    held = [sum(1 for row in member.snapshot(NOW).dead_letters) for member in members]
    assert all(held), held  # dead letters on both members
    assert {coords: rows[coords].retry for coords in letters} == dict.fromkeys(letters, "sent")


def test_a_pack_too_large_for_one_record_is_split_and_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shard_index, "PACK_MAX_BYTES", 500)
    records = [r for i in range(30) for r in flow(f"big-{i}", i)]
    index = index_records(records, IndexWriter(settings()))
    assert all(len(r.value or b"") <= 500 for r in index)
    assert len(index) > len({r.partition for r in index})  # some partitions took several
    direct = CollectorState(settings(), cluster="t")
    direct.ingest(records, NOW)
    sharded = CollectorState(settings(), cluster="t")
    apply_index(sharded, index)
    assert_same_flows(direct, sharded, [f"big-{i}" for i in range(30)])


def test_a_record_that_no_decoder_may_trust_stays_flawed_through_the_index() -> None:
    flawed = FlawedRecord(
        "orders.OrderPlaced",
        1,
        4,
        BASE_MS,
        None,
        b"{}",
        (("\\xffid", b"x"),),
        "header name not UTF-8: \\xffid",
    )
    sharded = CollectorState(settings(), cluster="t")
    apply_index(sharded, index_records([flawed], IndexWriter(settings())))
    snap = sharded.snapshot(NOW)
    assert snap.totals.undecodable == 1
    assert snap.undecodable.samples[0].reason == "header name not UTF-8: \\xffid"


def former_index_record(offset: int, source: RawRecord, *ce: tuple[str, bytes]) -> RawRecord:
    """An index record as edamon wrote them before packs (format 1): CloudEvents binary
    headers, the source's coordinates in `edamon-src` and its key in `edamon-key`."""
    headers = (*ce, ("edamon-src", source.coords.encode()), ("edamon-key", source.key or b""))
    return RawRecord(INDEX, 0, offset, source.timestamp_ms, b"c1", b'{"version": 1}', headers)


def test_an_index_written_in_the_former_format_still_rebuilds() -> None:
    records = flow("c1", 0)
    index = []
    parent: str | None = None
    for i, record in enumerate(records):
        eid = f"c1-e{i}"
        ce = [
            ("ce_specversion", b"1.0"),
            ("ce_id", eid.encode()),
            ("ce_type", record.topic.split(".")[1].encode()),
            ("ce_time", repr((BASE_MS + 100 * i) / 1000).encode()),
            ("ce_correlationid", b"c1"),
            ("ce_subject", b"order-1"),
        ]
        if parent:
            ce.append(("ce_causationid", parent.encode()))
        parent = eid
        index.append(former_index_record(i, record, *ce))
    sharded = CollectorState(settings(), cluster="t")
    apply_index(sharded, index)
    chain = sharded.chain("c1")
    assert chain is not None
    assert [n.coords for n in chain.nodes] == [r.coords for r in records]
    assert [n.parent_id for n in chain.nodes] == [None, "c1-e0", "c1-e1", "c1-e2"]
    assert sharded.chain("c1").summary.saga_state == SagaState.COMPLETED  # type: ignore[union-attr]


def test_an_index_record_edamon_did_not_write_is_refused() -> None:
    stranger = RawRecord(INDEX, 0, 0, BASE_MS, b"k", b"{}", (("ce_id", b"x"),))
    with pytest.raises(BadIndexRecord, match="edamon-src"):
        IndexReader().read(stranger)


def test_an_index_format_this_edamon_does_not_know_is_counted_undecodable() -> None:
    newer = RawRecord(INDEX, 4, 9, BASE_MS, None, b"\x03...", (("edamon-index", b"3"),))
    topics_out_of_range = b"\x02" + msgspec.msgpack.encode(
        [
            ["orders.OrderPlaced"],
            [
                [
                    "e1",
                    "OrderPlaced",
                    "c1",
                    None,
                    None,
                    None,
                    1,
                    None,
                    None,
                    0,
                    0,
                    0,
                    3,
                    BASE_MS,
                    None,
                    None,
                ]
            ],
            [[5, 0, 0, BASE_MS, None, b"{}", [], None]],  # topic 5 of 1: refused whole
        ]
    )
    garbage = b"\x02 not msgpack"
    state = CollectorState(settings(), cluster="t")
    apply_index(
        state,
        [
            newer,
            RawRecord(INDEX, 4, 10, BASE_MS, None, topics_out_of_range, (("edamon-index", b"2"),)),
            RawRecord(INDEX, 4, 11, BASE_MS, None, garbage, (("edamon-index", b"2"),)),
        ],
    )
    snap = state.snapshot(NOW)
    assert snap.totals.undecodable == 3 and snap.totals.events == 0
    reasons = sorted(u.reason for u in snap.undecodable.samples)
    assert any("format '3' unknown" in reason for reason in reasons)
    assert all("shard index" in reason for reason in reasons)
    assert {u.coords for u in snap.undecodable.samples} == {f"{INDEX}/4/{o}" for o in (9, 10, 11)}


def test_the_roster_round_trips_and_keeps_only_http_urls() -> None:
    members = (RosterMember("http://a:1", (0, 2)), RosterMember("https://b:2", (1,)))
    assert decode_roster(encode_roster(members)) == members
    hostile = encode_roster([RosterMember("file:///etc/passwd", (0,)), members[0]])
    assert decode_roster(hostile) == (members[0],)
    assert decode_roster(b"\xff not json") == ()
    assert decode_roster(b'[["http://a", ["x"]]]') == ()


def test_members_shares_merge_into_the_single_collectors_totals() -> None:
    flows = {f"flow-{i}": flow(f"flow-{i}", i) for i in range(30)}
    flows["flow-3"].append(dead_letter("flow-3"))
    single = CollectorState(settings(), cluster="t")
    single.ingest([r for records in flows.values() for r in records], NOW)
    shares = [CollectorState(settings(), cluster="t") for _ in range(3)]
    for cid, records in flows.items():  # each flow on one member, as the index key decides
        shares[zlib.crc32(cid.encode()) % 3].ingest(records, NOW)
    assert all(s.snapshot(NOW).totals.events for s in shares)
    whole = single.snapshot(NOW)
    snaps = [s.snapshot(NOW) for s in shares]
    merged = merge_snapshots(snaps[0], snaps[1:])
    assert merged.totals.events == whole.totals.events == 120
    assert merged.totals.chains == whole.totals.chains
    assert merged.throughput.events.total == whole.throughput.events.total
    assert {t.event_type: t.series.total for t in merged.throughput.event_types} == {
        t.event_type: t.series.total for t in whole.throughput.event_types
    }
    assert {t.topic: t.by_arrival.total for t in merged.throughput.topics} == {
        t.topic: t.by_arrival.total for t in whole.throughput.topics
    }
    assert sorted(c.correlation_id for c in merged.chains) == sorted(
        c.correlation_id for c in whole.chains
    )
    assert dict(merged.sagas[0].counts) == dict(whole.sagas[0].counts)
    assert merged.totals.dead_letters == 1
    times = [c.last_update for c in merged.chains]
    assert times == sorted(times, reverse=True)


def test_a_merge_says_what_is_missing() -> None:
    state = CollectorState(settings(), cluster="t")
    state.ingest(flow("c1", 0), NOW)
    local = state.snapshot(NOW)
    merged = merge_snapshots(local, [], ["shard: partial answer: no share from http://b:1"])
    assert merged.notices[-1].startswith("shard: partial answer")
    assert merged.totals == local.totals


def test_topic_rates_come_from_end_offset_deltas() -> None:
    rates = TopicRates()
    rates.observe(100.0, {TP("a", 0): 10, TP("a", 1): 5, TP("b", 0): 0})
    assert rates.rates == ()  # one sample: no delta yet
    rates.observe(102.0, {TP("a", 0): 30, TP("a", 1): 25, TP("b", 0): 0, TP("c", 0): 9})
    assert rates.rates == (("a", 20.0), ("b", 0.0))  # (40 records) / 2 s; c is new
    rates.observe(103.0, {TP("a", 0): 30, TP("a", 1): 25, TP("b", 0): 3, TP("c", 0): 9})
    assert rates.rates == (("a", 0.0), ("b", 3.0), ("c", 0.0))
