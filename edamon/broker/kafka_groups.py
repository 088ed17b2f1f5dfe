"""aiokafka readers for `KafkaBroker`: the group-less tailer, the committing group consumer, and
the conversion of fetched records (client options and errors: kafka_client; group
description: kafka_describe).

Nothing here is public API beyond `edamon.broker.kafka`; it is split out to keep modules small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kerr

from edamon.broker.base import (
    BrokerError,
)
from edamon.broker.kafka_client import client_options, guarded, map_error
from edamon.config import KafkaSettings
from edamon.model.records import TP, Header, RawRecord, build_record

T = TypeVar("T")
log = logging.getLogger(__name__)

TAILER_METADATA_MAX_AGE_MS = 5_000
"""Tailers refresh metadata often so leader moves and new partitions are seen quickly."""
TAILER_FETCH_MAX_BYTES = 16 * 1024 * 1024
TAILER_MAX_PARTITION_FETCH_BYTES = 1024 * 1024
GROUP_JOIN_TIMEOUT_S = 60.0
"""How long a group consumer may take to join its group (rebalance delays included)."""


def _clean_headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[Header, ...]:
    for _, value in headers:
        if value is None:
            return tuple((k, v if v is not None else b"") for k, v in headers)
    return tuple(headers)  # type: ignore[arg-type]  # no None values left


STOP_TIMEOUT_S = 10.0
"""How long stopping a consumer may take before its client is closed under it."""


async def _stop(consumer: AIOKafkaConsumer, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop a consumer. One whose broker went away fails its last fetch (or its group leave)
    while stopping, and aiokafka lets that out as the error or as the CancelledError of its
    own fetch task: the client is gone either way, so that is logged, not raised (it used to
    end the collector). A stop that takes longer than `timeout_s` (its fetch task swallowed
    the cancellation, see edamon.collector.cancelling) is abandoned and the client closed, so
    the caller never hangs on it. A cancellation of the caller's task still propagates."""
    stopping = asyncio.ensure_future(consumer.stop())
    try:
        done, _ = await asyncio.wait({stopping}, timeout=timeout_s)
    except asyncio.CancelledError:
        stopping.cancel()
        raise
    if not done:
        log.warning("a consumer did not stop within %.0f s: its client is closed", timeout_s)
        stopping.cancel()
        await _close_client(consumer)
        return
    try:
        stopping.result()
    except (kerr.KafkaError, OSError) as exc:
        log.debug("stopping a consumer: %s: %s", type(exc).__name__, exc)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        # aiokafka 0.14's Fetcher.close() awaits a fetch task it has just cancelled while
        # that task slept after a failed fetch; the CancelledError ends stop() before the
        # client closes, and its connections would leak: close the client here.
        log.debug("stopping a consumer: its fetch task was cancelled")
        await _close_client(consumer)


async def _close_client(consumer: AIOKafkaConsumer) -> None:
    """Close the client of a consumer whose stop() ended early or hung (aiokafka offers no
    public way to close a consumer's connections without stop())."""
    client = getattr(consumer, "_client", None)
    if client is not None:
        with contextlib.suppress(kerr.KafkaError, OSError):
            await client.close()


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer that failed or was cancelled while starting; errors from stopping a
    half-started client are not worth more than the failure being raised (which the caller
    re-raises, a cancellation included)."""
    with contextlib.suppress(asyncio.CancelledError):
        await _stop(consumer)  # which logs the client's own errors


def to_records(batches: Mapping[Any, Sequence[Any]]) -> list[RawRecord]:
    """Convert a `getmany()` result (batches of ConsumerRecord) into RawRecords, in order.

    The hot path of tailing: no per-record work beyond the object itself when headers hold
    no None values.
    """
    out: list[RawRecord] = []
    append = out.append
    build = build_record
    for messages in batches.values():
        for m in messages:
            headers = m.headers
            if headers:
                for _, header_value in headers:
                    if header_value is None:
                        headers = _clean_headers(headers)
                        break
            else:
                headers = ()
            append(build(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value, headers))
    return out


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
            await _stop(consumer)


class KafkaGroupConsumer:
    """A committing member of a consumer group (subscribe, earliest, manual commits).

    The consumer starts (and joins the group) on the first `fetch()`.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        group: str,
        topics: Sequence[str],
        client_id: str | None = None,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._group = group
        self._topics = tuple(topics)
        self._consumer: AIOKafkaConsumer | None = None
        self._closed = False

    async def _ensure_started(self) -> AIOKafkaConsumer:
        if self._closed:
            raise BrokerError(f"the consumer of group {self._group} is closed")
        if self._consumer is not None:
            return self._consumer
        options = client_options(self._settings)
        if self._client_id is not None:
            options["client_id"] = self._client_id
        consumer = AIOKafkaConsumer(
            *self._topics,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=TAILER_METADATA_MAX_AGE_MS,
            **options,
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
            await _stop(consumer)


def header_list(headers: Sequence[Header]) -> list[tuple[str, bytes]] | None:
    """Headers in the form aiokafka's producer takes (None when there are none)."""
    return [(k, v) for k, v in headers] if headers else None
