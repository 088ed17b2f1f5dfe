"""Reading records straight from the broker with a `Tailer` (no consumer group, no commits),
bounded by a timeout: whole partitions to their current end, or single records by coordinates.

Two details of real logs are handled:

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
from edamon.model.records import TP, RawRecord

__all__ = ["ReadTimeout", "RecordReader", "read_to_end"]

FETCH_MAX_RECORDS = 2000
FETCH_TIMEOUT_MS = 250
IDLE_S = 2.0
"""A partition that returns nothing for this long (3x for one that returned nothing at all)
while its position is short of its end offset is taken as fully read (the gap is transaction
markers or compacted records), once fresh end offsets confirm the broker answers."""


class ReadTimeout(BrokerError):
    """Reading did not finish within the time allowed."""


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
