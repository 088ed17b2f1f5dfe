"""A real `edamon serve` subprocess for tests, and waiting for conditions.

`start_service` runs `python -m edamon serve --listen 127.0.0.1:0` (this checkout's edamon) with
a clean EDAMON_* environment that tails only `<prefix>.*` topics, reads where it listens from
its first line, and returns a `Service` (URL, tokens, process). Tokens come from the file the
service creates (default) or from the environment (`env_tokens`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from pytest_httpserver import HTTPServer

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def clean_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra or {})
    return env


def service_env(bootstrap: str, prefix: str, tmp: Path) -> dict[str, str]:
    """Settings for a service that watches only `<prefix>.*` topics and groups, fast."""
    pattern = prefix.replace(".", "\\.") + "\\..*"
    return clean_env(
        tmp,
        {
            "EDAMON_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "EDAMON_TOPICS__INCLUDE": json.dumps([pattern]),
            "EDAMON_TOPICS__REFRESH_S": "0.5",
            "EDAMON_TOPICS__START_FROM": "earliest",
            "EDAMON_LAG__INTERVAL_S": "1",
            "EDAMON_LAG__GROUPS_INCLUDE": json.dumps([prefix + ".*"]),
            "EDAMON_DLQ__LEDGER_TOPIC": f"{prefix}.ledger",
        },
    )


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    viewer: str
    operator: str
    token_file: Path | None
    output: list[str] = field(default_factory=list)

    def client(self, token: str | None = "operator", **kwargs: object) -> httpx.Client:
        """An httpx client of the service with the given role's token (None: no token)."""
        value = {"operator": self.operator, "viewer": self.viewer}.get(token or "", token)
        headers = {"Authorization": f"Bearer {value}"} if value else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15, **kwargs)  # type: ignore[arg-type]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, str, str]:
        """Send `sig`, wait for the exit; returns (status, rest of stdout, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler: where it hangs
            out, err = self.process.communicate()
            raise AssertionError(
                f"edamon serve did not stop within {timeout}s:\n{err.decode()[-4000:]}"
            ) from None
        return self.process.returncode, out.decode(), err.decode()


def read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of the process's stdout within `timeout` ('' at EOF). Reads the pipe byte by
    byte (no buffer that select can't see)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no output from edamon serve within {timeout}s: {line!r}")
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.decode()


def start_service(
    bootstrap: str,
    prefix: str,
    tmp: Path,
    *args: str,
    env_tokens: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> Service:
    environ = service_env(bootstrap, prefix, tmp)
    token_file: Path | None = tmp / "tokens.toml"
    viewer = operator = ""
    if env_tokens:
        viewer, operator = f"viewer-{prefix}-token", f"operator-{prefix}-token"
        environ["EDAMON_SERVICE__VIEWER_TOKEN"] = viewer
        environ["EDAMON_SERVICE__OPERATOR_TOKEN"] = operator
        token_file = None
    environ.update(env or {})
    command = [sys.executable, "-m", "edamon", "serve", "--listen", "127.0.0.1:0"]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    process = subprocess.Popen(
        [*command, *args],
        cwd=tmp,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output: list[str] = []
    deadline = time.monotonic() + timeout
    url = ""
    while not url:
        line = read_line(process, max(0.1, deadline - time.monotonic()))
        if not line:
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"edamon serve exited: {err.decode()}")
        output.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].split()[0]
    output.append(read_line(process, 10))  # where the tokens are
    if token_file is not None:
        tokens = tomllib.loads(token_file.read_text())
        viewer, operator = tokens["viewer"], tokens["operator"]
    return Service(process, url, viewer, operator, token_file, output)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `check` until it returns a truthy value (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def http_receiver() -> Iterator[HTTPServer]:
    """A real HTTP server on loopback (alert receivers, webhooks) for the block: register its
    expected requests on it; stopped (if still running) and cleared at the end."""
    http = HTTPServer(host="127.0.0.1", threaded=True)
    http.start()
    try:
        yield http
    finally:
        http.clear()
        if http.is_running():
            http.stop()
