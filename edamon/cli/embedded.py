"""The embedded service: `edamon` and `edamon demo` start their collector in a child process on a
private Unix socket, then attach to it like to any `edamon serve`.

    child = spawn_embedded(settings, demo=None)          # or demo="memory" / "kafka"
    async with EdamonClient(child.url, child.token) as client: ...
    child.stop()                                          # on quit (also fine to call twice)

- The socket lives in a new 0700 temporary directory; the token is generated here, handed to
  the child in its environment (never written to disk) and is its only (operator) token.
- The child gets the parent's settings as one JSON line on stdin, then holds stdin open: when
  the parent dies (even by SIGKILL), the pipe closes and the child stops; on Linux
  PR_SET_PDEATHSIG sends it SIGTERM as well. No orphan either way.
- `spawn_embedded` returns at once; the socket appears a moment later (`wait_ready`, or let the
  client's Unreachable errors tell).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from edamon.cli.serve import EMBEDDED_PARENT_ENV, EMBEDDED_TOKEN_ENV
from edamon.config import Settings

STOP_TIMEOUT_S = 5.0
SOCKET_NAME = "edamon.sock"


@dataclass
class Embedded:
    """A running embedded child: where it listens and its token."""

    socket_path: Path
    token: str = field(repr=False)
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """What EdamonClient connects to: `unix:/path`."""
        return f"unix:{self.socket_path}"

    def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """Wait until the child listens (its socket exists); False if it exited or the time
        ran out. Blocking: call it before the event loop starts, or in a thread."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.socket_path.exists():
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) and remove its
        directory; returns its exit status."""
        process = self.process
        if process.poll() is None:
            if process.stdin is not None:
                with suppress(OSError):
                    process.stdin.close()  # the child's cue to stop
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        return process.returncode


def settings_line(settings: Settings) -> bytes:
    """`settings` as one JSON line, secrets included (the pipe is private to the child): the
    Kafka and registry credentials, the retry ledger's key; not the service's tokens."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    _reveal(settings, data)
    data["service"]["viewer_token"] = None
    data["service"]["operator_token"] = None
    return json.dumps(data).encode("utf-8") + b"\n"


def _reveal(model: BaseModel, data: dict[str, Any]) -> None:
    """Put every secret of `model` in clear into `data` (its model_dump, which masks them)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
        elif isinstance(value, BaseModel):
            _reveal(value, data[name])
        elif isinstance(value, list):  # e.g. alerts.receivers (their webhook URLs)
            for item, dumped in zip(value, data[name], strict=True):
                if isinstance(item, BaseModel):
                    _reveal(item, dumped)


def spawn_embedded(
    settings: Settings,
    demo: Literal["memory", "kafka"] | None = None,
    *,
    demo_format: Literal["json", "avro"] = "json",
    log_file: Path | None = None,
) -> Embedded:
    """Start the embedded child (see the module doc). `demo`: run the demo's simulation beside
    the collector, in memory or on the cluster of `settings`, writing `demo_format` (avro:
    through the in-process schema registry in memory, or the configured one). The child's
    stdout/stderr go to `log_file` (default: nowhere), never to the terminal the dashboard
    draws on."""
    from edamon.service.auth import new_token

    directory = Path(tempfile.mkdtemp(prefix="edamon-"))  # mode 0700
    socket_path = directory / SOCKET_NAME
    token = new_token()
    env = dict(os.environ)
    env[EMBEDDED_TOKEN_ENV] = token
    env[EMBEDDED_PARENT_ENV] = str(os.getpid())
    args = [sys.executable, "-m", "edamon", "serve", "--embedded-socket", str(socket_path)]
    if demo is not None:
        args += ["--demo", demo, "--demo-format", demo_format]
    output = open(log_file, "ab") if log_file is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=output,
            env=env,
            close_fds=True,
        )
    finally:
        if log_file is not None:
            output.close()  # type: ignore[union-attr]
    assert process.stdin is not None
    process.stdin.write(settings_line(settings))
    process.stdin.flush()
    return Embedded(socket_path, token, process)
