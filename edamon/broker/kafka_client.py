"""aiokafka client plumbing: connection options (SSL, SASL) from the settings, and aiokafka's
errors mapped to edamon's BrokerError kinds with a one-line reason."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kerr
from aiokafka.helpers import create_ssl_context

from edamon.broker.base import BrokerAuthError, BrokerError, BrokerTlsError, BrokerUnavailable
from edamon.config import KafkaSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

_AUTH_ERRORS: tuple[type[BaseException], ...] = (
    kerr.SaslAuthenticationFailed,
    kerr.AuthenticationFailedError,
    kerr.AuthenticationMethodNotSupported,
    kerr.UnsupportedSaslMechanismError,
    kerr.IllegalSaslStateError,
)
_DENIED_ERRORS: tuple[type[BaseException], ...] = (
    kerr.TopicAuthorizationFailedError,
    kerr.GroupAuthorizationFailedError,
    kerr.ClusterAuthorizationFailedError,
)
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    kerr.KafkaConnectionError,
    kerr.NoBrokersAvailable,
    kerr.NodeNotReadyError,
    kerr.KafkaTimeoutError,
    kerr.RequestTimedOutError,
    kerr.KafkaUnavailableError,
    kerr.BrokerNotAvailableError,
    kerr.GroupCoordinatorNotAvailableError,
    OSError,
)


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client gets (security, timeouts, client id).

    The password is read from its SecretStr here, at the call site, and nowhere else.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        try:
            options["ssl_context"] = create_ssl_context(
                cafile=settings.ssl_cafile,
                certfile=settings.ssl_certfile,
                keyfile=settings.ssl_keyfile,
            )
        except (OSError, ssl.SSLError) as exc:
            raise BrokerError(f"cannot load the TLS files of kafka.ssl_*: {exc}") from None
    if settings.security_protocol.startswith("SASL_"):
        if settings.sasl_mechanism is None:
            raise BrokerError(
                f"kafka.sasl_mechanism is required with security_protocol "
                f"{settings.security_protocol}"
            )
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.username
        if settings.password is not None:
            options["sasl_plain_password"] = settings.password.get_secret_value()
    return options


def reason_of(exc: BaseException) -> str:
    """The failure in a few words (`connection refused`, `unknown host (...)`)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, kerr.IllegalSaslStateError):
        return "the listener does not expect SASL (check kafka.security_protocol)"
    if isinstance(exc, kerr.BrokerResponseError):
        detail = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
        return detail.strip() or exc.description
    text = str(exc).strip()
    prefix = f"{type(exc).__name__}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return text or type(exc).__name__


def _tls_reason(exc: ssl.SSLCertVerificationError, settings: KafkaSettings) -> str:
    """What a refused certificate means, in the operator's terms (OpenSSL's own words after)."""
    detail = str(exc.verify_message or exc.reason or exc).strip().rstrip(".")
    code = exc.verify_code
    if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
        return f"the broker's certificate has expired ({detail})"
    if code == 9:  # X509_V_ERR_CERT_NOT_YET_VALID
        return f"the broker's certificate is not valid yet ({detail})"
    if code == 62 or "hostname mismatch" in detail.lower():  # X509_V_ERR_HOSTNAME_MISMATCH
        return f"the broker's certificate is for another host name ({detail})"
    if code in (2, 18, 19, 20, 21):  # unknown issuer, self-signed, untrusted chain
        trusted = settings.ssl_cafile or "the system's CAs"
        return f"the broker's certificate is not signed by a CA in {trusted} ({detail})"
    return f"the broker's certificate was refused ({detail})"


