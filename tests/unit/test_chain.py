"""Chains: out-of-order linking, duplicates, loops, dead letters, redrives, critical path."""

from __future__ import annotations

import random
import sys
import uuid
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from edamon.model.chain import RETRY_HEADER, Chain
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import Header, RawRecord
from edamon.model.snapshot import ChainNode, ChainView
from edamon.model.status import NodeStatus, SagaState

BASE = 1_795_000_000.0
CID = "flow-1"


def ev(
    event_id: str,
    cause: str | None = None,
    t: float = 0.0,
    *,
    event_type: str | None = None,
    cid: str = CID,
    topic: str = "orders",
    offset: int = 0,
    headers: tuple[Header, ...] = (),
    record_t: float | None = None,
) -> Envelope:
    record = RawRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp_ms=round((BASE + (t if record_t is None else record_t)) * 1000),
        key=b"order-1",
        value=b"{}",
        headers=headers,
    )
    return Envelope(
        event_id=event_id,
        event_type=event_type or f"T{event_id}",
        correlation_id=cid,
        causation_id=cause,
        aggregate_id="order-1",
        occurred_at=BASE + t,
        version=1,
        source="svc",
        trace_id=None,
        format=EnvelopeFormat.SEED,
        record=record,
    )


def dead_letter(original: Envelope, offset: int, t: float) -> DeadLetter:
    record = RawRecord("orders.DLT", 0, offset, round((BASE + t) * 1000), b"order-1", b"{}", ())
    info = DeadLetterInfo(
        convention="spring-dlt",
        original_topic=original.record.topic,
        original_partition=0,
        original_offset=original.record.offset,
        exception_class="java.lang.IllegalStateException",
        exception_message="payment gateway timeout",
    )
    return DeadLetter(record=record, info=info, envelope=original)


def rows(view: ChainView) -> dict[str, ChainNode]:
    return {n.event_id: n for n in view.nodes}


def order(chain: Chain) -> list[str]:
    return [n.event_id for n in chain.view().nodes]


def test_in_order_tree_offsets_hops_and_summary() -> None:
    chain = Chain(CID)
    assert chain.add(ev("a", None, 0.0, event_type="OrderPlaced"), now=BASE + 10)
    assert chain.add(ev("b", "a", 0.5))
    assert chain.add(ev("c", "a", 0.25))
    assert chain.add(ev("d", "b", 2.0))
    view = chain.view("order-fulfilment", SagaState.RUNNING)
    assert [n.event_id for n in view.nodes] == ["a", "c", "b", "d"]
    by_id = rows(view)
    assert [by_id[i].depth for i in "acbd"] == [0, 1, 1, 2]
    assert by_id["a"].hop_s is None and by_id["a"].parent_id is None
    assert by_id["d"].hop_s == 1.5 and by_id["d"].offset_s == 2.0
    assert all(n.status is NodeStatus.OK for n in view.nodes)
    summary = view.summary
    assert (summary.events, summary.root_type, summary.duration_s) == (4, "OrderPlaced", 2.0)
    assert (summary.saga, summary.saga_state) == ("order-fulfilment", SagaState.RUNNING)
    assert summary.start == BASE and summary.end == BASE + 2.0
    assert summary.last_update == BASE + 10  # the arrival time passed in wins over event times
    assert sorted(chain.event_ids()) == ["a", "b", "c", "d"]
    assert chain.envelope("b") is not None and chain.envelope("zz") is None


def test_grandchild_first_then_child_then_root() -> None:
    chain = Chain(CID)
    chain.add(ev("g", "c", 2.0))
    by_id = rows(chain.view())
    assert by_id["c"].status is NodeStatus.PLACEHOLDER and by_id["c"].event_type == ""
    assert by_id["g"].status is NodeStatus.ORPHAN and by_id["g"].hop_s is None
    assert (chain.orphans, chain.event_count) == (1, 1)

    chain.add(ev("c", "r", 1.0))
    by_id = rows(chain.view())
    assert by_id["c"].status is NodeStatus.ORPHAN and by_id["g"].status is NodeStatus.OK
    assert by_id["r"].status is NodeStatus.PLACEHOLDER
    assert by_id["r"].time == BASE + 1.0  # a placeholder sits at its earliest child
    assert chain.orphans == 1

    chain.add(ev("r", None, 0.0))
    view = chain.view()
    assert [(n.event_id, n.depth) for n in view.nodes] == [("r", 0), ("c", 1), ("g", 2)]
    assert all(n.status is NodeStatus.OK for n in view.nodes)
    assert rows(view)["g"].hop_s == 1.0
    assert (chain.orphans, chain.event_count, view.summary.root_type) == (0, 3, "Tr")


