"""The event bus (publish = produce) and the consumer-group service loop every demo service
runs: fetch a batch, handle each record idempotently with in-process retries, dead-letter what
keeps failing, commit."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

from edamon.broker.base import Broker, BrokerError, BrokerUnavailable, GroupConsumer
from edamon.config import DemoSettings
from edamon.demo.clock import DemoClock
from edamon.demo.events import Dice, Event, PoisonMessage, Topics, upcast
from edamon.demo.faults import MAX_ATTEMPTS, Failure, Faults, HandlerError
from edamon.demo.wire import Codec, JsonCodec
from edamon.model.records import TP, Header, RawRecord

FETCH_TIMEOUT_MS = 200
BATCH_SIZE = 100
COMMIT_INTERVAL_S = 1.0
"""Simulated seconds between commits inside a long (slow) batch."""
RETRY_BACKOFF_S = 0.2
"""Simulated seconds between in-process attempts."""
RECONNECT_DELAY_S = 1.0
"""Real seconds to wait before re-creating a consumer after a broker error."""
PROCESSED_MEMORY = 200_000
"""Event ids each service remembers for idempotency."""
SLOW_CYCLE_S = 60.0
SLOW_PHASE_S = (20.0, 45.0)
"""Within each cycle of SLOW_CYCLE_S simulated seconds, the slow group is slow in this span."""
SLOW_DELAY_FACTOR = 4.0
"""Per-record delay of the slow group in its slow phase: this many flow intervals (1/rate)."""
STOP_COMMITTING_AFTER_S = 10.0
"""The stopped group commits for this many simulated seconds, then never again."""


class EventBus:
    """Publishes envelopes to their topics (key = aggregateId), sometimes twice (duplicate
    deliveries) and sometimes followed by a poison record, as the fault rates say."""

    def __init__(
        self,
        broker: Broker,
        settings: DemoSettings,
        clock: DemoClock,
        dice: Dice,
        started_at: float,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.clock = clock
        self.dice = dice
        self.topics = Topics(settings.prefix)
        self.faults = Faults(settings, dice)
        self.counters: Counter[str] = Counter()
        """System-wide counts: published, duplicates_published, poison_published, outcomes."""
        self.started_at = started_at
        self.codec: Codec = JsonCodec()
        """How events are written and read (JSON, or Avro through a schema registry)."""
        self.tell: Callable[[str], None] = lambda text: None
        """Where the demo says what a person watching should know (the dashboard's notices,
        or the headless demo's console): that its writes fail, and when they work again."""
        self.failing_since: float | None = None
        """Since when (monotonic seconds) every write failed; None while writes work."""

    async def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header],
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Write one record (every write of the demo goes through here); raises BrokerError,
        after telling that writes fail (once per outage), and tells when they work again."""
        try:
            await self.broker.produce(
                topic, key, value, headers, partition=partition, timestamp_ms=timestamp_ms
            )
        except BrokerError as exc:
            if self.failing_since is None:
                self.failing_since = time.monotonic()
                what = "broker not answering" if isinstance(exc, BrokerUnavailable) else "refused"
                since = time.strftime("%H:%M:%S")
                self.tell(f"demo producer: {what} since {since}, retrying ({exc})")
            raise
        if self.failing_since is not None:
            down = time.monotonic() - self.failing_since
            self.failing_since = None
            self.tell(f"demo producer: writing again after {down:.0f}s of failed writes")

    async def publish(self, topic: str, event: Event, service: str) -> None:
        """Produce `event` to `topic`; raises BrokerError if the broker refuses."""
        wrong = self.faults.wrong_key(service, event.event_id)
        key = (event.event_id if wrong else event.aggregate_id).encode()
        value = self.codec.encode(topic, event)
        headers = event.headers(service)
        timestamp_ms = self.now_ms()
        produce = self.produce
        await produce(topic, key, value, headers, timestamp_ms=timestamp_ms)
        self.counters["published"] += 1
        if self.faults.duplicate(event.event_id):
            await produce(topic, key, value, headers, timestamp_ms=timestamp_ms)
            self.counters["duplicates_published"] += 1
        if self.faults.poison(event.event_id):
            poison = self.faults.poison_value(event)
            await produce(topic, key, poison, headers, timestamp_ms=timestamp_ms)
            self.counters["poison_published"] += 1

    def follow(
        self, cause: Event, event_type: str, payload: dict[str, Any], version: int = 1
    ) -> Event:
        """A new event caused by `cause`: same flow (correlation, aggregate, user), causation =
        cause's id, and an id derived from both so a seed reproduces it."""
        return Event(
            event_id=self.dice.uuid("event", cause.event_id, event_type),
            event_type=event_type,
            aggregate_id=cause.aggregate_id,
            occurred_at=self.clock.now(),
            version=version,
            payload=payload,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
            user_id=cause.user_id,
        )

    def now_ms(self) -> int:
        """The simulated time as a record timestamp."""
        return int(self.clock.now() * 1000)

    def elapsed(self) -> float:
        """Simulated seconds since the demo started."""
        return self.clock.now() - self.started_at


