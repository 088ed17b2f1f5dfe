"""`edamon web`: the dashboard in a browser, each browser session a dashboard attached to one
shared `edamon serve` (not a collector per tab).

textual-serve's AppService runs, per browser session (a websocket), the command line
`edamon --attach <service URL> --token-file <file>` under Textual's web driver and pipes it to
xterm.js in the page (textual-serve's own page and scripts). This module is the web server
around it (aiohttp, which textual-serve brings):

- Loopback by default; any other address needs `--insecure-bind` (no TLS here: put a TLS
  reverse proxy in front).
- The same tokens as the API: the login page checks the token against the service (`GET
  /v1/health` says its role), then a random session cookie (HttpOnly, SameSite=Strict) stands
  for it. The token itself never goes back to the page.
- Each dashboard gets the token of its browser session only, in a file of its own (0600, in a
  private 0700 directory, removed when the session ends), never in its environment: the web
  server's own EDAMON_SERVICE__*_TOKEN variables are dropped before any session starts. So a
  viewer's dashboard is a viewer to the service, which refuses it retries (403), and the
  dashboard shows retries as unavailable.
- The websocket checks the session cookie and that its Origin is this server (no cross-site
  websocket); at most `web.max_sessions` dashboards run at once.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from edamon.cli import EXIT_FAILED, EXIT_USAGE, config_options, fail, settings_from

log = logging.getLogger(__name__)

COOKIE = "edamon_session"
SESSION_TTL_S = 12 * 3600.0
LOGIN_TIMEOUT_S = 10.0
MAX_LOGINS = 1000
"""Browser sessions remembered (logged in) at most; the oldest is forgotten first."""


@dataclass(frozen=True)
class WebSession:
    token: str
    role: str
    created: float


LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edamon</title>
<style>
body {{ background: #0c181f; color: #d8dee9; font-family: monospace; display: flex;
  align-items: center; justify-content: center; height: 100vh; margin: 0; }}
form {{ display: flex; flex-direction: column; gap: 0.8em; min-width: 26em; }}
input, button {{ font: inherit; padding: 0.5em; }}
.error {{ color: #bf616a; }}
</style></head>
<body><form method="post" action="/login">
<h2>edamon</h2>
<label for="token">Access token (viewer or operator) of edamon serve</label>
<input id="token" name="token" type="password" autocomplete="off" autofocus>
<button id="login" type="submit">Open the dashboard</button>
<div class="error">{error}</div>
</form></body></html>
"""


