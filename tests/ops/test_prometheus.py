"""A real Prometheus scrapes a real `edamon serve` on the real broker; the shipped Prometheus
files pass promtool."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kafka_helpers import CommitOffsets, MakeTopic, Produce, UniqueName
from ops_helpers import load_prometheus_harness
from service_helpers import start_service, wait_for

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


def _value(prom_url: str, query: str) -> float | None:
    answer = httpx.get(f"{prom_url}/api/v1/query", params={"query": query}, timeout=5)
    answer.raise_for_status()
    body = answer.json()
    assert body["status"] == "success", body
    result = body["data"]["result"]
    if not result:
        return None
    assert len(result) == 1, result
    return float(result[0]["value"][1])


async def test_prometheus_sees_a_stopped_groups_lag_in_seconds_grow(
    prometheus: Any,
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix = unique_name("prom")
    topic = await make_topic(f"{prefix}.orders")
    await produce(topic, [(f"k{i}", b'{"eventId": "e%d", "eventType": "T"}' % i) for i in range(5)])
    group = f"{prefix}.stopped"
    await commit_offsets(group, {(topic, 0): 1})  # then never again: the group has stopped
    service = start_service(kafka_bootstrap, prefix, tmp_path)
    try:
        host_port = service.url.removeprefix("http://")
        prometheus.scrape(host_port, service.viewer)
        up = f'up{{job="edamon",instance="{host_port}"}}'
        wait_for(lambda: _value(prometheus.url, up) == 1.0, "Prometheus to scrape edamon", 60)
        query = f'edamon_consumergroup_lag_seconds{{group="{group}"}}'
        first = wait_for(lambda: _value(prometheus.url, query), f"{query} in Prometheus", 60)
        started = time.monotonic()
        grown = wait_for(
            lambda: (v := _value(prometheus.url, query)) is not None and v >= first + 3 and v,
            f"{query} to grow past {first + 3:.1f}",
            60,
        )
        assert grown <= first + (time.monotonic() - started) + 5  # it grows with time, no faster
        offsets = _value(prometheus.url, f'edamon_consumergroup_lag_offsets{{group="{group}"}}')
        assert offsets == 4.0
        status = f'edamon_consumergroup_status{{group="{group}",status="OK"}}'
        assert _value(prometheus.url, status) in (0.0, 1.0)
    finally:
        service.stop()


def test_the_shipped_rules_and_scrape_config_pass_promtool() -> None:
    harness = load_prometheus_harness()
    promtool = harness.binary("promtool")
    for args in (
        ["check", "rules", str(REPO / "config" / "alerts.rules.yml")],
        ["check", "config", "--syntax-only", str(REPO / "config" / "prometheus.yml")],
    ):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: promtool tells a bad expression."""
    harness = load_prometheus_harness()
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(\n")
    result = subprocess.run(
        [harness.binary("promtool"), "check", "rules", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
