"""Reading dead letters straight from the broker: whole DLQ topics, or single records by address.

Everything here reads with a `Tailer` (no consumer group, no commits) and is bounded by a
timeout. Two details of real logs are handled:

- compaction and transaction markers leave offsets that are never returned, so "read to the end"
  is "until the position reaches the end offset, or the log goes quiet and the end offsets
  confirm nothing new is expected";
- a record asked for by address may be gone (retention, compaction): the reader says so rather
  than returning a neighbour.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from edamon.broker.base import Broker, BrokerError, Tailer
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter
from edamon.model.records import TP, RawRecord, parse_coords
from edamon.model.topics import TopicRules

__all__ = [
    "ReadTimeout",
    "RecordReader",
    "UnknownTopicError",
    "find_dead_letters",
    "is_dlq_topic",
    "read_dead_letters",
    "read_to_end",
    "untailed_dlq_topics",
]

FETCH_MAX_RECORDS = 2000
FETCH_TIMEOUT_MS = 250
IDLE_S = 2.0
"""A partition that returns nothing for this long (3x for one that returned nothing at all)
while its position is short of its end offset is taken as fully read (the gap is transaction
markers or compacted records), once fresh end offsets confirm the broker answers."""


class ReadTimeout(BrokerError):
    """Reading did not finish within the time allowed."""


class UnknownTopicError(BrokerError):
    """A topic that was asked for does not exist."""


def topic_rules(settings: Settings) -> TopicRules:
    """The collector's rules: which topics are tailed, which are DLQs."""
    return TopicRules(
        settings.topics, ledger_topic=settings.dlq.ledger_topic, dlq_routes=settings.dlq.routes
    )


def is_dlq_topic(settings: Settings, topic: str) -> bool:
    """`topic` matches a `topics.dlq` pattern (whole name) or is a key of `dlq.routes`."""
    return topic_rules(settings).is_dlq(topic)


async def untailed_dlq_topics(broker: Broker, settings: Settings) -> list[str]:
    """DLQ topics left out because `topics.include`/`exclude` does not tail them (the DLQ
    commands skip them unless named, as the dashboard does not show them)."""
    rules = topic_rules(settings)
    return sorted(
        info.name
        for info in await broker.list_topics()
        if not info.internal and rules.is_dlq(info.name) and not rules.tailed(info.name)
    )


async def read_to_end(
    broker: Broker, tps: Sequence[TP], *, timeout_s: float = 30.0, idle_s: float = IDLE_S
) -> list[RawRecord]:
    """Every record of `tps` from the beginning to the end offsets seen at the start, in order
    per partition. Raises ReadTimeout after `timeout_s`, BrokerError on broker failures."""
    if not tps:
        return []
    begin = await broker.beginning_offsets(tps)
    end = await broker.end_offsets(tps)
    todo = {tp: begin.get(tp, 0) for tp in tps if end.get(tp, 0) > begin.get(tp, 0)}
    if not todo:
        return []
    records: list[RawRecord] = []
    tailer = broker.tailer()
    try:
        await tailer.assign(todo)
        deadline = time.monotonic() + timeout_s
        quiet_since = checked = time.monotonic()
        while todo:
            now = time.monotonic()
            if now >= deadline:
                missing = sum(end[tp] - todo[tp] for tp in todo)
                raise ReadTimeout(
                    f"timed out after {timeout_s:g}s reading {_names(todo)} "
                    f"({missing} records not read)"
                )
            batch = await tailer.fetch(FETCH_MAX_RECORDS, FETCH_TIMEOUT_MS)
            if batch:
                quiet_since = time.monotonic()
                for record in batch:
                    tp = record.tp
                    if tp in todo and record.offset < end[tp]:
                        records.append(record)
                        todo[tp] = record.offset + 1
                for tp, position in tailer.positions().items():
                    if tp in todo and position > todo[tp]:
                        todo[tp] = position
                for tp in [tp for tp, position in todo.items() if position >= end[tp]]:
                    del todo[tp]
                continue
            now = time.monotonic()
            quiet = now - quiet_since
            if quiet >= idle_s and now - checked >= idle_s:
                # Nothing more comes. A partition that gave records before is read to its last
                # record (the rest are markers or compacted away) if the broker answers and its
                # end did not move; one that never gave any gets a longer wait first.
                checked = now
                fresh = await broker.end_offsets(list(todo))
                for tp in list(todo):
                    seen = todo[tp] > begin.get(tp, 0)
                    if fresh.get(tp, 0) <= end[tp] and (seen or quiet >= 3 * idle_s):
                        del todo[tp]
    finally:
        await tailer.close()
    return records


def _names(tps: Iterable[TP]) -> str:
    names = sorted({tp.topic for tp in tps})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _decoder(settings: Settings) -> DeadLetterDecoder:
    return DeadLetterDecoder(EnvelopeDecoder(settings.envelope))


