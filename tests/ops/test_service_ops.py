"""A real `edamon serve` on the real broker: /metrics (token-protected, scrapable with no
dashboard attached), /v1/alerts, and a stopped consumer group that ends as a Slack message at a
real HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from builders import envelope, spring_dlt_headers
from kafka_helpers import CommitOffsets, MakeTopic, Produce, UniqueName
from service_helpers import http_receiver, start_service, wait_for

pytestmark = pytest.mark.kafka


@pytest.fixture
def slack() -> Iterator[HTTPServer]:
    with http_receiver() as http:
        http.expect_request("/services/T1/B1/secret", method="POST").respond_with_data("ok")
        yield http


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_a_stopped_group_reaches_slack_and_the_metrics(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
    slack: HTTPServer,
    tmp_path: Path,
) -> None:
    prefix = unique_name("ops")
    orders = await make_topic(f"{prefix}.orders")
    dlt = await make_topic(f"{prefix}.orders.DLT")
    values = [json.dumps(envelope(f"e{i}", "OrderPlaced", f"c{i}")).encode() for i in range(4)]
    await produce(orders, [(f"k{i}", v) for i, v in enumerate(values)])
    await produce(orders, [(b"bad", b"\xff not json")])
    await produce(
        dlt,
        [(b"k0", values[0], spring_dlt_headers(orders, 0, 0, group=f"{prefix}.billing"))],
    )
    group = f"{prefix}.stopped"
    await commit_offsets(group, {(orders, 0): 1})  # and never again
    rules = [
        {"name": "group-stopped", "kind": "lag_seconds", "threshold": 2, "severity": "critical"}
    ]
    receivers = [{"name": "slack", "kind": "slack", "url": slack.url_for("/services/T1/B1/secret")}]
    service = start_service(
        kafka_bootstrap,
        prefix,
        tmp_path,
        env={
            "EDAMON_ALERTS__RULES": json.dumps(rules),
            "EDAMON_ALERTS__RECEIVERS": json.dumps(receivers),
            "EDAMON_ALERTS__EVALUATE_INTERVAL_S": "0.5",
        },
    )
    try:
        message = wait_for(lambda: slack.log, "a Slack message for the stopped group", 60)
        body = json.loads(message[0][0].get_data())
        assert set(body) == {"text"}
        assert body["text"].startswith("*[FIRING] group-stopped (critical)*")
        assert f"consumer group {group} is" in body["text"]
        with service.client("viewer") as http:
            alerts = http.get("/v1/alerts").json()
            (alert,) = alerts["alerts"]
            assert alert["state"] == "firing" and alert["labels"] == [["group", group]]
            (receiver,) = alerts["receivers"]
            assert receiver["sent"] >= 1 and receiver["target"].endswith("/…")
            assert "secret" not in json.dumps(alerts)
            overview = http.get("/v1/overview").json()
            assert [a["rule"] for a in overview["snapshot"]["alerts"]] == ["group-stopped"]

            def metrics_ready() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
                found = samples(http.get("/metrics").text)
                dead = [k for k in found if k[0] == "edamon_dead_letters_total"]
                return found if dead else None

            found = wait_for(metrics_ready, "dead letters in the metrics", 30)
        assert found[("edamon_consumergroup_lag_offsets", (("group", group),))] == 4
        assert found[("edamon_consumergroup_lag_seconds", (("group", group),))] > 2
        assert (
            found[
                (
                    "edamon_consumergroup_partition_lag_offsets",
                    (("group", group), ("partition", "0"), ("topic", orders)),
                )
            ]
            == 4
        )
        status = {
            labels[1][1]: value
            for (name, labels), value in found.items()
            if name == "edamon_consumergroup_status" and labels[0] == ("group", group)
        }
        assert sorted(status) == ["ERR", "OK", "UNKNOWN", "WARN"] and sum(status.values()) == 1
        dead = {k: v for k, v in found.items() if k[0] == "edamon_dead_letters_total"}
        assert dead == {
            (
                "edamon_dead_letters_total",
                (
                    ("exception", "java.lang.IllegalStateException"),
                    ("group", f"{prefix}.billing"),
                    ("source_topic", orders),
                ),
            ): 1.0
        }
        assert found[("edamon_topic_records_total", (("dlq", "false"), ("topic", orders)))] == 5
        assert found[("edamon_events_total", (("event_type", "OrderPlaced"),))] == 4
        undecodable = [v for k, v in found.items() if k[0] == "edamon_undecodable_records_total"]
        assert undecodable == [1.0]
        assert found[("edamon_collector_connection_state", (("state", "connected"),))] == 1
        assert found[("edamon_collector_records_ingested_total", ())] >= 6
        assert found[("edamon_collector_record_memory_budget_bytes", ())] == 64 * 1024 * 1024
        assert 0 < found[("edamon_collector_record_memory_bytes", ())] < 64 * 1024 * 1024
        firing = (
            "edamon_alerts",
            (("rule", "group-stopped"), ("severity", "critical"), ("state", "firing")),
        )
        assert found[firing] == 1
        sent = ("edamon_alert_notifications_total", (("outcome", "sent"), ("receiver", "slack")))
        assert found[sent] >= 1
    finally:
        service.stop()


def test_metrics_need_a_token(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    service = start_service(kafka_bootstrap, unique_name("ops"), tmp_path)
    try:
        with service.client(None) as anonymous:
            refused = anonymous.get("/metrics")
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        with service.client("not-a-token") as wrong:
            assert wrong.get("/metrics").status_code == 401
        with service.client("viewer") as viewer:
            answer = viewer.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            assert "# TYPE edamon_collector_connection_state gauge" in answer.text
            assert viewer.get("/v1/alerts").json() == {"alerts": [], "receivers": [], "rules": 0}
    finally:
        service.stop()
