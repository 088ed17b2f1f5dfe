"""The command line answers --help/--version, and the core never loads textual."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edamon import __version__
from edamon.cli import _register, cli

REPO = Path(__file__).resolve().parents[2]
EXPECTED_COMMANDS = {"check", "collect", "demo", "dlq"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def root() -> click.Group:
    _register()
    return cli


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        paths.append(path)
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, path))
    return paths


def test_help_lists_every_subcommand(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for name in EXPECTED_COMMANDS:
        assert f"  {name} " in result.output
    assert "--bootstrap" in result.output


def test_short_help_option(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["-h"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_version(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"edamon, version {__version__}"


def test_every_subcommand_has_help(root: click.Group) -> None:
    paths = _command_paths(root)
    assert {p[0] for p in paths} >= EXPECTED_COMMANDS
    for path in paths:
        result = CliRunner().invoke(root, [*path, "--help"], prog_name="edamon")
        assert result.exit_code == 0, (path, result.output)
        assert f"Usage: edamon {' '.join(path)} " in result.output
        command = root
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        assert command.help, f"{' '.join(path)} has no help text"


def test_check_help_shows_its_options(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["check", "--help"])
    assert result.exit_code == 0
    for option in ("--timeout", "--config", "--bootstrap", "--all"):
        assert option in result.output


def test_unknown_command_is_a_usage_error(root: click.Group) -> None:
    result = CliRunner().invoke(root, ["frobnicate"])
    assert result.exit_code == 2


def test_python_dash_m_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edamon", "--help"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    for name in EXPECTED_COMMANDS:
        assert name in proc.stdout
    assert proc.stderr == ""


def test_core_never_imports_textual() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import edamon.model
        core = [
            "edamon.config", "edamon.decode", "edamon.broker", "edamon.broker.kafka",
            "edamon.collector", "edamon.actions", "edamon.cli", "edamon.cli.check",
        ]
        core += [m.name for m in pkgutil.iter_modules(edamon.model.__path__, "edamon.model.")]
        for name in core:
            importlib.import_module(name)
        from edamon.cli import _register
        _register()  # what `edamon --help` loads: every subcommand module
        loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
        print("CORE", len(core), "TEXTUAL", loaded)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "TEXTUAL []" in proc.stdout, proc.stdout
