"""Records that aiokafka cannot decode: a header name that is not UTF-8.

Upstream gap (aiokafka 0.14.0, and its main branch when this was written): the record batch
reader decodes every header name with strict UTF-8 (`aiokafka/record/_crecords/
default_records.pyx`, `DefaultRecordBatch._read_msg`: `headers.append((h_key.decode("utf-8"),
h_value))`; the pure-Python `default_records.py` does the same), and no aiokafka issue reports
it. Kafka itself takes any bytes there, and Go (sarama) and librdkafka clients write them. The
UnicodeDecodeError leaves `getmany()` for the whole fetch, and the next fetch fails again at the
same offset: without this module one such record stops a reader for good.

The workaround touches one aiokafka internal: the fetcher builds the records of each fetched
partition with `aiokafka.consumer.fetcher.MemoryRecords`. `install()` puts `TolerantRecords`
there. It hands out aiokafka's own record batches; a batch whose records fail to decode is
decoded again here (record format v2: the Kafka protocol's "Record Batch"), every record as
aiokafka would give it except that a header name that is not UTF-8 becomes a `BadHeaderName`
(its bytes shown escaped). `KafkaRecordTailer` then turns such records into `FlawedRecord`s,
which the decoders count as undecodable. The cost on the normal path: a wrapper per record
batch and a generator step per record (~30-70 ns next to aiokafka's own ~500 ns).
tests/kafka/test_hostile_records.py tells the day aiokafka decodes such names itself (then this
module can go).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from aiokafka import codec
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import CorruptRecordException

from edamon.broker.kafka_groups import KafkaTailer
from edamon.config import KafkaSettings
from edamon.model.records import FlawedRecord, Header, RawRecord

__all__ = [
    "BadHeaderName",
    "KafkaRecordTailer",
    "TolerantRecords",
    "decode_batch",
    "escape_bytes",
    "flag_flawed",
    "install",
]

HEADER_NAME_NOT_UTF8 = "header name not UTF-8"

_UPSTREAM: Any = aiokafka_fetcher.MemoryRecords
"""aiokafka's own MemoryRecords class, wrapped by TolerantRecords."""

_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
"""baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordCount."""
_LOG_OVERHEAD = 12  # baseOffset + batchLength
_MAGIC_AT = 16
_CODEC_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_DECOMPRESS = {
    1: codec.gzip_decode,
    2: codec.snappy_decode,
    3: codec.lz4_decode,
    4: codec.zstd_decode,
}
_MAX_SHOWN = 64
"""A bad header name is shown escaped, cut to this many bytes."""


class BadHeaderName(str):
    """A header name that is not UTF-8: the text is its bytes shown escaped, `raw` the bytes."""

    raw: bytes

    def __new__(cls, raw: bytes) -> BadHeaderName:
        name = super().__new__(cls, escape_bytes(raw))
        name.raw = raw
        return name


def escape_bytes(raw: bytes, limit: int | None = None) -> str:
    """`raw` as printable ASCII: bytes 0x20-0x7e as they are (a backslash doubled), any other
    byte as `\\xNN`; cut after `limit` bytes with `…`."""
    shown = raw if limit is None else raw[:limit]
    text = "".join(
        ("\\\\" if b == 0x5C else chr(b)) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in shown
    )
    return text + ("…" if len(shown) < len(raw) else "")


