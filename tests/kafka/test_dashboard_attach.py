"""Dashboards attached to a real `edamon serve` process on the real broker (`edamon --attach`):
several at once, and one that outlives a restart of the service."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from dashboards import dashboard
from textual.pilot import Pilot
from textual.widgets import Static

from builders import event_value
from edamon.config import Settings
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.source import Link
from edamon.ui.widgets.snapshot_table import SnapshotTable
from kafka_helpers import MakeTopic, Produce, UniqueName
from service_helpers import Service, start_service

pytestmark = pytest.mark.kafka

SIZE = (120, 40)


def settings() -> Settings:
    return Settings.model_validate({"ui": {"refresh_hz": 10}})


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def status(app: EdamonApp) -> str:
    line = app.screen.query_one("StatusLine", Static)
    return str(line.render())


def holds_flow(app: EdamonApp, correlation: str) -> bool:
    snap = app.last_snapshot
    return snap is not None and any(c.correlation_id == correlation for c in snap.chains)


async def a_flow(make_topic: MakeTopic, produce: Produce, prefix: str, correlation: str) -> None:
    topic = await make_topic(f"{prefix}.OrderPlaced")
    value = event_value(f"{correlation}-e0", "OrderPlaced", correlation)
    await produce(topic, [(b"order-1", value, [("event-type", b"OrderPlaced")])])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_two_dashboards_attach_to_one_service_at_once(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix, correlation = unique_name("attach"), unique_name("flow")
    await a_flow(make_topic, produce, prefix, correlation)
    service = start_service(kafka_bootstrap, prefix, tmp_path, env_tokens=True)
    try:
        operator = dashboard(service.url, service.operator, settings())
        viewer = dashboard(service.url, service.viewer, settings())
        async with AsyncExitStack() as stack:
            first = await stack.enter_async_context(operator.run_test(size=SIZE))
            second = await stack.enter_async_context(viewer.run_test(size=SIZE))
            await wait_for(first, lambda: holds_flow(operator, correlation), "the flow (1)")
            await wait_for(second, lambda: holds_flow(viewer, correlation), "the flow (2)")
            assert operator.source.role == "operator" and viewer.source.role == "viewer"

            # Each drives its own screens.
            await first.press("2")
            await second.press("3")
            assert isinstance(operator.screen, ChainsScreen)
            assert not isinstance(viewer.screen, ChainsScreen)
            table = operator.screen.query_one(SnapshotTable)
            await wait_for(first, lambda: correlation in table.keys, "the flow's row")
            table.select_key(correlation)
            await first.press("enter")
            await wait_for(first, lambda: isinstance(operator.screen, ChainScreen), "the chain")

            # One quits: the other goes on, and so does the service.
            await first.press("q")
            await wait_for(first, lambda: not operator.is_running, "the first to quit")
            polls = viewer.source.polls
            await wait_for(second, lambda: viewer.source.polls >= polls + 5, "more polls")
            assert viewer.source.link is Link.LIVE
            assert service.process.poll() is None
    finally:
        code, _, err = service.stop()
    assert code == 0, err


async def test_a_dashboard_outlives_a_restart_of_the_service(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix, correlation = unique_name("restart"), unique_name("flow")
    await a_flow(make_topic, produce, prefix, correlation)
    listen = f"127.0.0.1:{free_port()}"

    def serve() -> Service:
        return start_service(kafka_bootstrap, prefix, tmp_path, "--listen", listen, env_tokens=True)

    service = serve()
    app = dashboard(service.url, service.operator, settings())
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: holds_flow(app, correlation), "the flow")
            assert app.source.link is Link.LIVE and "(stale)" not in status(app)

            service.stop()  # the service goes away under the dashboard
            await wait_for(pilot, lambda: app.source.link is Link.STALE, "stale")
            await wait_for(pilot, lambda: "(stale)" in status(app), "stale, said")
            assert "service unreachable" in status(app)
            assert holds_flow(app, correlation)  # the last data stays on screen

            service = serve()  # the same address, a new process: it reattaches by itself
            await wait_for(pilot, lambda: app.source.link is Link.LIVE, "reattached")
            await wait_for(pilot, lambda: holds_flow(app, correlation), "the flow again")
            await wait_for(pilot, lambda: "(stale)" not in status(app), "not stale")
    finally:
        code, _, err = service.stop()
    assert code == 0, err
