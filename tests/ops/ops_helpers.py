"""Helpers of the operations tests: the Prometheus harness (scripts/prometheus.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

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
