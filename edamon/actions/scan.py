"""Reading dead letters straight from the broker: whole DLQ topics, or single records by
address (with broker/reading.py's readers: no consumer group, no commits, bounded in time)."""

from __future__ import annotations

from collections.abc import Sequence

from edamon.broker.base import Broker, BrokerError
from edamon.broker.reading import ReadTimeout, RecordReader, read_to_end
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter
from edamon.model.records import TP, parse_coords
from edamon.model.topics import TopicRules

__all__ = [
    "ReadTimeout",
    "RecordReader",
    "UnknownTopicError",
    "find_dead_letters",
    "is_dlq_topic",
    "read_dead_letters",
    "read_to_end",
    "untailed_dlq_topics",
]


class UnknownTopicError(BrokerError):
    """A topic that was asked for does not exist."""


def topic_rules(settings: Settings) -> TopicRules:
    """The collector's rules: which topics are tailed, which are DLQs."""
    return TopicRules(
        settings.topics, ledger_topic=settings.dlq.ledger_topic, dlq_routes=settings.dlq.routes
    )


def is_dlq_topic(settings: Settings, topic: str) -> bool:
    """`topic` matches a `topics.dlq` pattern (whole name) or is a key of `dlq.routes`."""
    return topic_rules(settings).is_dlq(topic)


async def untailed_dlq_topics(broker: Broker, settings: Settings) -> list[str]:
    """DLQ topics left out because `topics.include`/`exclude` does not tail them (the DLQ
    commands skip them unless named, as the dashboard does not show them)."""
    rules = topic_rules(settings)
    return sorted(
        info.name
        for info in await broker.list_topics()
        if not info.internal and rules.is_dlq(info.name) and not rules.tailed(info.name)
    )


def _decoder(settings: Settings) -> DeadLetterDecoder:
    return DeadLetterDecoder(EnvelopeDecoder(settings.envelope))


async def read_dead_letters(
    broker: Broker,
    settings: Settings,
    topics: Sequence[str] | None = None,
    *,
    timeout_s: float = 60.0,
) -> list[DeadLetter]:
    """Every record of the DLQ topics (`topics`, or all topics matching `topics.dlq`) from the
    beginning to the current end, decoded, ordered by topic, partition and offset.

    Raises UnknownTopicError for a named topic that does not exist, ReadTimeout, BrokerError.
    """
    existing = {info.name: info for info in await broker.list_topics()}
    if topics is None:
        rules = topic_rules(settings)
        selected = {
            name: info.partitions
            for name, info in existing.items()
            if not info.internal and rules.tailed(name) and rules.is_dlq(name)
        }
    else:
        missing = [name for name in topics if name not in existing]
        if missing:
            raise UnknownTopicError(f"no such topic: {', '.join(missing)}")
        selected = {name: existing[name].partitions for name in topics}
    tps = [TP(name, p) for name, count in sorted(selected.items()) for p in range(count)]
    records = await read_to_end(broker, tps, timeout_s=timeout_s)
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))
    decode = _decoder(settings).decode
    return [decode(record) for record in records]


async def find_dead_letters(
    broker: Broker,
    settings: Settings,
    addresses: Sequence[str],
    *,
    timeout_s: float = 15.0,
) -> tuple[list[DeadLetter], dict[str, str]]:
    """The dead letters at `addresses` (`topic/partition/offset`), in the order given (repeats
    dropped), and the addresses that could not be read -> why.

    Raises ValueError for an address that does not parse; BrokerError on broker failures.
    """
    parsed: dict[str, tuple[TP, int]] = {}
    for address in addresses:
        topic, partition, offset = parse_coords(address)
        parsed.setdefault(f"{topic}/{partition}/{offset}", (TP(topic, partition), offset))
    existing = {info.name: info.partitions for info in await broker.list_topics()}
    problems: dict[str, str] = {}
    found: list[DeadLetter] = []
    decode = _decoder(settings).decode
    reader = RecordReader(broker, parsed.values(), timeout_s=timeout_s)
    try:
        for address, (tp, offset) in parsed.items():
            if tp.topic not in existing:
                problems[address] = f"no such topic: {tp.topic}"
            elif not 0 <= tp.partition < existing[tp.topic]:
                problems[address] = f"topic {tp.topic} has no partition {tp.partition}"
            elif not is_dlq_topic(settings, tp.topic):
                problems[address] = f"{tp.topic} is not a DLQ topic (see topics.dlq and dlq.routes)"
            else:
                record = await reader.get(tp, offset)
                if record is None:
                    problems[address] = "no record at this address (deleted or never written)"
                else:
                    found.append(decode(record))
    finally:
        await reader.close()
    return found, problems
