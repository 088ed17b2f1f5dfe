"""aiokafka plumbing shared by `KafkaBroker`: client options, error mapping, record conversion,
consumer-group description parsing and the tailing/group consumers.

Nothing here is public API beyond `edamon.broker.kafka`; it is split out to keep modules small.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import struct
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kerr
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.admin import DescribeGroupsRequest_v3, DescribeGroupsResponse_v3
from aiokafka.protocol.api import Request

from edamon.broker.base import (
    BrokerAuthError,
    BrokerError,
    BrokerUnavailable,
    GroupInfo,
    MemberInfo,
)
from edamon.config import KafkaSettings
from edamon.model.records import TP, Header, RawRecord

T = TypeVar("T")

TAILER_METADATA_MAX_AGE_MS = 5_000
"""Tailers refresh metadata often so leader moves and new partitions are seen quickly."""
TAILER_FETCH_MAX_BYTES = 16 * 1024 * 1024
TAILER_MAX_PARTITION_FETCH_BYTES = 1024 * 1024
GROUP_JOIN_TIMEOUT_S = 60.0
"""How long a group consumer may take to join its group (rebalance delays included)."""

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


def _reason(exc: BaseException) -> str:
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


def map_error(
    exc: BaseException, settings: KafkaSettings, what: str, timeout_s: float | None = None
) -> BrokerError:
    """Turn an aiokafka/asyncio/OS exception into the BrokerError to show the operator."""
    if isinstance(exc, BrokerError):
        return exc
    servers = settings.bootstrap_servers
    if isinstance(exc, TimeoutError) and timeout_s is not None:
        return BrokerUnavailable(
            f"cannot reach kafka at {servers}: {what} got no answer within {timeout_s:g}s"
        )
    if isinstance(exc, _AUTH_ERRORS):
        user = f" as {settings.username!r}" if settings.username else ""
        return BrokerAuthError(
            f"authentication failed at {servers} ({settings.sasl_mechanism}{user}): {_reason(exc)}"
        )
    if isinstance(exc, _DENIED_ERRORS):
        return BrokerAuthError(f"not authorised: {what} at {servers}: {_reason(exc)}")
    if isinstance(exc, _UNAVAILABLE_ERRORS):  # TimeoutError is an OSError
        return BrokerUnavailable(f"cannot reach kafka at {servers}: {_reason(exc)}")
    return BrokerError(f"{what} failed: {type(exc).__name__}: {_reason(exc)}")


async def guarded(
    call: Awaitable[T], settings: KafkaSettings, what: str, timeout_s: float | None = None
) -> T:
    """Await `call` within the request timeout, mapping every failure to a BrokerError."""
    limit = settings.request_timeout_s if timeout_s is None else timeout_s
    try:
        return await asyncio.wait_for(call, limit)
    except kerr.ConsumerStoppedError:
        raise BrokerError(f"{what} failed: the client was closed") from None
    except (kerr.KafkaError, OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise map_error(exc, settings, what, limit) from None


_RECORD_FIELDS = ("topic", "partition", "offset", "timestamp_ms", "key", "value", "headers")
_RECORD_SETTERS = (
    tuple(getattr(RawRecord, name).__set__ for name in _RECORD_FIELDS)
    if tuple(f.name for f in dataclasses.fields(RawRecord)) == _RECORD_FIELDS
    and "__slots__" in vars(RawRecord)
    else None
)
"""Slot setters of RawRecord: filling a new instance through them is about twice as fast as the
frozen dataclass __init__ (which goes through object.__setattr__ per field). None (use the
constructor) if RawRecord's fields ever change."""


