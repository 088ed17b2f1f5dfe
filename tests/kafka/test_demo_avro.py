"""`edamon demo --format avro|protobuf`: the demo's services write Avro or Protobuf through a
schema registry and the collector sees the same flows as with JSON: in memory (an in-process
registry) and on the real cluster with the real registry, as a user runs it (`demo -b
--schema-registry`, then `collect --json`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from edamon.broker.memory import MemoryBroker
from edamon.collector.collector import Collector
from edamon.config import Settings, load_settings
from edamon.decode.registry import MemorySchemaRegistry, SchemaRegistry
from edamon.demo import DemoSystem
from edamon.demo.wire import AvroCodec, ProtobufCodec
from edamon.model.snapshot import Snapshot
from edamon.model.status import SagaState

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261207
FLOWS = 30


def demo_settings(prefix: str) -> Settings:
    overrides: dict[str, Any] = {
        "topics": {"include": [rf"{prefix.rstrip('.')}\..*"], "refresh_s": 0.5},
        "demo": {"prefix": prefix, "seed": SEED, "rate": 10.0, "poison_rate": 0.05},
        "dlq": {"ledger_topic": f"{prefix}edamon.retries"},
    }
    settings = load_settings(ROOT / "config/demo.toml", overrides)
    for saga in settings.sagas.definitions:
        saga.timeout_s = 4.0
    return settings


def counts(snapshot: Snapshot) -> dict[SagaState, int]:
    total: dict[SagaState, int] = dict.fromkeys(SagaState, 0)
    for saga in snapshot.sagas:
        for state, n in saga.counts:
            total[state] += n
    return total


async def settled(
    settings: Settings, registry: SchemaRegistry | None, codec: type[Any] = AvroCodec
) -> tuple[dict[SagaState, int], Collector]:
    """Saga counts once FLOWS flows of the demo have settled, in memory."""
    broker = MemoryBroker()
    system = DemoSystem(broker, settings.demo, max_flows=FLOWS)
    if registry is not None:
        system.bus.codec = codec(registry)
    collector = Collector(broker, settings, registry=registry)
    tasks = [asyncio.create_task(system.run()), asyncio.create_task(collector.run())]
    try:
        last: dict[SagaState, int] = {}
        stable_since = time.monotonic()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = counts(collector.snapshot())
            if now != last:
                last, stable_since = now, time.monotonic()
            elif (
                system.generator_done.is_set()
                and time.monotonic() - stable_since > 5
                and now[SagaState.RUNNING] == 0
                and sum(now.values()) == FLOWS
            ):
                return now, collector
        raise AssertionError(f"saga counts never settled: {last}")
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 60)


async def test_the_avro_and_protobuf_demos_in_memory_give_the_json_demo_s_sagas(
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("avro-demo") + "."
    settings = demo_settings(prefix)
    as_json, _ = await settled(settings, None)
    registry = MemorySchemaRegistry()
    as_avro, collector = await settled(settings, registry)
    assert as_avro == as_json
    assert as_avro[SagaState.COMPLETED] > 0

    snap = collector.snapshot()
    flow = next(c for c in snap.chains if c.events > 2)
    view = collector.chain(flow.correlation_id)
    assert view is not None
    assert {n.wire_format for n in view.nodes if n.coords} == {"avro"}
    subjects = await registry.subjects()
    assert f"{prefix}orders.OrderPlaced-value" in subjects
    # OrderPlaced v1 (no currency) and v2 are two registry versions of one subject.
    assert [v for _, v in await registry.usages(1)] == [1]
    versions = {k.event_type: dict(k.versions) for k in snap.throughput.event_types}
    assert set(versions["OrderPlaced"]) == {1, 2}
    # Only the demo's poison records are undecodable.
    assert all(not reason.startswith("schema") for reason, _ in snap.undecodable.by_reason)
    assert snap.connection.registry is not None

    as_protobuf, collector = await settled(settings, MemorySchemaRegistry(), ProtobufCodec)
    assert as_protobuf == as_json
    snap = collector.snapshot()
    view = collector.chain(next(c for c in snap.chains if c.events > 2).correlation_id)
    assert view is not None
    assert {n.wire_format for n in view.nodes if n.coords} == {"protobuf"}
    assert all(not reason.startswith("schema") for reason, _ in snap.undecodable.by_reason)


async def run_cli(*args: str, env: dict[str, str], limit: float = 120.0) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edamon",
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"edamon {' '.join(args)} did not finish within {limit}s")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("wire_format", ["avro", "protobuf"])
async def test_the_demo_on_kafka_through_the_real_registry(
    kafka_bootstrap: str,
    schema_registry_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    wire_format: str,
) -> None:
    prefix = unique_name(f"{wire_format}-cli")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "EDAMON_DEMO__PREFIX": prefix + "."}
    code, out, err = await run_cli(
        "demo", "-b", kafka_bootstrap, "--format", wire_format,
        "--schema-registry", schema_registry_url, "--headless", "--duration", "8s",
        "--rate", "8", "--seed", "11",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    assert "events=" in out
    env["EDAMON_SCHEMA_REGISTRY__URL"] = schema_registry_url
    env["EDAMON_TOPICS__INCLUDE"] = json.dumps([rf"{prefix}\..*"])
    code, out, err = await run_cli(
        "collect", "-b", kafka_bootstrap, "--from", "earliest", "--duration", "6s", "--json",
        env=env,
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    nodes = [n for tree in document["chain_trees"] for n in tree["nodes"] if n["coords"]]
    assert nodes, "no events collected"
    assert {n["wire_format"] for n in nodes} == {wire_format}
    assert all(isinstance(n["schema_id"], int) for n in nodes)
    reasons = dict(map(tuple, document["snapshot"]["undecodable"]["by_reason"]))
    assert not [r for r in reasons if r.startswith("schema")], reasons
    assert document["snapshot"]["connection"]["registry"] == "connected"
