#!/usr/bin/env python3
"""A real single-node Apache Kafka broker (KRaft) for tests and local runs, from Maven Central.

Stdlib only: importable as a module (the pytest fixtures load it by path) and usable as a CLI::

    python scripts/kafka.py provision   # resolve the broker jars with mvn, print the libs dir
    python scripts/kafka.py up [--port 9092] [--sasl-port N]   # start detached, write run.json
    python scripts/kafka.py status      # exit 0 if the `up` broker answers, 1 otherwise
    python scripts/kafka.py down

``up`` records its broker in ``.kafka-run/run.json`` of this checkout (``run_dir()``):
``status`` and ``down`` act on that broker only, so two checkouts (or a checkout and a test
run) never stop or reuse each other's broker.

Version: Kafka 4.1.1 (``scripts/kafka-pom.xml``; ``EDAMON_KAFKA_VERSION`` overrides it). aiokafka
0.14.0 was verified against it (produce/consume with headers, manual assign, group commit,
admin list/describe groups and list_consumer_group_offsets, end_offsets, offsets_for_times,
SASL/SCRAM-SHA-256/512, idempotent producer): no fallback to 3.9.x was needed. aiokafka quirks
(not Kafka 4 related) are pinned in tests/kafka/test_smoke.py, e.g. describe_consumer_groups
mis-decodes responses with more than one group (aiokafka maps DescribeGroups v3 to the v2 schema).

Jars: ``mvn dependency:copy-dependencies`` into ``$EDAMON_KAFKA_CACHE/<version>/libs`` (default
``~/.cache/edamon/kafka``), reused once a marker file records a successful resolution of the same
pom. ``KAFKA_HOME`` (an unpacked Kafka distribution) short-cuts Maven: ``$KAFKA_HOME/libs``.

Broker: a temp data dir (``edamon-kafka-*`` under $TMPDIR), combined broker+controller on
127.0.0.1, PLAINTEXT + CONTROLLER listeners and optionally SASL_PLAINTEXT (SCRAM-SHA-256 and
SCRAM-SHA-512, user ``edamon``/``edamon-secret`` created at format time). With ``tls=True``
(the test fixtures and ``up``) also SSL, SASL_SSL and an SSL listener with an expired
certificate; the CA and certificates are PEM files (Kafka reads them directly) that openssl makes
once into ``<cache>/tls`` (``tls_files()``, ~0.2 s). Logs at WARN go to
``<data dir>/server.log``, JVM stdout/stderr to ``<data dir>/jvm.log``.

No orphan JVMs: an in-process broker's JVM gets PR_SET_PDEATHSIG=SIGKILL (Linux), so it dies
with the Python process that started it, even on ``kill -9``; ``stop()`` also runs at exit.
Caveat: the kernel sends the signal when the *thread* that started the JVM exits, so call
``start()`` from a thread that lives as long as the broker should (the main thread for pytest).
A broker from ``up`` outlives the CLI on purpose: it is tracked by ``run.json`` and stopped by
``down``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
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

POM = Path(__file__).resolve().with_name("kafka-pom.xml")
SCRAM_USER = "edamon"
SCRAM_PASSWORD = "edamon-secret"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
DATA_DIR_PREFIX = "edamon-kafka-"
MARKER = ".edamon-provisioned"
JVM_OPTS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    "-Dlog4j2.disable.jmx=true",
)

LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{log}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


class KafkaHarnessError(RuntimeError):
    """Provisioning or broker start-up failed; the message carries the reason and log tail."""


# --------------------------------------------------------------------------------------------
# Provisioning


def _pom_version() -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise KafkaHarnessError(f"no <kafka.version> property in {POM}")
    return node.text.strip()


def kafka_version() -> str:
    """The Kafka version to run: ``EDAMON_KAFKA_VERSION`` or the pom's ``kafka.version``."""
    return os.environ.get("EDAMON_KAFKA_VERSION") or _pom_version()


def cache_root() -> Path:
    """Where kafka.py caches what it downloads (harness_common.cache_dir)."""
    return cache_dir("kafka")


CHECKOUT = Path(__file__).resolve().parents[1]


