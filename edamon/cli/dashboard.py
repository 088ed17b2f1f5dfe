"""The dashboard commands: `edamon` (its own collector child), `edamon demo` (the same, with the
simulation beside the collector) and `edamon --attach URL` (a shared `edamon serve`).

The dashboard is always a client of a service: `spawn_embedded` starts the private child on a
Unix socket and the app attaches to it at once (the first frame says "starting collector…"
until it answers). The child is stopped when the dashboard quits or crashes, and stops by
itself when the dashboard's process is killed (edamon/cli/embedded.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from edamon.config import Settings

CHILD_WATCH_S = 0.5
"""How often the dashboard checks that its collector child still runs."""


def run_attached(url: str, token: str, settings: Settings) -> int:
    """The dashboard on the service at `url` (http(s)://host:port or unix:/path)."""
    return _run(url, token, settings, waiting=f"connecting to {url}…")


def run_dashboard(
    settings: Settings,
    demo: Literal["memory", "kafka"] | None = None,
    demo_format: Literal["json", "avro"] = "json",
) -> int:
    """The dashboard on its own collector child (with the demo's simulation when `demo`,
    writing `demo_format`); returns the exit code. The child is stopped however the dashboard
    ends."""
    from edamon.cli.embedded import spawn_embedded

    log = os.environ.get("EDAMON_LOG_FILE")
    child = spawn_embedded(
        settings, demo, demo_format=demo_format, log_file=Path(log) if log else None
    )
    try:

        async def watch() -> None:
            while child.process.poll() is None:  # noqa: ASYNC110 - a process, not an event
                await asyncio.sleep(CHILD_WATCH_S)
            raise ChildExited(
                f"the collector process exited (status {child.process.returncode}); "
                "set EDAMON_LOG_FILE to keep its log"
            )

        return _run(child.url, child.token, settings, "starting collector…", background=[watch])
    finally:
        child.stop()


class ChildExited(Exception):
    """The dashboard's collector child ended on its own."""


def _run(
    url: str,
    token: str,
    settings: Settings,
    waiting: str,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
) -> int:
    from edamon.client import EdamonClient
    from edamon.ui.app import EdamonApp
    from edamon.ui.source import DataSource

    source = DataSource(EdamonClient(url, token))
    app = EdamonApp(source, settings, background=background, waiting=waiting, tune_gc=True)
    code = app.run()  # the source's client is closed when the app unmounts
    return code if isinstance(code, int) else 0