class WebServer:
    """The aiohttp application (see the module doc)."""

    def __init__(
        self,
        service_url: str,
        *,
        max_sessions: int,
        config_path: Path | None = None,
        title: str = "edamon",
        font_size: int = 16,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self.max_sessions = max_sessions
        self.config_path = config_path
        self.title = title
        self.font_size = font_size
        self.sessions: dict[str, WebSession] = {}
        self.running = 0
        self.dir = Path(tempfile.mkdtemp(prefix="edamon-web-"))  # 0700
        from textual_serve.download_manager import DownloadManager

        self.downloads = DownloadManager()
        self._static, self._page = _textual_serve_assets()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def app(self) -> Any:
        from aiohttp import web

        app = web.Application()
        app.add_routes(
            [
                web.get("/", self.index),
                web.post("/login", self.login),
                web.post("/logout", self.logout),
                web.get("/ws", self.websocket),
                web.static("/static", self._static),
            ]
        )
        return app

    # ---- sessions ----------------------------------------------------------------------

    def _session(self, request: Any) -> WebSession | None:
        sid = request.cookies.get(COOKIE)
        found = self.sessions.get(sid) if sid else None
        if found is not None and time.time() - found.created > SESSION_TTL_S:
            self.sessions.pop(sid, None)
            return None
        return found

    async def _role_of(self, token: str) -> str | None:
        """The token's role as the service says it (None: refused). Raises ClientError when
        the service does not answer."""
        from edamon.client import EdamonClient, Unauthorized

        async with EdamonClient(self.service_url, token, timeout=LOGIN_TIMEOUT_S) as client:
            try:
                health = await client.health()
            except Unauthorized:
                return None
        return health.role if health.role in ("viewer", "operator") else None

    async def _open(self, request: Any, token: str) -> Any:
        from aiohttp import web

        from edamon.client import ClientError

        token = token.strip()
        if not token:
            return self._login_page("Give a token.", 401)
        try:
            role = await self._role_of(token)
        except ClientError as exc:
            log.warning("edamon web: the service at %s did not answer: %s", self.service_url, exc)
            return self._login_page(f"The service at {self.service_url} does not answer.", 502)
        if role is None:
            return self._login_page("That token is not valid for this service.", 401)
        sid = secrets.token_urlsafe(32)
        now = time.time()
        for old in [k for k, v in self.sessions.items() if now - v.created > SESSION_TTL_S]:
            del self.sessions[old]
        while len(self.sessions) >= MAX_LOGINS:  # the oldest login goes first
            del self.sessions[next(iter(self.sessions))]
        self.sessions[sid] = WebSession(token, role, now)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        return response

    def _login_page(self, error: str, status: int = 200) -> Any:
        from aiohttp import web

        return web.Response(
            text=LOGIN_PAGE.format(error=html.escape(error)),
            status=status,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    # ---- routes ------------------------------------------------------------------------

    async def index(self, request: Any) -> Any:
        from aiohttp import web

        if self._session(request) is None:
            return self._login_page("")
        base = f"{request.scheme}://{request.host}"
        ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws"
        font_size = request.query.get("fontsize", "")
        page = self._page.render(
            font_size=int(font_size) if font_size.isdigit() else self.font_size,
            app_websocket_url=ws,
            config={"static": {"url": f"{base}/static/"}},
            application={"name": self.title},
            ping_url="",
        )
        return web.Response(
            text=page, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def login(self, request: Any) -> Any:
        form = await request.post()
        return await self._open(request, str(form.get("token", "")))

    async def logout(self, request: Any) -> Any:
        from aiohttp import web

        sid = request.cookies.get(COOKIE)
        if sid:
            self.sessions.pop(sid, None)
        response = web.HTTPSeeOther("/")
        response.del_cookie(COOKIE, path="/")
        return response

    async def websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web
        from textual_serve.app_service import AppService

        session = self._session(request)
        if session is None:
            return web.Response(status=401, text="log in first")
        origin = request.headers.get("Origin")
        if origin is None or urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text="cross-origin websocket refused")
        if self.running >= self.max_sessions:
            return web.Response(status=503, text=f"{self.max_sessions} dashboards already open")
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        self.running += 1
        token_file = self._token_file(session)
        service: AppService | None = None

        async def close() -> None:
            await websocket.close()

        try:
            service = AppService(
                self.command(token_file),
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=close,
                download_manager=self.downloads,
            )
            await service.start(width, height)
            async for message in websocket:
                if message.type != WSMsgType.TEXT:
                    continue
                envelope = message.json()
                if not isinstance(envelope, list) or not envelope:
                    continue
                kind = envelope[0]
                data = envelope[1] if len(envelope) > 1 else None
                if kind == "stdin" and isinstance(data, str):
                    await service.send_bytes(data.encode("utf-8"))
                elif kind == "resize" and isinstance(data, dict):
                    await service.set_terminal_size(
                        _int(data.get("width"), width), _int(data.get("height"), height)
                    )
                elif kind == "ping":
                    await websocket.send_json(["pong", data])
                elif kind == "blur":
                    await service.blur()
                elif kind == "focus":
                    await service.focus()
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("edamon web: a dashboard session failed")
        finally:
            if service is not None:
                await service.stop()
            with suppress(OSError):
                token_file.unlink()
            self.running -= 1
        return websocket

    # ---- the dashboards ------------------------------------------------------------------

    def _token_file(self, session: WebSession) -> Path:
        path = self.dir / f"token-{secrets.token_hex(8)}.toml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f'{session.role} = "{session.token}"\n')
        return path

    def command(self, token_file: Path) -> str:
        """The shell command line of one browser session's dashboard."""
        args = [sys.executable, "-m", "edamon"]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        args += ["--attach", self.service_url, "--token-file", str(token_file)]
        return shlex.join(args)


def _int(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, min(value, 1000))
    if isinstance(value, str) and value.isdigit():
        return max(1, min(int(value), 1000))
    return default


def _textual_serve_assets() -> tuple[Path, Any]:
    """textual-serve's static files and its page template (without the web font it would
    fetch from the internet: the page stays local)."""
    import jinja2
    import textual_serve

    base = Path(textual_serve.__file__).resolve().parent
    text = (base / "templates" / "app_index.html").read_text(encoding="utf-8")
    text = re.sub(r"<link\s+rel=\"stylesheet\"\s+href=\"https://fonts[^>]*>", "", text)
    page = jinja2.Environment(autoescape=True).from_string(text)
    return base / "static", page


def drop_env_tokens() -> None:
    """The web server's own tokens must not reach a session's dashboard (textual-serve passes
    its environment on): each session uses the token its browser logged in with."""
    for name in list(os.environ):
        if name.upper() in ("EDAMON_SERVICE__VIEWER_TOKEN", "EDAMON_SERVICE__OPERATOR_TOKEN"):
            del os.environ[name]


@click.command(name="web")
@config_options
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default: web.listen).")
@click.option(
    "--attach",
    "service_url",
    metavar="URL",
    help="The edamon serve to attach the dashboards to (default: web.service_url).",
)
@click.option(
    "--insecure-bind",
    is_flag=True,
    help="Allow a non-loopback --listen (no TLS: put a TLS reverse proxy in front).",
)
def command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    listen: str | None,
    service_url: str | None,
    insecure_bind: bool,
) -> None:
    """Serve the dashboard to browsers: each browser session is a dashboard attached to one
    shared `edamon serve` (`--attach`), with the viewer or operator token it logs in with."""
    from edamon.model.api import parse_listen
    from edamon.service.server import Bind

    extra: dict[str, Any] = {}
    if listen is not None:
        extra["web"] = {"listen": listen}
    if service_url is not None:
        extra.setdefault("web", {})["service_url"] = service_url
    settings = settings_from(config_path, bootstrap, read_only, extra)
    web_settings = settings.web
    host, port = parse_listen(web_settings.listen)
    if not Bind(host, port).loopback and not insecure_bind:
        fail(
            f"{host} is not a loopback address: `edamon web` has no TLS, so tokens and the "
            "dashboard would cross the network in clear. Put a TLS reverse proxy in front and "
            "pass --insecure-bind",
            EXIT_USAGE,
        )
    target = web_settings.service_url or f"http://{settings.service.listen}"
    drop_env_tokens()
    server = WebServer(
        target, max_sessions=web_settings.max_sessions, config_path=config_path or None
    )
    sys.exit(_run(server, host, port))


def _run(server: WebServer, host: str, port: int) -> int:
    from aiohttp import web

    from edamon.service.server import Bind, ServeError, bind_socket

    try:
        sock = bind_socket(Bind(host, port))
    except ServeError as exc:
        server.close()
        fail(str(exc), EXIT_FAILED)
        raise  # unreachable

    async def main() -> None:
        runner = web.AppRunner(server.app(), handle_signals=False, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        click.echo(
            f"edamon web: listening on http://{shown}:{bound_port} "
            f"(dashboards attach to {server.service_url})"
        )
        click.echo("edamon web: log in with a viewer or operator token of that service")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        sock.close()
        server.close()
    click.echo("edamon web: stopped", err=True)
    return 0