def run_dir() -> Path:
    """Where ``up`` records the broker it started: ``$EDAMON_KAFKA_RUN_DIR``, else
    ``.kafka-run/`` at the root of this checkout (git-ignored). A broker belongs to the
    checkout that started it: ``down`` and ``status`` elsewhere don't see it, ``up`` elsewhere
    starts another one."""
    env = os.environ.get("EDAMON_KAFKA_RUN_DIR")
    return Path(env).expanduser() if env else CHECKOUT / ".kafka-run"


def state_file() -> Path:
    return run_dir() / "run.json"


def provision(*, quiet: bool = True) -> Path:
    """Return a directory holding the broker's jars, resolving them with Maven if needed."""
    home = os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home).expanduser() / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise KafkaHarnessError(f"KAFKA_HOME={home}: no kafka_2.13-*.jar in {libs}")
        return libs
    version = kafka_version()
    vdir = cache_root() / version
    libs = vdir / "libs"
    fingerprint = f"{version}\n{hashlib.sha256(POM.read_bytes()).hexdigest()}\n"
    marker = vdir / MARKER
    if marker.is_file() and marker.read_text() == fingerprint:
        return libs
    with file_lock(vdir / ".lock"):
        if marker.is_file() and marker.read_text() == fingerprint:
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaHarnessError(
                "Maven (mvn) is not installed: install it (apt-get install -y maven) "
                "or point KAFKA_HOME at an unpacked Kafka distribution"
            )
        tmp = vdir / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:  # once more with -U: Maven caches failed downloads for a day
            proc = subprocess.run([*cmd, "-U"], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            shutil.rmtree(tmp, ignore_errors=True)
            out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).strip().splitlines()
            raise KafkaHarnessError(
                f"mvn failed to resolve Kafka {version} (exit {proc.returncode}):\n"
                + "\n".join(out[-40:])
            )
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(fingerprint)
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaHarnessError(
            "Java is not installed: apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)"
        )
    return java


# --------------------------------------------------------------------------------------------
# TLS material (openssl), made once and kept in the cache


TLS_RECIPE = "1"
"""Bump to make every cache generate its certificates again (when what is made here changes)."""


class TlsFiles:
    """PEM files of a test CA and the broker's certificates, in ``directory``:

    - ``ca.pem``: the CA that signed the broker's certificates (clients trust it);
    - ``other-ca.pem``: a CA that signed nothing here (a client trusting only it must fail);
    - ``server-keystore.pem``: key + certificate for ``IP:127.0.0.1`` only, so a client that
      connects to ``localhost`` sees a hostname mismatch;
    - ``expired-keystore.pem``: the same, expired a day before it was made.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def other_ca(self) -> Path:
        return self.directory / "other-ca.pem"

    @property
    def server_keystore(self) -> Path:
        return self.directory / "server-keystore.pem"

    @property
    def expired_keystore(self) -> Path:
        return self.directory / "expired-keystore.pem"


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise KafkaHarnessError("openssl is not installed: apt-get install -y openssl")
    proc = subprocess.run(
        [openssl, *args], cwd=cwd, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        raise KafkaHarnessError(f"openssl {args[0]} failed: {proc.stderr.strip()[-400:]}")


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _make_tls(directory: Path) -> None:
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", *_EC_KEY, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
            "-days", "3650", "-subj", f"/CN=edamon test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
    (directory / "san.ext").write_text(f"subjectAltName=IP:{HOST}\nextendedKeyUsage=serverAuth\n")
    for name, days in (("server", "3650"), ("expired", "-1")):
        _openssl(
            "req", "-new", *_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN=edamon test broker ({name})",
            cwd=directory,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", days, "-extfile", "san.ext", "-out", f"{name}.pem",
            cwd=directory,
        )  # fmt: skip
        keystore = (directory / f"{name}.key").read_text() + (directory / f"{name}.pem").read_text()
        (directory / f"{name}-keystore.pem").write_text(keystore)


def tls_files() -> TlsFiles:
    """The TLS material in ``<cache>/tls``, made on first use (about 0.2 s) and then reused."""
    directory = cache_root() / "tls"
    files = TlsFiles(directory)
    marker = directory / MARKER
    if marker.is_file() and marker.read_text() == TLS_RECIPE:
        return files
    with file_lock(cache_root() / ".tls.lock"):
        if marker.is_file() and marker.read_text() == TLS_RECIPE:
            return files
        tmp = cache_root() / f"tls.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            _make_tls(tmp)
            (tmp / MARKER).write_text(TLS_RECIPE)
            shutil.rmtree(directory, ignore_errors=True)
            tmp.rename(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return files


# --------------------------------------------------------------------------------------------
# Kafka wire protocol, just enough to tell that the broker serves clients


class _NotReady(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def i16(self) -> int:
        return self._take(">h")

    def i32(self) -> int:
        return self._take(">i")

    def nstring(self) -> str | None:
        size = self.i16()
        if size < 0:
            return None
        value = self.data[self.pos : self.pos + size].decode()
        self.pos += size
        return value


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise _NotReady("connection closed")
        buf += chunk
    return bytes(buf)


def _request(sock: socket.socket, api_key: int, version: int, cid: int, body: bytes) -> _Reader:
    client_id = b"edamon-harness"
    msg = struct.pack(">hhih", api_key, version, cid, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    reader = _Reader(_recv_exact(sock, size))
    if reader.i32() != cid:
        raise _NotReady("correlation id mismatch")
    return reader


def _str(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def probe(port: int, *, host: str = HOST, timeout: float = 2.0, groups: bool = True) -> None:
    """Raise unless the broker answers ApiVersions, lists itself in Metadata and (``groups``)
    has a group coordinator (which makes it create ``__consumer_offsets``)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            api_versions = _request(sock, 18, 0, 1, b"")
            if (err := api_versions.i16()) != 0:
                raise _NotReady(f"ApiVersions error {err}")
            # Metadata v4 for no topics: we only want the broker list.
            meta = _request(sock, 3, 4, 2, struct.pack(">ib", 0, 0))
            meta.i32()  # throttle_time_ms
            if meta.i32() < 1:
                raise _NotReady("no brokers in metadata yet")
            if groups:
                # FindCoordinator v1 (group): COORDINATOR_NOT_AVAILABLE until offsets are ready.
                body = _str("edamon-harness-probe") + b"\x00"
                coord = _request(sock, 10, 1, 3, body)
                coord.i32()  # throttle_time_ms
                if (err := coord.i16()) != 0:
                    raise _NotReady(f"FindCoordinator error {err}")
    except (OSError, struct.error) as exc:
        raise _NotReady(str(exc)) from exc


