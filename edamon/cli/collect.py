"""`edamon collect`."""

from __future__ import annotations

import click


@click.command(name="collect")
def command() -> None:
    """Not built yet."""
    raise click.ClickException("edamon collect is not built yet")
