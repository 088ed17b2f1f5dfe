"""What goes wrong in the demo, decided by the seeded dice, and how failures are written to
dead-letter topics (Spring's `kafka_dlt-*` binary headers, or hand-made `x-original-*`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edamon.config import DemoSettings
from edamon.demo.events import RETRY_HEADER, Dice, Event
from edamon.model.records import Header, RawRecord

WRONG_KEY_SERVICE = "shipping"
"""The service that sometimes keys its events by event id (see Faults.wrong_key)."""
MAX_ATTEMPTS = 3
"""In-process attempts per record before it is dead-lettered."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a handler gave up on a record, in the words of the service's own stack."""

    fqcn: str
    message: str
    stacktrace: str
    cause_fqcn: str | None = None


class HandlerError(Exception):
    """A (simulated) error in a handler: retried in-process, then dead-lettered."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def is_redriven(record: RawRecord) -> bool:
    """True for a record republished from a DLQ by edamon (it carries `edamon-retry-of`)."""
    return any(key == RETRY_HEADER for key, _ in record.headers)


class Faults:
    """The fault rates of DemoSettings applied to concrete events, deterministically.

    Redriven records never fail transiently and are always answered, so a redrive succeeds."""

    def __init__(self, settings: DemoSettings, dice: Dice) -> None:
        self._settings = settings
        self._dice = dice

    def failing_attempts(self, service: str, event_id: str, record: RawRecord) -> int:
        """How many attempts at handling this record fail: MAX_ATTEMPTS (it will be
        dead-lettered) with probability transient_error_rate, 1 (it recovers on the first
        retry) with the same probability again, else 0."""
        rate = self._settings.transient_error_rate
        if rate <= 0 or is_redriven(record):
            return 0
        roll = self._dice.chance("transient", service, event_id)
        if roll < rate:
            return MAX_ATTEMPTS
        return 1 if roll < 2 * rate else 0

    def stuck(self, service: str, event_id: str, record: RawRecord) -> bool:
        """Whether `service` silently never answers this event (a stuck saga step)."""
        rate = self._settings.stuck_rate
        if rate <= 0 or is_redriven(record):
            return False
        return self._dice.chance("stuck", service, event_id) < rate

    def wrong_key(self, service: str, event_id: str) -> bool:
        """Whether `service` keys this event by its event id instead of its aggregate id (the
        shipping service's bug, at wrong_key_rate)."""
        rate = self._settings.wrong_key_rate
        return service == WRONG_KEY_SERVICE and self._dice.chance("key", event_id) < rate

    def duplicate(self, event_id: str) -> bool:
        """Whether this event is delivered twice (a producer retry after a lost ack)."""
        return self._dice.chance("duplicate", event_id) < self._settings.duplicate_rate

    def poison(self, event_id: str) -> bool:
        """Whether a corrupt record follows this event on its topic."""
        return self._dice.chance("poison", event_id) < self._settings.poison_rate

    def poison_value(self, event: Event) -> bytes:
        """Bytes that are not JSON: a truncated envelope, or a Java-serialised object."""
        if self._dice.chance("poison-kind", event.event_id) < 0.5:
            return event.to_json()[: 40 + len(event.event_type)]
        return b"\xac\xed\x00\x05sr\x00\x1ccom.example.orders.OrderEvent\x8f\x11" + (
            event.aggregate_id.encode()
        )


# -- Spring Kafka DeadLetterPublishingRecoverer ------------------------------------------------


def spring_dlt_headers(record: RawRecord, group: str, failure: Failure) -> tuple[Header, ...]:
    """The original headers followed by Spring's `kafka_dlt-*` headers (partition as a
    4-byte and offset/timestamp as 8-byte big-endian integers, the rest UTF-8)."""
    extra: list[Header] = [
        ("kafka_dlt-original-topic", record.topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", record.partition)),
        ("kafka_dlt-original-offset", struct.pack(">q", record.offset)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", record.timestamp_ms)),
        ("kafka_dlt-original-timestamp-type", b"CreateTime"),
        ("kafka_dlt-original-consumer-group", group.encode()),
        ("kafka_dlt-exception-fqcn", failure.fqcn.encode()),
    ]
    if failure.cause_fqcn:
        extra.append(("kafka_dlt-exception-cause-fqcn", failure.cause_fqcn.encode()))
    extra.append(("kafka_dlt-exception-message", failure.message.encode()))
    extra.append(("kafka_dlt-exception-stacktrace", failure.stacktrace.encode()))
    return (*record.headers, *extra)


def java_failure(
    listener: str, method: str, cause_fqcn: str, cause_message: str, frames: tuple[str, ...]
) -> Failure:
    """A ListenerExecutionFailedException wrapping `cause_fqcn`, with a Java stack trace."""
    fqcn = "org.springframework.kafka.listener.ListenerExecutionFailedException"
    message = f"Listener method '{listener}.{method}' threw exception"
    spring = (
        "org.springframework.kafka.listener.KafkaMessageListenerContainer$"
        "ListenerConsumer.decorateException(KafkaMessageListenerContainer.java:2981)",
        "org.springframework.kafka.listener.KafkaMessageListenerContainer$"
        "ListenerConsumer.doInvokeOnMessage(KafkaMessageListenerContainer.java:2891)",
        "org.springframework.kafka.listener.KafkaMessageListenerContainer$"
        "ListenerConsumer.invokeOnMessage(KafkaMessageListenerContainer.java:2853)",
        "org.springframework.kafka.listener.KafkaMessageListenerContainer$"
        "ListenerConsumer.run(KafkaMessageListenerContainer.java:1314)",
        "java.base/java.util.concurrent.CompletableFuture$AsyncRun.run(CompletableFuture.java:1804)",
        "java.base/java.lang.Thread.run(Thread.java:1583)",
    )
    cls = listener.rsplit(".", 1)[-1]
    lines = [f"{fqcn}: {message}", *(f"\tat {frame}" for frame in spring)]
    lines.append(f"Caused by: {cause_fqcn}: {cause_message}")
    lines.extend(f"\tat {frame}" for frame in frames)
    lines.append(f"\tat {listener}.{method}({cls}.java:57)")
    lines.append("\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(Unknown)")
    lines.append("\t... 14 more")
    return Failure(fqcn, f"{message}: {cause_message}", "\n".join(lines), cause_fqcn)


def java_deserialization_failure(record: RawRecord, reason: str) -> Failure:
    """Spring's DeserializationException for a value Jackson cannot parse."""
    fqcn = "org.springframework.kafka.support.serializer.DeserializationException"
    cause = "com.fasterxml.jackson.core.JsonParseException"
    message = f"failed to deserialize; nested exception is {cause}: {reason}"
    lines = [
        f"{fqcn}: {message}",
        "\tat org.springframework.kafka.support.serializer.ErrorHandlingDeserializer"
        ".deserializationException(ErrorHandlingDeserializer.java:216)",
        "\tat org.springframework.kafka.support.serializer.ErrorHandlingDeserializer"
        ".deserialize(ErrorHandlingDeserializer.java:191)",
        "\tat org.apache.kafka.clients.consumer.internals.CompletedFetch"
        ".parseRecord(CompletedFetch.java:331)",
        f"Caused by: {cause}: {reason}",
        f" at [Source: (byte[])[{len(record.value or b'')} bytes]; line: 1, column: 1]",
        "\tat com.fasterxml.jackson.core.JsonParser._constructError(JsonParser.java:2477)",
        "\tat com.fasterxml.jackson.core.base.ParserMinimalBase"
        "._reportUnexpectedChar(ParserMinimalBase.java:750)",
        "\t... 12 more",
    ]
    return Failure(fqcn, message, "\n".join(lines), cause)


# -- hand-made x-original-* (a Python service) ----------------------------------------------


def x_original_headers(
    record: RawRecord, handler: str, retries: int, failure: Failure
) -> tuple[Header, ...]:
    """The original headers followed by `x-original-*` / `x-exception-*` (all UTF-8 text)."""
    return (
        *record.headers,
        ("x-original-topic", record.topic.encode()),
        ("x-original-partition", str(record.partition).encode()),
        ("x-original-offset", str(record.offset).encode()),
        ("x-exception-fqcn", failure.fqcn.encode()),
        ("x-exception-message", failure.message.encode()),
        ("x-exception-stacktrace", failure.stacktrace.encode()),
        ("x-handler", handler.encode()),
        ("x-retry-count", str(retries).encode()),
    )


def python_failure(handler: str, fqcn: str, message: str, calls: tuple[str, ...]) -> Failure:
    """A Python traceback ending in `fqcn: message` raised below `handler`."""
    module, func = handler.rsplit(".", 1)
    path = module.replace(".", "/")
    lines = [
        "Traceback (most recent call last):",
        '  File "/app/shipping/consumer.py", line 88, in _dispatch',
        "    await handler(event)",
        f'  File "/app/{path}.py", line 41, in {func}',
        "    booking = await self.carrier.book(event.payload)",
    ]
    for call in calls:
        lines.append(f'  File "/app/{call.replace(".", "/")}.py", line 112, in request')
        lines.append("    response = await self._client.post(url, json=body)")
    short = fqcn.rsplit(".", 1)[-1]
    lines.append(f"{fqcn if '.' in fqcn else short}: {message}")
    return Failure(fqcn, message, "\n".join(lines))
