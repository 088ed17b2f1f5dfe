"""The shard's index hop and merge, without Kafka: a flow that goes through the index records
(stage 1 -> stage 2) comes out as the single collector builds it, and the members' shares
merge into the single collector's totals."""

from __future__ import annotations

import zlib

from builders import BASE_MS, event_record, event_value, spring_dlt_headers
from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.demo.sagas import demo_sagas
from edamon.model.records import TP, RawRecord
from edamon.model.status import SagaState
from edamon.shard.index import BadIndexRecord, IndexWriter, source_record
from edamon.shard.member import RosterMember, TopicRates, decode_roster, encode_roster
from edamon.shard.merge import merge_snapshots

NOW = BASE_MS / 1000 + 60
INDEX = "edamon-shard.t.index"


def settings() -> Settings:
    s = Settings()
    s.sagas.definitions = [demo_sagas()[0]]  # reserve stock, pay, ship
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


def through_index(records: list[RawRecord], writer: IndexWriter) -> list[RawRecord]:
    """What stage 2 reads back: each record's index record, as stored at some index offset."""
    out = []
    for i, record in enumerate(records):
        key, value, headers, ts = writer.index_record(record)
        stored = RawRecord(INDEX, zlib.crc32(key) % 12, i, ts, key, value, headers)
        out.append(source_record(stored))
    return out


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


def test_a_flow_through_the_index_is_the_flow_the_single_collector_builds() -> None:
    records = [*flow("c1", 0), *flow("c2", 1), dead_letter("c2"), *flow("c1", 2)[:1]]
    records.append(RawRecord("orders.OrderPlaced", 0, 9, BASE_MS, b"k", b"not json", ()))
    direct = CollectorState(settings(), cluster="t")
    direct.ingest(records, NOW)
    sharded = CollectorState(settings(), cluster="t")
    sharded.ingest(through_index(records, IndexWriter(settings())), NOW)

    for cid in ("c1", "c2"):
        want, got = direct.chain(cid), sharded.chain(cid)
        assert want is not None and got is not None
        assert [(n.event_id, n.event_type, n.parent_id, n.status) for n in got.nodes] == [
            (n.event_id, n.event_type, n.parent_id, n.status) for n in want.nodes
        ]
        assert [n.coords for n in got.nodes] == [n.coords for n in want.nodes]
        assert [n.time for n in got.nodes] == [n.time for n in want.nodes]
        assert got.summary.saga_state == want.summary.saga_state
    assert sharded.chain("c1").summary.saga_state == SagaState.COMPLETED  # type: ignore[union-attr]
    a, b = direct.snapshot(NOW), sharded.snapshot(NOW)
    assert b.totals == a.totals
    assert b.totals.duplicates == 1 and b.totals.undecodable == 1 and b.totals.dead_letters == 1
    assert b.dead_letters[0].original_coords == "inventory.StockReserved/0/0"
    assert b.dead_letters[0].correlation_id == "c2"
    assert [(t.topic, t.by_arrival.total) for t in b.throughput.topics] == [
        (t.topic, t.by_arrival.total) for t in a.throughput.topics
    ]
    event = sharded.event("c1-e0")
    assert event is not None and event.record.key == b"order-1"
    assert event.aggregate_id == "order-1" and event.version == 1


def test_a_flow_and_its_dead_letter_share_one_index_key() -> None:
    writer = IndexWriter(settings())
    keys = {writer.index_record(r)[0] for r in [*flow("c9", 0), dead_letter("c9")]}
    assert keys == {b"c9"}


def test_an_index_record_edamon_did_not_write_is_refused() -> None:
    stranger = RawRecord(INDEX, 0, 0, BASE_MS, b"k", b"{}", (("ce_id", b"x"),))
    try:
        source_record(stranger)
    except BadIndexRecord as exc:
        assert "edamon-src" in str(exc)
    else:
        raise AssertionError("accepted a record with no edamon-src header")


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
