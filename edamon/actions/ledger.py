"""The retry ledger: every DLQ redrive attempt, in a compacted Kafka topic.

One record per attempt, keyed by the dead letter's coordinates (`topic/partition/offset`), so
compaction keeps the latest attempt of each dead letter. The value is JSON::

    {"dead_letter": "orders.DLT/0/42", "target_topic": "orders", "target_partition": 1,
     "target_offset": 7, "result": "sent", "reason": null, "at": 1795687200.5,
     "by": "alice", "attempt": 1, "sent_count": 1, "record_timestamp_ms": 1795687100000}

`sent_count` (successful sends of this dead letter so far, this attempt included) is carried
forward from attempt to attempt: compaction keeps only the latest record, and a forced retry
that fails must not make an earlier successful retry forgotten. `record_timestamp_ms` (the dead
letter's own timestamp) tells the record that was retried from a newer one at the same address
after its DLQ topic was deleted and recreated (`LedgerEntry.applies_to`).

`decode_ledger_record` never raises; the collector uses it to show retry status live.
"""

from __future__ import annotations

import getpass
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from edamon.actions.scan import read_to_end
from edamon.broker.base import Broker, BrokerError
from edamon.model.records import TP, RawRecord

__all__ = [
    "DEFAULT_LEDGER_TOPIC",
    "Ledger",
    "LedgerEntry",
    "RetryResult",
    "current_user",
    "decode_ledger_record",
]

DEFAULT_LEDGER_TOPIC = "edamon.retries"
LEDGER_TOPIC_CONFIG: Mapping[str, str] = {"cleanup.policy": "compact"}


class RetryResult(StrEnum):
    """What became of one retry attempt."""

    SENT = "sent"
    FAILED = "failed"


