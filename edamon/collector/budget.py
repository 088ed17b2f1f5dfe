"""The record memory budget: the newest events keep their key, value and headers; older ones
keep only what the chains need (decoded fields, coordinates) and are read again when shown."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from operator import attrgetter

from edamon.model.envelope import HEADER_BYTES, Envelope, drop_record_data, record_size

RECORD_OVERHEAD = 100
"""Bytes counted per held record on top of its key, value and headers (the objects holding
them; short keys and headers are shared between records, so this is a middle figure)."""


_RECORD = attrgetter("record")


class RecordBudget:
    """Holds the records of the newest events within `limit_bytes`; beyond it the oldest held
    event's record data is dropped (`Envelope.dropped`). A limit of 0 keeps none."""

    def __init__(self, limit_bytes: int) -> None:
        self._limit = max(0, limit_bytes)
        self._held: deque[tuple[Envelope, int]] = deque()
        self._bytes = 0
        self.dropped = 0
        """Events whose record data was let go so far."""
        self._released = 0
        """Entries of the queue whose event was released early (no bytes left to count)."""

    @property
    def held_bytes(self) -> int:
        return self._bytes

    @property
    def held_events(self) -> int:
        return len(self._held)

    def hold(self, env: Envelope) -> None:
        """Account for a newly retained event, then drop the oldest records over the limit."""
        size = record_size(env.record) + RECORD_OVERHEAD
        self._held.append((env, size))
        self._bytes += size
        if self._bytes > self._limit:
            self._shrink()

    def hold_many(self, envs: Sequence[Envelope]) -> None:
        """`hold` of each newly retained event, in order; the limit is enforced once."""
        sizes = [
            (len(value) if (value := record.value) is not None else 0)
            + (len(key) if (key := record.key) is not None else 0)
            + HEADER_BYTES * len(record.headers)
            + RECORD_OVERHEAD
            for record in map(_RECORD, envs)
        ]
        self._held.extend(zip(envs, sizes, strict=True))
        self._bytes += sum(sizes)
        if self._bytes > self._limit:
            self._shrink()

    def release(self, envs: Iterable[Envelope]) -> None:
        """Let go of the record data of events no longer retained (their flow was evicted), so
        that memory follows retention even when no newer event pushes them out."""
        for env in envs:
            if not env.dropped:
                self._bytes -= record_size(env.record) + RECORD_OVERHEAD
                drop_record_data(env)
                self._released += 1
        if self._released > 1024 and self._released * 2 > len(self._held):
            self._compact()

    def _compact(self) -> None:
        """Forget released entries (they would otherwise stay until newer events push them
        out, which a quiet or small retention may never do)."""
        self._held = deque(entry for entry in self._held if not entry[0].dropped)
        self._released = 0

    def _shrink(self) -> None:
        held = self._held
        limit = self._limit
        while self._bytes > limit and held:
            env, size = held.popleft()
            if env.dropped:  # released early: its bytes were taken off then
                self._released = max(0, self._released - 1)
                continue
            self._bytes -= size
            drop_record_data(env)
            self.dropped += 1
