"""`edamon` with no subcommand: the dashboard on a real cluster."""

from __future__ import annotations

from edamon.config import Settings


def run_dashboard(settings: Settings) -> int:
    """Open the dashboard; returns the exit code."""
    raise NotImplementedError("dashboard: issue 4")
