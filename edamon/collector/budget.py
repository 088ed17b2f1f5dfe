"""The record memory budget: the newest events keep their key, value and headers; older ones
keep only what the chains need (decoded fields, coordinates) and are read again when shown."""

from __future__ import annotations

from collections import deque

from edamon.model.envelope import Envelope, drop_record_data, record_size

RECORD_OVERHEAD = 100
"""Bytes counted per held record on top of its key, value and headers (the objects holding
them; short keys and headers are shared between records, so this is a middle figure)."""


class RecordBudget:
    """Holds the records of the newest events within `limit_bytes`; beyond it the oldest held
    event's record data is dropped (`Envelope.dropped`). A limit of 0 keeps none."""

    def __init__(self, limit_bytes: int) -> None:
        self._limit = max(0, limit_bytes)
        self._held: deque[tuple[Envelope, int]] = deque()
        self._bytes = 0
        self.dropped = 0
        """Events whose record data was let go so far."""

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

    def _shrink(self) -> None:
        held = self._held
        limit = self._limit
        while self._bytes > limit and held:
            env, size = held.popleft()
            self._bytes -= size
            drop_record_data(env)
            self.dropped += 1
