"""`edamon collect --json` end to end against the real broker, and its documented schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from builders import event_value
from edamon.collector.jsonout import CollectDocument, json_schema

ROOT = Path(__file__).resolve().parents[2]


def run_edamon(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "edamon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_documented_schema_is_the_one_the_code_writes() -> None:
    documented = json.loads((ROOT / "docs/collect-json.schema.json").read_text())
    assert documented == json.loads(json.dumps(json_schema())), (
        "regenerate with: python -m edamon collect --schema > docs/collect-json.schema.json"
    )


@pytest.mark.kafka
async def test_collect_json_until_idle(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("cj")
    placed = await make_topic(f"{prefix}.OrderPlaced")
    reserved = await make_topic(f"{prefix}.StockReserved")
    now = int(time.time() * 1000)
    await produce(placed, [(b"o-1", event_value("a1", "OrderPlaced", "cj-flow", at_ms=now), [])])
    await produce(
        reserved,
        [(b"o-1", event_value("a2", "StockReserved", "cj-flow", "a1", at_ms=now + 50), [])],
    )
    await produce(placed, [(b"o-2", b"\xff\xfe not json", [])])
    env = {"EDAMON_TOPICS__INCLUDE": json.dumps([rf"{prefix}\..*"])}
    started = time.monotonic()
    result = run_edamon(
        "collect", "-b", kafka_bootstrap, "--from", "earliest", "--until-idle", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 45
    document = json.loads(result.stdout)
    TypeAdapter(CollectDocument).validate_python(document)  # matches the documented shape
    assert document["schema_version"] == 1
    snapshot = document["snapshot"]
    assert snapshot["totals"]["events"] == 2
    assert snapshot["undecodable"]["count"] == 1
    assert snapshot["undecodable"]["by_reason"] == [["not UTF-8", 1]]
    tree = next(t for t in document["chain_trees"] if t["summary"]["correlation_id"] == "cj-flow")
    assert [n["event_type"] for n in tree["nodes"]] == ["OrderPlaced", "StockReserved"]
    assert tree["nodes"][1]["parent_id"] == "a1"
    assert snapshot["connection"]["state"] == "connected"  # as seen while collecting


@pytest.mark.kafka
async def test_a_lone_surrogate_in_a_record_does_not_stop_the_output(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    """Valid UTF-8 and valid JSON (`\\ud800` is an escape), but no UTF-8 can carry the
    string it stands for: the JSON output writes it as the escape it was read from."""
    prefix = unique_name("sur")
    topic = await make_topic(f"{prefix}.S")
    value = b'{"eventId":"s1","eventType":"S","metadata":{"correlationId":"c\\ud800"}}'
    await produce(topic, [(None, value, [])])
    env = {"EDAMON_TOPICS__INCLUDE": json.dumps([rf"{prefix}\..*"])}
    for mode in (["--json"], []):
        result = run_edamon(
            "collect", "-b", kafka_bootstrap, "--from", "earliest", "--until-idle", *mode, env=env
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        if mode:
            document = json.loads(result.stdout)
            assert [c["correlation_id"] for c in document["snapshot"]["chains"]] == ["c\ud800"]
        else:
            assert "events 1 " in result.stdout


@pytest.mark.kafka
async def test_from_before_the_subcommand_counts(
    kafka_bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    produce: Any,
    unique_name: Callable[[str], str],
) -> None:
    prefix = unique_name("from")
    topic = await make_topic(f"{prefix}.A")
    await produce(topic, [(None, event_value("f1", "A", "f-flow"), [])])
    env = {"EDAMON_TOPICS__INCLUDE": json.dumps([rf"{prefix}\..*"])}
    collect = ("collect", "-b", kafka_bootstrap, "--until-idle")
    default = run_edamon(*collect, env=env)  # the default: 15 minutes back
    assert default.returncode == 0 and "events 1 " in default.stdout, default.stderr
    latest = run_edamon("--from", "latest", *collect, env=env)
    assert latest.returncode == 0 and "events 0 " in latest.stdout, latest.stderr
    bogus = run_edamon("--from", "bogus", *collect, env=env)
    assert bogus.returncode == 2 and "start_from" in bogus.stderr


@pytest.mark.parametrize("args", [["--from", ""], ["--max-trees", "-1"]])
def test_collect_refuses_meaningless_values(args: list[str]) -> None:
    result = run_edamon("collect", "--until-idle", "--json", *args)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr


def test_collect_unreachable_broker_exits_1() -> None:
    result = run_edamon(
        "collect",
        "-b",
        "127.0.0.1:1",
        "--until-idle",
        "--json",
        env={"EDAMON_KAFKA__CONNECT_TIMEOUT_S": "2", "EDAMON_KAFKA__REQUEST_TIMEOUT_S": "1"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("edamon: ")
    assert "127.0.0.1:1" in result.stderr
    assert "retrying" not in result.stderr  # it gives up: no retry announced
    assert "Traceback" not in result.stderr


def test_collect_needs_duration_or_until_idle() -> None:
    result = run_edamon("collect", "--json")
    assert result.returncode == 2
    assert "--duration" in result.stderr
