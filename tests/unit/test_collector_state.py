"""CollectorState on hand-made records: chains, sagas, dead letters, undecodables, retention."""

from __future__ import annotations

import itertools
import json

from builders import BASE_MS, event_record, event_value, spring_dlt_headers
from edamon.actions.ledger import SIGNATURE_HEADER, LedgerSigner
from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.demo.sagas import demo_sagas
from edamon.model.records import RawRecord
from edamon.model.status import NodeStatus, SagaState

NOW = BASE_MS / 1000 + 60

SAGA = demo_sagas()[0]  # order-fulfilment: reserve stock, pay, ship


def make_state(**retention: int) -> CollectorState:
    settings = Settings()
    settings.sagas.definitions = [SAGA]
    for key, value in retention.items():
        setattr(settings.retention, key, value)
    return CollectorState(settings, cluster="test")


def flow(cid: str, start_offset: int = 0) -> list[RawRecord]:
    t = BASE_MS
    return [
        event_record("orders.OrderPlaced", start_offset, f"{cid}-e1", "OrderPlaced", cid, at_ms=t),
        event_record(
            "inventory.StockReserved",
            start_offset,
            f"{cid}-e2",
            "StockReserved",
            cid,
            f"{cid}-e1",
            at_ms=t + 120,
        ),
        event_record(
            "payments.PaymentProcessed",
            start_offset,
            f"{cid}-e3",
            "PaymentProcessed",
            cid,
            f"{cid}-e2",
            at_ms=t + 300,
        ),
        event_record(
            "shipping.ShipmentScheduled",
            start_offset,
            f"{cid}-e4",
            "ShipmentScheduled",
            cid,
            f"{cid}-e3",
            at_ms=t + 900,
        ),
    ]


def test_out_of_order_flow_builds_tree_and_completes_saga() -> None:
    state = make_state()
    records = flow("c1")
    state.ingest([records[2], records[0]], NOW)  # child before its parent's parent
    state.ingest([records[3], records[1]], NOW)
    view = state.chain("c1")
    assert view is not None
    assert [n.event_type for n in view.nodes] == [
        "OrderPlaced",
        "StockReserved",
        "PaymentProcessed",
        "ShipmentScheduled",
    ]
    assert [n.depth for n in view.nodes] == [0, 1, 2, 3]
    assert all(n.status == NodeStatus.OK for n in view.nodes)
    assert view.summary.saga_state == SagaState.COMPLETED
    snap = state.snapshot(NOW)
    assert snap.totals.events == 4
    assert snap.chains[0].correlation_id == "c1"
    assert abs(snap.chains[0].duration_s - 0.9) < 1e-3
    assert dict(snap.sagas[0].counts)[SagaState.COMPLETED] == 1
    assert next(row.event_type for row in snap.timeline) == "StockReserved"  # newest first


def test_saga_follows_events_that_arrive_before_the_start_event() -> None:
    state = make_state()
    records = flow("late-start")
    state.ingest([records[3], records[1], records[2]], NOW)
    state.ingest([records[0]], NOW)
    view = state.chain("late-start")
    assert view is not None and view.summary.saga_state == SagaState.COMPLETED


def test_duplicate_delivery_counted_not_added() -> None:
    state = make_state()
    records = flow("c2")
    state.ingest([*records, records[1]], NOW)
    snap = state.snapshot(NOW)
    assert snap.totals.events == 4
    assert snap.totals.duplicates == 1
    view = state.chain("c2")
    assert view is not None and len(view.nodes) == 4


def test_dead_letter_joins_its_flow_and_marks_saga() -> None:
    state = make_state()
    records = flow("c3")[:2]
    dlq = RawRecord(
        topic="inventory.StockReserved.DLT",
        partition=0,
        offset=7,
        timestamp_ms=BASE_MS + 500,
        key=b"order-1",
        value=event_value("c3-e2", "StockReserved", "c3", "c3-e1", at_ms=BASE_MS + 120),
        headers=tuple(spring_dlt_headers("inventory.StockReserved", 0, 0)),
    )
    state.ingest([*records, dlq], NOW)
    snap = state.snapshot(NOW)
    assert snap.totals.dead_letters == 1
    row = snap.dead_letters[0]
    assert row.original_topic == "inventory.StockReserved"
    assert row.original_coords == "inventory.StockReserved/0/0"
    assert row.consumer_group == "payments"
    assert row.correlation_id == "c3"
    assert row.retry is None
    group = snap.dead_letter_groups[0]
    assert (group.original_topic, group.consumer_group, group.count) == (
        "inventory.StockReserved",
        "payments",
        1,
    )
    view = state.chain("c3")
    assert view is not None
    failed = [n for n in view.nodes if n.status == NodeStatus.DEAD_LETTERED]
    assert len(failed) == 1 and failed[0].parent_id == "c3-e2"
    assert view.summary.saga_state == SagaState.DEAD_LETTERED
    assert state.dead_letter("inventory.StockReserved.DLT/0/7") is not None


def test_undecodable_kept_with_reason_and_counted() -> None:
    state = make_state()
    bad = RawRecord("orders.OrderPlaced", 0, 3, BASE_MS, None, b"{not json", ())
    state.ingest([bad, *flow("c4")], NOW)
    snap = state.snapshot(NOW)
    assert snap.undecodable.count == 1
    assert snap.undecodable.samples[0].coords == "orders.OrderPlaced/0/3"
    assert snap.undecodable.by_reason[0][1] == 1
    assert snap.totals.events == 4


