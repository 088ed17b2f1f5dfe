#!/usr/bin/env python3
"""A real Prometheus server for tests and trials (Debian's `prometheus` package; stdlib only).

    python scripts/prometheus.py run [--target HOST:PORT --token-file F]   # until Ctrl-C
    python scripts/prometheus.py check       # promtool check config/alerts.rules.yml + scrape

In Python (the tests' session fixture):

    with Prometheus() as prom:                     # loopback, a free port, temp storage
        prom.scrape("127.0.0.1:8765", token)       # the edamon serve to scrape (file_sd)
        prom.query("edamon_consumergroup_lag_seconds")

- Listens on 127.0.0.1 only; storage in a new temporary directory, removed on stop.
- Scrapes every second one job, `edamon`, whose target and bearer token are files that
  `scrape()` (re)writes: file service discovery notices the change without a restart. It loads
  config/alerts.rules.yml, so a rule file Prometheus refuses fails the start.
- No orphan: the server gets PR_SET_PDEATHSIG=SIGKILL (Linux) and is stopped at exit.
- Installed by `.ci/run` (`apt-get install prometheus`) when missing.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness_common import HOST, die_with_parent, free_ports

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "config" / "alerts.rules.yml"
SCRAPE_EXAMPLE = REPO / "config" / "prometheus.yml"
READY_TIMEOUT_S = 30.0

_running: list[Prometheus] = []


def binary(name: str = "prometheus") -> str:
    """The path of `prometheus` or `promtool`; raises RuntimeError naming the fix."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install Debian's package "
            "(apt-get install -y --no-install-recommends prometheus), as .ci/run does"
        )
    return found


class Prometheus:
    """One Prometheus server (see the module doc)."""

    def __init__(self, *, scrape_interval_s: float = 1.0, rules: Path | None = RULES) -> None:
        self.scrape_interval_s = scrape_interval_s
        self.rules = rules
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Prometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config(self) -> str:
        assert self.dir is not None
        interval = f"{self.scrape_interval_s:g}s"
        rules = f"rule_files:\n  - {json.dumps(str(self.rules))}\n" if self.rules else ""
        return (
            f"global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n"
            f"{rules}"
            "scrape_configs:\n"
            "  - job_name: edamon\n"
            f"    scrape_interval: {interval}\n"
            f"    scrape_timeout: {interval}\n"
            "    authorization:\n"
            "      type: Bearer\n"
            f"      credentials_file: {json.dumps(str(self.dir / 'token'))}\n"
            "    file_sd_configs:\n"
            f"      - files: [{json.dumps(str(self.dir / 'targets.json'))}]\n"
            "        refresh_interval: 1s\n"
        )

    def start(self) -> None:
        """Start and wait until ready; raises RuntimeError with the server's output."""
        exe = binary()
        self.dir = Path(tempfile.mkdtemp(prefix="edamon-prometheus-"))
        (self.dir / "token").write_text("none\n")
        (self.dir / "targets.json").write_text("[]\n")
        config = self.dir / "prometheus.yml"
        config.write_text(self._config())
        (self.port,) = free_ports(1)
        log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 - the child writes to it
        try:
            self.process = subprocess.Popen(
                [
                    exe,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address={HOST}:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(os.getpid()),
                cwd=self.dir,
            )
        finally:
            log.close()
        _running.append(self)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log_tail()
                self.stop()
                raise RuntimeError(f"prometheus exited ({self.process.returncode}):\n{output}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        output = self.log_tail()
        self.stop()
        raise RuntimeError(f"prometheus not ready within {READY_TIMEOUT_S:g}s:\n{output}")

    def log_tail(self, lines: int = 30) -> str:
        if self.dir is None or not (self.dir / "prometheus.log").exists():
            return ""
        text = (self.dir / "prometheus.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def scrape(self, target: str, token: str) -> None:
        """Scrape `target` (host:port of an edamon serve) with `token` from now on."""
        assert self.dir is not None
        token_file = self.dir / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        temp = self.dir / "targets.json.new"
        temp.write_text(json.dumps([{"targets": [target], "labels": {"env": "test"}}]))
        temp.replace(self.dir / "targets.json")  # atomic: never a half-written file

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> and return its `data` (raises RuntimeError on an error)."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus: {body}")
        return body["data"]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self in _running:
            _running.remove(self)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


@atexit.register
def _stop_all() -> None:
    for prom in list(_running):
        prom.stop()


def check() -> int:
    """promtool check of the shipped rule file and example scrape config."""
    promtool = binary("promtool")
    status = 0
    for args in (
        ["check", "rules", str(RULES)],
        ["check", "config", "--syntax-only", str(SCRAPE_EXAMPLE)],
    ):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        print(result.stdout + result.stderr, end="")
        status = status or result.returncode
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a Prometheus server until Ctrl-C")
    run.add_argument("--target", help="host:port of an edamon serve to scrape")
    run.add_argument("--token-file", type=Path, help="file holding its bearer token")
    sub.add_parser("check", help="promtool check of config/alerts.rules.yml and prometheus.yml")
    args = parser.parse_args()
    if args.command == "check":
        return check()
    with Prometheus() as prom:
        if args.target:
            token = args.token_file.read_text().strip() if args.token_file else "none"
            prom.scrape(args.target, token)
        print(f"prometheus: {prom.url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