def map_error(
    exc: BaseException, settings: KafkaSettings, what: str, timeout_s: float | None = None
) -> BrokerError:
    """Turn an aiokafka/asyncio/OS exception into the BrokerError to show the operator."""
    if isinstance(exc, BrokerError):
        return exc
    servers = settings.bootstrap_servers
    if isinstance(exc, ssl.SSLCertVerificationError):
        return BrokerTlsError(f"TLS failed at {servers}: {_tls_reason(exc, settings)}")
    tls = settings.security_protocol in ("SSL", "SASL_SSL")
    if tls and (
        isinstance(exc, ssl.SSLError)
        or (what == "connect" and isinstance(exc, ConnectionResetError))
    ):  # a plaintext listener resets a TLS hello
        return BrokerUnavailable(
            f"TLS handshake failed at {servers}: {reason_of(exc)} (is this a TLS listener? "
            f"check kafka.security_protocol {settings.security_protocol})"
        )
    if isinstance(exc, TimeoutError) and timeout_s is not None:
        return BrokerUnavailable(
            f"cannot reach kafka at {servers}: {what} got no answer within {timeout_s:g}s"
        )
    if isinstance(exc, _AUTH_ERRORS):
        user = f" as {settings.username!r}" if settings.username else ""
        mechanism = settings.sasl_mechanism
        return BrokerAuthError(
            f"authentication failed at {servers} ({mechanism}{user}): {reason_of(exc)}"
        )
    if isinstance(exc, _DENIED_ERRORS):
        return BrokerAuthError(f"not authorised: {what} at {servers}: {reason_of(exc)}")
    if isinstance(exc, _UNAVAILABLE_ERRORS):  # TimeoutError is an OSError
        return BrokerUnavailable(f"cannot reach kafka at {servers}: {reason_of(exc)}")
    return BrokerError(f"{what} failed: {type(exc).__name__}: {reason_of(exc)}")


async def guarded(
    call: Awaitable[T], settings: KafkaSettings, what: str, timeout_s: float | None = None
) -> T:
    """Await `call` within the request timeout, mapping every failure to a BrokerError.

    `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 wait_for returns the answer
    instead of raising when a cancellation arrives in the same turn of the loop as the answer
    (CPython gh-86296), and the cancelled task runs on (`collect --duration` hung on it)."""
    limit = settings.request_timeout_s if timeout_s is None else timeout_s
    try:
        async with asyncio.timeout(limit):
            return await call
    except kerr.ConsumerStoppedError:
        raise BrokerError(f"{what} failed: the client was closed") from None
    except (kerr.KafkaError, OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise map_error(exc, settings, what, limit) from None


def cancelling() -> bool:
    """Whether the current task is being cancelled: a CancelledError that comes while it is
    not came from a future cancelled inside a library, and is that library's failure."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def abandon_producer(producer: AIOKafkaProducer) -> None:
    """Stop an idempotent producer at once, failing the sends it still holds.

    aiokafka's idempotent producer never expires a pending send: it retries until the broker
    takes it, and `stop()` waits for that. A send edamon gave up on (timed out in an outage)
    would then still be delivered once the broker is back: a DLQ retry reported failed, its
    ledger entry missing, yet the copy sent, and sent again by the next retry. Cancelling the
    sender first stops every delivery; the pending sends then fail and `stop()` only closes
    the connections. (A request already on the wire may still have been written: that much
    stays unknown, as with any client.)
    """
    # No public aiokafka API drops pending sends: its sender and accumulator are used here
    # (aiokafka is pinned to 0.14.x; tests/kafka/test_outages.py checks the behaviour).
    try:
        try:
            await producer._sender.close()
        except asyncio.CancelledError:
            if cancelling():
                raise
            # The sender task ended cancelled rather than returning (cancelled again while
            # it waited for its requests in flight): it is stopped all the same.
        accumulator = producer._message_accumulator
        batches = {batch for queue in accumulator._batches.values() for batch in queue}
        batches |= accumulator._pending_batches
        # A batch retried after a failed request is queued again, yet its done-callback still
        # removes it from the pending set (a KeyError in fail_all): put it back there first.
        accumulator._pending_batches |= batches
        accumulator.fail_all(kerr.KafkaTimeoutError("the send was abandoned"))
        for batch in batches:  # nobody waits for these: no "exception never retrieved" logs
            if batch._drain_waiter.done() and not batch._drain_waiter.cancelled():
                batch._drain_waiter.exception()
    except (AttributeError, KeyError, TypeError) as exc:  # aiokafka's internals changed
        log.warning("could not drop a producer's pending sends (%s): stopping it as is", exc)
    with contextlib.suppress(kerr.KafkaError, OSError):
        await producer.stop()