def test_retention_evicts_oldest_flows_whole() -> None:
    state = make_state(max_events=8)
    for i in range(5):
        state.ingest(flow(f"f{i}", i), NOW + i)
    snap = state.snapshot(NOW + 5)
    assert snap.totals.retained_events <= 8
    assert snap.totals.evicted_chains == 3
    assert state.chain("f0") is None and state.chain("f4") is not None
    assert state.event("f0-e1") is None and state.event("f4-e1") is not None
    assert {c.correlation_id for c in snap.chains} == {"f3", "f4"}


def test_ledger_record_marks_dead_letter_retried() -> None:
    state = make_state()
    dlq = RawRecord(
        "payments.DLT",
        0,
        0,
        BASE_MS,
        b"k",
        event_value("e9", "PaymentRequested", "c9"),
        tuple(spring_dlt_headers("payments", 0, 5)),
    )
    state.ingest([dlq], NOW)
    assert state.snapshot(NOW).dead_letters[0].retry is None
    entry = {
        "dead_letter": "payments.DLT/0/0",
        "target_topic": "payments",
        "target_partition": 0,
        "target_offset": 12,
        "result": "sent",
        "reason": None,
        "at": NOW,
        "by": "alice",
        "attempt": 1,
    }
    key, value = b"payments.DLT/0/0", json.dumps(entry).encode()
    forged = RawRecord("edamon.retries", 0, 0, BASE_MS, key, value, ())
    state.ingest([forged], NOW)  # not written by edamon: no signature
    assert state.snapshot(NOW).dead_letters[0].retry is None
    signature = LedgerSigner().signature("edamon.retries", key, value)
    ledger = RawRecord(
        "edamon.retries", 0, 1, BASE_MS, key, value, ((SIGNATURE_HEADER, signature),)
    )
    state.ingest([ledger], NOW)
    row = state.snapshot(NOW).dead_letters[0]
    assert row.retry == "sent" and row.retried_by == "alice"


def test_saga_state_does_not_depend_on_arrival_order() -> None:
    t = BASE_MS
    cid = "shuffled"
    records = [
        event_record("orders.OrderPlaced", 0, "s1", "OrderPlaced", cid, at_ms=t),
        event_record("inventory.StockReserved", 0, "s2", "StockReserved", cid, "s1", at_ms=t + 10),
        event_record("payments.PaymentFailed", 0, "s3", "PaymentFailed", cid, "s2", at_ms=t + 20),
        event_record("inventory.StockReleased", 0, "s4", "StockReleased", cid, "s3", at_ms=t + 30),
    ]
    for order in itertools.permutations(records):
        state = make_state()
        for record in order:  # one record per batch: the worst case
            state.ingest([record], NOW)
        view = state.chain(cid)
        assert view is not None
        assert view.summary.saga_state == SagaState.COMPENSATED, [r.offset for r in order]


def test_dead_letter_before_the_start_event_still_marks_the_saga() -> None:
    state = make_state()
    records = flow("early-dlq")[:2]
    dlq = RawRecord(
        topic="inventory.StockReserved.DLT",
        partition=0,
        offset=1,
        timestamp_ms=BASE_MS + 500,
        key=b"order-1",
        value=event_value(
            "early-dlq-e2", "StockReserved", "early-dlq", "early-dlq-e1", at_ms=BASE_MS + 120
        ),
        headers=tuple(spring_dlt_headers("inventory.StockReserved", 0, 0)),
    )
    state.ingest([dlq], NOW)
    state.ingest([records[1]], NOW)
    state.ingest([records[0]], NOW)
    view = state.chain("early-dlq")
    assert view is not None and view.summary.saga_state == SagaState.DEAD_LETTERED


def test_records_read_while_catching_up_count_when_they_were_written() -> None:
    """History read at start-up is no burst of arrivals; once caught up, arrival is arrival
    (also for records whose timestamps are old)."""
    from edamon.model.snapshot import CatchUpView

    state = make_state()
    history = [
        event_record("orders", i, f"h{i}", "OrderPlaced", f"c{i}", at_ms=BASE_MS + i * 1000)
        for i in range(10)
    ]
    state.catchup = CatchUpView(caught_up=False, records_behind=10, percent=0.0)
    state.ingest(history, NOW)  # NOW is 60 s after BASE_MS
    orders = next(t for t in state.snapshot(NOW).throughput.topics if t.topic == "orders")
    assert sum(orders.by_arrival.history[-61:-50]) == 10  # in the seconds they were written
    assert orders.by_arrival.history[-1] == 0 and orders.last_seen == (BASE_MS + 9000) / 1000
    state.catchup = CatchUpView(caught_up=True, records_behind=0, percent=100.0)
    late = event_record("orders", 10, "l1", "OrderPlaced", "c-late", at_ms=BASE_MS)
    state.ingest([late], NOW)
    orders = next(t for t in state.snapshot(NOW).throughput.topics if t.topic == "orders")
    assert orders.by_arrival.history[-1] == 1 and orders.last_seen == NOW


def test_collect_json_numbers_saga_steps_from_one_as_the_dashboard_does() -> None:
    from edamon.collector.jsonout import build_document, document_json
    from edamon.collector.view import StateView

    state = make_state()
    state.ingest(flow("s1")[:1], NOW)  # OrderPlaced: waiting for the first step
    state.ingest(flow("s2")[:2], NOW)  # StockReserved: the second step now
    document = json.loads(document_json(build_document(StateView(state, clock=lambda: NOW))))
    steps = {
        i["correlation_id"]: (i["state"], i["step"], i["step_name"])
        for i in document["snapshot"]["saga_instances"]
    }
    first, second = (step.name for step in SAGA.steps[:2])
    assert steps == {"s1": ("RUNNING", 1, first), "s2": ("RUNNING", 2, second)}
