"""Writing and loading the retry ledger (its record format: decode/ledger.py)."""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Iterator, Mapping

from edamon.actions.scan import read_to_end
from edamon.broker.base import Broker, BrokerError
from edamon.config import Settings
from edamon.decode.ledger import (
    DEFAULT_LEDGER_TOPIC,
    KEY_FILE,
    SIGNATURE_HEADER,
    LedgerEntry,
    LedgerSecretError,
    LedgerSigner,
    RetryResult,
    decode_ledger_record,
    default_key_file,
    supersedes,
)
from edamon.model.records import TP, RawRecord

__all__ = [
    "DEFAULT_LEDGER_TOPIC",
    "KEY_FILE",
    "SIGNATURE_HEADER",
    "Ledger",
    "LedgerEntry",
    "LedgerSigner",
    "ReadOnlyError",
    "RetryResult",
    "current_user",
    "decode_ledger_record",
    "default_key_file",
    "supersedes",
]

LEDGER_TOPIC_CONFIG: Mapping[str, str] = {"cleanup.policy": "compact"}


class ReadOnlyError(Exception):
    """A write (a retry, the ledger topic) was asked for while edamon runs read-only."""


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
        self,
        topic: str = DEFAULT_LEDGER_TOPIC,
        *,
        clock: Callable[[], float] = time.time,
        signer: LedgerSigner | None = None,
        read_only: bool = False,
    ) -> None:
        self.topic = topic
        self.signer = signer or LedgerSigner()
        self.read_only = read_only
        """Writes (the topic, entries) raise ReadOnlyError."""
        self._clock = clock
        self._entries: dict[str, LedgerEntry] = {}
        self._broker: Broker | None = None
        self._ensured = False
        self.ignored = 0
        """Records of the topic dropped by `load` as not written by edamon (no or a wrong
        signature): forged, or signed with another secret."""

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Ledger:
        """The ledger `settings` name (`dlq.ledger_topic`, its secret, `read_only`)."""
        return cls(
            settings.dlq.ledger_topic,
            clock=clock,
            signer=LedgerSigner.from_settings(settings.dlq),
            read_only=settings.read_only,
        )

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
        Records edamon did not write (see the module doc) are counted in `ignored`, not read.

        Raises BrokerError (including a timeout reading the topic).
        """
        self._broker = broker
        topics = {info.name: info for info in await broker.list_topics()}
        info = topics.get(self.topic)
        if info is None:
            return len(self._entries)
        self._ensured = True
        tps = [TP(self.topic, p) for p in range(info.partitions)]
        verify = self.signer.verify
        for record in await read_to_end(broker, tps, timeout_s=timeout_s):
            if not verify(record):
                self.ignored += 1
                continue
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
        if self.read_only:
            raise ReadOnlyError(f"read-only: the retry ledger topic {self.topic} is not created")
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
        """Take `entry` into the in-memory view, unless the entry held supersedes it."""
        if supersedes(entry, self._entries.get(entry.dead_letter)):
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

        Raises BrokerError if it cannot be written, ReadOnlyError when read-only; the in-memory
        view is then unchanged.
        """
        if self.read_only:
            raise ReadOnlyError("read-only: nothing is written to the retry ledger")
        broker = self._require_broker()
        await self.ensure_topic()
        key, value = entry.key(), entry.encode()
        try:
            signature = self.signer.signature(self.topic, key, value)
        except LedgerSecretError as exc:
            raise BrokerError(str(exc)) from None
        await broker.produce(self.topic, key, value, [(SIGNATURE_HEADER, signature)])
        self.apply(entry)

    def _require_broker(self) -> Broker:
        if self._broker is None:
            raise BrokerError("the retry ledger is not connected to a broker (call load first)")
        return self._broker