_RESULTS = frozenset(r.value for r in RetryResult)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One retry attempt of one dead letter."""

    dead_letter: str
    """Coordinates of the dead letter (`topic/partition/offset`): the ledger record's key."""
    target_topic: str | None
    target_partition: int | None
    target_offset: int | None
    """Where the copy landed (None when the attempt failed)."""
    result: RetryResult
    reason: str | None
    """Why the attempt failed (None when sent)."""
    at: float
    """Epoch seconds."""
    by: str
    """OS user who ran the retry."""
    attempt: int
    """1 for the first attempt on this dead letter, then counting every attempt."""
    sent_count: int = 0
    """Successful sends of this dead letter so far, this attempt included."""
    record_timestamp_ms: int | None = None
    """Timestamp of the dead letter's record. A DLQ topic deleted and recreated reuses
    addresses: an entry applies to a record only if this matches (or is unknown)."""

    def applies_to(self, record: RawRecord) -> bool:
        """True if this entry is about `record` (same address, same record timestamp)."""
        if record.coords != self.dead_letter:
            return False
        return self.record_timestamp_ms is None or self.record_timestamp_ms == record.timestamp_ms

    @property
    def sent(self) -> bool:
        """This attempt delivered the copy."""
        return self.result is RetryResult.SENT

    @property
    def retried(self) -> bool:
        """The dead letter has been successfully retried (by this or an earlier attempt)."""
        return self.sent or self.sent_count > 0

    @property
    def target_coords(self) -> str | None:
        """`topic/partition/offset` of the copy, when it was sent."""
        if self.target_topic is None or self.target_partition is None:
            return None
        if self.target_offset is None:
            return None
        return f"{self.target_topic}/{self.target_partition}/{self.target_offset}"

    @property
    def status(self) -> str:
        """`sent` or `failed: <reason>` (the form of `DeadLetterRow.retry`)."""
        if self.sent:
            return "sent"
        return f"failed: {self.reason}" if self.reason else "failed"

    def key(self) -> bytes:
        """The ledger record's key: the dead letter's address."""
        return self.dead_letter.encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        """The ledger record's value as JSON-able data."""
        return {
            "dead_letter": self.dead_letter,
            "target_topic": self.target_topic,
            "target_partition": self.target_partition,
            "target_offset": self.target_offset,
            "result": self.result.value,
            "reason": self.reason,
            "at": self.at,
            "by": self.by,
            "attempt": self.attempt,
            "sent_count": self.sent_count,
            "record_timestamp_ms": self.record_timestamp_ms,
        }

    def encode(self) -> bytes:
        """The ledger record's value."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")


def _opt_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def decode_ledger_record(record: RawRecord) -> LedgerEntry | None:
    """The ledger entry a record of the ledger topic holds, or None (tombstone, not JSON, not an
    object, missing or ill-typed `result`/`at`, no coordinates). Never raises.

    Optional fields of the wrong type are read as absent.
    """
    if not record.value:
        return None
    try:
        data = json.loads(record.value)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(data, dict):
        return None
    raw_result = data.get("result")
    if not isinstance(raw_result, str) or raw_result not in _RESULTS:
        return None
    result = RetryResult(raw_result)
    at = data.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        return None
    coords = _opt_str(data.get("dead_letter"))
    if not coords and record.key:
        coords = record.key.decode("utf-8", errors="replace")
    if not coords:
        return None
    attempt = _opt_int(data.get("attempt"))
    sent_count = _opt_int(data.get("sent_count"))
    if sent_count is None:
        sent_count = 1 if result is RetryResult.SENT else 0
    return LedgerEntry(
        dead_letter=coords,
        target_topic=_opt_str(data.get("target_topic")),
        target_partition=_opt_int(data.get("target_partition")),
        target_offset=_opt_int(data.get("target_offset")),
        result=result,
        reason=_opt_str(data.get("reason")),
        at=float(at),
        by=_opt_str(data.get("by")) or "unknown",
        attempt=attempt if attempt is not None and attempt > 0 else 1,
        sent_count=max(sent_count, 0),
        record_timestamp_ms=_opt_int(data.get("record_timestamp_ms")),
    )


def current_user() -> str:
    """The OS user running edamon, or `unknown` when it cannot be determined."""
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError, ImportError):  # no passwd entry, no env vars, no pwd module
        return "unknown"


class Ledger:
    """The latest retry attempt of every dead letter, loaded from and written to `topic`.

    `load()` reads the topic (it does not create it: reading must work in read-only mode);
    `ensure_topic()` creates it, compacted, before the first write.
    """

    def __init__(
        self, topic: str = DEFAULT_LEDGER_TOPIC, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.topic = topic
        self._clock = clock
        self._entries: dict[str, LedgerEntry] = {}
        self._broker: Broker | None = None
        self._ensured = False

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(list(self._entries.values()))

    def bind(self, broker: Broker) -> None:
        """Use `broker` for later writes (done by `load` too)."""
        self._broker = broker

    async def load(self, broker: Broker, *, timeout_s: float = 30.0) -> int:
        """Read the ledger topic from beginning to its current end (a missing topic is an empty
        ledger) and bind `broker` for writes. Returns the number of dead letters with an entry.

        Raises BrokerError (including a timeout reading the topic).
        """
        self._broker = broker
        topics = {info.name: info for info in await broker.list_topics()}
        info = topics.get(self.topic)
        if info is None:
            return len(self._entries)
        self._ensured = True
        tps = [TP(self.topic, p) for p in range(info.partitions)]
        for record in await read_to_end(broker, tps, timeout_s=timeout_s):
            if record.value is None:
                if record.key is not None:
                    self._entries.pop(record.key.decode("utf-8", errors="replace"), None)
                continue
            entry = decode_ledger_record(record)
            if entry is not None:
                self.apply(entry)
        return len(self._entries)

    async def ensure_topic(self) -> None:
        """Create the ledger topic (one partition, cleanup.policy=compact) when missing."""
        if self._ensured:
            return
        broker = self._require_broker()
        await broker.create_topic(self.topic, 1, LEDGER_TOPIC_CONFIG)
        self._ensured = True

    def get(self, coords: str) -> LedgerEntry | None:
        """The latest attempt on the dead letter at `coords`, or None if never retried.

        Prefer `entry_for(record)`, which ignores entries about an earlier record at the same
        address (a recreated DLQ topic)."""
        return self._entries.get(coords)

    def entry_for(self, record: RawRecord) -> LedgerEntry | None:
        """The latest attempt on the dead letter `record`, or None if never retried."""
        entry = self._entries.get(record.coords)
        return entry if entry is not None and entry.applies_to(record) else None

    def apply(self, entry: LedgerEntry) -> None:
        """Take `entry` into the in-memory view (the latest entry per dead letter wins)."""
        self._entries[entry.dead_letter] = entry

    def next_attempt(self, record: RawRecord) -> int:
        """The attempt number the next retry of the dead letter `record` will carry."""
        previous = self.entry_for(record)
        return 1 if previous is None else previous.attempt + 1

    def new_entry(
        self,
        record: RawRecord,
        result: RetryResult,
        *,
        target_topic: str | None,
        target_partition: int | None = None,
        target_offset: int | None = None,
        reason: str | None = None,
        attempt: int | None = None,
        at: float | None = None,
        by: str | None = None,
    ) -> LedgerEntry:
        """An entry for the next attempt on the dead letter `record`, carrying `sent_count`
        forward from the previous entry."""
        previous = self.entry_for(record)
        sent_before = previous.sent_count if previous is not None else 0
        if previous is not None and previous.sent and sent_before == 0:
            sent_before = 1
        return LedgerEntry(
            dead_letter=record.coords,
            target_topic=target_topic,
            target_partition=target_partition,
            target_offset=target_offset,
            result=result,
            reason=reason,
            at=self._clock() if at is None else at,
            by=by or current_user(),
            attempt=attempt if attempt is not None else self.next_attempt(record),
            sent_count=sent_before + (1 if result is RetryResult.SENT else 0),
            record_timestamp_ms=record.timestamp_ms,
        )

    async def record(self, entry: LedgerEntry) -> None:
        """Write `entry` to the ledger topic (creating it if needed) and apply it.

        Raises BrokerError if it cannot be written; the in-memory view is then unchanged.
        """
        broker = self._require_broker()
        await self.ensure_topic()
        await broker.produce(self.topic, entry.key(), entry.encode())
        self.apply(entry)

    def _require_broker(self) -> Broker:
        if self._broker is None:
            raise BrokerError("the retry ledger is not connected to a broker (call load first)")
        return self._broker
