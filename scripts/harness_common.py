"""What the harness scripts (kafka.py, registry.py, prometheus.py) share: where their
downloads are cached, a lock between processes, free loopback ports, a child process that dies
with its parent, the tail of a JVM's log, and the subcommand runner. Stdlib only.

The scripts are run as files and loaded by the tests by path, so each puts this directory on
`sys.path` before importing this module."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def cache_dir(kind: str) -> Path:
    """``$EDAMON_<KIND>_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/edamon/<kind>``."""
    env = os.environ.get(f"EDAMON_{kind.upper()}_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "edamon" / kind


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created with its directory), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (held open together while chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


_PR_SET_PDEATHSIG = 1
_prctl: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec_fn: SIGKILL the child when its parent dies (Linux), even if it already did."""

    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def log_tail(path: Path, lines: int) -> str:
    """The last `lines` lines of the log at `path`, Java stack frames left out ("" when
    there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith("\tat ") and not (line.startswith("\t...") and "more" in line)
    ]
    return "\n".join(kept[-lines:])


def run_command(
    parser: argparse.ArgumentParser,
    handlers: Mapping[str, Callable[[argparse.Namespace], int]],
    error: type[Exception],
    argv: list[str] | None,
) -> int:
    """Parse `argv` with `parser` (subcommands in `dest="command"`) and run the handler: an
    `error` is printed as one line and exits 1, Ctrl-C exits 130."""
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def read_state(path: Path) -> dict[str, Any] | None:
    """The JSON object an `up` command wrote to `path` (its run.json), None when there is
    none or it is not one."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