def test_duplicate_delivery_is_counted_not_added() -> None:
    chain = Chain(CID)
    assert chain.add(ev("a"))
    assert chain.add(ev("b", "a", 1.0))
    assert not chain.add(ev("b", "a", 1.0, offset=7))
    assert not chain.add(ev("b", "a", 1.0, offset=8))
    assert (chain.event_count, chain.duplicates) == (2, 2)
    by_id = rows(chain.view())
    assert (by_id["b"].duplicates, by_id["a"].duplicates) == (2, 0)
    assert len(chain.view().nodes) == 2


def test_root_rules_self_cause_and_correlation_id() -> None:
    chain = Chain(CID)
    chain.add(ev("x", "x", 0.0))  # caused by itself: the first event of a flow
    assert not chain.has_loop
    # caused by the correlation id, and no event has that id (yet): a root, not an orphan
    chain.add(ev("y", CID, 1.0))
    by_id = rows(chain.view())
    assert by_id["y"].depth == 0 and by_id["y"].status is NodeStatus.OK
    assert CID not in by_id and chain.orphans == 0
    # the event whose id is the correlation id arrives: y moves under it
    chain.add(ev(CID, None, 0.5))
    view = chain.view()
    assert [(n.event_id, n.depth) for n in view.nodes] == [("x", 0), (CID, 0), ("y", 1)]
    assert rows(view)["y"].parent_id == CID and rows(view)["y"].hop_s == 0.5


def test_loop_between_two_events_is_reported_and_does_not_hang() -> None:
    chain = Chain(CID)
    chain.add(ev("r", None, 0.0))
    chain.add(ev("a", "b", 1.0))
    chain.add(ev("b", "a", 2.0))
    chain.add(ev("c", "b", 3.0))  # hangs off the loop
    assert chain.has_loop
    view = chain.view()
    assert view.loops == (("a", "b"),)
    assert view.summary.has_loop
    by_id = rows(view)
    assert by_id["a"].status is by_id["b"].status is NodeStatus.LOOP
    assert by_id["a"].detail == "causation loop"
    assert by_id["c"].status is NodeStatus.OK
    assert [(n.event_id, n.depth) for n in view.nodes] == [("r", 0), ("a", 0), ("b", 1), ("c", 2)]
    assert not by_id["a"].critical and by_id["r"].critical  # the loop is off the rooted tree


def test_loop_closed_through_placeholders() -> None:
    chain = Chain(CID)
    chain.add(ev("a", "b", 1.0))  # b: placeholder
    chain.add(ev("c", "a", 3.0))
    chain.add(ev("b", "c", 2.0))  # fills b, whose cause c descends from b: a -> c -> b -> a
    view = chain.view()
    assert view.loops == (("a", "c", "b"),)
    assert {n.event_id for n in view.nodes} == {"a", "b", "c"}
    assert all(n.status is NodeStatus.LOOP for n in view.nodes)
    assert chain.orphans == 0
    assert view.summary.root_type == "Ta"  # no root: the earliest event names the flow


def test_loop_closed_by_the_correlation_id_event() -> None:
    chain = Chain(CID)
    chain.add(ev("y", CID, 1.0))  # a root until the event with the correlation id shows up
    chain.add(ev(CID, "y", 2.0))
    assert chain.loops == ((CID, "y"),) or chain.loops == (("y", CID),)
    assert len(chain.view().nodes) == 2


