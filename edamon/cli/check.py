"""`edamon check`."""

from __future__ import annotations

import click


@click.command(name="check")
def command() -> None:
    """Not built yet."""
    raise click.ClickException("edamon check is not built yet")
