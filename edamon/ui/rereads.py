"""Records read again from Kafka for events whose record data was dropped from memory
(`retention.record_memory_mb`), and for dead letters whose body was (`DeadLetterRereads`,
`retention.dead_letter_memory_mb`): what a detail pane shows while reading, after, or on
failure."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from edamon.broker.base import BrokerError
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord

READING = (
    "Not kept in memory (older than retention.record_memory_mb allows): reading the record "
    "from Kafka…"
)
GONE = "The record is no longer in Kafka (deleted by retention or compaction)."
REPLACED = (
    "The record now at these coordinates is another one (its timestamp differs): the topic "
    "was probably deleted and created again."
)
log = logging.getLogger(__name__)

KEPT = 64
"""Records read again that are kept (per screen)."""


class Rereads:
    """Reads by coordinates through `read` and remembers the answers (the last KEPT of them).

    `lookup()` says what to show for an envelope; when it returns `start=True` the caller runs
    `read()` (a worker) and redraws when it returns. A failed read is asked again after
    `forget_failures()` (the selection moved); a cancelled one is forgotten at once."""

    def __init__(
        self, read: Callable[[str], Awaitable[RawRecord | None]], keep_value_bytes: int
    ) -> None:
        self._read = read
        self._keep_bytes = keep_value_bytes
        self._found: dict[str, tuple[RawRecord, bool] | str] = {}
        """coords -> (record, value truncated) or the note to show instead."""
        self._failed: set[str] = set()

    def lookup(self, envelope: Envelope) -> tuple[Envelope, str | None, bool]:
        """(envelope to show, note instead of headers and payload, whether to start a read)."""
        if not envelope.dropped:
            return envelope, None, False
        coords = envelope.record.coords
        found = self._found.get(coords)
        if isinstance(found, tuple):
            record, truncated = found
            full = dataclasses.replace(envelope, record=record, dropped=False, truncated=truncated)
            return full, None, False
        if found is None:
            self._found[coords] = READING
            return envelope, READING, True
        return envelope, found, False

    async def read(self, envelope: Envelope) -> None:
        """Read `envelope`'s record again and remember what came of it."""
        coords = envelope.record.coords
        result: tuple[RawRecord, bool] | str
        try:
            record = await self._read(coords)
        except asyncio.CancelledError:
            self._found.pop(coords, None)  # asked again when shown again
            raise
        except (BrokerError, ValueError) as exc:
            result = f"Could not read the record from Kafka: {exc}"
            self._failed.add(coords)
        except Exception as exc:  # a bug below must not leave "reading…" shown for good
            log.exception("reading %s again failed", coords)
            result = f"Could not read the record: {type(exc).__name__}: {exc}"
            self._failed.add(coords)
        else:
            if record is None:
                result = GONE
            elif record.timestamp_ms != envelope.record.timestamp_ms:
                result = REPLACED
            else:
                result = self._cut(record)
        found = self._found
        found[coords] = result
        while len(found) > KEPT:
            del found[next(iter(found))]

    def forget_failures(self) -> None:
        for coords in self._failed:
            self._found.pop(coords, None)
        self._failed.clear()

    def _cut(self, record: RawRecord) -> tuple[RawRecord, bool]:
        """The record with its value cut to keep_value_bytes, as the collector keeps values."""
        value = record.value
        if value is None or len(value) <= self._keep_bytes:
            return record, False
        return dataclasses.replace(record, value=value[: self._keep_bytes]), True


DEAD_READING = (
    "Not kept in memory (older than retention.dead_letter_memory_mb allows): reading the "
    "dead letter from Kafka…"
)


class DeadLetterRereads:
    """`Rereads` for dead letters: `lookup()` gives the dead letter to show (the whole one once
    read) and the note to show with it; when it says `start=True` the caller runs `read()` (a
    worker) and redraws when it returns."""

    def __init__(self, read: Callable[[str], Awaitable[DeadLetter | None]]) -> None:
        self._read = read
        self._found: dict[str, DeadLetter | str] = {}
        self._failed: set[str] = set()

    def lookup(self, dead: DeadLetter) -> tuple[DeadLetter, str | None, bool]:
        """(dead letter to show, note to show with it, whether to start a read)."""
        if not dead.dropped:
            return dead, None, False
        found = self._found.get(dead.coords)
        if isinstance(found, DeadLetter):
            return found, None, False
        if found is None:
            self._found[dead.coords] = DEAD_READING
            return dead, DEAD_READING, True
        return dead, found, False

    async def read(self, dead: DeadLetter) -> None:
        """Read `dead`'s record again and remember what came of it."""
        coords = dead.coords
        result: DeadLetter | str
        try:
            whole = await self._read(coords)
        except asyncio.CancelledError:
            self._found.pop(coords, None)
            raise
        except (BrokerError, ValueError) as exc:
            result = f"Could not read the dead letter from Kafka: {exc}"
            self._failed.add(coords)
        except Exception as exc:  # a bug below must not leave "reading…" shown for good
            log.exception("reading dead letter %s again failed", coords)
            result = f"Could not read the dead letter: {type(exc).__name__}: {exc}"
            self._failed.add(coords)
        else:
            if whole is None:
                result = GONE
            elif whole.record.timestamp_ms != dead.record.timestamp_ms:
                result = REPLACED
            else:
                result = whole
        found = self._found
        found[coords] = result
        while len(found) > KEPT:
            del found[next(iter(found))]

    def forget_failures(self) -> None:
        for coords in self._failed:
            self._found.pop(coords, None)
        self._failed.clear()
