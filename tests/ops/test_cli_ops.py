"""`edamon alerts test`, `collect --json` with alerts, and the embedded child's settings."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from edamon.cli.embedded import settings_line
from edamon.config import Settings
from kafka_helpers import CommitOffsets, MakeTopic, Produce, UniqueName
from service_helpers import clean_env, http_receiver, service_env


@pytest.fixture
def hooks() -> Iterator[HTTPServer]:
    with http_receiver() as http:
        http.expect_request("/good/secret-1").respond_with_data("ok")
        http.expect_request("/bad/secret-2").respond_with_data("down", status=500)
        yield http


def test_alerts_test_reports_each_receiver_with_masked_urls(
    hooks: HTTPServer, tmp_path: Path
) -> None:
    config = tmp_path / "edamon.toml"
    config.write_text(
        f"""
[[alerts.receivers]]
name = "team-slack"
kind = "slack"
url = "{hooks.url_for("/good/secret-1")}"

[[alerts.receivers]]
name = "pager"
kind = "webhook"
url_env = "PAGER_URL"
max_attempts = 2

[alerts]
retry_backoff_s = 0.1
"""
    )
    env = clean_env(tmp_path, {"PAGER_URL": hooks.url_for("/bad/secret-2")})
    result = subprocess.run(
        [sys.executable, "-m", "edamon", "alerts", "test", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    masked = f"http://127.0.0.1:{hooks.port}/…"
    assert lines == [
        f"ok      team-slack (slack, {masked})",
        f"FAILED  pager (webhook, {masked}): HTTP 500",
    ]
    assert "secret" not in result.stdout + result.stderr
    paths = [request.path for request, _ in hooks.log]
    assert sorted(paths) == ["/bad/secret-2", "/bad/secret-2", "/good/secret-1"]
    text = json.loads(hooks.log[[p.startswith("/good") for p in paths].index(True)][0].get_data())
    assert text["text"].startswith("*[TEST] edamon-test (info)*")


def test_alerts_test_without_receivers_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edamon", "alerts", "test"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "no receiver configured" in result.stderr


def test_the_embedded_child_gets_the_receivers_urls() -> None:
    settings = Settings.model_validate(
        {"alerts": {"receivers": [{"name": "s", "kind": "slack", "url": "https://h/x/secret"}]}}
    )
    data = json.loads(settings_line(settings))
    again = Settings.model_validate(data)
    assert again.alerts.receivers[0].target() == "https://h/x/secret"


@pytest.mark.kafka
async def test_collect_json_carries_the_alerts(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix = unique_name("alrt")
    topic = await make_topic(f"{prefix}.orders")
    await produce(topic, [(b"k", b'{"eventId": "e1", "eventType": "T"}')] * 3)
    group = f"{prefix}.stopped"
    await commit_offsets(group, {(topic, 0): 1})
    env = service_env(kafka_bootstrap, prefix, tmp_path)
    env["EDAMON_ALERTS__RULES"] = json.dumps(
        [{"name": "behind", "kind": "lag_seconds", "threshold": 0, "severity": "info"}]
    )
    env["EDAMON_ALERTS__EVALUATE_INTERVAL_S"] = "0.5"
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edamon", "collect", "--json", "--duration", "5s"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    alerts = json.loads(result.stdout)["snapshot"]["alerts"]
    assert [(a["rule"], a["state"], a["labels"]) for a in alerts] == [
        ("behind", "firing", [["group", group]])
    ]