class _Record:
    """One record in the shape aiokafka's fetcher reads (its DefaultRecord's attributes)."""

    __slots__ = ("headers", "key", "offset", "timestamp", "timestamp_type", "value")
    checksum = None  # record format v2 has none per record

    def __init__(
        self,
        offset: int,
        timestamp: int | None,
        timestamp_type: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]],
    ) -> None:
        self.offset = offset
        self.timestamp = timestamp
        self.timestamp_type = timestamp_type
        self.key = key
        self.value = value
        self.headers = headers


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint (Kafka's varint and varlong) at `pos`: (value, next position)."""
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise CorruptRecordException("record batch ends inside a varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptRecordException("varint longer than 10 bytes")


def _take(buf: bytes, pos: int, size: int) -> tuple[bytes | None, int]:
    if size < 0:
        return None, pos
    end = pos + size
    if end > len(buf):
        raise CorruptRecordException("record batch ends inside a record")
    return bytes(buf[pos:end]), end


def decode_batch(data: bytes | memoryview) -> list[Any]:
    """Every record of one v2 record batch (`data` from its baseOffset on), header names that
    are not UTF-8 kept as BadHeaderName. Raises CorruptRecordException on malformed bytes."""
    raw = bytes(data)
    if len(raw) < _BATCH_HEADER.size:
        raise CorruptRecordException("record batch shorter than its header")
    (
        base_offset, _length, _epoch, magic, _crc, attributes, _last_delta,
        first_ts, max_ts, _pid, _pepoch, _seq, count,
    ) = _BATCH_HEADER.unpack_from(raw)  # fmt: skip
    if magic != 2:
        raise CorruptRecordException(f"record batch magic {magic}, expected 2")
    body: bytes = raw[_BATCH_HEADER.size :]
    compression = attributes & _CODEC_MASK
    if compression:
        decompress = _DECOMPRESS.get(compression)
        if decompress is None:
            raise CorruptRecordException(f"unknown compression codec {compression}")
        body = decompress(body)
    log_append = bool(attributes & _LOG_APPEND_TIME)
    timestamp_type = 1 if log_append else 0
    records: list[Any] = []
    pos = 0
    for _ in range(count):
        length, pos = _varint(body, pos)
        start = pos
        _, pos = _varint(body, pos)  # attributes (unused)
        ts_delta, pos = _varint(body, pos)
        offset_delta, pos = _varint(body, pos)
        size, pos = _varint(body, pos)
        key, pos = _take(body, pos, size)
        size, pos = _varint(body, pos)
        value, pos = _take(body, pos, size)
        header_count, pos = _varint(body, pos)
        if header_count < 0:
            raise CorruptRecordException(f"invalid number of record headers {header_count}")
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(header_count):
            size, pos = _varint(body, pos)
            if size < 0:
                raise CorruptRecordException(f"invalid negative header key size {size}")
            name_bytes, pos = _take(body, pos, size)
            assert name_bytes is not None
            size, pos = _varint(body, pos)
            header_value, pos = _take(body, pos, size)
            try:
                name: str = name_bytes.decode("utf-8")
            except UnicodeDecodeError:
                name = BadHeaderName(name_bytes)
            headers.append((name, header_value))
        if pos - start != length:
            raise CorruptRecordException(
                f"invalid record size: expected {length} bytes, read {pos - start}"
            )
        timestamp = max_ts if log_append else first_ts + ts_delta
        records.append(
            _Record(
                base_offset + offset_delta,
                None if timestamp == -1 else timestamp,
                None if timestamp == -1 else timestamp_type,
                key,
                value,
                headers,
            )
        )
    return records


class _Flaws:
    batches = 0
    """Record batches decoded here since start: a reader that saw this change during its fetch
    looks for flawed records in what it fetched (otherwise it need not look)."""


def _has_bad_name(record: Any) -> bool:
    return any(isinstance(name, BadHeaderName) for name, _ in record.headers)


class _TolerantBatch:
    """aiokafka's record batch, decoded here instead if aiokafka fails on a header name."""

    __slots__ = ("_batch", "_data")

    def __init__(self, batch: Any, data: memoryview) -> None:
        self._batch = batch
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._batch  # aiokafka's own decoder, at C speed
        except UnicodeDecodeError:
            # aiokafka handed out every record before the first one with such a name (its
            # decoder failed there): go on from that one.
            _Flaws.batches += 1
            records = decode_batch(self._data)
            first = next((i for i, r in enumerate(records) if _has_bad_name(r)), len(records))
            yield from records[first:]

    def __next__(self) -> Any:  # aiokafka reads a control batch's marker with next()
        return next(self._batch)


class TolerantRecords:
    """Stands in for aiokafka's MemoryRecords in its fetcher (see the module docstring)."""

    __slots__ = ("_data", "_inner", "_pos")

    def __init__(self, data: bytes) -> None:
        self._inner = _UPSTREAM(data)
        self._data = data
        self._pos = 0

    def size_in_bytes(self) -> int:
        return int(self._inner.size_in_bytes())

    def has_next(self) -> bool:
        return bool(self._inner.has_next())

    def next_batch(self) -> Any:
        batch = self._inner.next_batch()
        if batch is None:
            return None
        data, start = self._data, self._pos
        (length,) = struct.unpack_from(">i", data, start + 8)
        end = start + _LOG_OVERHEAD + length
        self._pos = end
        if data[start + _MAGIC_AT] < 2:  # legacy message sets have no headers
            return batch
        return _TolerantBatch(batch, memoryview(data)[start:end])


def install() -> None:
    """Make aiokafka's fetcher (every consumer in this process) read through TolerantRecords.
    Idempotent."""
    aiokafka_fetcher.MemoryRecords = TolerantRecords


def _flaw_of(record: RawRecord) -> tuple[str, tuple[Header, ...]] | None:
    bad = [name for name, _ in record.headers if isinstance(name, BadHeaderName)]
    if not bad:
        return None
    shown = ", ".join(escape_bytes(name.raw, _MAX_SHOWN) for name in bad[:3])
    flaw = f"{HEADER_NAME_NOT_UTF8}: {shown}" + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
    headers = tuple((str(name), value) for name, value in record.headers)
    return flaw, headers


def flag_flawed(records: list[RawRecord]) -> list[RawRecord]:
    """`records` with every record that has a BadHeaderName turned into a FlawedRecord (its
    names as plain escaped text)."""
    out = records
    for i, record in enumerate(records):
        found = _flaw_of(record)
        if found is None:
            continue
        if out is records:
            out = list(records)
        flaw, headers = found
        out[i] = FlawedRecord(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp_ms,
            key=record.key,
            value=record.value,
            headers=headers,
            flaw=flaw,
        )
    return out


class KafkaRecordTailer(KafkaTailer):
    """The broker's tailer: reads past records with a header name that is not UTF-8, handing
    them out as FlawedRecords."""

    def __init__(self, settings: KafkaSettings) -> None:
        install()
        super().__init__(settings)

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        seen = _Flaws.batches
        records = await super().fetch(max_records, timeout_ms)
        if _Flaws.batches != seen and records:
            records = flag_flawed(records)
        return records
