"""A bad `-b` value stops every command at load, exit 2, with one line naming the setting:
nothing connects (no broker is needed here: the values are refused before any connection)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edamon.cli import _register, cli

REPO = Path(__file__).resolve().parents[2]

BAD_VALUES = {
    "no port": "localhost",
    "a URL": "http://host:9092",
    "empty": "",
    "an empty entry": "a:1,,b:2",
    "not a host": "not a host",
}

COMMANDS = {
    "check": ["check"],
    "collect": ["collect", "--duration", "1s"],
    "demo": ["demo", "--headless", "--duration", "1s"],
    "dlq list": ["dlq", "list"],
    "dlq show": ["dlq", "show", "t/0/0"],
    "dlq retry": ["dlq", "retry", "t/0/0", "--yes"],
}


@pytest.fixture(scope="module")
def root() -> click.Group:
    _register()
    return cli


def _clean_env() -> dict[str, str | None]:
    return {k: None for k in os.environ if k.startswith("EDAMON_")}


def _assert_refused(code: int, stderr: str, value: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("edamon: invalid configuration") and (
        "kafka.bootstrap_servers" in lines[0]
    ), lines[0]


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("value", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_bootstrap_exits_2_at_load(
    root: click.Group, command: str, value: str, tmp_path: Path
) -> None:
    env = _clean_env() | {"XDG_CONFIG_HOME": str(tmp_path)}
    args = COMMANDS[command]
    result = CliRunner().invoke(root, [*args, "-b", value], env=env)
    _assert_refused(result.exit_code, result.stderr, value)
    # Given before the subcommand too.
    result = CliRunner().invoke(root, ["-b", value, *args], env=env)
    _assert_refused(result.exit_code, result.stderr, value)


@pytest.mark.parametrize("value", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_bad_bootstrap_stops_the_dashboard_before_it_starts(value: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "edamon", "-b", value],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    _assert_refused(proc.returncode, proc.stderr, value)
