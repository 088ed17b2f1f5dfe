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