def _clean_headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[Header, ...]:
    for _, value in headers:
        if value is None:
            return tuple((k, v if v is not None else b"") for k, v in headers)
    return tuple(headers)  # type: ignore[arg-type]  # no None values left


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer that failed or was cancelled while starting; errors from stopping a
    half-started client are not worth more than the failure being raised (which the caller
    re-raises, a cancellation included)."""
    with contextlib.suppress(kerr.KafkaError, OSError, asyncio.CancelledError):
        await consumer.stop()


def to_records(batches: Mapping[Any, Sequence[Any]]) -> list[RawRecord]:
    """Convert a `getmany()` result (batches of ConsumerRecord) into RawRecords, in order.

    The hot path of tailing: no per-record work beyond the object itself when headers hold
    no None values.
    """
    out: list[RawRecord] = []
    append = out.append
    if _RECORD_SETTERS is None:
        for messages in batches.values():
            for m in messages:
                headers = _clean_headers(m.headers) if m.headers else ()
                append(
                    RawRecord(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value, headers)
                )
        return out
    new = object.__new__
    cls = RawRecord
    s_topic, s_partition, s_offset, s_ts, s_key, s_value, s_headers = _RECORD_SETTERS
    for messages in batches.values():
        for m in messages:
            record = new(cls)
            s_topic(record, m.topic)
            s_partition(record, m.partition)
            s_offset(record, m.offset)
            s_ts(record, m.timestamp)
            s_key(record, m.key)
            s_value(record, m.value)
            headers = m.headers
            if headers:
                for _, header_value in headers:
                    if header_value is None:
                        headers = _clean_headers(headers)
                        break
            else:
                headers = ()
            s_headers(record, headers)
            append(record)
    return out


def decode_assignment(data: bytes | None) -> tuple[TP, ...]:
    """Partitions in a classic consumer-protocol member assignment; empty if undecodable."""
    if not data:
        return ()
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(data)
        return tuple(sorted(TP(tp.topic, tp.partition) for tp in decoded.partitions()))
    except (ValueError, struct.error, TypeError, IndexError):
        return ()


def parse_describe_groups(responses: Iterable[Any]) -> list[GroupInfo]:
    """GroupInfo for every group in raw DescribeGroups responses (best effort)."""
    groups: list[GroupInfo] = []
    for response in responses:
        for item in response.to_object().get("groups", []):
            error = kerr.for_code(item.get("error_code", 0))
            protocol_type = item.get("protocol_type") or ""
            state = item.get("state") or ""
            if error is not kerr.NoError:
                state = state or ("Dead" if error is kerr.GroupIdNotFound else "Unknown")
            members: list[MemberInfo] = []
            for member in item.get("members") or ():
                assignment = (
                    decode_assignment(member.get("member_assignment"))
                    if protocol_type in ("consumer", "")
                    else ()
                )
                members.append(
                    MemberInfo(
                        member_id=member.get("member_id") or "",
                        client_id=member.get("client_id") or "",
                        host=member.get("client_host") or "",
                        assignment=assignment,
                    )
                )
            groups.append(
                GroupInfo(
                    group=item.get("group") or "",
                    state=state or "Unknown",
                    protocol_type=protocol_type,
                    members=tuple(members),
                )
            )
    return groups


class _DescribeGroupsV3(DescribeGroupsRequest_v3):  # type: ignore[misc]
    # aiokafka 0.14 parses v3 answers with the v2 schema, which lacks the per-group
    # `authorized_operations`: every group after the first is misread and a group without
    # members breaks the connection ("Buffer underrun decoding string"). Same request, right
    # response schema.
    RESPONSE_TYPE = DescribeGroupsResponse_v3


class DescribeGroups(Request[_DescribeGroupsV3]):  # type: ignore[misc]
    """DescribeGroups v3 with the correct response schema (see `_DescribeGroupsV3`)."""

    API_KEY = 15

    def __init__(self, groups: Sequence[str]) -> None:
        self._groups = list(groups)

    def build(self, request_struct_class: type[Any]) -> Any:
        """The request struct for the negotiated version (only v3 is offered)."""
        return request_struct_class(self._groups, False)


def _tps(tps: Iterable[TP]) -> list[TopicPartition]:
    return [TopicPartition(tp.topic, tp.partition) for tp in tps]


class KafkaTailer:
    """A Tailer on its own AIOKafkaConsumer: no group, no commits, manual assign + seek.

    The consumer is created and started on the first `assign()` (the factory is synchronous).
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TP, int] = {}
        self._closed = False

    async def _ensure_started(self) -> AIOKafkaConsumer:
        if self._closed:
            raise BrokerError("the tailer is closed")
        if self._consumer is not None:
            return self._consumer
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=TAILER_METADATA_MAX_AGE_MS,
            fetch_max_bytes=TAILER_FETCH_MAX_BYTES,
            max_partition_fetch_bytes=TAILER_MAX_PARTITION_FETCH_BYTES,
            **client_options(self._settings),
        )
        try:
            await guarded(
                consumer.start(), self._settings, "connect", self._settings.connect_timeout_s
            )
        except BaseException:  # cancelled while connecting too: no consumer left running
            await _stop_quietly(consumer)
            raise
        self._consumer = consumer
        return consumer

    async def assign(self, positions: Mapping[TP, int]) -> None:
        """Replace the assignment: read each partition from the given offset."""
        consumer = await self._ensure_started()
        wanted = {TP(tp.topic, tp.partition): int(offset) for tp, offset in positions.items()}
        try:
            consumer.assign(_tps(wanted))
            for tp, offset in wanted.items():
                consumer.seek(TopicPartition(tp.topic, tp.partition), max(offset, 0))
        except (kerr.KafkaError, ValueError) as exc:
            raise map_error(exc, self._settings, "assign") from None
        self._positions = wanted

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        """Up to `max_records` records from the assigned partitions (empty after timeout)."""
        consumer = self._consumer
        if consumer is None or not self._positions:
            if self._closed:
                raise BrokerError("the tailer is closed")
            await asyncio.sleep(timeout_ms / 1000)
            return []
        batches = await guarded(
            consumer.getmany(timeout_ms=timeout_ms, max_records=max_records),
            self._settings,
            "fetch",
            timeout_ms / 1000 + self._settings.request_timeout_s,
        )
        if not batches:
            return []
        positions = self._positions
        for tp, messages in batches.items():
            if messages:
                positions[TP(tp.topic, tp.partition)] = messages[-1].offset + 1
        return to_records(batches)

    def positions(self) -> dict[TP, int]:
        """The next offset to be read per assigned partition (as far as this tailer has read)."""
        return dict(self._positions)

    async def close(self) -> None:
        """Stop the consumer; safe to call more than once."""
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


