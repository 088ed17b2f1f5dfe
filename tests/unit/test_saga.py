"""Saga tracking: every state for a choreographed and an orchestrated saga, out of order."""

from __future__ import annotations

import pytest

from edamon.config import SagaDefinition, SagaStep
from edamon.model.saga import SagaTracker, percentile
from edamon.model.status import SagaState

T0 = 1_795_000_000.0

CHOREOGRAPHED = SagaDefinition(
    name="order-fulfilment",
    start=["OrderPlaced"],
    steps=[
        SagaStep(
            name="reserve-stock",
            success=["StockReserved"],
            failure=["StockReservationFailed"],
            compensation=["StockReleased"],
        ),
        SagaStep(
            name="payment",
            success=["PaymentProcessed"],
            failure=["PaymentFailed"],
            compensation=["PaymentRefunded"],
        ),
        SagaStep(name="shipping", success=["ShipmentScheduled"], failure=["ShipmentFailed"]),
    ],
    timeout_s=30,
)

ORCHESTRATED = SagaDefinition(
    name="checkout-orchestration",
    start=["CheckoutStarted"],
    steps=[
        SagaStep(
            name="reserve-stock",
            command=["ReserveStock"],
            success=["StockReserved"],
            failure=["StockReservationFailed"],
            compensation=["ReleaseStock", "StockReleased"],
        ),
        SagaStep(
            name="charge-payment",
            command=["ChargePayment"],
            success=["PaymentCharged"],
            failure=["PaymentDeclined"],
            compensation=["RefundPayment", "PaymentRefunded"],
        ),
        SagaStep(
            name="schedule-shipment",
            command=["ScheduleShipment"],
            success=["ShipmentScheduled"],
            failure=["ShipmentFailed"],
        ),
    ],
    timeout_s=60,
)


def tracker() -> SagaTracker:
    return SagaTracker([CHOREOGRAPHED, ORCHESTRATED])


def feed(sagas: SagaTracker, cid: str, *types: str, start: float = 0.0) -> None:
    for i, event_type in enumerate(types):
        sagas.observe(cid, event_type, T0 + start + i)


def state(sagas: SagaTracker, cid: str) -> tuple[SagaState, int, str]:
    inst = sagas.instance(cid)
    assert inst is not None
    return inst.state, inst.step, inst.step_name


def counts(sagas: SagaTracker, name: str) -> dict[SagaState, int]:
    summary = next(s for s in sagas.summaries() if s.saga == name)
    return dict(summary.counts)


def test_choreographed_happy_path() -> None:
    sagas = tracker()
    feed(sagas, "c1", "OrderPlaced")
    assert state(sagas, "c1") == (SagaState.RUNNING, 1, "reserve-stock")
    feed(sagas, "c1", "StockReserved", start=1)
    assert state(sagas, "c1") == (SagaState.RUNNING, 2, "payment")
    feed(sagas, "c1", "PaymentProcessed", "ShipmentScheduled", start=2)
    inst = sagas.instance("c1")
    assert inst is not None
    assert (inst.state, inst.step, inst.step_name) == (SagaState.COMPLETED, 3, "")
    assert (inst.saga, inst.started, inst.updated, inst.duration_s) == (
        "order-fulfilment",
        T0,
        T0 + 3,
        3.0,
    )