class _ProcessedIds:
    """Ids of successfully handled events, forgetting the oldest beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        self._ids: dict[str, None] = {}
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            del self._ids[next(iter(self._ids))]


class _PartitionQueues:
    """Fetched records not handled yet, a queue per partition: the slow group takes one record
    of each partition in turn, the way a consumer with a worker per partition progresses.

    A fetch lists one partition's records, then the next one's. Handled slowly in that order,
    one partition drains while the others wait without a commit: each partition's lag goes up
    and down, and a partition left waiting looks stopped. A slow consumer in Burrow's sense
    (WARN) commits on every partition while each one's lag grows."""

    def __init__(self) -> None:
        self._queues: dict[TP, deque[RawRecord]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def extend(self, records: Sequence[RawRecord]) -> None:
        for record in records:
            tp = TP(record.topic, record.partition)
            queue = self._queues.get(tp)
            if queue is None:
                queue = self._queues[tp] = deque()
            queue.append(record)
        self._count += len(records)

    def take_round(self) -> list[RawRecord]:
        """The oldest record of each partition that has one."""
        batch = [queue.popleft() for queue in self._queues.values() if queue]
        self._count -= len(batch)
        return batch


class Service:
    """A consumer group with one member handling its topics. Subclasses set `name` and
    implement `handle`; they may override `dead_letter` and the failure descriptions."""

    name = "service"
    transient_faults = False
    """Whether the fault injector makes this service's handler fail transiently."""

    def __init__(self, bus: EventBus, topics: Sequence[str]) -> None:
        self.bus = bus
        self.topics = tuple(topics)
        self.group = f"{bus.settings.prefix}{self.name}"
        self.client_id = f"{self.name}-service"
        """The client id the service's consumer presents (the lag screen's member column)."""
        self.stats: Counter[str] = Counter()
        """handled, duplicates_skipped, retries, dead_lettered, poison, stuck, commits, ..."""
        self._processed = _ProcessedIds(PROCESSED_MEMORY)
        demo = bus.settings
        self.slow = bool(demo.slow_group) and demo.slow_group in (self.name, self.group)
        self.stops_committing = bool(demo.stopped_group) and demo.stopped_group in (
            self.name,
            self.group,
        )
        self.upcasted = 0
        seed = zlib.crc32(f"{demo.seed}:{self.name}".encode())
        self._latency = random.Random(seed)  # timing only: never touches business decisions

    # -- to implement ----------------------------------------------------------------------

    async def handle(self, event: Event, record: RawRecord) -> None:
        """Do the work for one (upcast) event; raise HandlerError to fail this attempt."""
        raise NotImplementedError

    def transient_failure(self, event: Event, record: RawRecord) -> Failure:
        """The error a transient fault shows as."""
        return Failure("TimeoutError", "downstream call timed out", "TimeoutError")

    def poison_failure(self, record: RawRecord, reason: str) -> Failure:
        """The error an undecodable record shows as."""
        return Failure("ValueError", reason, f"ValueError: {reason}")

    async def dead_letter(self, record: RawRecord, failure: Failure, attempts: int) -> bool:
        """Write `record` to this service's dead-letter topic; False if it has none (the
        record is then only counted as dropped)."""
        return False

    # -- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until cancelled; a broker error re-creates the consumer after a pause."""
        while True:
            consumer = self.bus.broker.group_consumer(
                self.group, self.topics, client_id=self.client_id
            )
            try:
                await self._consume(consumer)
            except BrokerError:
                self.stats["broker_errors"] += 1
            finally:
                await consumer.close()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # a cancellation arrived while the consumer was closing and was swallowed
                # there (aiokafka's stop() can); without this the loop would go on forever
                # against a broker that is shutting down
                raise asyncio.CancelledError
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _consume(self, consumer: GroupConsumer) -> None:
        clock = self.bus.clock
        pending: dict[TP, int] = {}
        queues = _PartitionQueues()
        last_commit = clock.now()
        while True:
            if self.slow:  # one record of each partition per turn (see _PartitionQueues)
                if len(queues) < BATCH_SIZE:
                    timeout_ms = 0 if queues else FETCH_TIMEOUT_MS
                    queues.extend(await consumer.fetch(BATCH_SIZE, timeout_ms))
                batch = queues.take_round()
            else:
                batch = await consumer.fetch(BATCH_SIZE, FETCH_TIMEOUT_MS)
            latency_s = self.bus.settings.handler_latency_ms / 1000.0
            for record in batch:
                if latency_s > 0:
                    await clock.sleep(self._latency.expovariate(1.0 / latency_s))
                await self._process(record)
                pending[TP(record.topic, record.partition)] = record.offset + 1
                if self.slow and self._in_slow_phase():
                    await clock.sleep(SLOW_DELAY_FACTOR / self.bus.settings.rate)
                    if clock.now() - last_commit >= COMMIT_INTERVAL_S:
                        await self._commit(consumer, pending)
                        last_commit = clock.now()
            if pending:
                await self._commit(consumer, pending)
                last_commit = clock.now()

    def _in_slow_phase(self) -> bool:
        start, end = SLOW_PHASE_S
        return start <= self.bus.elapsed() % SLOW_CYCLE_S < end

    def commits_enabled(self) -> bool:
        """False once the stopped group's time is up."""
        return not (self.stops_committing and self.bus.elapsed() >= STOP_COMMITTING_AFTER_S)

    async def _commit(self, consumer: GroupConsumer, pending: dict[TP, int]) -> None:
        if self.commits_enabled():
            try:
                await consumer.commit(dict(pending))
                self.stats["commits"] += 1
            except BrokerError:  # e.g. the partition moved to another member meanwhile
                self.stats["commit_failures"] += 1
        pending.clear()

    async def _process(self, record: RawRecord) -> None:
        try:
            event, upcasted = upcast(self.bus.codec.decode(record.value))
        except PoisonMessage as exc:
            self.stats["poison"] += 1
            await self._give_up(record, self.poison_failure(record, str(exc)), 1)
            return
        if event.event_id in self._processed:
            self.stats["duplicates_skipped"] += 1
            return
        self.upcasted += upcasted
        failing = (
            self.bus.faults.failing_attempts(self.name, event.event_id, record)
            if self.transient_faults
            else 0
        )
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if attempt <= failing:
                    raise HandlerError(self.transient_failure(event, record))
                await self.handle(event, record)
            except (HandlerError, BrokerError) as exc:
                if attempt == MAX_ATTEMPTS:
                    failure = (
                        exc.failure
                        if isinstance(exc, HandlerError)
                        else Failure("BrokerError", str(exc), f"BrokerError: {exc}")
                    )
                    await self._give_up(record, failure, attempt)
                    return
                self.stats["retries"] += 1
                await self.bus.clock.sleep(RETRY_BACKOFF_S)
                continue
            except (KeyError, TypeError, ValueError) as exc:  # a well-formed but unusable event
                failure = Failure(type(exc).__name__, f"bad payload: {exc!r}", repr(exc))
                await self._give_up(record, failure, attempt)
                return
            self._processed.add(event.event_id)
            self.stats["handled"] += 1
            return

    async def _give_up(self, record: RawRecord, failure: Failure, attempts: int) -> None:
        try:
            written = await self.dead_letter(record, failure, attempts)
        except BrokerError:
            written = False
        if written:
            self.stats["dead_lettered"] += 1
            self.bus.counters["dead_lettered"] += 1
        else:
            self.stats["dropped"] += 1
