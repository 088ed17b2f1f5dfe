"""Dead-letter records: what their headers say, whatever the framework that wrote them.

Conventions (conventions §2), in the order they are preferred when several match: Spring
DeadLetterPublishingRecoverer (`kafka_dlt-*`), Spring @RetryableTopic (`kafka_original-*`,
`kafka_exception-*`, `retry_topic-*`), Kafka Connect (`__connect.errors.*`), Kafka Streams
KIP-1034 (`__streams.errors.*`), Karafka (`source_*`, older `original_*`), SmallRye
(`dead-letter-*`) and hand-made `x-original-*` / `x-exception-*` / `x-handler` / `x-retry-count`.
`DeadLetterInfo.convention` names the one whose headers say where the record came from (else
what failed); a field missing from it is taken from the next convention that has it.

Header names are matched case-insensitively. Keys may repeat (Spring appends at each retry hop):
where the record came from is read from the FIRST occurrence (the true origin), the failure from
the LAST (the latest one). Numbers are binary big-endian (Spring) or UTF-8 decimal text (everyone
else); both are read. Nothing here raises: a header that is present but undecodable becomes a
note in `DeadLetterInfo.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter, DeadLetterInfo
from edamon.model.envelope import Envelope
from edamon.model.records import Header, RawRecord

__all__ = [
    "CONVENTIONS",
    "DLQ_HEADER_NAMES",
    "DLQ_HEADER_PREFIXES",
    "DeadLetterDecoder",
    "is_dlq_header",
    "parse_dead_letter_headers",
]

CONVENTIONS = (
    "spring-dlt",
    "spring-retry",
    "kafka-connect",
    "kafka-streams",
    "karafka",
    "smallrye",
    "x-original",
)
"""Every convention, most preferred first (`none` when no header matches)."""

# Value kinds: text, or integers with the byte lengths accepted in binary form.
_TEXT = "text"
_CLASS_AND_MESSAGE = "class"
"""Kafka Streams writes `exception.toString()`: `fqcn: message`."""
_INT = (4,)
_LONG = (8,)
_ATTEMPTS = (1, 2, 3, 4)
"""A 4-byte int; old Spring versions wrote BigInteger.toByteArray(), 1 byte for small counts."""
_BIGINT = (1, 2, 3, 4, 5, 6, 7, 8)
"""BigInteger.toByteArray(): minimal two's complement (a ms timestamp takes 6 bytes)."""

Kind = str | tuple[int, ...]

_ORIGIN_FIELDS = frozenset({"topic", "partition", "offset", "timestamp", "group"})
"""Read from the first occurrence of their header; every other field from the last."""