def test_choreographed_compensation_failure_and_failure_while_compensating() -> None:
    sagas = tracker()
    feed(sagas, "comp", "OrderPlaced", "StockReserved", "PaymentFailed")
    assert state(sagas, "comp") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "comp", "StockReleased", start=3)
    assert state(sagas, "comp") == (SagaState.COMPENSATED, 2, "payment")  # where it failed

    feed(sagas, "nocomp", "OrderPlaced", "StockReservationFailed")
    assert state(sagas, "nocomp") == (SagaState.FAILED, 1, "reserve-stock")

    # shipping fails: payment is undone first (reverse order), then stock
    feed(sagas, "ship", "OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentFailed")
    assert state(sagas, "ship") == (SagaState.COMPENSATING, 2, "payment")
    feed(sagas, "ship", "PaymentRefunded", start=4)
    assert state(sagas, "ship") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "ship", "StockReleased", start=5)
    assert state(sagas, "ship")[0] is SagaState.COMPENSATED

    feed(sagas, "broken", "OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentFailed")
    feed(sagas, "broken", "PaymentFailed", start=4)  # the refund fails while compensating
    assert state(sagas, "broken") == (SagaState.FAILED, 2, "payment")
    feed(sagas, "broken", "PaymentRefunded", "StockReleased", start=5)
    assert state(sagas, "broken")[0] is SagaState.FAILED  # compensations noted, still failed

    got = counts(sagas, "order-fulfilment")
    assert got[SagaState.COMPENSATED] == 2 and got[SagaState.FAILED] == 2
    assert sum(got.values()) == 4


def test_failure_repeated_while_compensating_is_not_a_new_failure() -> None:
    sagas = tracker()
    feed(sagas, "c", "OrderPlaced", "StockReserved", "PaymentFailed", "PaymentFailed")
    assert state(sagas, "c")[0] is SagaState.COMPENSATING


def test_orchestrated_every_path() -> None:
    sagas = tracker()
    feed(sagas, "ok", "CheckoutStarted", "ReserveStock")
    assert state(sagas, "ok") == (SagaState.RUNNING, 1, "reserve-stock")
    feed(sagas, "ok", "StockReserved", "ChargePayment", start=2)
    assert state(sagas, "ok") == (SagaState.RUNNING, 2, "charge-payment")
    feed(sagas, "ok", "PaymentCharged", "ScheduleShipment", "ShipmentScheduled", start=4)
    assert state(sagas, "ok")[0] is SagaState.COMPLETED

    feed(sagas, "undo", "CheckoutStarted", "ReserveStock", "StockReserved", "ChargePayment")
    feed(sagas, "undo", "PaymentCharged", "ScheduleShipment", "ShipmentFailed", start=4)
    assert state(sagas, "undo") == (SagaState.COMPENSATING, 2, "charge-payment")
    feed(sagas, "undo", "RefundPayment", start=7)  # the command alone does not undo the step
    assert state(sagas, "undo") == (SagaState.COMPENSATING, 2, "charge-payment")
    feed(sagas, "undo", "PaymentRefunded", "ReleaseStock", start=8)
    assert state(sagas, "undo") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "undo", "StockReleased", start=10)
    assert state(sagas, "undo") == (SagaState.COMPENSATED, 3, "schedule-shipment")

    feed(sagas, "declined", "CheckoutStarted", "ReserveStock", "StockReserved")
    feed(sagas, "declined", "ChargePayment", "PaymentDeclined", start=3)
    assert state(sagas, "declined") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "declined", "ReleaseStock", "StockReleased", start=5)
    assert state(sagas, "declined")[0] is SagaState.COMPENSATED

    feed(sagas, "nostock", "CheckoutStarted", "ReserveStock", "StockReservationFailed")
    assert state(sagas, "nostock")[0] is SagaState.FAILED

    got = counts(sagas, "checkout-orchestration")
    expected = {SagaState.COMPLETED: 1, SagaState.COMPENSATED: 2, SagaState.FAILED: 1}
    assert {k: v for k, v in got.items() if v} == expected
    assert [state for state, _ in next(iter(sagas.summaries())).counts] == list(SagaState)


