"""`e` on a chain writes the flow to a JSON file (tree, envelopes, records held)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import MAIN_CHAIN, FakeView, make_app
from uitools import record_notifications, wait_for

from edamon.ui.screens.chain import ChainScreen

SIZE = (120, 40)


async def test_export_writes_the_flow_to_a_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    view = FakeView()
    dropped = view.main.nodes[1].event_id
    view.dropped.add(dropped)
    app = make_app(view)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        app.open_chain(MAIN_CHAIN)
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        await pilot.press("e")
        await wait_for(pilot, lambda: any("Flow written" in m for m, _ in shown))
    name, document = written(tmp_path)
    assert any(name in message for message, _ in shown)
    assert document["chain"]["summary"]["correlation_id"] == MAIN_CHAIN
    nodes = view.main.nodes
    assert [n["event_id"] for n in document["chain"]["nodes"]] == [n.event_id for n in nodes]
    first = document["events"][nodes[0].event_id]
    assert first["event_type"] == nodes[0].event_type and first["coords"] == nodes[0].coords
    assert json.loads(first["value"]["text"])["eventId"] == nodes[0].event_id
    assert first["headers"] and first["record_dropped"] is False
    # Dropped from the collector's memory: the service read it again from Kafka for the file.
    again = document["events"][dropped]
    assert again["record_dropped"] is True
    assert json.loads(again["value"]["text"])["eventId"] == dropped
    assert view.records_read == [nodes[1].coords]


async def test_export_failure_is_a_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # the working directory no longer exists: nowhere to write
    app = make_app(FakeView())
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        app.open_chain(MAIN_CHAIN)
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ChainScreen)  # still running, on the chain
    failures = [message for message, severity in shown if severity == "error"]
    assert len(failures) == 1 and failures[0].startswith("Could not write the flow: ")


def written(directory: Path) -> tuple[str, dict[str, Any]]:
    (path,) = directory.glob("edamon-chain-*.json")
    document: dict[str, Any] = json.loads(path.read_text())
    return path.name, document
