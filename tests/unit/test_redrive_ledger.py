"""Ledger entries: encoding, tolerant decoding, and the in-memory view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edamon.actions.ledger import (
    SIGNATURE_HEADER,
    Ledger,
    LedgerEntry,
    LedgerSigner,
    RetryResult,
    current_user,
    decode_ledger_record,
)
from edamon.broker.memory import MemoryBroker
from edamon.model.records import RawRecord


def _record(value: bytes | None, key: bytes | None = b"orders.DLT/0/5") -> RawRecord:
    return RawRecord("edamon.retries", 0, 0, 0, key, value)


ENTRY = LedgerEntry(
    dead_letter="orders.DLT/0/5",
    target_topic="orders",
    target_partition=2,
    target_offset=17,
    result=RetryResult.SENT,
    reason=None,
    at=1795687200.25,
    by="alice",
    attempt=2,
    sent_count=1,
)


def test_encode_decode_roundtrip() -> None:
    assert ENTRY.key() == b"orders.DLT/0/5"
    data = json.loads(ENTRY.encode())
    assert data == {
        "dead_letter": "orders.DLT/0/5",
        "target_topic": "orders",
        "target_partition": 2,
        "target_offset": 17,
        "result": "sent",
        "reason": None,
        "at": 1795687200.25,
        "by": "alice",
        "attempt": 2,
        "sent_count": 1,
        "record_timestamp_ms": None,
    }
    assert decode_ledger_record(_record(ENTRY.encode())) == ENTRY
    failed = LedgerEntry("x.DLT/1/2", "x", None, None, RetryResult.FAILED, "boom", 5.0, "bob", 1)
    assert decode_ledger_record(_record(failed.encode())) == failed
    assert failed.status == "failed: boom" and ENTRY.status == "sent"
    assert ENTRY.target_coords == "orders/2/17" and failed.target_coords is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"result": "sent"}',
        b'{"result": "maybe", "at": 1}',
        b'{"result": "sent", "at": "yesterday"}',
        b'{"result": "sent", "at": true}',
        b'{"result": "sent", "at": NaN}',
        b'{"result": ["sent"], "at": 1}',
        b"[" * 100_000,
    ],
)
def test_garbage_decodes_to_none(value: bytes | None) -> None:
    assert decode_ledger_record(_record(value)) is None


def test_minimal_and_ill_typed_optional_fields() -> None:
    entry = decode_ledger_record(
        _record(b'{"result": "sent", "at": 3, "attempt": "two", "target_partition": true}')
    )
    assert entry is not None
    assert entry.dead_letter == "orders.DLT/0/5"  # from the key
    assert (entry.attempt, entry.target_partition, entry.by, entry.sent_count) == (
        1,
        None,
        "unknown",
        1,
    )
    assert decode_ledger_record(_record(b'{"result": "failed", "at": 3}', key=None)) is None


DEAD = RawRecord("orders.DLT", 0, 5, 1_795_687_100_000, b"k", b"v")


def test_retried_survives_a_later_failed_attempt() -> None:
    ledger = Ledger(clock=lambda: 100.0)
    coords = DEAD.coords
    assert ledger.next_attempt(DEAD) == 1
    sent = ledger.new_entry(DEAD, RetryResult.SENT, target_topic="orders", by="a")
    assert (sent.attempt, sent.sent_count, sent.at) == (1, 1, 100.0)
    assert sent.record_timestamp_ms == DEAD.timestamp_ms
    ledger.apply(sent)
    failed = ledger.new_entry(DEAD, RetryResult.FAILED, target_topic="orders", reason="x")
    assert (failed.attempt, failed.sent_count) == (2, 1)
    ledger.apply(failed)
    assert ledger.get(coords) == failed == ledger.entry_for(DEAD)
    assert failed.retried and not failed.sent
    # After compaction only this record remains; it still says "retried".
    decoded = decode_ledger_record(_record(failed.encode()))
    assert decoded is not None and decoded.retried


def test_current_user_is_the_login_name_else_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    assert current_user() == "alice"
    monkeypatch.setattr(getpass, "getuser", lambda: "")
    assert current_user() == "unknown"

    def no_user() -> str:
        raise OSError("no username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert current_user() == "unknown"


async def test_load_record_and_tombstone_on_memory_broker() -> None:
    broker = MemoryBroker()
    ledger = Ledger("ledger")
    assert await ledger.load(broker) == 0
    assert [t.name for t in await broker.list_topics()] == []  # loading never creates
    await ledger.record(ENTRY)
    other = LedgerEntry("b.DLT/0/1", None, None, None, RetryResult.FAILED, "r", 1.0, "u", 1)
    await ledger.record(other)
    signer = ledger.signer
    junk = signer.signature("ledger", b"junk", b"not json")
    await broker.produce("ledger", b"junk", b"not json", [(SIGNATURE_HEADER, junk)])
    await broker.produce("ledger", ENTRY.key(), None)  # a tombstone edamon did not write
    tombstone = signer.signature("ledger", other.key(), None)
    await broker.produce("ledger", other.key(), None, [(SIGNATURE_HEADER, tombstone)])

    again = Ledger("ledger")
    assert await again.load(broker) == 1
    assert again.get(ENTRY.dead_letter) == ENTRY  # the unsigned tombstone changed nothing
    assert again.get("b.DLT/0/1") is None  # the signed one forgot it
    assert again.ignored == 1
    await broker.close()


FORGED = LedgerEntry("orders.DLT/0/5", "orders", 0, 1, RetryResult.SENT, None, 9e9, "mallory", 9)


async def test_entries_edamon_did_not_sign_are_ignored(tmp_path: Path) -> None:
    broker = MemoryBroker()
    writer = Ledger("ledger", signer=LedgerSigner(b"team secret"))
    await writer.load(broker)
    await writer.record(ENTRY)
    # Anyone else: no signature, a signature with another key, a copied signature on a changed
    # value, and two signature headers.
    stolen = writer.signer.signature("ledger", ENTRY.key(), ENTRY.encode())
    other_key = LedgerSigner(b"guess").signature("ledger", FORGED.key(), FORGED.encode())
    for headers in ([], [(SIGNATURE_HEADER, other_key)], [(SIGNATURE_HEADER, stolen)]):
        await broker.produce("ledger", FORGED.key(), FORGED.encode(), headers)
    good = writer.signer.signature("ledger", FORGED.key(), FORGED.encode())
    await broker.produce("ledger", FORGED.key(), FORGED.encode(), [(SIGNATURE_HEADER, good)] * 2)

    reader = Ledger("ledger", signer=LedgerSigner(b"team secret"))
    assert await reader.load(broker) == 1
    assert reader.get(ENTRY.dead_letter) == ENTRY and reader.ignored == 4
    # The same entries signed by an edamon with another secret count for nothing.
    stranger = Ledger("ledger", signer=LedgerSigner(key_file=tmp_path / "ledger.key"))
    assert await stranger.load(broker) == 0 and stranger.ignored == 5
    await broker.close()


async def test_a_replayed_older_entry_does_not_roll_a_retry_back() -> None:
    broker = MemoryBroker()
    ledger = Ledger("ledger", signer=LedgerSigner(b"k"), clock=lambda: 100.0)
    await ledger.load(broker)
    first = ledger.new_entry(DEAD, RetryResult.FAILED, target_topic="orders", by="a")
    await ledger.record(first)
    second = ledger.new_entry(DEAD, RetryResult.SENT, target_topic="orders", by="a")
    await ledger.record(second)
    # The first (genuine, signed) record written again, e.g. copied by someone.
    signature = ledger.signer.signature("ledger", first.key(), first.encode())
    await broker.produce("ledger", first.key(), first.encode(), [(SIGNATURE_HEADER, signature)])
    again = Ledger("ledger", signer=LedgerSigner(b"k"))
    await again.load(broker)
    assert again.entry_for(DEAD) == second
    await broker.close()


def test_the_generated_secret_is_made_once_private_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "state" / "edamon" / "ledger.key"
    one = LedgerSigner(key_file=path).signature("t", b"k", b"v")
    assert path.stat().st_mode & 0o777 == 0o600
    assert LedgerSigner(key_file=path).signature("t", b"k", b"v") == one
    assert LedgerSigner(key_file=tmp_path / "other.key").signature("t", b"k", b"v") != one
    # Over the topic, the key and the value: each changes it.
    signer = LedgerSigner(key_file=path)
    assert len({one, signer.signature("u", b"k", b"v"), signer.signature("t", b"K", b"v")}) == 3
    assert signer.signature("t", b"k", None) != signer.signature("t", b"k", b"")


async def test_record_without_broker_raises_broker_error() -> None:
    from edamon.broker.base import BrokerError

    with pytest.raises(BrokerError, match="not connected"):
        await Ledger().record(ENTRY)


def test_entry_of_a_recreated_topic_does_not_apply_to_the_new_record() -> None:
    ledger = Ledger(clock=lambda: 100.0)
    ledger.apply(ledger.new_entry(DEAD, RetryResult.SENT, target_topic="orders", by="a"))
    newer = RawRecord(DEAD.topic, DEAD.partition, DEAD.offset, DEAD.timestamp_ms + 1, b"k", b"v")
    assert ledger.get(newer.coords) is not None
    assert ledger.entry_for(newer) is None
    assert ledger.next_attempt(newer) == 1
    fresh = ledger.new_entry(newer, RetryResult.FAILED, target_topic="orders", by="a")
    assert (fresh.attempt, fresh.sent_count, fresh.retried) == (1, 0, False)
    # Entries written without the timestamp (older edamon) apply to any record at the address.
    legacy = decode_ledger_record(_record(b'{"result": "sent", "at": 1}', key=DEAD.coords.encode()))
    assert legacy is not None and legacy.applies_to(newer) and legacy.applies_to(DEAD)
    assert not legacy.applies_to(RawRecord("other.DLT", 0, 5, 0, None, None))
