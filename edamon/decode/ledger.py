"""The retry ledger's record format: every DLQ redrive attempt, one record in a compacted
Kafka topic; its decoding and its signature. Writing and loading it is actions/ledger.py.

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

**Only edamon's own entries count.** Anyone who can write to the ledger topic could otherwise
make an untouched dead letter look retried (shown "sent", skipped by the next retry), or make a
retried one look untouched (retried twice). Every entry edamon writes carries an HMAC-SHA256 of
(ledger topic, key, value) in the header `edamon-ledger-sig` (`LedgerSigner`), keyed with a
secret the cluster's other writers don't have; readers (`Ledger.load`, the collector) drop
every record whose signature is missing or wrong, tombstones included.

Why a signature and not the writer's producer or transactional id: those are visible to every
client and any producer may claim one (a transactional id is just a string), and edamon's
records as read by its clients carry neither; an HMAC cannot be forged without the secret, and
it survives compaction and a copy of the topic. The secret (`LedgerSigner.from_settings`) is
`dlq.ledger_secret` (shared by everyone who retries on one cluster: set the same value
everywhere, e.g. EDAMON_DLQ__LEDGER_SECRET), else a random one generated on first use and kept
in `$XDG_STATE_HOME/edamon/ledger.key` (mode 0600), enough for one operator's machine.

A replayed genuine entry cannot roll a dead letter back either: for one record, an entry
replaces the one held only with a higher attempt number (`supersedes`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from edamon.config import DlqSettings
from edamon.model.records import RawRecord

__all__ = [
    "DEFAULT_LEDGER_TOPIC",
    "SIGNATURE_HEADER",
    "LedgerEntry",
    "LedgerSecretError",
    "LedgerSigner",
    "RetryResult",
    "decode_ledger_record",
    "supersedes",
]

DEFAULT_LEDGER_TOPIC = "edamon.retries"
SIGNATURE_HEADER = "edamon-ledger-sig"
_SIGNATURE_VERSION = b"v1:"
KEY_FILE = "ledger.key"
"""The generated secret's file name, in $XDG_STATE_HOME/edamon (~/.local/state when unset)."""


class LedgerSecretError(Exception):
    """The ledger's signing secret can be neither read nor created."""


class LedgerSigner:
    """Signs ledger records and tells edamon's own from anyone else's (see the module doc).

    The secret is read (or generated) on first use, not at construction."""

    def __init__(self, secret: bytes | None = None, *, key_file: Path | None = None) -> None:
        self._secret = secret
        self._key_file = key_file

    @classmethod
    def from_settings(cls, dlq: DlqSettings) -> LedgerSigner:
        """`dlq.ledger_secret` when set, else the generated per-user secret."""
        if dlq.ledger_secret is not None:
            return cls(dlq.ledger_secret.get_secret_value().encode("utf-8"))
        return cls()

    @property
    def secret(self) -> bytes:
        """Raises LedgerSecretError when the generated secret can be neither read nor created."""
        if self._secret is None:
            path = self._key_file or default_key_file()
            try:
                self._secret = _local_secret(path)
            except (OSError, ValueError) as exc:
                raise LedgerSecretError(
                    f"cannot read or create the retry ledger secret {path}: {exc} "
                    "(set dlq.ledger_secret)"
                ) from None
        return self._secret

    def signature(self, topic: str, key: bytes | None, value: bytes | None) -> bytes:
        """The `edamon-ledger-sig` header value of a record of `topic`."""
        mac = hmac.new(self.secret, b"edamon-ledger\0", hashlib.sha256)
        for part in (topic.encode("utf-8"), key, value):
            if part is None:
                mac.update(b"-")
            else:
                mac.update(b"%d:" % len(part))
                mac.update(part)
        return _SIGNATURE_VERSION + mac.hexdigest().encode("ascii")

    def verify(self, record: RawRecord) -> bool:
        """True if `record` was written by an edamon holding this secret, unchanged."""
        found = [value for name, value in record.headers if name == SIGNATURE_HEADER]
        if len(found) != 1 or not isinstance(found[0], bytes):
            return False
        try:
            expected = self.signature(record.topic, record.key, record.value)
        except LedgerSecretError:  # no secret: nothing can be told to be edamon's
            return False
        return hmac.compare_digest(found[0], expected)


def default_key_file() -> Path:
    """$XDG_STATE_HOME/edamon/ledger.key (~/.local/state when unset)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "edamon" / KEY_FILE


def _local_secret(path: Path) -> bytes:
    """The secret in `path`, created (32 random bytes, hex, mode 0600) when missing. Two
    processes creating it at once agree: the file appears whole (a link), and the first wins.
    Raises OSError when it can neither be read nor created."""
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        with suppress(FileExistsError):  # another process was first: its secret it is
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text("ascii").strip())


def supersedes(new: LedgerEntry, held: LedgerEntry | None) -> bool:
    """Whether `new` replaces `held` as the latest attempt on a dead letter: a higher attempt
    on the same record (an older genuine entry written again cannot roll it back), or an
    entry about another record at that address (the DLQ was recreated) written later."""
    if held is None:
        return True
    if new.record_timestamp_ms != held.record_timestamp_ms:
        return new.at >= held.at
    return new.attempt > held.attempt or (new.attempt == held.attempt and new.at >= held.at)


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
