"""Find a flow from the past (issue 16) on the real broker: one flow of 8 events over 4 topics
and 12 partitions, written 3 hours ago, among many other records; found by correlation id,
event id, key, header and JSON path; key search reads one partition per topic; budgets,
cancel; the CLI's exit codes; the /v1/searches API of a real `edamon serve`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import TypeAdapter

from builders import envelope
from edamon.broker.kafka import KafkaBroker
from edamon.config import Settings, load_settings
from edamon.model.search import SearchDoc
from edamon.search import Search, SearchError, build_query
from kafka_helpers import KafkaTestClients, unique_name
from service_helpers import Service, clean_env, start_service, wait_for

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("OrderPlaced", "StockReserved", "PaymentProcessed", "OrderShipped")
PARTITIONS = 3
NOISE = 50_000
HOUR_MS = 3_600_000

# the flow: (event id suffix, topic, key, parent suffix); its shape is the expected tree
FLOW = (
    ("e1", "OrderPlaced", "order-8812", None),
    ("e2", "StockReserved", "order-8812", "e1"),
    ("e3", "PaymentProcessed", "order-8812", "e1"),
    ("e4", "StockReserved", "order-8812", "e2"),
    ("e5", "PaymentProcessed", "pay-77", "e3"),
    ("e6", "OrderShipped", "ship-5", "e4"),
    ("e7", "OrderShipped", "ship-5", "e6"),
    ("e8", "OrderShipped", "order-8812", "e5"),
)


@dataclass(frozen=True)
class World:
    prefix: str
    cid: str
    ids: dict[str, str]
    """flow suffix -> event id."""
    ticket: str
    key_partition: dict[str, int]
    """topic -> the partition the order-8812 records landed on (from the producer)."""
    per_partition: Counter[tuple[str, int]]
    """Records produced per (topic, partition)."""
    total: int
    seconds: float
    """Setup time."""


async def _seed(bootstrap: str, prefix: str) -> World:
    clients = KafkaTestClients(bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, acks=1
    )
    started = time.monotonic()
    try:
        for name in TOPICS:
            await clients.make_topic(f"{prefix}.{name}", PARTITIONS)
        await producer.start()
        now = int(time.time() * 1000)
        flow_at = now - 3 * HOUR_MS
        cid = f"cid-{uuid.uuid4()}"
        ids = {suffix: f"{suffix}-{uuid.uuid4()}" for suffix, *_ in FLOW}
        ticket = f"T-{uuid.uuid4().hex[:8]}"
        per_partition: Counter[tuple[str, int]] = Counter()
        key_partition: dict[str, int] = {}
        pending: list[Any] = []

        async def send(topic: str, key: bytes, value: bytes, at: int, headers: list) -> None:
            pending.append(
                (
                    topic,
                    key,
                    await producer.send(topic, value, key=key, timestamp_ms=at, headers=headers),
                )
            )

        # noise: 50,000 events of other flows from 4 hours ago to now, in time order per topic
        step = 4 * HOUR_MS // NOISE
        flow_sent = False
        for i in range(NOISE):
            at = now - 4 * HOUR_MS + i * step
            if not flow_sent and at >= flow_at:
                for n, (suffix, name, key, parent) in enumerate(FLOW):
                    value = envelope(
                        ids[suffix],
                        name,
                        cid,
                        ids[parent] if parent else None,
                        aggregate_id=key,
                        at_ms=flow_at + n * 100,
                        payload={"orderId": 8812, "step": suffix},
                    )
                    headers = [("event-type", name.encode()), ("correlation-id", cid.encode())]
                    if suffix == "e1":
                        headers.append(("x-ticket", ticket.encode()))
                    topic = f"{prefix}.{name}"
                    await send(
                        topic, key.encode(), json.dumps(value).encode(), flow_at + n * 100, headers
                    )
                # a record that holds the flow's id but does not decode: counted
                await send(
                    f"{prefix}.OrderPlaced",
                    b"junk",
                    b'{"eventId": "broken ' + cid.encode(),
                    flow_at + 900,
                    [],
                )
                # another flow whose payload mentions the id: read, decoded, not taken
                decoy = envelope(
                    f"decoy-{uuid.uuid4()}",
                    "OrderPlaced",
                    f"other-{uuid.uuid4()}",
                    aggregate_id="order-1",
                    at_ms=flow_at + 950,
                    payload={"note": f"see {cid}"},
                )
                await send(
                    f"{prefix}.OrderPlaced",
                    b"order-1",
                    json.dumps(decoy).encode(),
                    flow_at + 950,
                    [],
                )
                flow_sent = True
            name = TOPICS[i % len(TOPICS)]
            other = f"n{i // 4}-{prefix}"
            value = envelope(
                f"n{i}-{prefix}",
                name,
                other,
                aggregate_id=f"order-{100000 + i // 4}",
                at_ms=at,
                payload={"orderId": 100000 + i // 4},
            )
            await send(
                f"{prefix}.{name}",
                f"order-{100000 + i // 4}".encode(),
                json.dumps(value).encode(),
                at,
                [("event-type", name.encode())],
            )
            if len(pending) >= 5000:
                await _settle(pending, per_partition, key_partition)
        await _settle(pending, per_partition, key_partition)
        await producer.flush()
        return World(
            prefix,
            cid,
            ids,
            ticket,
            key_partition,
            per_partition,
            sum(per_partition.values()),
            time.monotonic() - started,
        )
    finally:
        await producer.stop()
        await clients.close()


async def _settle(
    pending: list[Any], counts: Counter[tuple[str, int]], key_partition: dict[str, int]
) -> None:
    for topic, key, future in pending:
        meta = await future
        counts[(topic, meta.partition)] += 1
        if key == b"order-8812":
            key_partition[topic] = meta.partition
    pending.clear()


@pytest.fixture(scope="module")
def world(kafka_bootstrap: str) -> World:
    return asyncio.run(_seed(kafka_bootstrap, unique_name("find")))


def settings_for(bootstrap: str, prefix: str) -> Settings:
    overrides = {
        "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 10},
        "topics": {"include": [rf"{prefix}\..*"]},
    }
    return load_settings(None, overrides, use_default_path=False)


async def search(bootstrap: str, world: World, by: str, value: str, **options: Any) -> SearchDoc:
    settings = settings_for(bootstrap, world.prefix)
    since = int(time.time() * 1000) - 8 * HOUR_MS
    query = build_query(by, value, since, **options)  # type: ignore[arg-type]
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        return await Search(broker, settings, query).run()
    finally:
        await broker.close()


def expected_tree(world: World) -> set[tuple[str, str | None]]:
    return {
        (world.ids[suffix], world.ids[parent] if parent else None) for suffix, _, _, parent in FLOW
    }


def tree_of(doc: SearchDoc) -> set[tuple[str, str | None]]:
    (flow,) = doc.flows
    return {(node.event_id, node.parent_id) for node in flow.nodes}


def test_setup_wrote_the_world(world: World) -> None:
    assert world.total == NOISE + len(FLOW) + 2
    assert len({t for t, _ in world.per_partition}) == 4
    assert len(world.per_partition) == 12
    print(f"\nsetup: {world.total:,} records in {world.seconds:.1f} s")


async def test_found_by_correlation_id_whole_tree(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "correlation_id", world.cid)
    assert doc.state == "done"
    assert tree_of(doc) == expected_tree(world)
    assert doc.flows[0].summary.correlation_id == world.cid
    assert doc.flows[0].summary.root_type == "OrderPlaced"
    # every record in range read once (one pass), the garbage one counted as undecodable
    assert [p.by for p in doc.passes] == ["correlation_id"]
    assert doc.scanned == doc.estimate == world.total
    assert doc.undecodable == 1
    assert doc.matched == len(FLOW)
    assert doc.not_scanned == ()


async def test_found_by_event_id_widens_to_the_flow(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "event_id", world.ids["e6"])
    assert doc.state == "done"
    assert [p.by for p in doc.passes] == ["event_id", "correlation_id"]
    assert doc.passes[0].matched == 1
    assert tree_of(doc) == expected_tree(world)


async def test_found_by_header(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "header", f"x-ticket={world.ticket}")
    assert doc.passes[0].matched == 1
    assert tree_of(doc) == expected_tree(world)


async def test_found_by_json_path(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "json_path", "$.payload.orderId=8812")
    assert doc.passes[0].matched == len(FLOW)
    assert tree_of(doc) == expected_tree(world)


async def test_key_search_reads_one_partition_per_topic(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "key", "order-8812")
    assert doc.state == "done"
    first = doc.passes[0]
    assert set(world.key_partition) == {f"{world.prefix}.{t}" for t in TOPICS}
    for scan in first.topics:
        assert scan.partitions == (world.key_partition[scan.topic],)
        assert scan.partitions_total == PARTITIONS
        assert scan.scanned == world.per_partition[(scan.topic, scan.partitions[0])]
    assert first.scanned == sum(world.per_partition[tp] for tp in world.key_partition.items())
    assert first.scanned < world.total / 2
    assert first.matched == 5  # e1, e2, e3, e4, e8
    assert any("murmur2" in note for note in doc.notes)
    assert any("other partitions" in line for line in doc.not_scanned)
    assert tree_of(doc) == expected_tree(world)  # widened: pay-77 and ship-5 events too


async def test_key_full_scan_reads_everything(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "key", "order-8812", full_scan=True, widen=False)
    assert doc.passes[0].scanned == world.total
    assert doc.passes[0].matched == 5


async def test_record_budget_is_enforced(kafka_bootstrap: str, world: World) -> None:
    doc = await search(kafka_bootstrap, world, "correlation_id", world.cid, budget_records=1000)
    assert doc.state == "budget"
    assert doc.scanned == 1000
    assert any("record budget" in line for line in doc.not_scanned)


async def test_time_budget_is_enforced(kafka_bootstrap: str, world: World) -> None:
    started = time.monotonic()
    doc = await search(kafka_bootstrap, world, "correlation_id", "nope", budget_seconds=0.3)
    assert time.monotonic() - started < 10
    assert doc.state == "budget"
    assert doc.scanned < world.total
    assert any("time budget" in line for line in doc.not_scanned)


async def test_cancel_stops_the_search(kafka_bootstrap: str, world: World) -> None:
    settings = settings_for(kafka_bootstrap, world.prefix)
    query = build_query("correlation_id", "nope", int(time.time() * 1000) - 8 * HOUR_MS)
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        running = Search(broker, settings, query)
        task = asyncio.create_task(running.run())
        async with asyncio.timeout(30):
            while running.doc().scanned == 0:
                await asyncio.sleep(0.01)
        running.cancel()
        async with asyncio.timeout(5):
            doc = await task
    finally:
        await broker.close()
    assert doc.state == "cancelled"
    assert 0 < doc.scanned < world.total
    assert any("cancelled" in line for line in doc.not_scanned)


async def test_bad_input_is_refused_clearly(kafka_bootstrap: str, world: World) -> None:
    with pytest.raises(SearchError, match=r"no such topic: nope\.topic"):
        await search(kafka_bootstrap, world, "key", "k", topics=("nope.topic",))
    with pytest.raises(SearchError, match="malformed JSON path"):
        build_query("json_path", "$.a..b=1", 0)
    with pytest.raises(SearchError, match="name=value"):
        build_query("header", "novalue", 0)


def run_edamon(*args: str, prefix: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDAMON_TOPICS__INCLUDE": json.dumps([rf"{prefix}\..*"])}
    return subprocess.run(
        [sys.executable, "-m", "edamon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def test_cli_found_prints_the_chain_json(kafka_bootstrap: str, world: World) -> None:
    result = run_edamon(
        "find",
        "-b",
        kafka_bootstrap,
        "--correlation-id",
        world.cid,
        "--since",
        "8h",
        "--json",
        prefix=world.prefix,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (tree,) = document["chain_trees"]
    assert {(n["event_id"], n["parent_id"]) for n in tree["nodes"]} == expected_tree(world)
    assert document["search"]["scanned"] == world.total
    assert document["search"]["undecodable"] == 1


def test_cli_human_tree_and_exit_codes(kafka_bootstrap: str, world: World) -> None:
    found = run_edamon(
        "find", "-b", kafka_bootstrap, "--key", "order-8812", "--since", "8h", prefix=world.prefix
    )
    assert found.returncode == 0, found.stderr
    assert f"flow {world.cid} (8 events" in found.stdout
    assert "partition(s)" in found.stdout and "murmur2" in found.stdout
    missing = run_edamon(
        "find",
        "-b",
        kafka_bootstrap,
        "--event-id",
        "no-such-event",
        "--since",
        "8h",
        prefix=world.prefix,
    )
    assert missing.returncode == 1, missing.stderr
    assert "0 flow(s)" in missing.stdout
    for args, message in (
        (("--json-path", "$.payload..x=1"), "malformed JSON path"),
        (("--key", "k", "--topic", "no.such.topic"), "no such topic"),
        (("--key", "k", "--from", "2099-01-01"), "future"),
        (("--key", "k", "--event-id", "e"), "exactly one"),
    ):
        since = () if "--from" in args else ("--since", "8h")
        bad = run_edamon("find", "-b", kafka_bootstrap, *args, *since, prefix=world.prefix)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr


# ---- the API of a real `edamon serve` ------------------------------------------------------


@pytest.fixture(scope="module")
def service(
    kafka_bootstrap: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("serve-find")
    running = start_service(
        kafka_bootstrap, world.prefix, tmp, env={"EDAMON_TOPICS__START_FROM": "latest"}
    )
    try:
        yield running
    finally:
        running.stop()


def test_service_search_progress_result_and_dismiss(service: Service, world: World) -> None:
    docs = TypeAdapter(SearchDoc)
    since = int(time.time() * 1000) - 8 * HOUR_MS
    with service.client("viewer") as http:
        started = http.post(
            "/v1/searches", json={"by": "event_id", "value": world.ids["e5"], "from_ms": since}
        )
        assert started.status_code == 202, started.text
        search_id = started.json()["id"]
        assert started.json()["passes"][0]["estimate"] == world.total
        done = wait_for(
            lambda: (d := http.get(f"/v1/searches/{search_id}").json())["state"] != "running" and d,
            "the search to finish",
            60,
        )
        doc = docs.validate_python(done)
        assert doc.state == "done"
        assert tree_of(doc) == expected_tree(world)
        assert http.get(f"/v1/searches/{search_id}").status_code == 200  # kept
        assert http.delete(f"/v1/searches/{search_id}").status_code == 200  # dismissed
        assert http.get(f"/v1/searches/{search_id}").status_code == 404
        bad = http.post(
            "/v1/searches", json={"by": "json_path", "value": "$.a b=1", "from_ms": since}
        )
        assert bad.status_code == 400 and "malformed JSON path" in bad.json()["message"]
        future = http.post(
            "/v1/searches", json={"by": "key", "value": "k", "from_ms": since + 9 * HOUR_MS}
        )
        assert future.status_code == 400 and "future" in future.json()["message"]
        unknown = http.post(
            "/v1/searches",
            json={"by": "key", "value": "k", "from_ms": since, "topics": ["no.such.topic"]},
        )
        assert unknown.status_code == 400 and "no such topic" in unknown.json()["message"]


def test_service_search_cancel(service: Service, world: World) -> None:
    since = int(time.time() * 1000) - 8 * HOUR_MS
    with service.client("viewer") as http:
        started = http.post(
            "/v1/searches", json={"by": "correlation_id", "value": "nope", "from_ms": since}
        )
        search_id = started.json()["id"]
        assert http.delete(f"/v1/searches/{search_id}").status_code == 200  # cancel
        done = wait_for(
            lambda: (d := http.get(f"/v1/searches/{search_id}").json())["state"] != "running" and d,
            "the search to stop",
            10,
        )
        assert done["state"] == "cancelled"
        assert done["scanned"] < world.total
        assert http.delete(f"/v1/searches/{search_id}").status_code == 200  # dismissed


def test_cli_find_attached(service: Service, world: World, tmp_path: Path) -> None:
    env = clean_env(tmp_path, {"EDAMON_TOKEN": service.viewer})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edamon",
            "find",
            "--attach",
            service.url,
            "--header",
            f"x-ticket={world.ticket}",
            "--since",
            "8h",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    (tree,) = json.loads(result.stdout)["chain_trees"]
    assert {(n["event_id"], n["parent_id"]) for n in tree["nodes"]} == expected_tree(world)
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "edamon",
            "find",
            "--attach",
            service.url,
            "--correlation-id",
            "nope",
            "--since",
            "8h",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        env=env,
    )
    assert missing.returncode == 1, missing.stderr


async def test_rate_limit_spaces_the_reads(kafka_bootstrap: str, world: World) -> None:
    started = time.monotonic()
    doc = await search(
        kafka_bootstrap, world, "correlation_id", "nope", rate=4000, budget_records=6000
    )
    took = time.monotonic() - started
    assert doc.scanned == 6000
    assert took >= 6000 / 4000 - 0.2  # ~1.5 s at 4,000/s; unlimited it reads 6,000 in far less


async def test_cancel_stops_a_rate_limited_search(kafka_bootstrap: str, world: World) -> None:
    """A paced search holds fetched records unread while it sleeps; cancelling it still ends
    it promptly (its consumer's stop once hung on a fetch task that kept running)."""
    settings = settings_for(kafka_bootstrap, world.prefix)
    query = build_query("correlation_id", "nope", int(time.time() * 1000) - 8 * HOUR_MS, rate=200.0)
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        running = Search(broker, settings, query)
        task = asyncio.create_task(running.run())
        async with asyncio.timeout(30):
            while running.doc().scanned == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)  # paced: fetched records wait in the consumer's buffer
        running.cancel()
        cancelled_at = time.monotonic()
        async with asyncio.timeout(15):
            doc = await task
        took = time.monotonic() - cancelled_at
    finally:
        await broker.close()
    assert doc.state == "cancelled"
    assert 0 < doc.scanned < world.total
    assert took < 8, f"cancel took {took:.1f} s"
