#!/usr/bin/env python3
"""A real schema registry for tests and local runs: Apicurio Registry from Maven Central.

Apicurio serves the Confluent-compatible API under ``/apis/ccompat/v7`` (what edamon's registry
client speaks; Confluent's own registry is not on Maven Central and PyPI has no Karapace).
Stdlib only: importable as a module (the pytest fixture loads it by path) and usable as a CLI::

    python scripts/registry.py provision   # unpack the registry with mvn, print its directory
    python scripts/registry.py up [--port 8081]   # start detached, write run.json, print the URL
    python scripts/registry.py status      # exit 0 if the `up` registry answers, 1 otherwise
    python scripts/registry.py down

Version: Apicurio Registry 3.3.3 (the Quarkus fast-jar, Maven classifier ``tar.gz:all``) on
Java 21 or newer: ``EDAMON_REGISTRY_JAVA``, else ``$JAVA_HOME/bin/java``, else the Temurin 25
JDK under /usr/lib/jvm, else ``java`` on the PATH. With only Java 17 it falls back to 2.6.13.Final
(same API). ``EDAMON_REGISTRY_VERSION`` pins a version. Unpacked once into
``$EDAMON_REGISTRY_CACHE/<version>`` (default ``~/.cache/edamon/registry``).

Registry: storage in memory (empty at each start), HTTP and the management interface both on
127.0.0.1 (Quarkus opens 0.0.0.0:9000 for management unless told otherwise), a small heap.
Ready in 4-8 s, ~255 MB RSS. JVM output goes to ``<log dir>/registry.log``.

No orphan JVMs: an in-process registry's JVM gets PR_SET_PDEATHSIG=SIGKILL (Linux), so it dies
with the thread that started it, even on ``kill -9``; ``stop()`` also runs at exit. A registry
from ``up`` outlives the CLI on purpose: tracked by ``run.json``, stopped by ``down``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness_common import (
    HOST,
    cache_dir,
    die_with_parent,
    file_lock,
    free_ports,
    log_tail,
    read_state,
    run_command,
)

VERSION = "3.3.3"
"""Needs Java 21+."""
FALLBACK_VERSION = "2.6.13.Final"
"""Runs on Java 17."""
API = "/apis/ccompat/v7"
MARKER = ".edamon-provisioned"
LOG_DIR_PREFIX = "edamon-registry-"
TEMURIN = Path("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
JVM_OPTS = (
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


class RegistryHarnessError(RuntimeError):
    """Provisioning or start-up failed; the message carries the reason and the log's tail."""


# --------------------------------------------------------------------------------------------
# Java and provisioning