async def read_dead_letters(
    broker: Broker,
    settings: Settings,
    topics: Sequence[str] | None = None,
    *,
    timeout_s: float = 60.0,
) -> list[DeadLetter]:
    """Every record of the DLQ topics (`topics`, or all topics matching `topics.dlq`) from the
    beginning to the current end, decoded, ordered by topic, partition and offset.

    Raises UnknownTopicError for a named topic that does not exist, ReadTimeout, BrokerError.
    """
    existing = {info.name: info for info in await broker.list_topics()}
    if topics is None:
        rules = topic_rules(settings)
        selected = {
            name: info.partitions
            for name, info in existing.items()
            if not info.internal and rules.tailed(name) and rules.is_dlq(name)
        }
    else:
        missing = [name for name in topics if name not in existing]
        if missing:
            raise UnknownTopicError(f"no such topic: {', '.join(missing)}")
        selected = {name: existing[name].partitions for name in topics}
    tps = [TP(name, p) for name, count in sorted(selected.items()) for p in range(count)]
    records = await read_to_end(broker, tps, timeout_s=timeout_s)
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))
    decode = _decoder(settings).decode
    return [decode(record) for record in records]


class RecordReader:
    """Reads single records by coordinates with one tailer, reading ahead within a partition
    so that a run of nearby addresses costs one assignment, not one each.

    `get()` returns None when the record no longer exists (below the log start, at or past the
    end, or skipped by compaction); it raises ReadTimeout or BrokerError when it cannot tell.
    """

    def __init__(
        self,
        broker: Broker,
        wanted: Iterable[tuple[TP, int]] = (),
        *,
        timeout_s: float = 15.0,
        read_ahead: int = 5000,
    ) -> None:
        self._broker = broker
        self._wanted: set[tuple[TP, int]] = set(wanted)
        self._timeout_s = timeout_s
        self._read_ahead = read_ahead
        self._tailer: Tailer | None = None
        self._next: dict[TP, int] = {}
        """Per assigned partition: the next offset the tailer will return."""
        self._buffer: dict[tuple[TP, int], RawRecord] = {}
        self._bounds: dict[TP, tuple[int, int]] = {}

    async def _bounds_of(self, tp: TP) -> tuple[int, int]:
        bounds = self._bounds.get(tp)
        if bounds is None:
            begin = await self._broker.beginning_offsets([tp])
            end = await self._broker.end_offsets([tp])
            bounds = (begin.get(tp, 0), end.get(tp, 0))
            self._bounds[tp] = bounds
        return bounds

    async def get(self, tp: TP, offset: int) -> RawRecord | None:
        """The record at `tp`/`offset`, or None if it no longer exists."""
        key = (tp, offset)
        found = self._buffer.pop(key, None)
        if found is not None:
            self._wanted.discard(key)
            return found
        begin, end = await self._bounds_of(tp)
        if offset >= end:  # written since the bounds were read? look once more
            del self._bounds[tp]
            begin, end = await self._bounds_of(tp)
        if not begin <= offset < end:
            return None
        self._wanted.add(key)
        if self._tailer is None:
            self._tailer = self._broker.tailer()
        position = self._next.get(tp)
        if position is None or position > offset or offset - position > self._read_ahead:
            await self._tailer.assign({tp: offset})
            self._next = {tp: offset}
        deadline = time.monotonic() + self._timeout_s
        while True:
            for record in await self._tailer.fetch(FETCH_MAX_RECORDS, FETCH_TIMEOUT_MS):
                rtp = record.tp
                self._next[rtp] = record.offset + 1
                rkey = (rtp, record.offset)
                if rkey in self._wanted:
                    self._buffer[rkey] = record
            found = self._buffer.pop(key, None)
            if found is not None:
                self._wanted.discard(key)
                return found
            if self._next.get(tp, offset) > offset:
                self._wanted.discard(key)
                return None
            if time.monotonic() >= deadline:
                raise ReadTimeout(f"could not read {tp}/{offset} within {self._timeout_s:g}s")

    async def close(self) -> None:
        """Close the tailer (safe to call more than once)."""
        tailer, self._tailer = self._tailer, None
        if tailer is not None:
            await tailer.close()


async def find_dead_letters(
    broker: Broker,
    settings: Settings,
    addresses: Sequence[str],
    *,
    timeout_s: float = 15.0,
) -> tuple[list[DeadLetter], dict[str, str]]:
    """The dead letters at `addresses` (`topic/partition/offset`), in the order given (repeats
    dropped), and the addresses that could not be read -> why.

    Raises ValueError for an address that does not parse; BrokerError on broker failures.
    """
    parsed: dict[str, tuple[TP, int]] = {}
    for address in addresses:
        topic, partition, offset = parse_coords(address)
        parsed.setdefault(f"{topic}/{partition}/{offset}", (TP(topic, partition), offset))
    existing = {info.name: info.partitions for info in await broker.list_topics()}
    problems: dict[str, str] = {}
    found: list[DeadLetter] = []
    decode = _decoder(settings).decode
    reader = RecordReader(broker, parsed.values(), timeout_s=timeout_s)
    try:
        for address, (tp, offset) in parsed.items():
            if tp.topic not in existing:
                problems[address] = f"no such topic: {tp.topic}"
            elif not 0 <= tp.partition < existing[tp.topic]:
                problems[address] = f"topic {tp.topic} has no partition {tp.partition}"
            elif not is_dlq_topic(settings, tp.topic):
                problems[address] = f"{tp.topic} is not a DLQ topic (see topics.dlq and dlq.routes)"
            else:
                record = await reader.get(tp, offset)
                if record is None:
                    problems[address] = "no record at this address (deleted or never written)"
                else:
                    found.append(decode(record))
    finally:
        await reader.close()
    return found, problems