def test_dead_letter_under_its_event_and_redriven_copy_under_the_dead_letter() -> None:
    chain = Chain(CID)
    placed = ev("a", None, 0.0, offset=3)
    chain.add(placed)
    reserved = ev("b", "a", 1.0, offset=4, event_type="StockReserved")
    chain.add(reserved)
    dl = dead_letter(reserved, offset=9, t=1.5)
    assert chain.add_dead_letter(dl)
    assert not chain.add_dead_letter(dl)  # the same DLQ record again
    copy = ev(
        "b",
        "a",
        1.0,
        topic="orders",
        offset=40,
        event_type="StockReserved",
        headers=((RETRY_HEADER, dl.coords.encode()),),
        record_t=5.0,
    )
    assert chain.add(copy)  # same event id, but a redrive: not a duplicate
    assert chain.duplicates == 0 and chain.dead_letters == 1
    view = chain.view()
    dlq_id, retry_id = f"dlq:{dl.coords}", "retry:orders/0/40"
    assert [n.event_id for n in view.nodes] == ["a", "b", dlq_id, retry_id]
    by_id = rows(view)
    node = by_id[dlq_id]
    assert (node.parent_id, node.status, node.depth) == ("b", NodeStatus.DEAD_LETTERED, 2)
    assert node.detail == "java.lang.IllegalStateException: payment gateway timeout"
    assert (node.dead_letter, node.topic, node.event_type) == (
        dl.coords,
        "orders.DLT",
        "StockReserved",
    )
    assert node.hop_s == 0.5
    retry = by_id[retry_id]
    assert (retry.parent_id, retry.status, retry.depth) == (dlq_id, NodeStatus.RETRIED, 3)
    assert retry.time == BASE + 5.0  # when it was redriven, not the original occurredAt
    assert view.summary.dead_letters == 1 and view.summary.end == BASE + 5.0


def test_dead_letter_of_unseen_event_and_redrive_before_dead_letter() -> None:
    chain = Chain(CID)
    lost = ev("p", None, 0.0, offset=1)
    dl = dead_letter(lost, offset=2, t=1.0)
    copy = ev("p", None, 0.0, offset=50, headers=((RETRY_HEADER, dl.coords.encode()),), record_t=3)
    assert chain.add(copy)  # the redrive is seen before its dead letter: under the original
    assert rows(chain.view())[f"retry:{copy.record.coords}"].parent_id == "p"
    chain.add_dead_letter(dl)
    by_id = rows(chain.view())
    assert by_id["p"].status is NodeStatus.PLACEHOLDER
    assert by_id[f"dlq:{dl.coords}"].parent_id == "p"
    assert by_id[f"retry:{copy.record.coords}"].parent_id == f"dlq:{dl.coords}"
    assert chain.orphans == 0  # dead letters and redrives are not orphaned events
    chain.add(lost)
    assert rows(chain.view())["p"].status is NodeStatus.OK


def test_waterfall_order_siblings_orphans_and_placeholders() -> None:
    chain = Chain(CID)
    chain.add(ev("o2", "missing", 0.2))
    chain.add(ev("r", None, 1.0))
    chain.add(ev("s2", "r", 2.0))
    chain.add(ev("s1b", "r", 1.5))
    chain.add(ev("s1a", "r", 1.5))  # same time as s1b: event id decides
    chain.add(ev("o1", "missing", 0.1))
    chain.add(ev("k", "s1b", 1.6))
    assert order(chain) == ["r", "s1a", "s1b", "k", "s2", "missing", "o1", "o2"]
    by_id = rows(chain.view())
    assert by_id["missing"].depth == 0 and by_id["o1"].depth == 1
    assert by_id["missing"].offset_s == 0.0  # the chain starts with the earliest orphan


def test_critical_path_exact_nodes() -> None:
    # R(0) ─ A(1) ─ A1(3)      the child that finishes last is B (9): B, B1 critical;
    #       ├ C(2)              stepping back before B starts (4): A (ends 3) not C (ends 2);
    #       └ B(4) ─ B1(9)      then before A starts (1): nothing.
    chain = Chain(CID)
    for event_id, cause, t in [
        ("B1", "B", 9.0),
        ("R", None, 0.0),
        ("A", "R", 1.0),
        ("C", "R", 2.0),
        ("B", "R", 4.0),
        ("A1", "A", 3.0),
    ]:
        chain.add(ev(event_id, cause, t))
    critical = {n.event_id for n in chain.view().nodes if n.critical}
    assert critical == {"R", "B", "B1", "A", "A1"}


def test_critical_path_picks_the_root_that_ends_last() -> None:
    chain = Chain(CID)
    chain.add(ev("r1", None, 0.0))
    chain.add(ev("r1a", "r1", 1.0))
    chain.add(ev("r2", None, 0.5))
    chain.add(ev("r2a", "r2", 4.0))
    chain.add(ev("r2b", "r2", 3.0))
    critical = {n.event_id for n in chain.view().nodes if n.critical}
    assert critical == {"r2", "r2a", "r2b"}  # r2b ends (3.0) before r2a starts (4.0)
    # r2c spans 2.0..3.9 (through its child): it ends after r2b and hides it
    chain.add(ev("r2c", "r2", 2.0))
    chain.add(ev("r2c1", "r2c", 3.9))
    critical = {n.event_id for n in chain.view().nodes if n.critical}
    assert critical == {"r2", "r2a", "r2c", "r2c1"}


