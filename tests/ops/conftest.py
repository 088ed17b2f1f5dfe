"""Fixtures of the operations tests: a real Prometheus server (scripts/prometheus.py, Debian's
package) for the session. It fails, never skips, when Prometheus can't start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ops_helpers import load_prometheus_harness


@pytest.fixture(scope="session")
def prometheus() -> Iterator[Any]:
    """A running Prometheus (loopback, temp storage) whose `scrape(target, token)` points its
    one job at an edamon serve; stopped at the end of the session."""
    harness = load_prometheus_harness()
    server = harness.Prometheus()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"could not start Prometheus: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