_S = _TEXT
_TABLE: dict[str, dict[str, tuple[tuple[str, Kind], ...]]] = {
    "spring-dlt": {
        "topic": (("kafka_dlt-original-topic", _S),),
        "partition": (("kafka_dlt-original-partition", _INT),),
        "offset": (("kafka_dlt-original-offset", _LONG),),
        "timestamp": (("kafka_dlt-original-timestamp", _LONG),),
        "group": (("kafka_dlt-original-consumer-group", _S),),
        "exception_class": (
            ("kafka_dlt-exception-fqcn", _S),
            ("kafka_dlt-key-exception-fqcn", _S),
        ),
        "cause_class": (
            ("kafka_dlt-exception-cause-fqcn", _S),
            ("kafka_dlt-key-exception-cause-fqcn", _S),
        ),
        "message": (
            ("kafka_dlt-exception-message", _S),
            ("kafka_dlt-key-exception-message", _S),
        ),
        "stacktrace": (
            ("kafka_dlt-exception-stacktrace", _S),
            ("kafka_dlt-key-exception-stacktrace", _S),
        ),
    },
    "spring-retry": {
        "topic": (("kafka_original-topic", _S),),
        "partition": (("kafka_original-partition", _INT),),
        "offset": (("kafka_original-offset", _LONG),),
        "timestamp": (
            ("kafka_original-timestamp", _LONG),
            ("retry_topic-original-timestamp", _BIGINT),
        ),
        "group": (("kafka_original-consumer-group", _S),),
        "exception_class": (("kafka_exception-fqcn", _S), ("kafka_key-exception-fqcn", _S)),
        "cause_class": (
            ("kafka_exception-cause-fqcn", _S),
            ("kafka_key-exception-cause-fqcn", _S),
        ),
        "message": (("kafka_exception-message", _S), ("kafka_key-exception-message", _S)),
        "stacktrace": (
            ("kafka_exception-stacktrace", _S),
            ("kafka_key-exception-stacktrace", _S),
        ),
        "attempts": (("retry_topic-attempts", _ATTEMPTS),),
    },
    "kafka-connect": {
        "topic": (("__connect.errors.topic", _S),),
        "partition": (("__connect.errors.partition", _INT),),
        "offset": (("__connect.errors.offset", _LONG),),
        "exception_class": (("__connect.errors.exception.class.name", _S),),
        "message": (("__connect.errors.exception.message", _S),),
        "stacktrace": (("__connect.errors.exception.stacktrace", _S),),
        "handler": (("__connect.errors.connector.name", _S),),
    },
    "kafka-streams": {
        "topic": (("__streams.errors.topic", _S),),
        "partition": (("__streams.errors.partition", _INT),),
        "offset": (("__streams.errors.offset", _LONG),),
        "exception_class": (("__streams.errors.exception", _CLASS_AND_MESSAGE),),
        "message": (("__streams.errors.message", _S),),
        "stacktrace": (("__streams.errors.stacktrace", _S),),
    },
    "karafka": {
        "topic": (("source_topic", _S), ("original_topic", _S)),
        "partition": (("source_partition", _INT), ("original_partition", _INT)),
        "offset": (("source_offset", _LONG), ("original_offset", _LONG)),
        "group": (("source_consumer_group", _S), ("original_consumer_group", _S)),
        "attempts": (("source_attempts", _ATTEMPTS), ("original_attempts", _ATTEMPTS)),
    },
    "smallrye": {
        "topic": (("dead-letter-topic", _S),),
        "partition": (("dead-letter-partition", _INT),),
        "offset": (("dead-letter-offset", _LONG),),
        "exception_class": (("dead-letter-exception-class-name", _S),),
        "cause_class": (("dead-letter-cause-class-name", _S),),
        "message": (("dead-letter-reason", _S),),
    },
    "x-original": {
        "topic": (("x-original-topic", _S),),
        "partition": (("x-original-partition", _INT),),
        "offset": (("x-original-offset", _LONG),),
        "timestamp": (("x-original-timestamp", _LONG),),
        "group": (("x-original-consumer-group", _S),),
        "exception_class": (("x-exception-fqcn", _S), ("x-exception-class", _S)),
        "cause_class": (("x-exception-cause-fqcn", _S),),
        "message": (("x-exception-message", _S),),
        "stacktrace": (("x-exception-stacktrace", _S),),
        "handler": (("x-handler", _S),),
        "attempts": (("x-retry-count", _ATTEMPTS),),
    },
}


class _Spec(NamedTuple):
    convention: int
    field: str


_BY_NAME: dict[str, _Spec] = {
    name: _Spec(CONVENTIONS.index(convention), field)
    for convention, fields in _TABLE.items()
    for field, candidates in fields.items()
    for name, _kind in candidates
}


def _candidates() -> dict[str, tuple[tuple[str, Kind], ...]]:
    """Per field, every header that may carry it: preferred convention first."""
    merged: dict[str, tuple[tuple[str, Kind], ...]] = {}
    for convention in CONVENTIONS:
        for field, names in _TABLE[convention].items():
            merged[field] = merged.get(field, ()) + names
    return merged


_CANDIDATES = _candidates()

DLQ_HEADER_PREFIXES: tuple[str, ...] = (
    "kafka_dlt-",
    "kafka_original-",
    "kafka_exception-",
    "kafka_key-exception-",
    "retry_topic-",
    "__connect.errors.",
    "__streams.errors.",
    "dead-letter-",
    "x-original-",
    "x-exception-",
)
"""Header-name prefixes (lower case) that only DLQ/error headers use."""

DLQ_HEADER_NAMES: frozenset[str] = frozenset(
    {
        name
        for name in _BY_NAME
        if not name.startswith(DLQ_HEADER_PREFIXES)  # Karafka's, x-handler, x-retry-count
    }
    | {"source_trace_id"}
)
"""DLQ/error header names (lower case) that no prefix covers."""


def is_dlq_header(name: str) -> bool:
    """True for a header any DLQ convention writes (case-insensitive); the redrive engine
    strips these before sending a record back to its topic."""
    lowered = name.lower()
    return lowered in DLQ_HEADER_NAMES or lowered.startswith(DLQ_HEADER_PREFIXES)