class KafkaGroupConsumer:
    """A committing member of a consumer group (subscribe, earliest, manual commits).

    The consumer starts (and joins the group) on the first `fetch()`.
    """

    def __init__(self, settings: KafkaSettings, group: str, topics: Sequence[str]) -> None:
        self._settings = settings
        self._group = group
        self._topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._closed = False

    async def _ensure_started(self) -> AIOKafkaConsumer:
        if self._closed:
            raise BrokerError(f"the consumer of group {self._group} is closed")
        if self._consumer is not None:
            return self._consumer
        consumer = AIOKafkaConsumer(
            *self._topics,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=TAILER_METADATA_MAX_AGE_MS,
            **client_options(self._settings),
        )
        try:
            await guarded(
                consumer.start(),
                self._settings,
                f"join group {self._group}",
                self._settings.connect_timeout_s + GROUP_JOIN_TIMEOUT_S,
            )
        except BaseException:  # cancelled while connecting too: no consumer left running
            await _stop_quietly(consumer)
            raise
        self._consumer = consumer
        return consumer

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        """Up to `max_records` records from this member's partitions (empty after timeout)."""
        consumer = await self._ensure_started()
        batches = await guarded(
            consumer.getmany(timeout_ms=timeout_ms, max_records=max_records),
            self._settings,
            "fetch",
            timeout_ms / 1000 + self._settings.request_timeout_s,
        )
        return to_records(batches) if batches else []

    async def commit(self, offsets: Mapping[TP, int] | None = None) -> None:
        """Commit the given next-offsets, or the current positions when None."""
        consumer = await self._ensure_started()
        arg = (
            None
            if offsets is None
            else {TopicPartition(tp.topic, tp.partition): int(o) for tp, o in offsets.items()}
        )
        await guarded(consumer.commit(arg), self._settings, f"commit for group {self._group}")

    async def close(self) -> None:
        """Leave the group and stop the consumer; safe to call more than once."""
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


def header_list(headers: Sequence[Header]) -> list[tuple[str, bytes]] | None:
    """Headers in the form aiokafka's producer takes (None when there are none)."""
    return [(k, v) for k, v in headers] if headers else None