def test_out_of_order_events_jump_forward() -> None:
    sagas = tracker()
    feed(sagas, "c", "OrderPlaced")
    feed(sagas, "c", "PaymentProcessed", start=2)  # StockReserved not seen yet
    assert state(sagas, "c") == (SagaState.RUNNING, 3, "shipping")
    sagas.observe("c", "StockReserved", T0 + 1)  # late: no going back
    assert state(sagas, "c") == (SagaState.RUNNING, 3, "shipping")
    feed(sagas, "c", "ShipmentFailed", start=3)  # both earlier steps are implied done
    assert state(sagas, "c") == (SagaState.COMPENSATING, 2, "payment")

    # a compensation before the failure that caused it
    feed(sagas, "o", "CheckoutStarted", "ReserveStock", "StockReserved", "ChargePayment")
    feed(sagas, "o", "StockReleased", start=4)
    assert state(sagas, "o") == (SagaState.COMPENSATED, 1, "reserve-stock")
    feed(sagas, "o", "PaymentDeclined", start=5)  # late failure: finished, ignored
    assert state(sagas, "o")[0] is SagaState.COMPENSATED
    assert sagas.instance("o") is not None

    # a command for a later step implies the earlier ones succeeded
    feed(sagas, "cmd", "CheckoutStarted", "ChargePayment", "PaymentDeclined")
    assert state(sagas, "cmd") == (SagaState.COMPENSATING, 1, "reserve-stock")


def test_unknown_flows_and_finished_instances_ignore_events() -> None:
    sagas = tracker()
    feed(sagas, "x", "StockReserved", "PaymentProcessed")
    assert sagas.instance("x") is None
    feed(sagas, "done", "OrderPlaced", "StockReservationFailed")
    feed(sagas, "done", "StockReserved", "PaymentProcessed", "ShipmentScheduled", start=2)
    assert state(sagas, "done")[0] is SagaState.FAILED
    sagas.observe("done", "NotASagaEvent", T0 + 99)
    inst = sagas.instance("done")
    assert inst is not None and inst.updated == T0 + 4


def test_dead_lettered_then_recovery_after_retry() -> None:
    sagas = tracker()
    feed(sagas, "d", "OrderPlaced", "StockReserved")
    sagas.dead_lettered("d", T0 + 2)
    assert state(sagas, "d") == (SagaState.DEAD_LETTERED, 2, "payment")
    assert counts(sagas, "order-fulfilment")[SagaState.DEAD_LETTERED] == 1
    sagas.observe("d", "StockReserved", T0 + 3)  # the redriven copy: no progress by itself
    assert state(sagas, "d")[0] is SagaState.DEAD_LETTERED
    sagas.tick(T0 + 1_000)  # a dead-lettered saga is not turned into STUCK
    assert state(sagas, "d")[0] is SagaState.DEAD_LETTERED
    feed(sagas, "d", "PaymentProcessed", start=4)  # the retry worked
    assert state(sagas, "d") == (SagaState.RUNNING, 3, "shipping")
    got = counts(sagas, "order-fulfilment")
    assert (got[SagaState.DEAD_LETTERED], got[SagaState.RUNNING]) == (0, 1)

    feed(sagas, "f", "OrderPlaced", "StockReservationFailed")
    sagas.dead_lettered("f", T0 + 5)  # finished: stays FAILED
    assert state(sagas, "f")[0] is SagaState.FAILED
    sagas.dead_lettered("unknown", T0)
    assert sagas.instance("unknown") is None


def test_stuck_via_tick_then_resume() -> None:
    sagas = tracker()
    feed(sagas, "s", "OrderPlaced", "StockReserved")  # last progress at T0 + 1, timeout 30 s
    feed(sagas, "o", "CheckoutStarted", start=20)  # timeout 60 s
    sagas.tick(T0 + 31)
    assert state(sagas, "s")[0] is SagaState.RUNNING  # exactly 30 s is not longer than 30 s
    sagas.tick(T0 + 31.5)
    assert state(sagas, "s") == (SagaState.STUCK, 2, "payment")
    assert state(sagas, "o")[0] is SagaState.RUNNING
    assert counts(sagas, "order-fulfilment")[SagaState.STUCK] == 1
    feed(sagas, "s", "PaymentProcessed", start=40)
    assert state(sagas, "s") == (SagaState.RUNNING, 3, "shipping")
    sagas.tick(T0 + 60)
    assert state(sagas, "s")[0] is SagaState.RUNNING
    sagas.tick(T0 + 71)
    assert state(sagas, "s")[0] is SagaState.STUCK
    assert state(sagas, "o")[0] is SagaState.RUNNING  # 51 s: under its own 60 s timeout
    sagas.tick(T0 + 81)
    assert state(sagas, "o")[0] is SagaState.STUCK
    feed(sagas, "s", "ShipmentScheduled", start=80)
    assert state(sagas, "s")[0] is SagaState.COMPLETED

    # compensating sagas get stuck too
    feed(sagas, "c", "OrderPlaced", "StockReserved", "PaymentFailed", start=100)
    sagas.tick(T0 + 200)
    assert state(sagas, "c") == (SagaState.STUCK, 1, "reserve-stock")
    feed(sagas, "c", "StockReleased", start=201)
    assert state(sagas, "c")[0] is SagaState.COMPENSATED


