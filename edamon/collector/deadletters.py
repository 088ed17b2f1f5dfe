"""The dead letters the collector holds: bounded by count, their bodies bounded in bytes,
grouped by source topic, consumer group and exception, joined with the retry ledger (edamon's
own signed entries only), and the snapshot rows made from them."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

from edamon.decode.ledger import LedgerEntry, LedgerSigner, decode_ledger_record, supersedes
from edamon.model.deadletter import (
    DeadLetter,
    dead_letter_size,
    drop_dead_letter_body,
    message_head,
)
from edamon.model.records import RawRecord
from edamon.model.snapshot import DeadLetterGroup, DeadLetterRow

SNAPSHOT_DEAD_LETTERS = 2000
"""Newest dead letters listed in a snapshot (all retained ones stay queryable, and the service's
pages of dead letters reach them all: `DeadLetterStore.newest`)."""


@dataclass(slots=True)
class _Group:
    count: int
    last_seen: float
    sample: str | None


class DeadLetterStore:
    """The newest `limit` dead letters by DLQ coordinates, their groups, and the ledger.

    The newest keep their bodies (value, headers, stack trace, whole message) within
    `memory_bytes`; beyond it the oldest bodies are dropped (`DeadLetter.dropped`) and a view
    reads the record again when it shows one in detail. Ledger records count only when
    `verify` says edamon wrote them (`LedgerSigner.verify`)."""

    def __init__(
        self,
        limit: int,
        memory_bytes: int = 64 * 1024 * 1024,
        *,
        verify: Callable[[RawRecord], bool] | None = None,
    ) -> None:
        self._limit = limit
        self._memory = max(0, memory_bytes)
        self._verify = verify or LedgerSigner().verify
        self._dead: OrderedDict[str, DeadLetter] = OrderedDict()
        self._bodies: deque[tuple[DeadLetter, int]] = deque()
        """Dead letters holding their body, oldest first, with its size."""
        self._body_bytes = 0
        self._rows: dict[str, DeadLetterRow] = {}
        """Snapshot rows by coords, made once and dropped when the ledger changes them."""
        self._texts: dict[str, str] = {}
        """A row's searchable text by coords (see `rows_containing`), dropped with the row."""
        self._by_time: list[tuple[int, int, str]] = []
        """(timestamp ms, arrival number, coords) of every dead letter held, ascending: the
        newest-first order of the pages without sorting the store for each one."""
        self._time_keys: dict[str, tuple[int, int, str]] = {}
        self._arrivals = count()
        self._groups: dict[tuple[str | None, str | None, str | None], _Group] = {}
        self._ledger: dict[str, LedgerEntry] = {}
        self.total = 0
        """Dead letters seen (each DLQ record once), evicted ones included."""
        self.dropped = 0
        """Dead letters whose body was let go so far."""
        self.ignored_ledger_records = 0
        """Ledger records not written by edamon (no or a wrong signature)."""

    @property
    def body_bytes(self) -> int:
        """About the bytes the bodies held take (see `dead_letter_size`)."""
        return self._body_bytes

    def add(self, dl: DeadLetter) -> bool:
        """Keep a dead letter; False when its DLQ record was already seen."""
        coords = dl.coords
        if coords in self._dead:
            return False
        self.total += 1
        self._dead[coords] = dl
        time_key = (dl.record.timestamp_ms, next(self._arrivals), coords)
        self._time_keys[coords] = time_key
        by_time = self._by_time
        if not by_time or by_time[-1] < time_key:
            by_time.append(time_key)  # the usual case: the newest so far
        else:
            insort(by_time, time_key)
        if len(self._dead) > self._limit:
            old_coords, old = self._dead.popitem(last=False)
            self._forget_row(old_coords)
            old_key = self._time_keys.pop(old_coords)
            del by_time[bisect_left(by_time, old_key)]
            bodies = self._bodies
            if bodies and bodies[0][0] is old:  # both are oldest first
                self._body_bytes -= bodies.popleft()[1]
                drop_dead_letter_body(old)  # a chain may still hold it
        if not dl.dropped:
            size = dead_letter_size(dl)
            self._bodies.append((dl, size))
            self._body_bytes += size
            if self._body_bytes > self._memory:
                self._shrink()
        info = dl.info
        key = (info.original_topic, info.consumer_group, info.failure_class)
        group = self._groups.get(key)
        seen = dl.record.timestamp_ms / 1000.0
        sample = message_head(info.exception_message)
        if group is None:
            self._groups[key] = _Group(1, seen, sample)
        else:
            group.count += 1
            group.last_seen = max(group.last_seen, seen)
            group.sample = sample or group.sample
        return True

    def _shrink(self) -> None:
        bodies = self._bodies
        while self._body_bytes > self._memory and bodies:
            old, size = bodies.popleft()
            self._body_bytes -= size
            drop_dead_letter_body(old)
            self._forget_row(old.coords)  # its row held the whole message
            self.dropped += 1

    def _forget_row(self, coords: str) -> None:
        self._rows.pop(coords, None)
        self._texts.pop(coords, None)

    def apply_ledger(self, record: RawRecord) -> None:
        """A record of the retry ledger: what was retried, when, by whom, with what result."""
        if not self._verify(record):
            self.ignored_ledger_records += 1
            return
        entry = decode_ledger_record(record)
        if entry is None or not supersedes(entry, self._ledger.get(entry.dead_letter)):
            return
        self._ledger[entry.dead_letter] = entry
        self._forget_row(entry.dead_letter)

    def get(self, coords: str) -> DeadLetter | None:
        return self._dead.get(coords)

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(self._dead.values())

    def ledger_entry(self, coords: str) -> LedgerEntry | None:
        return self._ledger.get(coords)

    def __len__(self) -> int:
        return len(self._dead)

    def rows(self) -> tuple[DeadLetterRow, ...]:
        """The snapshot's rows: the SNAPSHOT_DEAD_LETTERS that arrived last, newest first."""
        rows: list[DeadLetterRow] = []
        for coords in reversed(self._dead):
            rows.append(self._row(coords))
            if len(rows) >= SNAPSHOT_DEAD_LETTERS:
                break
        rows.sort(key=_newest_first)  # arrival order interleaves partitions; time does not
        return tuple(rows)

    def newest(self, offset: int = 0, limit: int | None = None) -> list[DeadLetterRow]:
        """The rows of the dead letters held, newest first (by record time; the one that
        arrived last first among equal times: the order of the snapshot's rows, over the whole
        store), from the `offset`-th, `limit` of them at most (all without one). Only those
        rows are made (then cached): a page costs its rows, not the store's."""
        by_time = self._by_time
        end = len(by_time) - offset
        start = 0 if limit is None else max(0, end - limit)
        if end <= start:
            return []
        rows = self._rows
        return [rows.get(key[2]) or self._row(key[2]) for key in reversed(by_time[start:end])]

    def rows_containing(
        self,
        needle: str,
        text_of: Callable[[DeadLetterRow], str],
        keep: Callable[[DeadLetter], bool] | None = None,
    ) -> list[DeadLetterRow]:
        """The rows, newest first (as `newest`), of the dead letters `keep` keeps (all without
        it) whose `text_of(row)` (cached per row until the row changes) contains `needle` (all
        when empty)."""
        dead, rows, texts = self._dead, self._rows, self._texts
        found: list[DeadLetterRow] = []
        for _, _, coords in reversed(self._by_time):
            if keep is not None and not keep(dead[coords]):
                continue
            row = rows.get(coords) or self._row(coords)
            if needle:
                text = texts.get(coords)
                if text is None:
                    text = texts[coords] = text_of(row)
                if needle not in text:
                    continue
            found.append(row)
        return found

    def _row(self, coords: str) -> DeadLetterRow:
        row = self._rows.get(coords)
        if row is None:
            dl = self._dead[coords]
            entry = self._ledger.get(coords)
            if entry is not None and not entry.applies_to(dl.record):
                entry = None  # about an earlier record at this address (DLQ recreated)
            row = self._rows[coords] = dead_letter_row(dl, entry)
        return row

    def groups(self) -> tuple[DeadLetterGroup, ...]:
        """Counts by (source topic, consumer group, exception), biggest and latest first."""
        groups = [
            DeadLetterGroup(topic, group, exc, g.count, g.last_seen, g.sample)
            for (topic, group, exc), g in self._groups.items()
        ]
        groups.sort(key=lambda g: (-g.count, -g.last_seen))
        return tuple(groups)


def _newest_first(row: DeadLetterRow) -> float:
    return -row.time


def dead_letter_row(dl: DeadLetter, entry: LedgerEntry | None = None) -> DeadLetterRow:
    """The snapshot row of a dead letter, with the ledger entry about it (if any)."""
    info = dl.info
    env = dl.envelope
    retry = entry.status if entry is not None else None
    return DeadLetterRow(
        coords=dl.coords,
        dlq_topic=dl.record.topic,
        time=dl.record.timestamp_ms / 1000.0,
        original_topic=info.original_topic,
        original_coords=info.original_coords,
        consumer_group=info.consumer_group,
        exception_class=info.exception_class,
        message=info.exception_message,
        attempts=info.attempts,
        convention=info.convention,
        correlation_id=dl.correlation_id,
        event_id=env.event_id if env else None,
        event_type=env.event_type if env else None,
        retry=retry,
        retried_at=entry.at if entry else None,
        retried_by=entry.by if entry else None,
        cause_class=info.cause_class,
    )
