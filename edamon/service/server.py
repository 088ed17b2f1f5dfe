"""Running the service: the collector, the retry service and the HTTP server on one loop.

`serve()` binds its socket itself (a TCP address, or a Unix socket for the embedded child), so
a bind failure is one clear error before anything starts; uvicorn then serves the API on it.
SIGTERM and SIGINT (and `stop`, set by whoever embeds it) end it cleanly: the server stops
taking requests, running retry jobs and the collector are cancelled, the broker is closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Generator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from edamon.actions.service import RetryService
from edamon.alerts import alerting_for
from edamon.broker.base import Broker
from edamon.collector.collector import Collector
from edamon.config import Settings
from edamon.decode.registry import SchemaRegistry
from edamon.model.api import parse_listen
from edamon.service.app import create_app
from edamon.service.auth import Tokens
from edamon.service.backend import Backend

log = logging.getLogger(__name__)

BACKLOG = 128
Background = Callable[[Callable[[str], None]], Awaitable[None]]
"""A job run beside the collector (the demo's simulation), given where to tell a notice (the
collector's notices: the dashboard shows them)."""
GRACEFUL_S = 3.0
"""Open requests get this long to finish when the service stops."""


class ServeError(Exception):
    """The service can't start (bind, TLS files); the message says why."""


@dataclass(frozen=True)
class Bind:
    """Where to listen: `host`/`port` (TCP), or `uds` (a Unix socket path)."""

    host: str = "127.0.0.1"
    port: int = 8765
    uds: Path | None = None

    @classmethod
    def parse(cls, listen: str) -> Bind:
        """`host:port` -> Bind; raises ServeError."""
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            raise ServeError(f"--listen: {exc}") from None
        return cls(host, port)

    @property
    def loopback(self) -> bool:
        if self.uds is not None:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.split("%")[0]).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything


def check_exposure(bind: Bind, settings: Settings, *, insecure_bind: bool) -> None:
    """Refuse a non-loopback bind without TLS unless `insecure_bind`. Raises ServeError."""
    tls = settings.service.tls_certfile is not None
    if bind.loopback or tls or insecure_bind:
        return
    raise ServeError(
        f"{bind.host} is not a loopback address and no TLS is configured "
        "(service.tls_certfile / tls_keyfile): tokens would cross the network in clear. "
        "Configure TLS, or pass --insecure-bind if the network is trusted"
    )


def bind_socket(bind: Bind) -> socket.socket:
    """A listening socket for `bind`; raises ServeError."""
    if bind.uds is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with suppress(FileNotFoundError):
                bind.uds.unlink()
            sock.bind(str(bind.uds))
            os.chmod(bind.uds, 0o600)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise ServeError(f"cannot listen on {bind.uds}: {exc.strerror or exc}") from None
        return sock
    try:
        infos = socket.getaddrinfo(bind.host, bind.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ServeError(f"cannot resolve {bind.host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        where = f"{bind.host}:{bind.port}"
        raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket, bind: Bind, tls: bool) -> str:
    """What a client connects to: `http(s)://host:port` or `unix:/path`."""
    if bind.uds is not None:
        return f"unix:{bind.uds}"
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: `serve()` below owns SIGTERM/SIGINT
    (uvicorn re-raises a caught signal after shutting down, which would end the process with
    the signal's status instead of 0 after the collector closed)."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(
    settings: Settings,
    broker: Broker,
    tokens: Tokens,
    bind: Bind,
    *,
    background: Sequence[Background] = (),
    on_listening: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    registry: SchemaRegistry | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT or `stop` is set. `background`: coroutines run beside the
    collector (the demo's simulation), each given the collector's notices to tell the
    dashboard things. `on_listening(url)` once the socket listens.
    `registry`: the schema registry to decode with (default: the configured one).
    Raises ServeError before starting anything when the socket or TLS can't be had."""
    service = settings.service
    tls = service.tls_certfile is not None
    if tls:
        _check_tls(service.tls_certfile, service.tls_keyfile)
    sock = bind_socket(bind)
    shard_peers = None
    member = None
    if settings.shard.group is None:
        collector = Collector(broker, settings, registry=registry)
    else:  # one member of a shard group (edamon/shard)
        from edamon.shard.member import ShardCollector
        from edamon.shard.peers import ShardPeers

        own_url = settings.shard.advertise_url or url_of(sock, bind, tls)
        collector = member = ShardCollector(broker, settings, url=own_url, registry=registry)
        shard_peers = ShardPeers(member, settings, tokens.viewer or tokens.operator)
    retries = RetryService(broker, settings)
    backend = Backend(collector, retries, broker, settings)
    backend.shard = shard_peers
    if member is None:
        backend.alerting = alerting_for(collector, settings)
    else:  # one evaluation for the group: the lag sampler's, over the merged view
        sampler = member
        backend.alerting = alerting_for(
            collector, settings, backend.snapshot, lambda: sampler.samples_lag
        )
    config = uvicorn.Config(
        create_app(backend, tokens, max_body_bytes=service.max_body_bytes),
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(GRACEFUL_S),
        ssl_certfile=str(service.tls_certfile) if tls else None,
        ssl_keyfile=str(service.tls_keyfile) if tls else None,
    )
    server = _Server(config)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks = [asyncio.create_task(collector.run(), name="edamon-collector")]
    tasks.append(asyncio.create_task(_guard(backend.alerting.run()), name="edamon-alerts"))
    tasks += [
        asyncio.create_task(_guard(make(collector.state.notice)), name="edamon-background")
        for make in background
    ]
    if shard_peers is not None:
        tasks.append(asyncio.create_task(_guard(shard_peers.run()), name="edamon-shard-peers"))
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="edamon-http")
    stopping = asyncio.create_task(stop.wait())
    if on_listening is not None:  # it listens already: connections wait for uvicorn
        on_listening(url_of(sock, bind, tls))
    try:
        await asyncio.wait({serving, stopping, tasks[0]}, return_when=asyncio.FIRST_COMPLETED)
        collector_failure = None
        if tasks[0].done() and not tasks[0].cancelled():
            collector_failure = tasks[0].exception()
            log.error("the collector stopped", exc_info=collector_failure)
    finally:
        server.should_exit = True
        with suppress(asyncio.CancelledError):
            await serving
        stopping.cancel()
        await backend.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        sock.close()
        if bind.uds is not None:
            with suppress(OSError):
                bind.uds.unlink()
    if collector_failure is not None:
        kind = type(collector_failure).__name__
        raise ServeError(f"the collector stopped on an internal error ({kind}; see the log)")


async def _guard(work: Awaitable[None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("a background task of the service failed")


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    assert certfile is not None and keyfile is not None
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"TLS: cannot load {certfile} / {keyfile}: {exc}") from None
