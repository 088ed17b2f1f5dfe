"""`edamon dlq`."""

from __future__ import annotations

import click


@click.command(name="dlq")
def command() -> None:
    """Not built yet."""
    raise click.ClickException("edamon dlq is not built yet")
