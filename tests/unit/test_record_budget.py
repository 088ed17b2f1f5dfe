"""The record memory budget: newest events keep key, value and headers; older ones only what
the chains need, and the state still answers for them."""

from __future__ import annotations

from builders import BASE_MS, event_record
from edamon.collector.budget import RECORD_OVERHEAD, RecordBudget
from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.decode.envelope import EnvelopeDecoder
from edamon.demo.sagas import demo_sagas
from edamon.model.chain import Chain
from edamon.model.envelope import HEADER_BYTES, Envelope, drop_record_data, record_size
from edamon.model.records import RawRecord
from edamon.model.status import SagaState

NOW = BASE_MS / 1000 + 60


def envelopes(count: int) -> list[Envelope]:
    decoder = EnvelopeDecoder(Settings().envelope)
    out = []
    for i in range(count):
        env = decoder.decode(event_record("orders.OrderPlaced", i, f"e{i}", "OrderPlaced", f"c{i}"))
        assert isinstance(env, Envelope)
        out.append(env)
    return out


def test_record_size_counts_key_value_and_headers() -> None:
    headers = (("event-type", b"OrderPlaced"), ("a", b""), ("correlation-id", b"c" * 36))
    record = RawRecord("orders.OrderPlaced", 0, 0, BASE_MS, b"k" * 10, b"v" * 100, headers)
    # 100 value bytes + 10 key bytes + a flat 48 per header (names and short values are shared)
    assert HEADER_BYTES == 48
    assert record_size(record) == 254
    assert record_size(RawRecord("t", 0, 0, 0, None, None)) == 0
    assert record_size(RawRecord("t", 0, 0, 0, b"", b"x" * 7, (("h", b"y" * 1000),))) == 55


def test_drop_keeps_coordinates_and_fields_and_is_idempotent() -> None:
    (env,) = envelopes(1)
    before = env.record
    drop_record_data(env)
    assert env.dropped
    assert (env.record.value, env.record.key, env.record.headers) == (None, None, ())
    assert env.record.coords == before.coords
    assert env.record.timestamp_ms == before.timestamp_ms
    assert (env.event_id, env.event_type, env.correlation_id) == ("e0", "OrderPlaced", "c0")
    bare = env.record
    drop_record_data(env)  # a second time: nothing changes
    assert env.record is bare


def test_a_chain_that_drops_an_events_record_still_gives_its_envelope_whole() -> None:
    """After `drop_data` the chain builds the event's envelope from its columns: every field
    as decoded, the record's coordinates and timestamp, no key, value or headers."""
    (env,) = envelopes(1)
    chain = Chain("c0")
    assert chain.add(env)
    assert chain.envelope("e0") is env  # held: the envelope itself
    chain.drop_data(chain.last_position)
    rebuilt = chain.envelope("e0")
    assert rebuilt is not None and rebuilt.dropped
    assert (rebuilt.record.value, rebuilt.record.key, rebuilt.record.headers) == (None, None, ())
    expected = Envelope(
        **{
            **{name: getattr(env, name) for name in env.__dataclass_fields__},
            "dropped": True,
            "record": RawRecord(
                env.record.topic,
                env.record.partition,
                env.record.offset,
                env.record.timestamp_ms,
                None,
                None,
            ),
        }
    )
    assert rebuilt == expected
    chain.drop_data(chain.last_position)  # a second time: nothing changes
    assert chain.envelope("e0") == expected


def held(events: list[Envelope]) -> tuple[list[tuple[Chain, int]], list[Chain]]:
    """Each event added to a chain of its own: (chain, position) pairs, and the chains."""
    chains = [Chain(env.correlation_id or env.event_id) for env in events]
    for chain, env in zip(chains, events, strict=True):
        assert chain.add(env)
    return [(chain, chain.last_position) for chain in chains], chains


def dropped(chains: list[Chain], events: list[Envelope]) -> list[bool]:
    out = []
    for chain, env in zip(chains, events, strict=True):
        got = chain.envelope(env.event_id)
        assert got is not None
        out.append(got.dropped)
    return out


def test_budget_drops_the_oldest_records_beyond_the_limit() -> None:
    events = envelopes(10)
    record = events[0].record
    assert RECORD_OVERHEAD == 400
    # what one held event counts: its value, key, 48 per header, and 400 for the objects
    per_event = len(record.value or b"") + len(record.key or b"") + 48 * len(record.headers) + 400
    budget = RecordBudget(per_event * 4)
    places, chains = held(events)
    for chain, position in places:
        budget.hold(chain, position)
    assert dropped(chains, events) == [True] * 6 + [False] * 4
    assert budget.held_events == 4
    assert budget.dropped == 6
    assert budget.held_bytes <= per_event * 4


