"""`edamon alerts`: the alert rules and receivers of the configuration.

`edamon alerts test` sends a test notification to every configured receiver now and says, per
receiver, whether it arrived (URLs shown masked). Exit 1 when any receiver failed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from edamon.cli import EXIT_FAILED, EXIT_USAGE, config_options, fail, settings_from


@click.group(name="alerts")
def command() -> None:
    """Alert rules and receivers ([[alerts.rules]], [[alerts.receivers]] in the config)."""


@command.command(name="test")
@config_options
def test(config_path: Path | None, bootstrap: str | None, read_only: bool | None) -> None:
    """Send a test notification to every configured receiver."""
    from edamon.alerts.notify import Notifier

    settings = settings_from(config_path, bootstrap, read_only)
    alerts = settings.alerts
    if not alerts.receivers:
        fail("no receiver configured ([[alerts.receivers]] in the config)", EXIT_USAGE)
    notifier = Notifier(alerts)
    results = asyncio.run(notifier.test())
    failed = 0
    for receiver in notifier.receivers.values():
        error = results[receiver.config.name]
        where = f"{receiver.config.name} ({receiver.config.kind}, {receiver.target})"
        if error is None:
            click.echo(f"ok      {where}")
        else:
            failed += 1
            click.echo(f"FAILED  {where}: {error}")
    sys.exit(EXIT_FAILED if failed else 0)
