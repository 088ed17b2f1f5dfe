"""`edamon demo` (and `edamon`) run their collector in a child process: real processes on a
pseudo-terminal. The child is gone when the dashboard quits, and when the dashboard's process
is killed with SIGKILL (no orphan). The in-memory demo needs no broker."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from service_helpers import clean_env

pytestmark = pytest.mark.kafka  # real processes

COLUMNS, LINES = 120, 40


@dataclass
class Terminal:
    """A process on a pseudo-terminal, and everything it wrote."""

    process: subprocess.Popen[bytes]
    master: int
    output: bytearray = field(default_factory=bytearray)
    started: float = field(default_factory=time.monotonic)

    def seen(self, text: str) -> bool:
        return text.encode() in self.output

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())


@contextmanager
def on_a_terminal(args: list[str], tmp: Path) -> Iterator[Terminal]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = clean_env(tmp, {"TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(LINES)})
    process = subprocess.Popen(
        [sys.executable, "-m", "edamon", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    terminal = Terminal(process, master)

    def drain() -> None:  # a full pty would block the app's writes
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            terminal.output.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield terminal
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        os.close(master)
        reader.join(5)


def until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's wait counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def collector_child(terminal: Terminal) -> int:
    """The dashboard's embedded service process (`edamon serve --embedded-socket ...`)."""
    found: list[int] = []

    def spawned() -> bool:
        for pid in children_of(terminal.process.pid):
            with suppress(OSError):
                if b"--embedded-socket" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
        return bool(found)

    until(spawned, "the embedded collector process")
    return found[0]


def test_the_demo_draws_at_once_and_its_collector_stops_on_quit(tmp_path: Path) -> None:
    with on_a_terminal(["demo"], tmp_path) as terminal:
        child = collector_child(terminal)
        until(lambda: terminal.seen("Dead letters"), "the first frame")  # the nav bar
        first_frame = time.monotonic() - terminal.started
        until(lambda: terminal.seen("demo.orders"), "the demo's topics, from the service")
        assert alive(child)
        terminal.type("q")
        assert terminal.process.wait(20) == 0
        until(lambda: not alive(child), "the collector process to stop", timeout=15)
    print(f"first frame of `edamon demo` after {first_frame:.2f}s")


def test_the_collector_child_stops_when_its_dashboard_is_killed(tmp_path: Path) -> None:
    with on_a_terminal(["demo"], tmp_path) as terminal:
        child = collector_child(terminal)
        until(lambda: terminal.seen("demo.orders"), "the demo's topics, from the service")
        os.kill(terminal.process.pid, signal.SIGKILL)  # no quit, no cleanup of any kind
        terminal.process.wait(10)
        until(lambda: not alive(child), "the orphaned collector process to stop", timeout=15)
