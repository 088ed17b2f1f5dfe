"""Dead-letter records and the facts their headers carry (conventions §2)."""

from __future__ import annotations

from dataclasses import dataclass

from edamon.model.envelope import Envelope
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

    @property
    def coords(self) -> str:
        return self.record.coords

    @property
    def correlation_id(self) -> str | None:
        return self.envelope.correlation_id if self.envelope else None
