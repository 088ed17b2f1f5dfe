"""Helpers of the operations tests: the Prometheus harness (scripts/prometheus.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.model.snapshot import GroupLag, Snapshot
from edamon.model.status import ConnectionState, GroupStatus, PartitionStatus

HARNESS = Path(__file__).resolve().parents[2] / "scripts" / "prometheus.py"


def load_prometheus_harness() -> ModuleType:
    """Import scripts/prometheus.py as module `edamon_prometheus_harness` (once)."""
    name = "edamon_prometheus_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def empty_snapshot(now: float = 1_800_000_000.0, **changes: object) -> Snapshot:
    """A real collector state's snapshot with nothing ingested, with `changes` applied."""
    snap = CollectorState(Settings(), cluster="test:9092").snapshot(now)
    snap = dataclasses.replace(
        snap, connection=dataclasses.replace(snap.connection, state=ConnectionState.CONNECTED)
    )
    return dataclasses.replace(snap, **changes)  # type: ignore[arg-type]


def group_lag(
    name: str, *, seconds: float | None = None, status: GroupStatus = GroupStatus.OK, lag: int = 0
) -> GroupLag:
    return GroupLag(
        group=name,
        state="Stable",
        members=1,
        status=status,
        worst=PartitionStatus.OK,
        total_lag=lag,
        max_lag_seconds=seconds,
        trend=(),
        partitions=(),
        topics=(),
    )
