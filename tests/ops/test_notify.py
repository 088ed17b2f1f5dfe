"""Notifications reach real HTTP servers (pytest-httpserver): Slack, Teams and the generic
webhook bodies; firing, repeat and resolved through the evaluation loop; retries with backoff;
a receiver that is down then back, one that answers 500, one that hangs, one that rate-limits.
Nothing undeliverable goes unseen, and no URL ever appears in what is shown or logged."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from edamon.alerts import Alerting
from edamon.alerts.notify import Notifier, mask_url
from edamon.alerts.rules import Notification
from edamon.config import AlertsSettings
from edamon.model.alerts import AlertView
from edamon.model.snapshot import Snapshot
from ops_helpers import empty_snapshot, group_lag
from service_helpers import http_receiver

SECRET_PATH = "/services/T000/B000/very-secret-token"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with http_receiver() as http:
        yield http


def bodies(http: HTTPServer) -> list[Any]:
    return [json.loads(request.get_data()) for request, _ in http.log]


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def settings(url: str, kind: str = "slack", **extra: Any) -> AlertsSettings:
    receiver = {"name": "ops", "kind": kind, "url": url, "timeout_s": 0.5, "max_attempts": 3}
    receiver.update(extra.pop("receiver", {}))
    return AlertsSettings.model_validate(
        {
            "rules": [{"name": "billing-slow", "kind": "lag_seconds", "threshold": 60}],
            "receivers": [receiver],
            "evaluate_interval_s": 0.05,
            "repeat_interval_s": 0.6,
            "retry_backoff_s": 0.05,
            "retry_backoff_max_s": 0.2,
            **extra,
        }
    )


class Cluster:
    """What the rules see: one group whose lag in seconds the test sets."""

    def __init__(self) -> None:
        self.lag_s = 0.0

    def snapshot(self) -> Snapshot:
        return empty_snapshot(time.time(), lag=(group_lag("billing", seconds=self.lag_s),))


async def run_alerting(alerting: Alerting) -> asyncio.Task[None]:
    return asyncio.create_task(alerting.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_slack_firing_repeat_and_resolved(server: HTTPServer) -> None:
    server.expect_request("/slack", method="POST").respond_with_data("ok")
    cluster = Cluster()
    published: list[tuple[AlertView, ...]] = []
    alerting = Alerting(settings(server.url_for("/slack")), cluster.snapshot, published.append)
    task = await run_alerting(alerting)
    try:
        await asyncio.sleep(0.2)  # a few evaluations while all is well: nothing is sent
        assert server.log == []
        cluster.lag_s = 300
        first = await until(lambda: bodies(server), "the firing message")
        assert first[0]["text"].startswith("*[FIRING] billing-slow (warning)*")
        assert "billing" in first[0]["text"] and "300s behind" in first[0]["text"]
        assert published[-1][0].state == "firing"
        await until(lambda: len(server.log) >= 2, "the repeat", 3)
        assert "[FIRING]" in bodies(server)[1]["text"]
        cluster.lag_s = 0
        await until(lambda: "RESOLVED" in bodies(server)[-1]["text"], "the resolved message", 3)
        sent_before = len(server.log)
        await asyncio.sleep(0.8)  # past the repeat interval: nothing more once resolved
        assert len(server.log) == sent_before
        (status,) = alerting.notifier.status()
        assert status.sent == sent_before and status.undeliverable == 0
        assert published[-1] == ()
    finally:
        await stop(task)


async def test_repeat_is_never_more_often_than_the_interval(server: HTTPServer) -> None:
    stamps: list[float] = []

    def handler(request: Request) -> Response:
        stamps.append(time.monotonic())
        return Response("ok")

    server.expect_request("/slack").respond_with_handler(handler)
    cluster = Cluster()
    cluster.lag_s = 120
    alerting = Alerting(settings(server.url_for("/slack")), cluster.snapshot, lambda _: None)
    task = await run_alerting(alerting)
    try:
        await until(lambda: len(stamps) >= 4, "four notifications", 5)
    finally:
        await stop(task)
    # The first delivery also opens the client (slower): gaps between repeats are measured
    # from the second on.
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]
    assert min(gaps) >= 0.6 - 0.02, gaps  # repeat_interval_s, never more often
    assert max(gaps) < 0.6 + 0.3, gaps  # and it does repeat


async def test_webhook_body_is_alertmanagers_and_teams_gets_an_adaptive_card(
    server: HTTPServer,
) -> None:
    server.expect_request("/hook").respond_with_data("", status=204)
    server.expect_request("/teams").respond_with_data("", status=202)
    alerts = AlertsSettings.model_validate(
        {
            "rules": [{"name": "billing-slow", "kind": "lag_seconds", "threshold": 60}],
            "receivers": [
                {"name": "hook", "kind": "webhook", "url": server.url_for("/hook")},
                {"name": "teams", "kind": "teams", "url": server.url_for("/teams")},
            ],
            "evaluate_interval_s": 0.05,
        }
    )
    cluster = Cluster()
    cluster.lag_s = 90
    task = await run_alerting(Alerting(alerts, cluster.snapshot, lambda _: None))
    try:
        await until(lambda: len(server.log) >= 2, "both receivers")
    finally:
        await stop(task)
    by_path = {req.path: json.loads(req.get_data()) for req, _ in server.log}
    hook = by_path["/hook"]
    assert hook["status"] == "firing" and hook["version"] == "4"
    (alert,) = hook["alerts"]
    assert alert["labels"] == {
        "alertname": "billing-slow",
        "kind": "lag_seconds",
        "severity": "warning",
        "group": "billing",
    }
    assert alert["annotations"]["value"] == "90" and alert["endsAt"].startswith("0001-")
    assert alert["startsAt"].endswith("Z")
    teams = by_path["/teams"]
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "[FIRING] billing-slow (warning)"
    assert {"title": "group", "value": "billing"} in card["body"][2]["facts"]


async def test_a_receiver_down_then_back_gets_the_notification(
    server: HTTPServer,
) -> None:
    port = server.port
    url = server.url_for("/slack")
    server.stop()  # nothing listens on the port now
    notes: list[str] = []
    alerts = settings(url, receiver={"max_attempts": 50})
    cluster = Cluster()
    cluster.lag_s = 300
    alerting = Alerting(alerts, cluster.snapshot, lambda _: None, notes.append)
    task = await run_alerting(alerting)
    try:
        await until(lambda: alerting.notifier.status()[0].queued, "a queued notification")
        await asyncio.sleep(0.3)  # a few refused attempts
        assert alerting.notifier.status()[0].sent == 0
        back = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        back.expect_request("/slack").respond_with_data("ok")
        back.start()
        try:
            await until(lambda: back.log, "the notification once the receiver is back", 5)
            assert "[FIRING]" in json.loads(back.log[0][0].get_data())["text"]
            await until(lambda: alerting.notifier.status()[0].sent >= 1, "sent counted")
        finally:
            back.stop()
    finally:
        await stop(task)
    assert alerting.notifier.status()[0].undeliverable == 0 and notes == []


async def test_500_is_retried_then_counted_undeliverable_and_shown(
    server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.expect_request("/slack").respond_with_data("boom", status=500)
    url = server.url_for("/slack") + SECRET_PATH
    server.expect_request(f"/slack{SECRET_PATH}").respond_with_data("boom", status=500)
    notes: list[str] = []
    cluster = Cluster()
    cluster.lag_s = 300
    alerting = Alerting(settings(url), cluster.snapshot, lambda _: None, notes.append)
    caplog.set_level(logging.DEBUG)
    task = await run_alerting(alerting)
    try:
        await until(lambda: alerting.notifier.status()[0].undeliverable >= 1, "undeliverable")
    finally:
        await stop(task)
    assert len(server.log) >= 3  # max_attempts
    status = alerting.notifier.status()[0]
    assert status.last_error == "HTTP 500" and status.sent == 0
    assert notes and "could not be delivered to ops: HTTP 500" in notes[0]
    assert status.target == f"http://127.0.0.1:{server.port}/…"
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("HTTP Request: POST" in text for text in ours)  # httpx logs each request
    assert not [text for text in ours if "very-secret" in text]
    assert "very-secret" not in repr(status)
    assert "very-secret" not in " ".join(notes)


async def test_a_receiver_that_hangs_times_out_and_ingest_goes_on(server: HTTPServer) -> None:
    def hang(request: Request) -> Response:
        time.sleep(3)
        return Response("ok")

    server.expect_request("/slack").respond_with_handler(hang)
    cluster = Cluster()
    cluster.lag_s = 300
    alerting = Alerting(
        settings(server.url_for("/slack"), receiver={"max_attempts": 1, "timeout_s": 1.0}),
        cluster.snapshot,
        lambda _: None,
    )
    task = await run_alerting(alerting)
    try:
        await until(lambda: alerting.notifier.status()[0].queued, "the delivery to start")
        stalls = []
        started = time.monotonic()
        while time.monotonic() - started < 0.9:  # while the receiver hangs, the loop is free
            before = time.monotonic()
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - before)
        assert max(stalls) < 0.5, max(stalls)  # a blocking send would hold it for 1 s
        await until(lambda: alerting.notifier.status()[0].undeliverable, "the timeout", 5)
    finally:
        await stop(task)
    assert alerting.notifier.status()[0].last_error == "no answer within 1s"


async def test_429_waits_for_retry_after(server: HTTPServer) -> None:
    stamps: list[float] = []

    def limited(request: Request) -> Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return Response("rate_limited", status=429, headers={"Retry-After": "1"})
        return Response("ok")

    server.expect_request("/slack").respond_with_handler(limited)
    alerts = settings(server.url_for("/slack"), retry_backoff_max_s=5)
    cluster = Cluster()
    cluster.lag_s = 300
    alerting = Alerting(alerts, cluster.snapshot, lambda _: None)
    task = await run_alerting(alerting)
    try:
        await until(lambda: alerting.notifier.status()[0].sent >= 1, "delivery after 429", 5)
    finally:
        await stop(task)
    assert stamps[1] - stamps[0] >= 0.95


async def test_a_full_queue_is_counted_not_dropped_silently() -> None:
    alerts = settings("http://127.0.0.1:9/", queue_size=2)
    notes: list[str] = []
    notifier = Notifier(alerts, on_undeliverable=notes.append)
    alert = AlertView("r", "lag_seconds", "firing", "warning", (), "s", 1.0, 0.0, 0.0, 0.0)
    for _ in range(5):
        notifier.submit(Notification("firing", alert, (), 0.0))
    (status,) = notifier.status()
    assert (status.queued, status.undeliverable) == (2, 3)
    assert len(notes) == 3 and "queue full" in notes[0]


async def test_alerts_test_sends_to_every_receiver(server: HTTPServer) -> None:
    server.expect_request("/a").respond_with_data("ok")
    server.expect_request("/b").respond_with_data("nope", status=404)
    alerts = AlertsSettings.model_validate(
        {
            "receivers": [
                {"name": "a", "kind": "slack", "url": server.url_for("/a")},
                {"name": "b", "kind": "webhook", "url": server.url_for("/b"), "max_attempts": 1},
            ]
        }
    )
    results = await Notifier(alerts).test()
    assert results == {"a": None, "b": "HTTP 404"}
    by_path = {req.path: json.loads(req.get_data()) for req, _ in server.log}
    assert by_path["/a"]["text"].startswith("*[TEST] edamon-test")
    assert by_path["/b"]["commonAnnotations"]["test"] == "true"


def test_mask_url_keeps_scheme_and_host_only() -> None:
    masked = mask_url("https://hooks.slack.com/services/T0/B0/secret")
    assert masked == "https://hooks.slack.com/…"
    assert mask_url("http://user:pw@example.com:8080/x?token=1") == "http://example.com:8080/…"
