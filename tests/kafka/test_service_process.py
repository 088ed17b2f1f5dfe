"""The service as a process: it stops cleanly on SIGTERM/SIGINT, it outlives clients that vanish
mid-request, and the embedded child never outlives its parent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from kafka_helpers import UniqueName
from service_helpers import REPO, clean_env, start_service, wait_for

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path, sig: int
) -> None:
    log = tmp_path / "serve.log"
    service = start_service(
        kafka_bootstrap, unique_name("stop"), tmp_path, env={"EDAMON_LOG_FILE": str(log)}
    )
    with service.client() as http:
        wait_for(lambda: http.get("/v1/ready").status_code == 200, "the service to be ready")
    code, _, err = service.stop(sig, timeout=15)
    assert code == 0, err
    assert "edamon serve: stopped" in err
    assert "Traceback" not in err
    logged = log.read_text()
    assert "Traceback" not in logged
    assert logged  # the log is written (uvicorn's start and stop at least)
    assert service.viewer not in logged and service.operator not in logged


def test_it_outlives_clients_that_vanish(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    service = start_service(kafka_bootstrap, unique_name("vanish"), tmp_path)
    try:
        address = urlsplit(service.url)
        host, port = address.hostname, address.port
        assert host is not None and port is not None
        auth = f"Authorization: Bearer {service.viewer}\r\n"
        # half a request, then gone
        with socket.create_connection((host, port)) as raw:
            raw.sendall(b"GET /v1/overview HTTP/1.1\r\nHost: x\r\n" + auth.encode())
        # a whole request for a large answer, closed (RST) before reading it
        for _ in range(5):
            raw = socket.create_connection((host, port))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            raw.sendall(
                b"GET /v1/collect?max_trees=1000 HTTP/1.1\r\nHost: x\r\n" + auth.encode() + b"\r\n"
            )
            raw.close()
        # a body announced and never sent
        with socket.create_connection((host, port)) as raw:
            raw.sendall(
                b"POST /v1/retries/preview HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                + auth.encode()
                + b'Content-Type: application/json\r\n\r\n{"co'
            )
        with service.client("viewer") as http:
            assert http.get("/v1/health").status_code == 200
            assert http.get("/v1/overview").status_code == 200
        assert service.process.poll() is None
    finally:
        code, _, err = service.stop()
    assert code == 0, err


PARENT = textwrap.dedent(
    """
    import sys
    from edamon.config import load_settings
    from edamon.cli.embedded import spawn_embedded

    settings = load_settings(use_default_path=False)
    child = spawn_embedded(settings, demo="memory")
    assert child.wait_ready(30), "the embedded child did not start"
    print(child.process.pid, child.socket_path, flush=True)
    sys.stdin.read()  # until the test kills us
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (its parent, init, reaps it)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_embedded_child_dies_with_its_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().decode().split()
        assert line, "the parent printed nothing"
        child_pid, socket_path = int(line[0]), line[1]
        # the child answers its parent's token only; without one: 401
        transport = httpx.HTTPTransport(uds=socket_path)
        with httpx.Client(transport=transport, base_url="http://edamon") as http:
            assert http.get("/v1/health").status_code == 401
        assert _alive(child_pid)
        parent.kill()  # SIGKILL: no clean-up code runs in the parent
        parent.wait()
        wait_for(lambda: not _alive(child_pid), "the embedded child to exit", 15)
        assert not Path(socket_path).exists()
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        for pipe in (parent.stdin, parent.stdout):
            if pipe is not None:
                pipe.close()


def test_a_public_bind_without_tls_is_refused(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "edamon", "serve", "--listen", "0.0.0.0:0"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--insecure-bind" in run.stderr.decode()
    assert not (tmp_path / "xdg" / "edamon" / "service-tokens.toml").exists()
    assert str(REPO)  # the helper's checkout is the one the subprocess imports


async def test_it_answers_many_clients_while_it_ingests(tmp_path: Path) -> None:
    """Requests run on the collector's loop, between ingest slices: under the demo's load and
    many concurrent requests, no answer is an error (a route in a thread pool raced the
    collector's state: 'deque mutated during iteration')."""
    import asyncio

    from edamon.cli.embedded import spawn_embedded
    from edamon.client import EdamonClient
    from edamon.config import load_settings

    settings = load_settings(use_default_path=False, overrides={"demo": {"rate": 40}})
    child = spawn_embedded(settings, demo="memory", log_file=tmp_path / "child.log")
    try:
        assert child.wait_ready(30), (tmp_path / "child.log").read_text()
        async with EdamonClient(child.url, child.token) as client:
            await asyncio.wait_for(_until_flows(client), 30)

            async def poll(n: int) -> int:
                done = 0
                for i in range(n):
                    if i % 3 == 0:
                        await client.overview(rows=50)
                    elif i % 3 == 1:
                        await client.chains(limit=100, order="-last_update")
                    else:
                        await client.timeline(limit=100, filter="order")
                    done += 1
                return done

            answered = await asyncio.gather(*(poll(30) for _ in range(6)))
        assert answered == [30] * 6
    finally:
        assert child.stop() == 0
    assert not child.socket_path.parent.exists()


async def _until_flows(client: object) -> None:
    import asyncio

    from edamon.client import EdamonClient, Unreachable

    assert isinstance(client, EdamonClient)
    while True:
        try:
            if (await client.overview(rows=0)).counts.chains >= 20:
                return
        except Unreachable:
            pass
        await asyncio.sleep(0.1)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "service.pem", directory / "service.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_serves_https_and_allows_a_public_bind(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    tls = {"EDAMON_SERVICE__TLS_CERTFILE": str(cert), "EDAMON_SERVICE__TLS_KEYFILE": str(key)}
    service = start_service(kafka_bootstrap, unique_name("tls"), tmp_path, env=tls)
    try:
        assert service.url.startswith("https://127.0.0.1:")
        import ssl

        trusted = ssl.create_default_context(cafile=str(cert))
        with service.client("viewer", verify=trusted) as http:
            assert http.get("/v1/health").status_code == 200
        plain = service.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/v1/health", timeout=5)
    finally:
        code, _, err = service.stop()
    assert code == 0, err
    # with TLS, a non-loopback address needs no --insecure-bind
    public = start_service(
        kafka_bootstrap, unique_name("tls"), tmp_path, "--listen", "0.0.0.0:0", env=tls
    )
    assert public.stop()[0] == 0


def test_insecure_bind_allows_a_public_bind_in_clear(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    service = start_service(
        kafka_bootstrap, unique_name("open"), tmp_path, "--listen", "0.0.0.0:0", "--insecure-bind"
    )
    try:
        assert service.url.startswith("http://0.0.0.0:")
        port = urlsplit(service.url).port
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/v1/health").status_code == 401
    finally:
        code, _, err = service.stop()
    assert code == 0, err


def test_without_a_cluster_it_runs_and_says_why_it_is_not_ready(
    unique_name: UniqueName, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    service = start_service(f"127.0.0.1:{free}", unique_name("down"), tmp_path)
    try:
        with service.client("viewer") as http:
            assert http.get("/v1/health").status_code == 200
            answer = wait_for(
                lambda: (r := http.get("/v1/ready")).json()["connection"]["message"] and r,
                "a reason from the collector",
            )
            assert answer.status_code == 503
            assert answer.json()["ready"] is False
            assert answer.json()["reason"].startswith("not connected to the cluster")
            assert http.get("/v1/overview").status_code == 200
    finally:
        code, _, err = service.stop()
    assert code == 0, err