def _java_major(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_and_version() -> tuple[str, str]:
    """(java executable, Apicurio version) to run."""
    home = os.environ.get("JAVA_HOME")
    candidates = [
        os.environ.get("EDAMON_REGISTRY_JAVA"),
        str(Path(home) / "bin" / "java") if home else None,
        str(TEMURIN) if TEMURIN.is_file() else None,
        shutil.which("java"),
    ]
    found = [(c, _java_major(c)) for c in dict.fromkeys(c for c in candidates if c)]
    found = [(c, major) for c, major in found if major]
    if not found:
        raise RegistryHarnessError(
            "Java is not installed: apt-get install -y openjdk-17-jre-headless "
            "(or set EDAMON_REGISTRY_JAVA to a Java 21+ executable)"
        )
    pinned = os.environ.get("EDAMON_REGISTRY_VERSION")
    modern = [c for c, major in found if major >= 21]
    if pinned:
        needs_21 = not pinned.startswith("2.")
        usable = modern if needs_21 else [c for c, major in found if major >= 17]
        if not usable:
            raise RegistryHarnessError(f"Apicurio {pinned} needs Java {21 if needs_21 else 17}+")
        return usable[0], pinned
    if modern:
        return modern[0], VERSION
    java17 = [c for c, major in found if major >= 17]
    if not java17:
        raise RegistryHarnessError("Apicurio Registry needs Java 17 or newer")
    return java17[0], FALLBACK_VERSION


def cache_root() -> Path:
    """Where registry.py caches what it downloads (harness_common.cache_dir)."""
    return cache_dir("registry")


def state_file() -> Path:
    return cache_root() / "run.json"


def _runnable_jar(directory: Path) -> Path | None:
    for pattern in ("quarkus-run.jar", "*-runner.jar", "*/quarkus-run.jar", "*/*-runner.jar"):
        found = next(directory.glob(pattern), None)
        if found is not None:
            return found
    return None


def provision(version: str | None = None, *, quiet: bool = True) -> Path:
    """The runnable jar of Apicurio `version` (default: the one Java allows), unpacking the
    Maven Central artifact if needed."""
    version = version or java_and_version()[1]
    vdir = cache_root() / version
    marker = vdir / MARKER
    if marker.is_file():
        jar = _runnable_jar(vdir)
        if jar is not None:
            return jar
    with file_lock(cache_root() / f".{version}.lock"):
        jar = _runnable_jar(vdir)
        if marker.is_file() and jar is not None:
            return jar
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RegistryHarnessError("Maven (mvn) is not installed: apt-get install -y maven")
        tmp = cache_root() / f"{version}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            f"{DEPENDENCY_PLUGIN}:unpack",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{version}:tar.gz:all",
            f"-DoutputDirectory={tmp}",
            # without a pom, the plugin's markers go to ./${project.basedir}: keep them here
            f"-DmarkersDirectory={cache_root() / 'markers'}",
        ]
        cwd = cache_root()
        cwd.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
        if proc.returncode != 0:  # once more with -U: Maven caches failed downloads for a day
            proc = subprocess.run(
                [*cmd, "-U"], capture_output=True, text=True, check=False, cwd=cwd
            )
        if proc.returncode != 0 or _runnable_jar(tmp) is None:
            shutil.rmtree(tmp, ignore_errors=True)
            out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip().splitlines()
            raise RegistryHarnessError(
                f"mvn failed to unpack Apicurio Registry {version} (exit {proc.returncode}):\n"
                + "\n".join(out[-40:])
            )
        shutil.rmtree(vdir, ignore_errors=True)
        tmp.rename(vdir)
        marker.write_text(version + "\n")
        jar = _runnable_jar(vdir)
        assert jar is not None
        return jar


# --------------------------------------------------------------------------------------------
# Processes


def answers(url: str, timeout: float = 2.0) -> bool:
    """True if the registry at `url` (the ccompat API base) lists its subjects."""
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _is_our_registry(pid: int, log_dir: Path) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # not Linux: trust the pid
    return str(log_dir).encode() in cmd


_RUNNING: set[SchemaRegistry] = set()


@atexit.register
def _stop_all() -> None:
    for registry in list(_RUNNING):
        registry.stop()