def is_ready(port: int, *, host: str = HOST, timeout: float = 2.0) -> bool:
    try:
        probe(port, host=host, timeout=timeout)
    except _NotReady:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Processes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_broker(pid: int, data_dir: Path) -> bool:
    """True if ``pid`` is a live kafka.Kafka JVM started on ``data_dir``."""
    if not _pid_alive(pid):
        return False
    if not Path("/proc").is_dir():  # not Linux: trust the pid
        return True
    cmd = _cmdline(pid)
    return b"kafka.Kafka" in cmd and str(data_dir).encode() in cmd


def _terminate(pid: int, data_dir: Path, timeout: float) -> None:
    """SIGTERM the broker JVM ``pid`` (if it still is one), SIGKILL after ``timeout``."""
    if not _is_our_broker(pid, data_dir):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_our_broker(pid, data_dir):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _is_our_broker(pid, data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)


def cleanup_stale_data_dirs() -> None:
    """Remove data dirs of brokers that died without cleaning up (e.g. after ``kill -9``).

    A data dir whose owner (the process that started an in-process broker, ``owner.pid``) is
    alive is never stale: its broker may be down on purpose, between the two halves of a
    ``restart()``, and other processes start brokers meanwhile (parallel test runs)."""
    now = time.time()
    for path in Path(tempfile.gettempdir()).glob(DATA_DIR_PREFIX + "*"):
        try:
            if not path.is_dir():
                continue
            pid_file = path / "broker.pid"
            owner_file = path / "owner.pid"
            if owner_file.is_file() and _pid_alive(int(owner_file.read_text().strip())):
                stale = False
            elif pid_file.is_file():
                stale = not _is_our_broker(int(pid_file.read_text().strip()), path)
            else:  # being formatted right now, or died before the JVM started
                stale = now - path.stat().st_mtime > 600
        except (OSError, ValueError):
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)


_FATAL_MARKERS = ("Address already in use", "Fatal error during")


