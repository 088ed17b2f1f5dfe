"""Parsing an OffsetFetch v8 answer (KIP-709 layout, written here by hand): offsets per group,
metadata and tagged fields skipped, partitions without a commit or with an error left out, a
group's error reported, and the work handed back in slices."""

from __future__ import annotations

import struct

import pytest

from edamon.broker.kafka_offsets import parse_offset_fetch
from edamon.model.records import TP


def uvarint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def string(text: str) -> bytes:
    raw = text.encode()
    return uvarint(len(raw) + 1) + raw


def answer(
    groups: list[tuple[str, list[tuple[str, list[tuple[int, int, bytes, int]]]], int]],
) -> bytes:
    body = struct.pack(">i", 0) + uvarint(len(groups) + 1)
    for group, topics, error in groups:
        body += string(group) + uvarint(len(topics) + 1)
        for topic, partitions in topics:
            body += string(topic) + uvarint(len(partitions) + 1)
            for partition, offset, metadata, perr in partitions:
                body += struct.pack(">iqi", partition, offset, -1)
                body += uvarint(len(metadata) + 1) + metadata + struct.pack(">h", perr)
                body += (
                    uvarint(1) + uvarint(7) + uvarint(2) + b"xy" if partition == 3 else uvarint(0)
                )
            body += uvarint(0)
        body += struct.pack(">h", error) + uvarint(0)
    return body + uvarint(0)


def test_offsets_per_group_with_metadata_tags_and_errors() -> None:
    data = answer(
        [
            (
                "billing",
                [
                    ("orders", [(0, 10, b"", 0), (1, -1, b"", 0), (2, 30, b"m" * 200, 0)]),
                    ("payments", [(3, 40, b"meta", 0), (4, 50, b"", 3)]),
                ],
                0,
            ),
            ("moved", [], 16),
            ("empty", [], 0),
        ]
    )
    into: dict[str, dict[TP, int]] = {}
    errors: dict[str, int] = {}
    for _ in parse_offset_fetch(data, into, errors):
        pass
    assert into == {
        "billing": {TP("orders", 0): 10, TP("orders", 2): 30, TP("payments", 3): 40},
        "empty": {},
    }
    assert errors == {"moved": 16}


def test_a_large_answer_is_parsed_in_slices() -> None:
    partitions = [(p, p, b"", 0) for p in range(5_000)]
    data = answer([(f"g{g}", [("t", partitions)], 0) for g in range(2)])
    into: dict[str, dict[TP, int]] = {}
    steps = sum(1 for _ in parse_offset_fetch(data, into, {}))
    assert steps == 10_000 // 2_000
    assert len(into["g0"]) == len(into["g1"]) == 5_000


def test_a_cut_answer_is_an_error() -> None:
    data = answer([("billing", [("orders", [(0, 10, b"", 0)])], 0)])
    with pytest.raises((ValueError, IndexError, struct.error)):
        for _ in parse_offset_fetch(data[:-8], {}, {}):
            pass