class SchemaRegistry:
    """Apicurio Registry on 127.0.0.1 with in-memory storage.

    >>> registry = SchemaRegistry()
    >>> registry.start()     # starts the JVM, waits until the ccompat API answers
    >>> registry.url         # 'http://127.0.0.1:41235/apis/ccompat/v7'
    >>> registry.stop()      # SIGTERM, SIGKILL fallback, removes the log dir
    """

    def __init__(self, *, port: int | None = None, detached: bool = False) -> None:
        self._fixed_port = port
        self.detached = detached
        self.port = 0
        self.management_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.log_dir: Path | None = None
        self.version = ""
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{API}"

    def __enter__(self) -> SchemaRegistry:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_dir / "registry.log", lines) if self.log_dir else ""

    def start(self, timeout: float = 90.0) -> None:
        """Start the registry and wait until it answers, or raise RegistryHarnessError."""
        if self.proc is not None:
            raise RegistryHarnessError("registry already started")
        java, self.version = java_and_version()
        jar = provision(self.version)
        self.port, self.management_port = free_ports(2)
        if self._fixed_port:
            self.port = self._fixed_port
        self.log_dir = Path(tempfile.mkdtemp(prefix=LOG_DIR_PREFIX))
        cmd = [
            java,
            *JVM_OPTS,
            f"-Djava.io.tmpdir={self.log_dir}",
            f"-Dquarkus.http.host={HOST}",
            f"-Dquarkus.http.port={self.port}",
            f"-Dquarkus.management.host={HOST}",
            f"-Dquarkus.management.port={self.management_port}",
            "-Dquarkus.log.level=WARN",
            "-jar",
            str(jar),
        ]
        t0 = time.monotonic()
        try:
            with (self.log_dir / "registry.log").open("ab") as log:
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=jar.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=None if self.detached else die_with_parent(os.getpid()),
                )
            self.pid = self.proc.pid
            if not self.detached:
                _RUNNING.add(self)
            deadline = t0 + timeout
            while not answers(self.url):
                code = self.proc.poll()
                if code is not None:
                    raise RegistryHarnessError(
                        f"Apicurio Registry exited with code {code} during start-up\n"
                        f"{self.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RegistryHarnessError(
                        f"Apicurio Registry not answering on {self.url} after "
                        f"{time.monotonic() - t0:.0f} s\n{self.log_tail()}"
                    )
                time.sleep(0.1)
        except BaseException:
            self.stop(timeout=5)
            raise
        self.startup_seconds = time.monotonic() - t0

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL) and remove the log dir. Idempotent."""
        _RUNNING.discard(self)
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.log_dir is not None and not self.detached:
            shutil.rmtree(self.log_dir, ignore_errors=True)
            self.log_dir = None

    def state(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "version": self.version,
            "url": self.url,
            "port": self.port,
            "management_port": self.management_port,
            "log_dir": str(self.log_dir),
            "started_at": time.time(),
        }


# --------------------------------------------------------------------------------------------
# CLI


def _read_state() -> dict[str, Any] | None:
    return read_state(state_file())


def _cmd_provision(_: argparse.Namespace) -> int:
    t0 = time.monotonic()
    java, version = java_and_version()
    jar = provision(version)
    print(jar)
    print(
        f"# Apicurio Registry {version} ready in {time.monotonic() - t0:.1f} s (runs on {java})",
        file=sys.stderr,
    )
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    with file_lock(cache_root() / ".run.lock"):
        state = _read_state()
        if state and _is_our_registry(int(state["pid"]), Path(state["log_dir"])):
            print(f"registry already running (pid {state['pid']}): {state['url']}")
            print(f"export EDAMON_TEST_SCHEMA_REGISTRY={state['url']}")
            return 0
        registry = SchemaRegistry(port=args.port, detached=True)
        registry.start(timeout=args.timeout)
        state = registry.state()
        state_file().write_text(json.dumps(state, indent=2) + "\n")
    print(
        f"Apicurio Registry {registry.version} up at {registry.url} (pid {registry.pid}) in "
        f"{registry.startup_seconds:.1f} s; log {registry.log_dir}/registry.log"
    )
    print(f"export EDAMON_TEST_SCHEMA_REGISTRY={registry.url}")
    return 0


def _cmd_status(_: argparse.Namespace) -> int:
    state = _read_state()
    if not state or not _is_our_registry(int(state["pid"]), Path(state["log_dir"])):
        print("registry: not running")
        return 1
    ready = answers(state["url"])
    print(
        f"Apicurio Registry {state['version']}: {'running' if ready else 'NOT ANSWERING'} "
        f"pid {state['pid']} {state['url']}"
    )
    return 0 if ready else 1


def _cmd_down(args: argparse.Namespace) -> int:
    with file_lock(cache_root() / ".run.lock"):
        state = _read_state()
        if not state:
            print("registry: not running (no state file)")
            return 0
        pid, log_dir = int(state["pid"]), Path(state["log_dir"])
        if _is_our_registry(pid, log_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + args.timeout
            while _is_our_registry(pid, log_dir) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _is_our_registry(pid, log_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(log_dir, ignore_errors=True)
        state_file().unlink(missing_ok=True)
    print(f"registry stopped (pid {state['pid']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="unpack Apicurio Registry (mvn), print its jar")
    up = sub.add_parser("up", help="start a detached registry, record it in run.json")
    up.add_argument("--port", type=int, default=None, help="HTTP port (default: free)")
    up.add_argument("--timeout", type=float, default=90.0)
    sub.add_parser("status", help="is the `up` registry running? (exit 0 if so)")
    down = sub.add_parser("down", help="stop the `up` registry")
    down.add_argument("--timeout", type=float, default=20.0)
    handlers = {
        "provision": _cmd_provision,
        "up": _cmd_up,
        "status": _cmd_status,
        "down": _cmd_down,
    }
    return run_command(parser, handlers, RegistryHarnessError, argv)


if __name__ == "__main__":
    sys.exit(main())
