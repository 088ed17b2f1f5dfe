"""Dashboards on a real service process: the embedded child `edamon` starts for itself
(`spawn_embedded`), or any `edamon serve` by URL. Used by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from edamon.cli.embedded import Embedded, spawn_embedded
from edamon.client import EdamonClient
from edamon.config import Settings
from edamon.ui.app import EdamonApp
from edamon.ui.source import DataSource


def dashboard(url: str, token: str, settings: Settings, *, refresh: bool = True) -> EdamonApp:
    """The dashboard attached to the service at `url`, as `edamon --attach` runs it."""
    return EdamonApp(DataSource(EdamonClient(url, token)), settings, refresh=refresh)


@contextmanager
def embedded(settings: Settings) -> Iterator[Embedded]:
    """The collector child `edamon` starts for itself (stopped on the way out). Its log goes
    to the test's output when it fails to start."""
    child = spawn_embedded(settings)
    try:
        yield child
    finally:
        child.stop()
