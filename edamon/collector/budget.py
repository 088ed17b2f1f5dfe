"""The record memory budget: the newest events keep their key, value and headers; older ones
keep only what the chains need (decoded fields, coordinates) and are read again when shown."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from operator import attrgetter

from edamon.model.chainstore import ChainStore
from edamon.model.envelope import HEADER_BYTES, Envelope

RECORD_OVERHEAD = 400
"""Bytes counted per held record on top of its key, value and headers: what holding it costs
beyond the chain's columns (the envelope and its record object, their offset and timestamp,
the headers' tuple, the budget's entry). Measured with bench/state.py's records: ~400 B per
held event beyond key, value and 48 per header."""


_RECORD = attrgetter("record")


def _held_size(env: Envelope) -> int:
    record = env.record
    value, key = record.value, record.key
    return (
        (len(value) if value is not None else 0)
        + (len(key) if key is not None else 0)
        + HEADER_BYTES * len(record.headers)
        + RECORD_OVERHEAD
    )


class RecordBudget:
    """Holds the records of the newest events within `limit_bytes`; beyond it the chain that
    holds the oldest held event lets go of its record data (`ChainStore.drop_data`: the event's
    envelope then comes with `dropped` set). A limit of 0 keeps none.

    An event is named by its chain and its position there (`ChainStore.last_position` right
    after `add`)."""

    def __init__(self, limit_bytes: int) -> None:
        self._limit = max(0, limit_bytes)
        self._held: deque[tuple[ChainStore, int]] = deque()
        """(chain, position) of each held event, oldest first."""
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

    def hold(self, chain: ChainStore, position: int) -> None:
        """Account for a newly retained event, then drop the oldest records over the limit."""
        env = chain.held_envelope(position)
        if env is None:
            return
        self._held.append((chain, position))
        self._bytes += _held_size(env)
        if self._bytes > self._limit:
            self._shrink()

    def hold_many(self, places: Sequence[tuple[ChainStore, int]], envs: Sequence[Envelope]) -> None:
        """`hold` of each newly retained event, in order (`places`: each one's chain and
        position, `envs`: its envelope, which the chain holds); the limit is enforced once."""
        sizes = [
            (len(value) if (value := record.value) is not None else 0)
            + (len(key) if (key := record.key) is not None else 0)
            + HEADER_BYTES * len(record.headers)
            + RECORD_OVERHEAD
            for record in map(_RECORD, envs)
        ]
        self._held.extend(places)
        self._bytes += sum(sizes)
        if self._bytes > self._limit:
            self._shrink()

    def release(self, chain: ChainStore) -> None:
        """Let go of the record data of a chain's events no longer retained (the flow was
        evicted), so that memory follows retention even when no newer event pushes them out."""
        for position, env in list(chain.held()):
            self._bytes -= _held_size(env)
            chain.drop_data(position)
            self._released += 1
        if self._released > 1024 and self._released * 2 > len(self._held):
            self._compact()

    def _compact(self) -> None:
        """Forget released entries (they would otherwise stay until newer events push them
        out, which a quiet or small retention may never do)."""
        self._held = deque(
            entry for entry in self._held if entry[0].held_envelope(entry[1]) is not None
        )
        self._released = 0

    def _shrink(self) -> None:
        held = self._held
        limit = self._limit
        held_bytes = self._bytes
        dropped = 0
        while held_bytes > limit and held:
            chain, position = held.popleft()
            env = chain.drop_data(position)
            if env is None:  # released early: its bytes went then
                self._released = max(0, self._released - 1)
                continue
            record = env.record
            value, key = record.value, record.key
            held_bytes -= (
                (len(value) if value is not None else 0)
                + (len(key) if key is not None else 0)
                + HEADER_BYTES * len(record.headers)
                + RECORD_OVERHEAD
            )
            dropped += 1
        self._bytes = held_bytes
        self.dropped += dropped
