"""The index a member writes to the repartition topic, and reading it back.

**Format 2 (packed, written since issue 15's hop rework).** Stage 1 decodes a fetch in one
`decode_many` and writes, per index partition, one Kafka record (a *pack*) holding the compact
entries of every record of the fetch whose flow lands on that partition. The partition of an
entry is Kafka's default partitioner (murmur2) of its flow key: the correlation id (the event
id when there is none; a dead letter's flow when it is known, else its coordinates), as a
keyed record of format 1 was placed, so a flow stays on one partition and one member owns it
whole. A pack's value is one version byte (2) and a msgpack array
`[topics, events, forwarded]`:

- `topics`: the source topic names the entries refer to by index;
- `events`: one array per decoded event: event id, type, correlation, causation and aggregate
  ids, event time (epoch seconds), version, source, trace id, envelope format (0 seed,
  1 CloudEvents binary, 2 structured), topic index, partition, offset, record timestamp
  (ms), record key, and the `edamon-retry-of` header's value (a redriven copy) or nil;
- `forwarded`: records stage 2 must decode itself, whole (dead letters, ledger entries,
  records that did not decode or await their schema): topic index, partition, offset,
  timestamp, key, value, headers, and the flaw of a record no decoder may trust.

The record carries the header `edamon-index: 2`, no key, and the newest source timestamp of
its entries (so reading the index from `now − window` by time finds every entry in the
window). Stage 2 decodes a pack in one typed msgspec call and builds the envelopes directly
(`CollectorState.ingest_decoded`): no JSON and no header parsing per event.

**Format 1 (one record per event, before).** A CloudEvents binary-mode record with `edamon-src`
(coordinates) and `edamon-key` headers, or a forwarded record with them. Still read
(`source_record`), so a group's index topic written before an upgrade rebuilds as it did.
A record with an `edamon-index` version this code does not know (a newer edamon's), or a pack
that does not decode, is counted as one undecodable record of the index topic, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from edamon.broker.partitioner import key_partition
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.decode.schemas import SchemaStore
from edamon.model.chainnodes import RETRY_HEADER
from edamon.model.envelope import Envelope, EnvelopeFormat, Undecodable, build_envelope
from edamon.model.records import FlawedRecord, Header, RawRecord, build_record, parse_coords
from edamon.model.topics import TopicRules

FORMAT_HEADER = "edamon-index"
FORMAT = 2
FORMAT_BYTE = bytes([FORMAT])
FORMAT_TEXT = str(FORMAT).encode()
"""The `edamon-index` header's value."""
SOURCE_HEADER = "edamon-src"
"""Format 1: the source record's coordinates."""
KEY_HEADER = "edamon-key"
"""Format 1: the source record's key."""
PACK_MAX_BYTES = 768 * 1024
"""A pack larger than this is split (brokers refuse records over message.max.bytes, 1 MiB by
default)."""

_FORMATS = (
    EnvelopeFormat.SEED,
    EnvelopeFormat.CLOUDEVENTS_BINARY,
    EnvelopeFormat.CLOUDEVENTS_STRUCTURED,
)
_FORMAT_CODES = {f: i for i, f in enumerate(_FORMATS)}

EventEntry = tuple[
    str,  # event id
    str,  # event type
    str | None,  # correlation id
    str | None,  # causation id
    str | None,  # aggregate id
    float | None,  # event time, epoch seconds
    int | None,  # version
    str | None,  # source
    str | None,  # trace id
    int,  # envelope format
    int,  # topic index
    int,  # partition
    int,  # offset
    int,  # timestamp ms
    bytes | None,  # key
    bytes | None,  # edamon-retry-of
]
ForwardEntry = tuple[
    int,  # topic index
    int,  # partition
    int,  # offset
    int,  # timestamp ms
    bytes | None,  # key
    bytes | None,  # value
    list[tuple[str, bytes]],  # headers
    str | None,  # flaw (FlawedRecord), else nil
]
Pack = tuple[list[str], list[EventEntry], list[ForwardEntry]]

_encode = msgspec.msgpack.Encoder().encode
_decode_pack = msgspec.msgpack.Decoder(Pack).decode


class BadIndexRecord(ValueError):
    """An index record edamon did not write (format 1 without `edamon-src`, or malformed)."""