def _fatal_in_log(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    return next((marker for marker in _FATAL_MARKERS if marker in text), None)


def _cluster_id() -> str:
    """A random Kafka cluster id (base64url UUID) that argparse won't take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


_RUNNING: set[KafkaBroker] = set()


@atexit.register
def _stop_all() -> None:
    for broker in list(_RUNNING):
        broker.stop()


class KafkaBroker:
    """A single-node KRaft broker on 127.0.0.1 with a throw-away data dir.

    >>> broker = KafkaBroker()
    >>> broker.start()          # formats storage, starts the JVM, waits until it serves
    >>> broker.bootstrap        # '127.0.0.1:41234'
    >>> broker.stop()           # SIGTERM, SIGKILL fallback, removes the data dir

    ``port`` / ``sasl_port`` pin the listener ports (free ones otherwise); ``sasl=False`` drops
    the SASL_PLAINTEXT listener. ``tls=True`` adds three TLS listeners (``tls_files()``): SSL,
    SASL_SSL (with SASL) and, for tests of a bad certificate, SSL with an expired certificate
    (``expired_bootstrap``). ``detached=True`` lets the JVM outlive this process (CLI ``up``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        sasl: bool = True,
        sasl_port: int | None = None,
        libs: Path | None = None,
        detached: bool = False,
        tls: bool = False,
    ) -> None:
        self._fixed_port = port
        self._fixed_sasl_port = sasl_port
        self.sasl = sasl
        self.tls = tls
        self.tls_files: TlsFiles | None = None
        self.ssl_port = 0
        self.sasl_ssl_port = 0
        self.expired_port = 0
        self._libs = libs
        self.detached = detached
        self.port = 0
        self.sasl_port = 0
        self.controller_port = 0
        self.data_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self._config: Path | None = None
        self.format_seconds = 0.0
        self.startup_seconds = 0.0
        self.version = kafka_version()

    # -- public properties -------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        if not self.sasl:
            raise KafkaHarnessError("this broker was started without a SASL listener")
        return f"{HOST}:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        """The SSL listener (certificate for IP 127.0.0.1, signed by ``tls_files().ca``)."""
        if not self.tls:
            raise KafkaHarnessError("this broker was started without TLS listeners")
        return f"{HOST}:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """The SASL_SSL listener (SCRAM, same certificate as the SSL one)."""
        if not (self.tls and self.sasl):
            raise KafkaHarnessError("this broker was started without a SASL_SSL listener")
        return f"{HOST}:{self.sasl_ssl_port}"

    @property
    def expired_bootstrap(self) -> str:
        """An SSL listener whose certificate has expired."""
        if not self.tls:
            raise KafkaHarnessError("this broker was started without TLS listeners")
        return f"{HOST}:{self.expired_port}"

    @property
    def sasl_user(self) -> str:
        return SCRAM_USER

    @property
    def sasl_password(self) -> str:
        return SCRAM_PASSWORD

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.data_dir is None:
            return ""
        parts = []
        for name in ("jvm.log", "server.log"):
            tail = log_tail(self.data_dir / name, lines)
            if tail:
                parts.append(f"--- {name} ---\n{tail}")
        return "\n".join(parts)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the broker and wait until it serves clients, or raise KafkaHarnessError."""
        if self.proc is not None:
            raise KafkaHarnessError("broker already started")
        libs = self._libs or provision()
        jar = next(libs.glob("kafka_2.13-*.jar"), None)
        if jar is not None:  # the real version, e.g. with KAFKA_HOME
            self.version = jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
        java = _java()
        cleanup_stale_data_dirs()
        deadline = time.monotonic() + timeout
        attempts = 1 if self._fixed_port or self._fixed_sasl_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(java, libs, deadline)
                return
            except KafkaHarnessError:
                bind_race = self.data_dir is not None and (
                    _fatal_in_log(self.data_dir / "server.log") == "Address already in use"
                )
                self.stop(timeout=3)  # a half-started JVM may hang on SIGTERM
                if not bind_race or attempt == attempts:
                    raise
            except BaseException:  # e.g. Ctrl-C: a detached JVM has no other owner yet
                self.stop(timeout=3)
                raise

    def _choose_ports(self) -> None:
        ports = free_ports(6)
        self.controller_port = ports[0]
        self.port = self._fixed_port or ports[1]
        self.sasl_port = (self._fixed_sasl_port or ports[2]) if self.sasl else 0
        self.ssl_port = ports[3] if self.tls else 0
        self.sasl_ssl_port = ports[4] if self.tls and self.sasl else 0
        self.expired_port = ports[5] if self.tls else 0
        for name, port in (("port", self._fixed_port), ("sasl_port", self._fixed_sasl_port)):
            if port and not _port_free(port):
                raise KafkaHarnessError(f"{name} {port} on {HOST} is already in use")

    def _write_config(self, data_dir: Path) -> Path:
        listeners = [f"PLAINTEXT://{HOST}:{self.port}"]
        advertised = [f"PLAINTEXT://{HOST}:{self.port}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        extra: list[str] = []
        if self.sasl:
            listeners.append(f"SASL_PLAINTEXT://{HOST}:{self.sasl_port}")
            advertised.append(f"SASL_PLAINTEXT://{HOST}:{self.sasl_port}")
            protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
            extra.append("sasl.enabled.mechanisms=" + ",".join(SCRAM_MECHANISMS))
            for mech in SCRAM_MECHANISMS:
                extra.append(
                    f"listener.name.sasl_plaintext.{mech.lower()}.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
        if self.tls:
            files = self.tls_files = tls_files()
            tls_listeners = [("SSL", "SSL", self.ssl_port, files.server_keystore)]
            if self.sasl:
                tls_listeners.append(
                    ("SASL_SSL", "SASL_SSL", self.sasl_ssl_port, files.server_keystore)
                )
                for mech in SCRAM_MECHANISMS:
                    extra.append(
                        f"listener.name.sasl_ssl.{mech.lower()}.sasl.jaas.config="
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                    )
            tls_listeners.append(("EXPIRED", "SSL", self.expired_port, files.expired_keystore))
            for name, protocol, port, keystore in tls_listeners:
                listeners.append(f"{name}://{HOST}:{port}")
                advertised.append(f"{name}://{HOST}:{port}")
                protocols.append(f"{name}:{protocol}")
                prefix = f"listener.name.{name.lower()}.ssl"
                extra += [f"{prefix}.keystore.type=PEM", f"{prefix}.keystore.location={keystore}"]
        listeners.append(f"CONTROLLER://{HOST}:{self.controller_port}")
        props = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={HOST}:{self.controller_port}",
            "listeners=" + ",".join(listeners),
            "advertised.listeners=" + ",".join(advertised),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=" + ",".join(protocols),
            *extra,
            f"log.dirs={data_dir / 'log'}",
            "num.partitions=1",
            "default.replication.factor=1",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            "num.network.threads=2",
            "num.io.threads=4",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.threads=1",
        ]
        path = data_dir / "server.properties"
        path.write_text("\n".join(props) + "\n")
        (data_dir / "log4j2.xml").write_text(LOG4J2_XML.format(log=data_dir / "server.log"))
        return path

    def _jvm(self, java: str, libs: Path, data_dir: Path, main: str, *args: str) -> list[str]:
        return [
            java,
            *JVM_OPTS,
            f"-Dkafka.logs.dir={data_dir}",
            f"-Dlog4j2.configurationFile={data_dir / 'log4j2.xml'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _start_once(self, java: str, libs: Path, deadline: float) -> None:
        t0 = time.monotonic()
        self._choose_ports()
        data_dir = Path(tempfile.mkdtemp(prefix=DATA_DIR_PREFIX))
        self.data_dir = data_dir
        if not self.detached:  # `up`'s broker outlives the CLI: its JVM alone says it is used
            (data_dir / "owner.pid").write_text(f"{os.getpid()}\n")
        config = self._write_config(data_dir)
        cluster_id = _cluster_id()
        fmt = self._jvm(
            java, libs, data_dir, "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(config), "--standalone",
        )  # fmt: skip
        if self.sasl:
            for mech in SCRAM_MECHANISMS:
                fmt += ["--add-scram", f"{mech}=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"]
        with (data_dir / "jvm.log").open("ab") as log:
            res = subprocess.run(
                fmt, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
            )
        if res.returncode != 0:
            raise KafkaHarnessError(
                f"kafka-storage format failed (exit {res.returncode})\n{self.log_tail()}"
            )
        self.format_seconds = time.monotonic() - t0
        self._launch(java, libs, data_dir, config, t0, deadline)

    def _launch(
        self, java: str, libs: Path, data_dir: Path, config: Path, t0: float, deadline: float
    ) -> None:
        """Start the broker JVM on a formatted data dir and wait until it serves clients."""
        self._config = config
        cmd = self._jvm(java, libs, data_dir, "kafka.Kafka", str(config))
        with (data_dir / "jvm.log").open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=None if self.detached else die_with_parent(os.getpid()),
            )
        self.pid = self.proc.pid
        (data_dir / "broker.pid").write_text(f"{self.pid}\n")
        if not self.detached:
            _RUNNING.add(self)
        last = "not started"
        while True:
            code = self.proc.poll()
            if code is not None:
                raise KafkaHarnessError(
                    f"Kafka broker exited with code {code} during start-up\n{self.log_tail()}"
                )
            fatal = _fatal_in_log(data_dir / "server.log")
            if fatal:  # the JVM can take a while to exit after this: don't wait for it
                raise KafkaHarnessError(
                    f"Kafka broker failed to start ({fatal})\n{self.log_tail()}"
                )
            try:
                probe(self.port)
                for port in (self.sasl_port, self.ssl_port, self.sasl_ssl_port, self.expired_port):
                    if port:
                        socket.create_connection((HOST, port), timeout=2).close()
                break
            except (_NotReady, OSError) as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise KafkaHarnessError(
                    f"Kafka broker not ready on {self.bootstrap} after "
                    f"{time.monotonic() - t0:.1f} s (last probe: {last})\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - t0

    def restart(self, down_s: float = 0.0, timeout: float = 60.0) -> None:
        """Stop the broker JVM, keep its data and ports, wait `down_s`, start it again: a
        broker restart as clients see it (tests of reconnection and resumption)."""
        if self.proc is None or self.data_dir is None or self._config is None:
            raise KafkaHarnessError("broker not started")
        proc, self.proc = self.proc, None
        _RUNNING.discard(self)
        # While down, the data dir must not look like a dead broker's to another process's
        # cleanup_stale_data_dirs(): without a pid file it is "being formatted" (kept), and
        # the owner's pid says it is used. Before the SIGTERM: a stopping JVM's command line
        # reads empty once its main thread has ended, which looks dead.
        (self.data_dir / "broker.pid").unlink(missing_ok=True)
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        time.sleep(down_s)
        t0 = time.monotonic()
        self._launch(
            _java(), self._libs or provision(), self.data_dir, self._config, t0, t0 + timeout
        )

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL) and remove the data dir. Idempotent."""
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
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def state(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "version": self.version,
            "bootstrap": self.bootstrap,
            "port": self.port,
            "sasl_bootstrap": self.sasl_bootstrap if self.sasl else None,
            "sasl_port": self.sasl_port or None,
            "sasl_user": SCRAM_USER if self.sasl else None,
            "sasl_password": SCRAM_PASSWORD if self.sasl else None,
            "sasl_mechanisms": list(SCRAM_MECHANISMS) if self.sasl else [],
            "ssl_bootstrap": self.ssl_bootstrap if self.tls else None,
            "sasl_ssl_bootstrap": self.sasl_ssl_bootstrap if self.tls and self.sasl else None,
            "expired_bootstrap": self.expired_bootstrap if self.tls else None,
            "ssl_cafile": str(self.tls_files.ca) if self.tls_files else None,
            "ssl_other_cafile": str(self.tls_files.other_ca) if self.tls_files else None,
            "controller_port": self.controller_port,
            "data_dir": str(self.data_dir),
            "started_at": time.time(),
        }


# --------------------------------------------------------------------------------------------
# CLI


def _read_state() -> dict[str, Any] | None:
    return read_state(state_file())


def _state_alive(state: dict[str, Any]) -> bool:
    return _is_our_broker(int(state["pid"]), Path(state["data_dir"]))


def _print_env(state: dict[str, Any]) -> None:
    print(f"export EDAMON_TEST_BOOTSTRAP={state['bootstrap']}")
    if state.get("sasl_bootstrap"):
        print(f"export EDAMON_TEST_SASL_BOOTSTRAP={state['sasl_bootstrap']}")
        print(f"export EDAMON_TEST_SASL_USERNAME={state['sasl_user']}")
        print(f"export EDAMON_TEST_SASL_PASSWORD={state['sasl_password']}")
    if state.get("ssl_bootstrap"):
        print(f"export EDAMON_TEST_SSL_BOOTSTRAP={state['ssl_bootstrap']}")
        print(f"export EDAMON_TEST_SASL_SSL_BOOTSTRAP={state['sasl_ssl_bootstrap']}")
        print(f"export EDAMON_TEST_EXPIRED_BOOTSTRAP={state['expired_bootstrap']}")
        print(f"export EDAMON_TEST_SSL_CAFILE={state['ssl_cafile']}")
        print(f"export EDAMON_TEST_SSL_OTHER_CAFILE={state['ssl_other_cafile']}")


def _cmd_provision(_: argparse.Namespace) -> int:
    t0 = time.monotonic()
    libs = provision(quiet=True)
    print(libs)
    print(f"# Kafka {kafka_version()} jars ready in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    with file_lock(run_dir() / ".lock"):
        state = _read_state()
        if state and _state_alive(state):
            print(f"Kafka already running (pid {state['pid']}): {state['bootstrap']}")
            _print_env(state)
            return 0
        t0 = time.monotonic()
        libs = provision()
        provisioned = time.monotonic() - t0
        broker = KafkaBroker(
            port=args.port, sasl=not args.no_sasl, sasl_port=args.sasl_port, libs=libs,
            detached=True, tls=not args.no_tls,
        )  # fmt: skip
        broker.start(timeout=args.timeout)
        state = broker.state()
        state_file().write_text(json.dumps(state, indent=2) + "\n")
    print(
        f"Kafka {broker.version} up at {broker.bootstrap} (pid {broker.pid}) in "
        f"{broker.startup_seconds:.1f} s (storage format {broker.format_seconds:.1f} s; "
        f"jars {provisioned:.1f} s)"
    )
    if broker.sasl:
        print(
            f"SASL_PLAINTEXT {broker.sasl_bootstrap} SCRAM-SHA-256/512 "
            f"user={SCRAM_USER} password={SCRAM_PASSWORD}"
        )
    if broker.tls:
        sasl_ssl = f", SASL_SSL {broker.sasl_ssl_bootstrap}" if broker.sasl else ""
        print(
            f"SSL {broker.ssl_bootstrap}{sasl_ssl}, expired certificate "
            f"{broker.expired_bootstrap}; CA {state['ssl_cafile']}"
        )
    print(f"data dir {broker.data_dir}; state {state_file()}")
    _print_env(state)
    return 0


def _cmd_status(_: argparse.Namespace) -> int:
    state = _read_state()
    if not state:
        print("Kafka: not running (no state file)")
        return 1
    if not _state_alive(state):
        print(f"Kafka: not running (stale state file {state_file()}, pid {state['pid']} gone)")
        return 1
    ready = is_ready(int(state["port"]))
    print(
        f"Kafka {state['version']}: {'running' if ready else 'NOT ANSWERING'} "
        f"pid {state['pid']} bootstrap {state['bootstrap']} "
        f"sasl {state.get('sasl_bootstrap')} data dir {state['data_dir']}"
    )
    if ready:
        _print_env(state)
    return 0 if ready else 1


def _cmd_down(args: argparse.Namespace) -> int:
    with file_lock(run_dir() / ".lock"):
        state = _read_state()
        if not state:
            print("Kafka: not running (no state file)")
            return 0
        data_dir = Path(state["data_dir"])
        t0 = time.monotonic()
        _terminate(int(state["pid"]), data_dir, timeout=args.timeout)
        shutil.rmtree(data_dir, ignore_errors=True)
        state_file().unlink(missing_ok=True)
    print(f"Kafka stopped (pid {state['pid']}) in {time.monotonic() - t0:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("provision", help="resolve the broker jars (mvn), print their directory")
    up = sub.add_parser("up", help="start a detached broker, record it in run.json")
    up.add_argument("--port", type=int, default=None, help="PLAINTEXT port (default: free)")
    up.add_argument("--sasl-port", type=int, default=None, help="SASL port (default: free)")
    up.add_argument("--no-sasl", action="store_true", help="no SASL_PLAINTEXT listener")
    up.add_argument("--no-tls", action="store_true", help="no SSL/SASL_SSL listeners")
    up.add_argument("--timeout", type=float, default=60.0)
    sub.add_parser("status", help="is the `up` broker running? (exit 0 if so)")
    down = sub.add_parser("down", help="stop the `up` broker")
    down.add_argument("--timeout", type=float, default=20.0)
    handlers = {
        "provision": _cmd_provision,
        "up": _cmd_up,
        "status": _cmd_status,
        "down": _cmd_down,
    }
    return run_command(parser, handlers, KafkaHarnessError, argv)


if __name__ == "__main__":
    sys.exit(main())
