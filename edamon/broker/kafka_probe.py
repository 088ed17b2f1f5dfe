"""Why a Kafka cluster does not answer: a new connection to each bootstrap server, one request
(ApiVersions v0, which every broker answers before authentication), and what came back.

aiokafka tells only that a request timed out (or "Unable to bootstrap"); an operator needs to
know whether the broker refuses connections (down), takes them and says nothing (hung, frozen,
a proxy with nothing behind it), or answers a new connection while edamon's request waits (slow).
"""

from __future__ import annotations

import asyncio
import ssl
import struct

from aiokafka.conn import collect_hosts

from edamon.broker.base import BrokerError, ServerProbe
from edamon.broker.kafka_client import client_options, reason_of
from edamon.config import KafkaSettings

MAX_SERVERS = 5
"""Bootstrap servers probed at once (the first ones of the list)."""
_API_VERSIONS = 18
NOTHING_RECEIVED = "connection open, nothing received"


def api_versions_request(client_id: str) -> bytes:
    """An ApiVersions v0 request, size-prefixed (header v1: key, version, correlation id,
    client id; no body)."""
    cid = client_id.encode()
    body = struct.pack(">hhih", _API_VERSIONS, 0, 1, len(cid)) + cid
    return struct.pack(">i", len(body)) + body


async def probe_servers(settings: KafkaSettings, timeout_s: float) -> list[ServerProbe]:
    """Probe the first MAX_SERVERS bootstrap servers at once, each within `timeout_s`."""
    try:
        hosts = collect_hosts(settings.bootstrap_servers, randomize=False)[:MAX_SERVERS]
        context = client_options(settings).get("ssl_context")
    except (ValueError, BrokerError):  # a bad list or TLS files: said elsewhere
        return []
    probes = [probe_server(h, p, context, settings.client_id, timeout_s) for h, p, _ in hosts]
    return list(await asyncio.gather(*probes))


async def probe_server(
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    client_id: str,
    timeout_s: float,
) -> ServerProbe:
    """What a new connection to host:port sees within `timeout_s` (TLS when `context`)."""
    server = f"{host}:{port}"
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ServerProbe(server, False, True, f"no connection within {timeout_s:g}s")
    except OSError as exc:
        return ServerProbe(server, False, False, reason_of(exc))
    except UnicodeError:  # a host name IDNA refuses (a label over 63 characters...)
        return ServerProbe(server, False, False, "not a valid host name")
    try:
        async with asyncio.timeout_at(deadline):
            if context is not None:
                await writer.start_tls(context, server_hostname=host)
            writer.write(api_versions_request(client_id))
            await writer.drain()
            data = await reader.read(4)
    except TimeoutError:
        return ServerProbe(server, False, True, NOTHING_RECEIVED)
    except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError; said for clarity
        return ServerProbe(server, False, False, f"connection open, then {reason_of(exc)}")
    except (struct.error, UnicodeError):  # a client id the request can't carry
        return ServerProbe(server, False, False, "connection open; kafka.client_id too long")
    finally:
        writer.close()
    if not data:
        return ServerProbe(server, False, False, "connection closed without an answer")
    return ServerProbe(server, True, False, "answers a new connection")
