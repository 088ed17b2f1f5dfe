"""The collector's sessions on the in-memory broker: a session that ends on a broker error is
followed by one that tails again from the positions reached, with nothing read twice, even when
it ended between two slices of a fetch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from builders import event_value
from edamon.broker.base import BrokerUnavailable, TopicInfo
from edamon.broker.memory import MemoryBroker
from edamon.collector import outage as outage_module
from edamon.collector.collector import INGEST_SLICE, Collector
from edamon.config import Settings
from edamon.model.records import RawRecord
from edamon.model.status import ConnectionState

TOPIC = "orders.OrderPlaced"


class FlakyBroker(MemoryBroker):
    """`list_topics` fails once when `fail_next` is set: the collector's session ends."""

    fail_next = False
    failures = 0

    async def list_topics(self) -> list[TopicInfo]:
        if self.fail_next:
            self.fail_next = False
            self.failures += 1
            raise BrokerUnavailable("injected: the broker went away")
        return await super().list_topics()


async def produce(broker: MemoryBroker, first: int, count: int) -> None:
    for n in range(first, first + count):
        await broker.produce(TOPIC, b"o", event_value(f"e-{n}", "OrderPlaced", f"c-{n}"))


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[None]:
    task = asyncio.create_task(collector.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def broker() -> AsyncIterator[FlakyBroker]:
    broker = FlakyBroker()
    await broker.create_topic(TOPIC)
    yield broker
    await broker.close()


def settings() -> Settings:
    return Settings.model_validate({"topics": {"start_from": "earliest", "refresh_s": 0.05}})


async def test_after_a_broker_error_the_next_session_tails_again(broker: FlakyBroker) -> None:
    await produce(broker, 0, 1)
    collector = Collector(broker, settings())
    async with running(collector):
        await until(lambda: collector.snapshot().totals.events == 1)
        broker.fail_next = True  # the next topic refresh fails: the session ends
        state = lambda: collector.snapshot().connection.state  # noqa: E731
        await until(lambda: state() is ConnectionState.CONNECTING)  # ended, backing off
        await until(lambda: state() is ConnectionState.CONNECTED)  # the next session
        await produce(broker, 1, 1)
        await until(lambda: collector.snapshot().totals.events == 2)  # the new tailer reads
    assert collector.snapshot().totals.duplicates == 0


async def test_a_session_ending_between_two_slices_reads_nothing_twice(
    broker: FlakyBroker,
) -> None:
    await produce(broker, 0, 1200)
    collector = Collector(broker, settings())
    sizes: list[int] = []
    ingest = collector.state.ingest

    def first_slice_then_fail(records: list[RawRecord], now: float) -> None:
        sizes.append(len(records))
        ingest(records, now)
        if len(sizes) == 1:
            broker.fail_next = True  # the topic refresh fails: the session ends

    collector.state.ingest = first_slice_then_fail  # type: ignore[method-assign]
    async with running(collector):
        await until(lambda: broker.failures == 1)
        await until(lambda: collector.snapshot().totals.events == 1200)
        await produce(broker, 1200, 10)
        await until(lambda: collector.snapshot().totals.events == 1210)
    assert sizes[0] == INGEST_SLICE and sum(sizes) == 1210  # the rest of the fetch, once
    assert collector.snapshot().totals.duplicates == 0
    assert collector.records_read == 1210


class HangingBroker(FlakyBroker):
    """Listing consumer groups waits for `answer` while `hang` is set (a broker that stopped
    answering without closing its connections)."""

    hang = False

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def list_groups(self) -> list[str]:
        if self.hang:
            await self.answer.wait()
        return await super().list_groups()


async def test_a_cluster_that_stops_answering_shows_as_no_answer_until_it_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outage_module, "NO_ANSWER_S", 0.2)
    broker = HangingBroker()
    await broker.create_topic(TOPIC)
    config = Settings.model_validate(
        {"topics": {"start_from": "earliest"}, "lag": {"interval_s": 0.05}}
    )
    collector = Collector(broker, config)
    connection = lambda: collector.snapshot().connection  # noqa: E731
    async with running(collector):
        await until(lambda: connection().state is ConnectionState.CONNECTED)
        broker.hang = True
        await until(lambda: connection().state is ConnectionState.CONNECTING)
        assert connection().message.startswith("no answer from in-memory for ")
        seconds = lambda: int(connection().message.split(" for ")[1].removesuffix("s"))  # noqa: E731
        first = seconds()
        await until(lambda: seconds() > first, 5)  # the duration is live
        broker.hang = False
        broker.answer.set()
        await until(lambda: connection().state is ConnectionState.CONNECTED)
    await broker.close()
