"""`edamon web` in a real headless Chromium: the dashboard attached to a real `edamon serve` on
the real broker, driven by keys; the login with the service's tokens; a viewer cannot retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from browser_helpers import ENTER, Browser, wait

from builders import envelope, spring_dlt_headers
from kafka_helpers import KafkaTestClients, unique_name
from service_helpers import Service, clean_env, read_line, start_service, wait_for

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Web:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> str:
        """Stop it (SIGTERM) and return its stderr."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err.decode(errors="replace")


@dataclass(frozen=True)
class Seeded:
    prefix: str
    orders: str
    dlq: str
    correlation_id: str


async def _seed(bootstrap: str) -> Seeded:
    prefix = unique_name("web")
    clients = KafkaTestClients(bootstrap)
    try:
        orders = await clients.make_topic(f"{prefix}.orders")
        dlq = await clients.make_topic(f"{prefix}.orders.DLT")
        cid = f"flow-{prefix}"
        placed = json.dumps(envelope("e-root", "OrderPlaced", cid)).encode()
        paid = json.dumps(envelope("e-paid", "PaymentCaptured", cid, "e-root")).encode()
        await clients.produce(orders, [(b"o1", placed), (b"o1", paid)])
        headers = spring_dlt_headers(orders, 0, 0, group=f"{prefix}.billing")
        await clients.produce(dlq, [(b"o1", placed, headers)])
        await clients.commit_offsets(f"{prefix}.billing", {(orders, 0): 1})
    finally:
        await clients.close()
    return Seeded(prefix, orders, dlq, cid)


@pytest.fixture(scope="module")
def seeded(kafka_bootstrap: str) -> Seeded:
    import asyncio

    return asyncio.run(_seed(kafka_bootstrap))


@pytest.fixture(scope="module")
def service(
    kafka_bootstrap: str, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("web-service")
    running = start_service(kafka_bootstrap, seeded.prefix, tmp, env_tokens=True)
    try:
        with running.client("viewer") as http:
            wait_for(
                lambda: http.get("/v1/dead-letters").json()["total"] == 1,
                "the service to hold the dead letter",
                60,
            )
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def web(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    tmp = tmp_path_factory.mktemp("web")
    env = clean_env(tmp)
    usage = subprocess.run(
        [sys.executable, "-m", "edamon", "--help"], capture_output=True, text=True, env=env
    )
    if "--attach" not in usage.stdout:
        pytest.fail(
            "`edamon --attach URL` (the dashboard as a client of the service, branch "
            "h7-uiclient) is what each browser session runs: it is not in this checkout",
            pytrace=False,
        )
    # tokens in the web server's environment must not reach the browser sessions
    env["EDAMON_SERVICE__OPERATOR_TOKEN"] = service.operator
    process = subprocess.Popen(
        [sys.executable, "-m", "edamon", "web", "--attach", service.url, "--listen", "127.0.0.1:0"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = read_line(process, 30)
    assert "listening on http://127.0.0.1:" in line, line
    running = Web(process, line.split("listening on ", 1)[1].split()[0])
    dashboards: set[psutil.Process] = set()
    try:
        yield running
        dashboards.update(psutil.Process(process.pid).children(recursive=True))
    finally:
        stderr = running.stop()
    assert service.operator not in stderr and service.viewer not in stderr
    assert running.process.returncode == 0, stderr
    wait_for(lambda: not any(p.is_running() for p in dashboards), "no dashboard left", 15)


@pytest.fixture
def browser() -> Iterator[Browser]:
    try:
        chromium = Browser()
    except RuntimeError as exc:
        pytest.fail(f"could not start headless Chromium: {exc}", pytrace=False)
    try:
        yield chromium
    finally:
        chromium.close()


def login(browser: Browser, web: Web, token: str) -> None:
    browser.open(web.url)
    browser.type("#token", token)
    browser.click("#login")


def test_a_viewer_sees_the_overview_reaches_a_chain_by_keys_and_cannot_retry(
    browser: Browser, web: Web, service: Service, seeded: Seeded
) -> None:
    login(browser, web, service.viewer)
    overview = browser.wait_text(["Consumer lag", "Failed handlers", seeded.orders])
    assert f"{seeded.prefix}.billing" in overview and "IllegalStateException" in overview
    shot = os.environ.get("EDAMON_WEB_SCREENSHOT")
    if shot:  # scripts: the README's screenshot
        browser.screenshot(Path(shot))

    browser.forget_screen()
    browser.keys("2")  # the chains
    browser.wait_text(seeded.correlation_id)
    browser.keys(ENTER)  # the one flow
    chain = browser.wait_text(["Causation", "Waterfall", "PaymentCaptured"])
    assert "dead-lettered" in chain

    browser.forget_screen()
    browser.keys("3")  # the dead letters
    browser.wait_text(["Dead letter", "payment gateway timeout"])
    browser.keys("r")
    refused = browser.wait_text("Retry disabled")
    # the toast wraps its text ("…needs an operator" / "token. Nothing was sent."): read as
    # one line of words, the toast's left edge left out
    words = " ".join(refused.replace("\u258c", " ").split())
    assert "operator token" in words and "Nothing was sent" in words
    with service.client("viewer") as http:
        assert http.get("/v1/retries/r1").status_code == 404  # no retry job was started
        (row,) = http.get("/v1/dead-letters").json()["items"]
        assert row["retry"] is None
        body = {"coords": [row["coords"]]}
        assert http.post("/v1/retries", json=body).status_code == 403  # the service's own word


def test_an_operator_may_retry_and_a_wrong_token_gets_the_login_again(
    browser: Browser, web: Web, service: Service
) -> None:
    login(browser, web, "not-a-token-of-this-service")
    # The form posts and the login page comes back: wait for it (read at once, the page could
    # still be the one the token was typed into).
    wait(
        lambda: "That token is not valid for this service." in browser.page_source(),
        "the login page again, saying the token is not valid",
        timeout=15,
    )
    login(browser, web, service.operator)
    browser.wait_text("Consumer lag")
    browser.keys("3")
    browser.wait_text("payment gateway timeout")
    browser.keys("r")  # an operator's dashboard offers the retry (a confirmation first)
    offered = browser.wait_text("Retry")
    assert "Retry disabled" not in offered


def test_the_websocket_needs_a_session_and_the_same_origin(web: Web, service: Service) -> None:
    ws = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    with httpx.Client(base_url=web.url, timeout=10) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and 'name="token"' in page.text  # the login page
        assert "textual" not in page.text.lower()
        assert anonymous.get("/ws", headers={**ws, "Origin": web.url}).status_code == 401
    with httpx.Client(base_url=web.url, timeout=10) as http:
        answer = http.post("/login", data={"token": service.viewer})
        assert answer.status_code == 303 and "HttpOnly" in answer.headers["set-cookie"]
        assert service.viewer not in answer.text and service.viewer not in str(answer.headers)
        assert "xterm" in http.get("/").text  # the dashboard's page now
        evil = http.get("/ws", headers={**ws, "Origin": "http://evil.example"})
        assert evil.status_code == 403


def test_a_public_bind_is_refused_without_insecure_bind(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edamon", "web", "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "not a loopback address" in result.stderr
