"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven over WebDriver
with httpx, for the `edamon web` tests.

The dashboard draws into xterm.js on a canvas, so its text is not in the page's DOM: a script
installed before the page loads keeps what the page's websocket receives (the terminal output
the browser itself got), which `screen_text()` returns with the escape sequences removed.
"""

from __future__ import annotations

import base64
import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

CAPTURE = """
(() => {
  const Native = window.WebSocket;
  window.__edamonOut = [];
  const decoder = new TextDecoder();
  function Capturing(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener('message', (event) => {
      const data = event.data;
      if (typeof data === 'string') window.__edamonOut.push(data);
      else if (data instanceof ArrayBuffer) window.__edamonOut.push(decoder.decode(data));
    });
    return ws;
  }
  Capturing.prototype = Native.prototype;
  for (const name of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Capturing[name] = Native[name];
  window.WebSocket = Capturing;
})();
"""
_ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
)
ENTER = "\ue007"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
    )
    if found is None:
        raise RuntimeError(
            f"{name} not found: install Debian's chromium and chromium-driver (as .ci/run does)"
        )
    return found


class Browser:
    """One chromedriver and one headless Chromium session."""

    def __init__(self, width: int = 1280, height: int = 860) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="edamon-chromium-"))
        port = _free_port()
        self.driver = subprocess.Popen(
            [binary("chromedriver"), f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.get("/status").json()["value"]["ready"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline or self.driver.poll() is not None:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.05)
        options = {
            "binary": binary("chromium"),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                f"--window-size={width},{height}",
                f"--user-data-dir={self.profile}",
                "--no-first-run",
            ],
        }
        answer = self.http.post(
            "/session",
            json={"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}},
        ).json()
        if "sessionId" not in answer.get("value", {}):
            self.close()
            raise RuntimeError(f"no browser session: {answer}")
        self.session = answer["value"]["sessionId"]
        self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"/session/{self.session}{path}"
        answer = self.http.request(method, url, json=body).json()
        value = answer.get("value")
        if isinstance(value, dict) and "error" in value:
            raise RuntimeError(f"webdriver {path}: {value['error']}: {value.get('message')}")
        return value

    def cdp(self, command: str, params: dict[str, Any]) -> Any:
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params})

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def find(self, css: str) -> str:
        value = self._call("POST", "/element", {"using": "css selector", "value": css})
        return str(next(iter(value.values())))

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def page_source(self) -> str:
        return str(self._call("GET", "/source"))

    def keys(self, text: str) -> None:
        """Type into the terminal (xterm's input textarea)."""
        self.type("textarea.xterm-helper-textarea", text)

    def screen_text(self) -> str:
        """What the page's websocket received so far, without escape sequences."""
        raw = self.script("return (window.__edamonOut || []).join('');")
        return _ANSI.sub("", str(raw or ""))

    def forget_screen(self) -> None:
        self.script("window.__edamonOut = [];")

    def wait_text(self, words: str | list[str], timeout: float = 30) -> str:
        wanted = [words] if isinstance(words, str) else words

        def seen() -> str | None:
            text = self.screen_text()
            return text if all(word in text for word in wanted) else None

        return str(wait(seen, f"{wanted} on the page", timeout))

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def close(self) -> None:
        if getattr(self, "session", None):
            with contextlib.suppress(httpx.HTTPError):
                self.http.delete(f"/session/{self.session}")
        self.http.close()
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def wait(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
