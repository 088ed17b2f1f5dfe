"""The dead letters the collector holds: bounded by count, their bodies bounded in bytes,
grouped by source topic, consumer group and exception, joined with the retry ledger (edamon's
own signed entries only), and the snapshot rows made from them."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
"""Newest dead letters listed in a snapshot (all retained ones stay queryable)."""


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
        if len(self._dead) > self._limit:
            old_coords, old = self._dead.popitem(last=False)
            self._rows.pop(old_coords, None)
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
            self._rows.pop(old.coords, None)  # its row held the whole message
            self.dropped += 1

    def apply_ledger(self, record: RawRecord) -> None:
        """A record of the retry ledger: what was retried, when, by whom, with what result."""
        if not self._verify(record):
            self.ignored_ledger_records += 1
            return
        entry = decode_ledger_record(record)
        if entry is None or not supersedes(entry, self._ledger.get(entry.dead_letter)):
            return
        self._ledger[entry.dead_letter] = entry
        self._rows.pop(entry.dead_letter, None)

    def get(self, coords: str) -> DeadLetter | None:
        return self._dead.get(coords)

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(self._dead.values())

    def ledger_entry(self, coords: str) -> LedgerEntry | None:
        return self._ledger.get(coords)

    def rows(self) -> tuple[DeadLetterRow, ...]:
        """The newest SNAPSHOT_DEAD_LETTERS rows, newest first."""
        rows: list[DeadLetterRow] = []
        cache = self._rows
        for coords in reversed(self._dead):
            row = cache.get(coords)
            if row is None:
                dl = self._dead[coords]
                entry = self._ledger.get(coords)
                if entry is not None and not entry.applies_to(dl.record):
                    entry = None  # about an earlier record at this address (DLQ recreated)
                row = cache[coords] = dead_letter_row(dl, entry)
            rows.append(row)
            if len(rows) >= SNAPSHOT_DEAD_LETTERS:
                break
        rows.sort(key=_newest_first)  # arrival order interleaves partitions; time does not
        return tuple(rows)

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
