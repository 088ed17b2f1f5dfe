"""The simulated event-driven system `edamon demo` runs: choreographed orders, an orchestrated
checkout saga, schema evolution, duplicates, poison records, dead letters, a slow and a stopped
consumer group. Runs on any Broker (in-memory by default)."""

from edamon.demo.clock import DemoClock
from edamon.demo.runner import DemoStats, DemoSystem
from edamon.demo.sagas import demo_sagas, packaged_config

__all__ = ["DemoClock", "DemoStats", "DemoSystem", "demo_sagas", "packaged_config"]
