"""Helpers shared by the UI tests: render to text, wait for a condition, spy on notifications."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Static

from edamon.ui.app import EdamonApp


def text_of(renderable: object, width: int = 100) -> str:
    """Render a Rich renderable (or a Static's content) to plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    content = renderable.content if isinstance(renderable, Static) else renderable
    console.print(content)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail("condition not met in time")
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Let the app run until nothing is in flight: no worker running (chain openings, the
    app's own one-shot work), no lookup waiting for the service, and the redraws they asked
    for done. For apps that draw on demand (refresh=False)."""
    app = pilot.app
    assert isinstance(app, EdamonApp)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 3:  # three turns in a row with nothing to do
        if loop.time() > deadline:
            pytest.fail("the app did not settle in time")
        await pilot.pause()
        await app.workers.wait_for_complete()
        busy = app.source.busy or any(w.is_running for w in app.workers)
        quiet = 0 if busy else quiet + 1
    await pilot.pause()


def record_notifications(app: EdamonApp) -> list[tuple[str, str]]:
    """Spy on app.notify (install before the app runs): (message, severity) in order."""
    shown: list[tuple[str, str]] = []
    original = app.notify

    def record(message: str, **kwargs: Any) -> None:
        shown.append((message, kwargs.get("severity", "information")))
        original(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return shown


async def palette_run(pilot: Pilot[Any], query: str, command: str, timeout: float = 5.0) -> None:
    """Open the `:` palette, type `query`, wait until `command` is the highlighted result
    (the palette searches asynchronously and shows results in batches), press Enter."""
    await pilot.press("colon", *query)

    def ready() -> bool:
        lists = pilot.app.screen.query(CommandList)
        option = lists.first().highlighted_option if lists else None
        return option is not None and str(option.prompt).startswith(command)

    await wait_for(pilot, ready, timeout)
    await pilot.press("enter")