def test_zero_budget_keeps_no_record() -> None:
    events = envelopes(3)
    budget = RecordBudget(0)
    places, chains = held(events)
    for chain, position in places:
        budget.hold(chain, position)
    assert all(dropped(chains, events))
    assert budget.held_bytes == 0


def test_state_answers_for_events_whose_records_were_dropped() -> None:
    settings = Settings()
    saga = demo_sagas()[0]
    settings.sagas.definitions = [saga]
    settings.retention.record_memory_mb = 0.001  # about one record
    state = CollectorState(settings, cluster="test")
    steps = [saga.start[0], *(step.success[0] for step in saga.steps)]
    records = [
        event_record(
            f"t.{etype}", 0, f"e{i}", etype, "flow", f"e{i - 1}" if i else None, at_ms=BASE_MS + i
        )
        for i, etype in enumerate(steps)
    ]
    state.ingest(records, NOW)
    first = state.event("e0")
    last = state.event(f"e{len(steps) - 1}")
    assert first is not None and first.dropped and first.record.value is None
    assert first.record.coords == records[0].coords
    assert last is not None and not last.dropped and last.record.value == records[-1].value
    chain = state.chain("flow")
    assert chain is not None and chain.summary.events == len(steps)
    assert chain.summary.saga_state is SagaState.COMPLETED


def one_event_flows(count: int) -> list[RawRecord]:
    """`count` records, each the only event of its own flow (`e<i>` in `flow-<i>`)."""
    return [
        event_record("orders.OrderPlaced", i, f"e{i}", "OrderPlaced", f"flow-{i}", at_ms=BASE_MS)
        for i in range(count)
    ]


def state_with(**retention: float) -> CollectorState:
    settings = Settings()
    for key, value in retention.items():
        setattr(settings.retention, key, value)
    return CollectorState(settings, cluster="test")


def test_evicted_flows_let_go_of_their_records_even_without_newer_traffic() -> None:
    state = state_with(max_events=100)
    records = one_event_flows(5000)
    kept = []
    for start in range(0, len(records), 500):
        state.ingest(records[start : start + 500], NOW)
        kept.append(state.event(f"e{start + 499}"))
    budget = state._budget
    # far under the 64 MB budget, yet only what retention keeps holds record data
    largest = max(record_size(r) for r in records) + RECORD_OVERHEAD
    assert budget.held_bytes <= 100 * largest
    assert budget.held_events <= 2 * 1024 + 100  # released entries are forgotten in bulk
    assert all(env is not None and not env.dropped for env in kept)  # each newest when asked
    # the evicted flows are gone, and with them their records (held_bytes above)
    assert all(state.event(f"e{start}") is None for start in range(0, 4500, 500))
    last = state.event("e4999")
    assert last is not None and not last.dropped


def test_age_eviction_releases_records_too() -> None:
    state = state_with(max_age_s=60)
    state.ingest(one_event_flows(3000), NOW)
    assert state._budget.held_bytes > 0
    state.tick(NOW + 3600)  # every flow ages out; no new event arrives
    assert state._budget.held_bytes == 0
    assert state._budget.held_events <= 1024  # entries without data, forgotten in bulk
    assert all(state.event(f"e{i}") is None for i in (0, 1500, 2999))


def test_holding_a_run_at_once_drops_what_holding_one_by_one_drops() -> None:
    """`hold_many` (once per run) keeps and drops the same events, and counts the same bytes,
    as `hold` called for each event in turn."""
    one_by_one, at_once = envelopes(40), envelopes(40)
    limit = 7 * (record_size(one_by_one[0].record) + RECORD_OVERHEAD) + 5
    single, runs = RecordBudget(limit), RecordBudget(limit)
    single_places, single_chains = held(one_by_one)
    run_places, run_chains = held(at_once)
    for chain, position in single_places:
        single.hold(chain, position)
    for start in (0, 3, 4, 20):
        end = {0: 3, 3: 4, 4: 20, 20: 40}[start]
        runs.hold_many(run_places[start:end], at_once[start:end])
    single_dropped = dropped(single_chains, one_by_one)
    assert dropped(run_chains, at_once) == single_dropped
    kept = [
        record_size(env.record) + RECORD_OVERHEAD
        for env, gone in zip(one_by_one, single_dropped, strict=True)
        if not gone
    ]
    first_kept = 40 - len(kept)
    assert all(dropped(run_chains, at_once)[:first_kept]) and len(kept) >= 6
    older = record_size(envelopes(40)[first_kept - 1].record) + RECORD_OVERHEAD
    assert sum(kept) <= limit < sum(kept) + older
    assert (runs.held_bytes, runs.held_events, runs.dropped) == (
        single.held_bytes,
        single.held_events,
        single.dropped,
    )
