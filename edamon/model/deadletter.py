"""Dead-letter records and the facts their headers carry (conventions §2)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from edamon.model.envelope import Envelope, drop_record_data
from edamon.model.records import RawRecord


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """What the DLQ headers say, whatever the framework that wrote them."""

    convention: str
    """Which convention matched: spring-dlt, spring-retry, kafka-connect, kafka-streams,
    karafka, smallrye, x-original, or none."""
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    consumer_group: str | None = None
    exception_class: str | None = None
    cause_class: str | None = None
    exception_message: str | None = None
    stacktrace: str | None = None
    attempts: int | None = None
    handler: str | None = None
    problems: tuple[str, ...] = ()
    """Headers that were present but could not be decoded (kept as a note, never raised)."""

    @property
    def failure_class(self) -> str | None:
        """The exception that explains the failure: the cause when the framework wrapped it
        (Spring's ListenerExecutionFailedException around the handler's own exception)."""
        return self.cause_class or self.exception_class

    @property
    def original_coords(self) -> str | None:
        if self.original_topic is None or self.original_partition is None:
            return None
        if self.original_offset is None:
            return None
        return f"{self.original_topic}/{self.original_partition}/{self.original_offset}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record found on a DLQ topic."""

    record: RawRecord
    info: DeadLetterInfo
    envelope: Envelope | None
    """The original event inside the dead letter, when its value decodes."""
    decode_error: str | None = None
    dropped: bool = False
    """The body is no longer in memory (`drop_dead_letter_body`): the record keeps its
    coordinates, timestamp, key and header names (values empty), the info its fields but the
    stack trace, and the message only its first MESSAGE_HEAD characters. Read the record again
    by its coordinates to show it whole."""

    @property
    def coords(self) -> str:
        return self.record.coords

    @property
    def correlation_id(self) -> str | None:
        return self.envelope.correlation_id if self.envelope else None


MESSAGE_HEAD = 200
"""Characters of the exception message a dead letter keeps once its body is dropped."""
DEAD_LETTER_OVERHEAD = 400
"""Bytes counted per dead letter on top of its body (the objects holding it)."""


def dead_letter_size(dl: DeadLetter) -> int:
    """About the bytes `drop_dead_letter_body` lets go: value, key, headers, stack trace and
    message (strings at their in-memory size), the envelope's own copy of the value if any."""
    record = dl.record
    size = DEAD_LETTER_OVERHEAD + len(record.value or b"") + len(record.key or b"")
    size += sum(len(name) + len(value or b"") for name, value in record.headers)
    info = dl.info
    if info.stacktrace:
        size += sys.getsizeof(info.stacktrace)
    if info.exception_message:
        size += sys.getsizeof(info.exception_message)
    env = dl.envelope
    if env is not None and env.record is not record:  # a truncated copy
        size += len(env.record.value or b"")
    return size


def message_head(message: str | None) -> str | None:
    """The first MESSAGE_HEAD characters of an exception message (… when cut)."""
    if message is None or len(message) <= MESSAGE_HEAD:
        return message
    return message[:MESSAGE_HEAD] + "…"


def drop_dead_letter_body(dl: DeadLetter) -> None:
    """Let go of `dl`'s body, in place (the chain and the timeline that hold `dl` keep holding
    it): see `DeadLetter.dropped`. The one mutation of a dead letter after it is published,
    done only by the store that owns it."""
    if dl.dropped:
        return
    record = dl.record
    names = tuple((name, b"") for name, _ in record.headers)
    _set_record(dl, dataclasses.replace(record, value=None, headers=names))
    info = dl.info
    _set_info(
        dl,
        dataclasses.replace(
            info, stacktrace=None, exception_message=message_head(info.exception_message)
        ),
    )
    if dl.envelope is not None:
        drop_record_data(dl.envelope)
    _set_dropped(dl, True)


_set_record = vars(DeadLetter)["record"].__set__
_set_info = vars(DeadLetter)["info"].__set__
_set_dropped = vars(DeadLetter)["dropped"].__set__
