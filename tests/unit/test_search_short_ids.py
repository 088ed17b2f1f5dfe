"""A search by correlation or event id takes the short ids the dashboard shows (the first 8
hex characters of a uuid): it finds the flows whose id starts with them. Other values are
matched whole. Over the in-memory broker (the matching is the engine's, not Kafka's)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from edamon.broker.memory import MemoryBroker
from edamon.config import Settings
from edamon.model.search import SearchDoc, SearchField, id_prefix
from edamon.search import Search, build_query

TOPIC = "orders.OrderPlaced"
OTHER_FLOWS = 200


def envelope(event_id: str, correlation_id: str, causation_id: str | None) -> bytes:
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": "OrderPlaced",
            "aggregateId": "order-1",
            "occurredAt": "2026-12-07T10:00:00Z",
            "version": 1,
            "payload": {"orderId": 1},
            "metadata": {"correlationId": correlation_id, "causationId": causation_id},
        }
    ).encode()


async def world() -> tuple[MemoryBroker, str, list[str]]:
    """A broker with one topic: OTHER_FLOWS flows of one event, and a flow of three events
    (its correlation id and event ids returned)."""
    broker = MemoryBroker()
    await broker.start()
    await broker.create_topic(TOPIC, 3)
    now = int(time.time() * 1000)
    for _ in range(OTHER_FLOWS):
        eid = str(uuid.uuid4())
        await broker.produce(TOPIC, b"k", envelope(eid, str(uuid.uuid4()), None), timestamp_ms=now)
    cid = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for i, eid in enumerate(ids):
        parent = ids[i - 1] if i else None
        await broker.produce(TOPIC, b"k", envelope(eid, cid, parent), timestamp_ms=now)
    return broker, cid, ids


async def search(broker: MemoryBroker, by: SearchField, value: str) -> SearchDoc:
    query = build_query(by, value, int(time.time() * 1000) - 3_600_000)
    return await Search(broker, Settings.model_validate({}), query).run()


async def test_the_first_8_characters_of_a_correlation_id_find_its_flow() -> None:
    broker, cid, ids = await world()
    doc = await search(broker, "correlation_id", cid[:8])
    assert doc.state == "done"
    assert [flow.summary.correlation_id for flow in doc.flows] == [cid]
    assert {node.event_id for node in doc.flows[0].nodes} == set(ids)
    assert any("start with" in note for note in doc.notes)


async def test_the_first_8_characters_of_an_event_id_find_its_whole_flow() -> None:
    broker, cid, ids = await world()
    doc = await search(broker, "event_id", ids[1][:8])
    assert [flow.summary.correlation_id for flow in doc.flows] == [cid]
    assert {node.event_id for node in doc.flows[0].nodes} == set(ids)


async def test_whole_ids_and_other_values_are_matched_whole() -> None:
    broker, cid, _ = await world()
    whole = await search(broker, "correlation_id", cid)
    assert [flow.summary.correlation_id for flow in whole.flows] == [cid]
    assert not any("start with" in note for note in whole.notes)
    # a part of the id that is not its start, and a prefix too short to tell flows apart
    for value in (cid[9:18], cid[:5]):
        assert (await search(broker, "correlation_id", value)).flows == ()


@pytest.mark.parametrize(
    ("by", "value", "short"),
    [
        ("correlation_id", "5a402706", True),
        ("event_id", "5a402706-1c", True),
        ("correlation_id", "5a4027", True),
        ("correlation_id", "5a402", False),  # too short
        ("correlation_id", "5a402706-1c2d-4e5f-8a9b-0c1d2e3f4a5b", False),  # a whole uuid
        ("correlation_id", "5a402706ffffffffffffffffffffffff", False),  # 32 hex digits
        ("correlation_id", "order-42", False),  # not hex: matched whole
        ("correlation_id", "5A402706", False),  # ids are written lower-case
        ("key", "5a402706", False),  # keys, aggregates, headers: matched whole
    ],
)
def test_which_values_are_short_ids(by: SearchField, value: str, short: bool) -> None:
    assert id_prefix(by, value) is short