def test_instances_order_limit_evict_and_caching() -> None:
    sagas = tracker()
    feed(sagas, "a", "OrderPlaced", start=5)
    feed(sagas, "b", "OrderPlaced", start=1)
    feed(sagas, "c", "CheckoutStarted", start=3)
    assert [i.correlation_id for i in sagas.instances()] == ["a", "c", "b"]
    assert [i.correlation_id for i in sagas.instances(2)] == ["a", "c"]
    first = sagas.instance("a")
    assert sagas.instance("a") is first
    summaries = sagas.summaries()
    assert sagas.summaries() == summaries
    sagas.evict("a")
    assert sagas.instance("a") is None
    assert counts(sagas, "order-fulfilment")[SagaState.RUNNING] == 1
    sagas.evict("a")  # twice: harmless
    assert [i.correlation_id for i in sagas.instances()] == ["c", "b"]
    feed(sagas, "b", "StockReserved", start=9)
    assert [i.correlation_id for i in sagas.instances()] == ["b", "c"]
    assert [i.step for i in sagas.instances(1)] == [2]


def test_select_finds_every_instance_in_a_state_not_only_the_newest() -> None:
    """A state's instances beyond what a snapshot lists (its newest 1,000): all of them,
    newest first, by saga too."""
    sagas = tracker()
    for i in range(1500):  # every 10th is stuck (no progress for 30 s), older than the rest
        if i % 10 == 0:
            feed(sagas, f"s{i:04d}", "OrderPlaced", start=i / 1000)
        else:
            feed(sagas, f"d{i:04d}", "CheckoutStarted", start=i / 100 + 40)
    sagas.tick(T0 + 40)
    stuck = sagas.select(SagaState.STUCK, None)
    assert [i.correlation_id for i in stuck] == [f"s{i:04d}" for i in range(1490, -1, -10)]
    newest = sagas.instances(1000)
    assert sum(1 for i in newest if i.state is SagaState.STUCK) < len(stuck) == 150
    assert sagas.select(SagaState.STUCK, "order-fulfilment") == stuck
    assert sagas.select(SagaState.STUCK, "checkout-orchestration") == ()
    assert len(sagas.select(None, "checkout-orchestration")) == 1350
    assert sagas.select(SagaState.STUCK, None)[0] is stuck[0]  # the views are kept


def test_percentiles_of_finished_durations() -> None:
    sagas = tracker()
    for n, duration in enumerate([4.0, 1.0, 3.0, 2.0, 10.0]):
        cid = f"f{n}"
        sagas.observe(cid, "OrderPlaced", T0)
        sagas.observe(cid, "StockReservationFailed", T0 + duration)
    feed(sagas, "running", "OrderPlaced", "StockReserved")  # unfinished: not counted
    summary = next(s for s in sagas.summaries() if s.saga == "order-fulfilment")
    assert summary.p50_s == 3.0
    assert summary.p95_s == pytest.approx(4.0 + 0.8 * 6.0)  # rank 3.8 of 0..4: 4 -> 10
    empty = next(s for s in sagas.summaries() if s.saga == "checkout-orchestration")
    assert (empty.p50_s, empty.p95_s) == (None, None)
    sagas.evict("f4")
    summary = next(s for s in sagas.summaries() if s.saga == "order-fulfilment")
    assert summary.p95_s == pytest.approx(3.0 + 0.85 * 1.0)


def test_percentile_helper() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0], 1.5) == 2.0