class PackBuilder:
    """The entries of one index partition, gathered over one fetch."""

    __slots__ = ("events", "forwarded", "timestamp_ms", "topic_index", "topics")

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.topic_index: dict[str, int] = {}
        self.events: list[tuple[Any, ...]] = []
        self.forwarded: list[tuple[Any, ...]] = []
        self.timestamp_ms = 0
        """The newest source timestamp of the entries: the pack's record timestamp (0: none
        known, e.g. records without one, which Kafka gives as -1; the producer's clock)."""

    def topic(self, name: str) -> int:
        index = self.topic_index.get(name)
        if index is None:
            index = self.topic_index[name] = len(self.topics)
            self.topics.append(name)
        return index

    def entries(self) -> int:
        return len(self.events) + len(self.forwarded)

    def encode(self) -> list[bytes]:
        """The pack's record values: one, or several when it would exceed PACK_MAX_BYTES."""
        value = FORMAT_BYTE + _encode((self.topics, self.events, self.forwarded))
        if len(value) <= PACK_MAX_BYTES or self.entries() <= 1:
            return [value]
        out: list[bytes] = []
        for events, forwarded in (
            (self.events[: len(self.events) // 2], self.forwarded[: len(self.forwarded) // 2]),
            (self.events[len(self.events) // 2 :], self.forwarded[len(self.forwarded) // 2 :]),
        ):
            half = PackBuilder()
            half.topics, half.topic_index = self.topics, self.topic_index
            half.events, half.forwarded = events, forwarded
            out += half.encode()
        return out


class IndexWriter:
    """Stage 1's transform: a fetch's source records -> their packs, per index partition."""

    def __init__(self, settings: Settings, schemas: SchemaStore | None = None) -> None:
        self.rules = TopicRules(
            settings.topics, ledger_topic=settings.dlq.ledger_topic, dlq_routes=settings.dlq.routes
        )
        self._decoder = EnvelopeDecoder(settings.envelope, schemas)
        self._dead = DeadLetterDecoder(self._decoder)

    def packs(self, records: Sequence[RawRecord], partitions: int) -> dict[int, PackBuilder]:
        """The packs of `records` by index partition (of `partitions`), entries in the
        records' order (records come in runs of one source partition). An event or a dead
        letter goes to the partition of its flow; a retry-ledger entry goes to every partition:
        it names a dead letter by its address alone, so stage 1 cannot tell whose flow that is,
        and every member applies it (entries are few, and applying one twice changes nothing)."""
        rules = self.rules
        ledger_topic = rules.ledger_topic
        packs: dict[int, PackBuilder] = {}
        run: list[RawRecord] = []
        last_topic: str | None = None
        plain = True
        for record in records:
            topic = record.topic
            if topic is not last_topic:
                last_topic = topic
                plain = topic != ledger_topic and not rules.is_dlq(topic)
            if plain:
                run.append(record)
                continue
            if run:
                self._add_events(run, packs, partitions)
                run = []
            if topic == ledger_topic:  # to every index partition: see `packs`
                for partition in range(partitions):
                    _forward(record, _pack(packs, partition))
                continue
            cid = self._dead.decode(record).correlation_id
            key = (cid or record.coords).encode()
            _forward(record, _pack(packs, key_partition(key, partitions)))
        if run:
            self._add_events(run, packs, partitions)
        return packs

    def _add_events(
        self, run: list[RawRecord], packs: dict[int, PackBuilder], partitions: int
    ) -> None:
        codes = _FORMAT_CODES
        for source, result in zip(run, self._decoder.decode_many(run), strict=True):
            if type(result) is Undecodable:  # forwarded as read (the result's copy may be cut)
                key = source.coords.encode()
                _forward(source, _pack(packs, key_partition(key, partitions)))
                continue
            env: Envelope = result  # type: ignore[assignment]
            record = env.record
            cid = env.correlation_id
            partition = key_partition((cid or env.event_id).encode(), partitions)
            pack = packs.get(partition)
            if pack is None:
                pack = packs[partition] = PackBuilder()
            topic = record.topic
            index = pack.topic_index.get(topic)
            if index is None:
                index = pack.topic(topic)
            retry_of = None
            if record.headers:
                for name, value in record.headers:
                    if name == RETRY_HEADER:
                        retry_of = value
            ts = record.timestamp_ms
            if ts > pack.timestamp_ms:
                pack.timestamp_ms = ts
            pack.events.append(
                (
                    env.event_id,
                    env.event_type,
                    cid,
                    env.causation_id,
                    env.aggregate_id,
                    env.occurred_at,
                    env.version,
                    env.source,
                    env.trace_id,
                    codes[env.format],
                    index,
                    record.partition,
                    record.offset,
                    ts,
                    record.key,
                    retry_of,
                )
            )


def _pack(packs: dict[int, PackBuilder], partition: int) -> PackBuilder:
    pack = packs.get(partition)
    if pack is None:
        pack = packs[partition] = PackBuilder()
    return pack


def _forward(record: RawRecord, pack: PackBuilder) -> None:
    flaw = record.flaw if type(record) is FlawedRecord else None
    pack.forwarded.append(
        (
            pack.topic(record.topic),
            record.partition,
            record.offset,
            record.timestamp_ms,
            record.key,
            record.value,
            record.headers,
            flaw,
        )
    )
    if record.timestamp_ms > pack.timestamp_ms:
        pack.timestamp_ms = record.timestamp_ms


class IndexReader:
    """Stage 2's side: index records -> the events (decoded) and the records to decode."""

    def __init__(self) -> None:
        self.events: list[Envelope | Undecodable] = []
        """Events built from packs, and the index records that could not be read."""
        self.records: list[RawRecord] = []
        """Records to decode: forwarded ones and format-1 index records' sources."""

    def clear(self) -> None:
        self.events = []
        self.records = []

    def read(self, index: RawRecord) -> None:
        """Add what `index` holds to `events` and `records`. Raises BadIndexRecord for a
        format-1 record edamon did not write (no `edamon-src`)."""
        version = None
        for name, value in index.headers:
            if name == FORMAT_HEADER:
                version = value
        if version is None:  # format 1: one record per event
            self.records.append(source_record(index))
            return
        data = index.value
        if version != FORMAT_TEXT:
            shown = version.decode("ascii", "replace")[:20]
            reason = f"shard index format {shown!r} unknown (written by a newer edamon?)"
            self.events.append(Undecodable(index, reason))
            return
        if not data or data[0] != FORMAT:
            self.events.append(Undecodable(index, "shard index pack without its version byte"))
            return
        try:
            self._unpack(memoryview(data)[1:])
        except (msgspec.DecodeError, IndexError) as exc:
            self.events.append(Undecodable(index, f"shard index pack unreadable: {exc}"))

    def _unpack(self, data: memoryview) -> None:
        topics, events, forwarded = _decode_pack(data)
        formats = _FORMATS
        # check every entry first: a malformed pack is refused whole, never half applied
        last = len(topics)
        for entry in events:
            if not (0 <= entry[10] < last and 0 <= entry[9] < 3):
                raise IndexError(f"entry refers to topic {entry[10]} or format {entry[9]}")
        for entry in forwarded:
            if not 0 <= entry[0] < last:
                raise IndexError(f"entry refers to topic {entry[0]}")
        append = self.events.append
        for (
            event_id,
            event_type,
            cid,
            causation,
            aggregate,
            occurred_at,
            version,
            source,
            trace,
            fmt,
            topic,
            partition,
            offset,
            ts,
            key,
            retry_of,
        ) in events:
            headers: tuple[Header, ...] = () if retry_of is None else ((RETRY_HEADER, retry_of),)
            record = build_record(topics[topic], partition, offset, ts, key, None, headers)
            append(
                build_envelope(
                    event_id,
                    event_type,
                    cid,
                    causation,
                    aggregate,
                    occurred_at,
                    version,
                    source,
                    trace,
                    formats[fmt],
                    record,
                    False,
                    False,
                    None,
                )
            )
        add = self.records.append
        for topic, partition, offset, ts, key, value, header_list, flaw in forwarded:
            header_tuple = tuple((name, data) for name, data in header_list)
            if flaw is None:
                add(build_record(topics[topic], partition, offset, ts, key, value, header_tuple))
            else:
                add(
                    FlawedRecord(
                        topics[topic], partition, offset, ts, key, value, header_tuple, flaw
                    )
                )


def source_record(index: RawRecord) -> RawRecord:
    """Format 1: the source record an index record stands for: its coordinates, timestamp and
    key, the index value and headers (edamon's own removed). Raises BadIndexRecord."""
    src: bytes | None = None
    key: bytes | None = None
    headers: list[Header] = []
    for name, value in index.headers:
        if name == SOURCE_HEADER:
            src = value
        elif name == KEY_HEADER:
            key = value
        else:
            headers.append((name, value))
    if src is None:
        raise BadIndexRecord(f"no {SOURCE_HEADER} header at {index.coords}")
    try:
        topic, partition, offset = parse_coords(src.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadIndexRecord(f"bad {SOURCE_HEADER} at {index.coords}: {exc}") from None
    return RawRecord(topic, partition, offset, index.timestamp_ms, key, index.value, tuple(headers))
