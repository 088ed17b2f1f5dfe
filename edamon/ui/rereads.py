"""Records read again from Kafka by their coordinates through the service (a redriven copy in a
chain): what a detail pane shows while reading, after, or on failure. (An event or a dead
letter whose bytes the collector dropped for memory comes back whole from the service, which
reads it again itself.)"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from edamon.client import ClientError
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
        except (ClientError, ValueError) as exc:
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
