"""The command line: builds settings and the thing to run, nothing else.

Each subcommand lives in its own module and imports heavy pieces (textual, aiokafka) inside
its body, so `edamon --help` and `edamon collect` stay fast and `textual` is loaded only by
commands that show the dashboard.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from edamon import __version__
from edamon.config import ConfigError, Settings, load_settings, merge_overrides
from edamon.model.safetext import sanitize

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> None:
    """Print one clear line to stderr and exit."""
    click.echo(f"edamon: {message}", err=True)
    sys.exit(code)


def duration_option(value: str | None, name: str = "--duration") -> float | None:
    """Seconds of a duration option (10s, 2m, 1h30m), None when not given; exits 2 if bad."""
    if value is None:
        return None
    from edamon.model.timespec import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        fail(f"{name}: {exc}", EXIT_USAGE)
        raise  # unreachable


def config_options(func: F) -> F:
    """Options every command that talks to a cluster takes."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="TOML config file (default: ./edamon.toml, then $XDG_CONFIG_HOME/edamon).",
        ),
        click.option("--bootstrap", "-b", help="Kafka bootstrap servers (host:port,...)."),
        click.option(
            "--read-only",
            is_flag=True,
            default=None,
            help="Disable every action that writes to Kafka.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    extra: dict[str, Any] | None = None,
) -> Settings:
    """Load settings with flags on top; a config problem exits with code 2.

    Options given before the subcommand (`edamon -b X check`, `edamon --from 5m collect`)
    count too; the subcommand's own win."""
    ctx = click.get_current_context(silent=True)
    flags: dict[str, Any] = {}
    if ctx is not None:
        root = ctx.find_root().params
        config_path = config_path or root.get("config_path")
        if bootstrap is None:  # `-b ''` is an error to report, not "no flag"
            bootstrap = root.get("bootstrap")
        read_only = read_only or root.get("read_only")
        if root.get("start_from") is not None:  # `edamon --from X collect`
            flags["topics"] = {"start_from": root["start_from"]}
    if bootstrap is not None:
        flags["kafka"] = {"bootstrap_servers": bootstrap}
    if read_only:
        flags["read_only"] = True
    try:
        settings = load_settings(config_path, merge_overrides(flags, extra or {}))
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
        raise  # unreachable; keeps type checkers happy
    logging.getLogger().setLevel(settings.log_level)
    return settings


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edamon")
@config_options
@click.option(
    "--from",
    "start_from",
    help="Where tailing starts: latest, earliest, a duration ago (15m) or an ISO time.",
)
@click.option(
    "--attach",
    metavar="URL",
    help="Open the dashboard on a running `edamon serve` (http://host:8765) instead of "
    "starting a collector of its own.",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="With --attach: the service's token file or a file holding one token (default: "
    "$EDAMON_TOKEN, else the local service's token file).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    start_from: str | None,
    attach: str | None,
    token_file: Path | None,
) -> None:
    """edamon: a terminal dashboard for event-driven systems on Apache Kafka.

    Without a subcommand, opens the dashboard on the configured cluster (its collector runs in
    a child process that stops with it), or with --attach on a shared `edamon serve`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from edamon.cli.dashboard import run_attached, run_dashboard

    settings = settings_from(config_path, bootstrap, read_only)  # --from: from the root
    if attach is None:
        sys.exit(run_dashboard(settings))
    from edamon.cli.attach import token_for

    token = token_for(token_file, operator=True)  # as `dlq retry --attach` finds it
    sys.exit(run_attached(attach, token, settings))


def _register() -> None:
    from edamon.cli import alerts, check, collect, demo, dlq, find, serve, web

    for module in (alerts, check, collect, demo, dlq, find, serve, web):
        cli.add_command(module.command)


def configure_logging() -> None:
    """Library logs never reach the terminal (they would tear the dashboard): they go to
    $EDAMON_LOG_FILE when set (at INFO until the settings say otherwise: `log_level`), else
    nowhere. Errors reach the operator through edamon's own messages instead."""
    path = os.environ.get("EDAMON_LOG_FILE")
    root = logging.getLogger()
    if path:
        handler: logging.Handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)


class SafeOutput(io.TextIOBase):
    """A text stream that writes record text safely: every control character (but newlines
    and tabs) is written as a visible escape (edamon.model.safetext.sanitize), so that an
    exception message or an event type read from a record cannot move the cursor, clear the
    screen or set the terminal's title. A carriage return opening a write stays (a progress
    line redrawn in place)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    @property
    def encoding(self) -> str:  # type: ignore[override]  # typeshed: an attribute
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]  # typeshed: an attribute
        return self._stream.errors

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lead = "\r" if text.startswith("\r") else ""
        self._stream.write(lead + sanitize(text[len(lead) :], multiline=True))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def printable_output() -> None:
    """What the commands print is safe and printable: record text reaches the terminal with
    its control characters escaped (`SafeOutput`: every command prints through it, whatever
    it prints), and text that can't be encoded (a lone surrogate, read from a JSON `\\ud800`
    escape in a record, or any non-ASCII text on an ASCII terminal) is written as its
    backslash escape instead of ending the command with a UnicodeEncodeError. (JSON output
    is ASCII anyway.) The dashboard writes to the terminal itself (Textual uses the original
    streams) and sanitizes what it shows where data enters it (edamon.ui.source)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    sys.stdout = SafeOutput(sys.stdout)
    sys.stderr = SafeOutput(sys.stderr)


def main() -> None:
    printable_output()
    configure_logging()
    _register()
    cli()