def test_summary_and_view_are_cached_until_a_change() -> None:
    chain = Chain(CID)
    chain.add(ev("a"))
    first = chain.summary()
    assert chain.summary() is first
    assert chain.summary("s", SagaState.RUNNING) is not first
    nodes = chain.view().nodes
    assert chain.view().nodes is nodes
    chain.add(ev("b", "a", 1.0))
    assert chain.summary().events == 2 and chain.view().nodes is not nodes


def test_twenty_thousand_events_linear_reverse_order() -> None:
    n = 20_000
    chain = Chain(CID)
    for i in range(n - 1, -1, -1):  # every event arrives before its cause
        chain.add(ev(f"e{i:05d}", f"e{i - 1:05d}" if i else None, float(i)))
    assert chain.orphans == 0 and chain.event_count == n
    view = chain.view()
    assert [n.depth for n in view.nodes] == list(range(n))
    assert all(n.critical for n in view.nodes)
    assert view.summary.duration_s == n - 1
    assert n > sys.getrecursionlimit()


def test_twenty_thousand_events_shuffled_wide_tree() -> None:
    rng = random.Random(7)
    n = 20_000
    events = [ev("e0", None, 0.0)]
    for i in range(1, n):
        parent = rng.randrange(i)
        events.append(ev(f"e{i}", f"e{parent}", float(i)))
    rng.shuffle(events)
    chain = Chain(CID)
    for envelope in events:
        chain.add(envelope)
    for envelope in events[:100]:
        assert not chain.add(envelope)
    assert (chain.orphans, chain.event_count, chain.duplicates) == (0, n, 100)
    view = chain.view()
    assert len(view.nodes) == n
    position = {node.event_id: i for i, node in enumerate(view.nodes)}
    for node in view.nodes:  # parent before child, depth one more than the parent's
        if node.parent_id is not None:
            assert position[node.parent_id] < position[node.event_id]
            assert node.depth == view.nodes[position[node.parent_id]].depth + 1
    assert view.nodes[0].event_id == "e0" and view.nodes[0].critical
    assert f"e{n - 1}" in {node.event_id for node in view.nodes if node.critical}


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_any_arrival_order_gives_the_same_view(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=25))
    causes = [None] + [data.draw(st.integers(0, i - 1)) for i in range(1, size)]
    times = data.draw(
        st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 4.0]), min_size=size, max_size=size)
    )
    events = [ev(f"e{i}", None if c is None else f"e{c}", times[i]) for i, c in enumerate(causes)]
    shuffled = data.draw(st.permutations(events))

    def shape(chain: Chain) -> list[tuple[object, ...]]:
        return [
            (n.event_id, n.parent_id, n.depth, n.status, n.critical, n.hop_s)
            for n in chain.view().nodes
        ]

    in_order, any_order = Chain(CID), Chain(CID)
    for envelope in events:
        in_order.add(envelope)
    for envelope in shuffled:
        any_order.add(envelope)
    assert shape(any_order) == shape(in_order)
    assert any_order.orphans == 0 and any_order.summary() == in_order.summary()


@given(st.data())
@settings(max_examples=80, deadline=None)
def test_arbitrary_causation_graphs_terminate_and_show_every_event(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=15))
    ids = [f"e{i}" for i in range(size)]
    causes = data.draw(
        st.lists(st.sampled_from([None, "ghost", *ids]), min_size=size, max_size=size)
    )
    order_ = data.draw(st.permutations(range(size)))
    chain = Chain(CID)
    for i in order_:
        chain.add(ev(ids[i], causes[i], float(i)))
    view = chain.view()
    shown = [n.event_id for n in view.nodes]
    assert len(shown) == len(set(shown))
    assert set(shown) == set(ids) | ({"ghost"} if "ghost" in causes else set())
    # a loop exists iff following causes from some event comes back to it (self-cause = root)
    parent = {e: c for e, c in zip(ids, causes, strict=True) if c in ids and c != e}
    cyclic: set[str] = set()
    for start in ids:
        path, node = [start], parent.get(start)
        while node is not None and node not in path:
            path.append(node)
            node = parent.get(node)
        if node is not None:
            cyclic.update(path[path.index(node) :])
    assert {e for loop in view.loops for e in loop} == cyclic
    assert {n.event_id for n in view.nodes if n.status is NodeStatus.LOOP} == cyclic