def _text(raw: bytes) -> tuple[str | None, str | None]:
    """(text or None when empty, problem)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace") or None, "not valid UTF-8"
    return text or None, None


def _is_decimal(raw: bytes) -> bool:
    body = raw[1:] if raw[:1] == b"-" else raw
    return body.isdigit()  # bytes.isdigit(): ASCII digits only


def _number(raw: bytes, lengths: tuple[int, ...]) -> tuple[int | None, str | None]:
    """Decimal text, else big-endian binary of an accepted length, else a problem."""
    if _is_decimal(raw):
        if len(raw) > 20:
            return None, f"{len(raw)}-digit number"
        return int(raw), None
    if len(raw) in lengths:
        return int.from_bytes(raw, "big", signed=True), None
    stripped = raw.strip()
    if stripped and _is_decimal(stripped) and len(stripped) <= 20:
        return int(stripped), None
    if not raw:
        return None, "empty"
    binary = "/".join(str(n) for n in lengths)
    return None, f"{len(raw)} bytes, neither decimal text nor a {binary}-byte integer"


def _decode(kind: Kind, raw: bytes) -> tuple[object, str | None]:
    if isinstance(kind, tuple):
        return _number(raw, kind)
    text, problem = _text(raw)
    if text is not None and kind == _CLASS_AND_MESSAGE:
        head, sep, _message = text.partition(": ")
        if sep and head and " " not in head:
            text = head
    return text, problem


def parse_dead_letter_headers(headers: Sequence[Header]) -> DeadLetterInfo:
    """What the DLQ headers of a record say. Never raises; see the module docstring."""
    first: dict[str, bytes] = {}
    last: dict[str, bytes] = {}
    shown: dict[str, str] = {}
    best = len(CONVENTIONS)
    messages = 0
    for name, raw in headers:
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        spec = _BY_NAME.get(lowered)
        if spec is None:
            continue
        best = min(best, spec.convention)
        if not isinstance(raw, bytes | bytearray):
            continue  # a null header value says nothing
        if spec.field == "message":
            messages += 1
        if lowered not in first:
            first[lowered] = bytes(raw)
            shown[lowered] = name
        last[lowered] = bytes(raw)
    if best == len(CONVENTIONS):
        return DeadLetterInfo(convention="none")

    values: dict[str, object] = {}
    supplied_by: dict[str, int] = {}
    problems: list[str] = []
    for field, candidates in _CANDIDATES.items():
        occurrences = first if field in _ORIGIN_FIELDS else last
        for name, kind in candidates:
            found = occurrences.get(name)
            if found is None:
                continue
            value, problem = _decode(kind, found)
            if problem is not None:
                problems.append(f"{shown[name]}: {problem}")
            if value is not None:
                values[field] = value
                supplied_by[field] = _BY_NAME[name].convention
                break

    attempts = values.get("attempts")
    if attempts is None and messages > 1:
        attempts = messages
    # The convention that says where the record came from (else what failed) names the record:
    # Spring retry topics, for one, also write `kafka_dlt-original-consumer-group`.
    for field in ("topic", "message", "exception_class"):
        if field in supplied_by:
            best = supplied_by[field]
            break
    return DeadLetterInfo(
        convention=CONVENTIONS[best],
        original_topic=_str(values.get("topic")),
        original_partition=_int(values.get("partition")),
        original_offset=_int(values.get("offset")),
        original_timestamp_ms=_int(values.get("timestamp")),
        consumer_group=_str(values.get("group")),
        exception_class=_str(values.get("exception_class")),
        cause_class=_str(values.get("cause_class")),
        exception_message=_str(values.get("message")),
        stacktrace=_str(values.get("stacktrace")),
        attempts=_int(attempts),
        handler=_str(values.get("handler")),
        problems=tuple(problems),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


class DeadLetterDecoder:
    """DLQ record -> DeadLetter: the header facts plus the original event when its value
    decodes (with the same EnvelopeDecoder as live events)."""

    def __init__(self, envelopes: EnvelopeDecoder) -> None:
        self._envelopes = envelopes

    def decode(self, record: RawRecord) -> DeadLetter:
        """Decode one DLQ record. Never raises. `DeadLetter.record` is the record as given
        (the whole value, which a redrive sends back); the envelope may hold a truncated copy."""
        info = parse_dead_letter_headers(record.headers)
        result = self._envelopes.decode(record)
        if isinstance(result, Envelope):
            return DeadLetter(record=record, info=info, envelope=result)
        return DeadLetter(record=record, info=info, envelope=None, decode_error=result.reason)