SCENARIOS = {
    "order-fulfilment": {
        SagaState.RUNNING: ["OrderPlaced", "StockReserved"],
        SagaState.COMPLETED: [
            "OrderPlaced",
            "StockReserved",
            "PaymentProcessed",
            "ShipmentScheduled",
        ],
        SagaState.COMPENSATING: ["OrderPlaced", "StockReserved", "PaymentFailed"],
        SagaState.COMPENSATED: ["OrderPlaced", "StockReserved", "PaymentFailed", "StockReleased"],
        SagaState.FAILED: [
            "OrderPlaced",
            "StockReserved",
            "PaymentProcessed",
            "ShipmentFailed",
            "PaymentFailed",
        ],
        SagaState.STUCK: ["OrderPlaced"],
        SagaState.DEAD_LETTERED: ["OrderPlaced", "StockReserved"],
    },
    "checkout-orchestration": {
        SagaState.RUNNING: ["CheckoutStarted", "ReserveStock", "StockReserved", "ChargePayment"],
        SagaState.COMPLETED: [
            "CheckoutStarted",
            "ReserveStock",
            "StockReserved",
            "ChargePayment",
            "PaymentCharged",
            "ScheduleShipment",
            "ShipmentScheduled",
        ],
        SagaState.COMPENSATING: [
            "CheckoutStarted",
            "ReserveStock",
            "StockReserved",
            "ChargePayment",
            "PaymentDeclined",
            "ReleaseStock",
        ],
        SagaState.COMPENSATED: [
            "CheckoutStarted",
            "ReserveStock",
            "StockReserved",
            "ChargePayment",
            "PaymentDeclined",
            "ReleaseStock",
            "StockReleased",
        ],
        SagaState.FAILED: [
            "CheckoutStarted",
            "ReserveStock",
            "StockReserved",
            "ChargePayment",
            "PaymentCharged",
            "ScheduleShipment",
            "ShipmentFailed",
            "RefundPayment",
            "PaymentDeclined",
        ],
        SagaState.STUCK: ["CheckoutStarted", "ReserveStock"],
        SagaState.DEAD_LETTERED: ["CheckoutStarted", "ReserveStock"],
    },
}


@pytest.mark.parametrize("saga", sorted(SCENARIOS))
def test_every_state_is_reached(saga: str) -> None:
    sagas = tracker()
    for expected, types in SCENARIOS[saga].items():
        feed(sagas, expected.value, *types, start=1_000.0)
    sagas.dead_lettered(SagaState.DEAD_LETTERED.value, T0 + 1_050.0)
    sagas.tick(T0 + 1_000.0 + 200.0)  # only RUNNING/COMPENSATING flows can become STUCK ...
    for expected in (SagaState.RUNNING, SagaState.COMPENSATING):  # ... so feed those later
        cid = expected.value
        sagas.evict(cid)
        feed(sagas, cid, *SCENARIOS[saga][expected], start=1_150.0)
    for expected in SagaState:
        inst = sagas.instance(expected.value)
        assert inst is not None and inst.saga == saga
        assert inst.state is expected, expected
    assert dict(next(s for s in sagas.summaries() if s.saga == saga).counts) == dict.fromkeys(
        SagaState, 1
    )


def test_compensating_a_step_that_never_succeeded_changes_nothing() -> None:
    """Only steps that succeeded can be undone: a refund of a payment that never went through
    (the step the saga is at) neither starts compensation nor counts as compensated."""
    sagas = tracker()
    feed(sagas, "c", "OrderPlaced", "StockReserved")
    feed(sagas, "c", "PaymentRefunded", start=2)
    assert state(sagas, "c") == (SagaState.RUNNING, 2, "payment")
    feed(sagas, "c", "PaymentFailed", start=3)  # now it fails: stock is to be released
    assert state(sagas, "c") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "c", "PaymentRefunded", start=4)  # still not a step that succeeded
    assert state(sagas, "c") == (SagaState.COMPENSATING, 1, "reserve-stock")
    feed(sagas, "c", "StockReleased", start=5)
    assert state(sagas, "c") == (SagaState.COMPENSATED, 2, "payment")  # where it failed