def _id_styles(i: int, style: str) -> str:
    """Event id number `i` written as a lowercase UUID (kept as 16 bytes by the chain), an
    uppercase one or a plain name (both kept as text)."""
    text = str(uuid.UUID(int=(i + 1) * 0x9E3779B97F4A7C15F39CC0605CEDC835 % (1 << 128)))
    return {"uuid": text, "upper": text.upper(), "plain": f"e{i}"}[style]


@given(st.data())
@settings(max_examples=80, deadline=None)
def test_how_ids_are_written_changes_nothing_a_chain_shows(data: st.DataObject) -> None:
    """The same causation graph, its events named plain `e<i>` in one chain and by ids of
    mixed forms (UUIDs the chain packs into 16 bytes, others it keeps as text) in another, arriving
    in the same order with duplicates: both show the same tree, loops, counts and root; and
    every envelope given back, held or rebuilt from the columns after its record is dropped, is
    the one added (with the record's key, value and headers let go). Records are dropped
    (their ids packed) at random moments meanwhile, so duplicates and causes meet packed ids."""
    size = data.draw(st.integers(min_value=1, max_value=20))
    styles = data.draw(
        st.lists(st.sampled_from(["uuid", "upper", "plain"]), min_size=size + 1, max_size=size + 1)
    )
    named = [_id_styles(i, styles[i]) for i in range(size)] + [_id_styles(size, styles[size])]
    plain = [f"e{i}" for i in range(size)] + ["ghost"]
    causes = data.draw(
        st.lists(st.sampled_from([None, CID, *range(size + 1)]), min_size=size, max_size=size)
    )
    arrivals = data.draw(st.lists(st.integers(0, size - 1), min_size=size, max_size=2 * size))
    arrivals += data.draw(st.permutations(range(size)))  # every event at least once
    drops = data.draw(
        st.lists(
            st.one_of(st.none(), st.integers(0, 40)), min_size=len(arrivals), max_size=len(arrivals)
        )
    )

    def build(ids: list[str]) -> tuple[Chain, dict[str, Envelope]]:
        chain = Chain(CID)
        added: dict[str, Envelope] = {}
        for i, drop in zip(arrivals, drops, strict=True):
            if drop is not None and added:  # the record of an earlier event let go meanwhile
                chain.drop_data(drop % len(added))
            cause = causes[i]
            env = ev(
                ids[i],
                ids[cause] if isinstance(cause, int) else cause,
                float(i),
                event_type=f"T{i}",
                offset=i,
            )
            if chain.add(env):
                added[env.event_id] = env
        return chain, added

    (left, _), (right, added) = build(plain), build(named)
    back = dict(zip(named, plain, strict=True))

    def shown(view: ChainView, rename: dict[str, str]) -> list[tuple[object, ...]]:
        return [
            (
                rename.get(n.event_id, n.event_id),
                rename.get(n.parent_id, n.parent_id) if n.parent_id else None,
                n.depth,
                n.status,
                n.time,
                n.critical,
                n.duplicates,
                n.coords,
            )
            for n in view.nodes
        ]

    assert shown(right.view(), back) == shown(left.view(), {})
    assert [tuple(back[e] for e in loop) for loop in right.loops] == list(left.loops)
    assert right.summary().root_type == left.summary().root_type
    assert (right.event_count, right.duplicates, right.orphans) == (
        left.event_count,
        left.duplicates,
        left.orphans,
    )
    assert sorted(right.event_ids()) == sorted(added)
    for position, (event_id, env) in enumerate(added.items()):
        if right.held_envelope(position) is not None:
            assert right.envelope(event_id) is env  # held: the envelope itself
    for position in range(len(added)):
        right.drop_data(position)
    for event_id, env in added.items():
        record = env.record
        assert right.envelope(event_id) == replace(
            env,
            dropped=True,
            record=RawRecord(
                record.topic, record.partition, record.offset, record.timestamp_ms, None, None
            ),
        )
    assert shown(right.view(), back) == shown(left.view(), {})
