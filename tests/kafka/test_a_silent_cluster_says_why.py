"""A cluster that takes connections and answers nothing (a hung or frozen broker, a port with
something else behind it): the collector's connection state says so, with a duration that
counts on, from a few seconds in until it answers, and never falls back to a bare
"connecting…" between two attempts. The frozen broker is a broker of the test's own (SIGSTOP:
outage_helpers.frozen), so the shared one is not disturbed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
from outage_helpers import create_topics, frozen, own_broker, send, until

from builders import event_value
from edamon.broker.kafka import KafkaBroker
from edamon.collector.collector import Collector
from edamon.config import Settings, load_settings
from edamon.model.status import ConnectionState

pytestmark = pytest.mark.kafka

__all__ = ["own_broker"]  # the fixture, imported for the tests below

NO_ANSWER = re.compile(
    r"no answer from 127\.0\.0\.1:\d+ for (\d+)s \(connection open, nothing received\)"
)
REASON_WITHIN_S = 6.0
"""NO_ANSWER_S (3 s) and a new connection's probe (2 s), and a tick: the reason shows by then."""


def settings_for(bootstrap: str, timeout_s: float) -> Settings:
    overrides: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "request_timeout_s": timeout_s,
            "connect_timeout_s": timeout_s,
        },
        "topics": {"include": [r"silent\..*"], "start_from": "earliest", "refresh_s": 0.5},
        "lag": {"interval_s": 0.5, "window": 5},
    }
    return load_settings(None, overrides, use_default_path=False)


@dataclass
class Watched:
    """The collector's connection state, sampled every 50 ms: (monotonic time, state,
    message)."""

    collector: Collector
    seen: list[tuple[float, ConnectionState, str]] = field(default_factory=list)

    def since(self, start: float, end: float = float("inf")) -> list[tuple[float, str, str]]:
        return [(t, str(state), message) for t, state, message in self.seen if start <= t < end]


@asynccontextmanager
async def watching(settings: Settings) -> AsyncIterator[Watched]:
    collector = Collector(KafkaBroker(settings.kafka), settings)
    watched = Watched(collector)

    async def watch() -> None:
        while True:
            connection = collector.snapshot().connection
            watched.seen.append((time.monotonic(), connection.state, connection.message))
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(collector.run()), asyncio.create_task(watch())]
    try:
        yield watched
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


def assert_says_no_answer_live(samples: list[tuple[float, str, str]], lasting_s: float) -> None:
    """Every sample says "no answer … (connection open, nothing received)" while connecting,
    and the seconds count on over the samples' span."""
    assert samples, "no samples"
    seconds = []
    for _, state, message in samples:
        match = NO_ANSWER.fullmatch(message)
        assert state == ConnectionState.CONNECTING and match, (state, message)
        seconds.append(int(match.group(1)))
    assert seconds == sorted(seconds), seconds  # never back to 0, never stuck on one
    assert seconds[-1] - seconds[0] >= lasting_s - 2, (seconds[0], seconds[-1])


async def test_a_port_that_takes_connections_and_answers_nothing_says_so() -> None:
    """`edamon -b` on a port whose server never replies: not `connecting…` for ever, but why
    and for how long, through failed attempts and retries (4 s client timeouts here)."""
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with watching(settings_for(f"127.0.0.1:{port}", 4.0)) as watched:
            started = time.monotonic()
            await asyncio.sleep(16)  # the length of the observation: attempts fail meanwhile
        samples = watched.since(started + REASON_WITHIN_S)
        assert_says_no_answer_live(samples, 16 - REASON_WITHIN_S)
        assert int(NO_ANSWER.fullmatch(samples[-1][2]).group(1)) >= 14  # type: ignore[union-attr]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_frozen_broker_shows_as_no_answer_with_a_live_duration(own_broker: Any) -> None:
    """A broker frozen (SIGSTOP) for 12 s under a connected collector: within seconds the
    state reads "no answer from … for Ns (connection open, nothing received)", the seconds
    count on through request timeouts and reconnect attempts (5 s client timeouts here), and
    once the broker answers again the collector is connected."""
    bootstrap = own_broker.bootstrap
    await create_topics(bootstrap, {"silent.Ticks": 1})
    await send(
        bootstrap,
        "silent.Ticks",
        [(b"t", event_value(f"tick-{n}", "Tick", f"flow-{n}"), []) for n in range(5)],
    )
    async with watching(settings_for(bootstrap, 5.0)) as watched:
        collector = watched.collector
        await until(
            lambda: collector.caught_up and collector.snapshot().totals.events == 5,
            30,
            "the collector to read the 5 events",
        )
        with frozen(own_broker):
            went_quiet = time.monotonic()
            await asyncio.sleep(12)
            thawed = time.monotonic()
        await until(
            lambda: collector.snapshot().connection.state == ConnectionState.CONNECTED,
            15,
            "the collector to be connected again",
        )
        back_s = time.monotonic() - thawed
    during = watched.since(went_quiet, thawed)
    first = next((t for t, _, m in during if NO_ANSWER.fullmatch(m)), None)
    assert first is not None, during[-5:]
    assert first - went_quiet < REASON_WITHIN_S, f"the reason showed after {first - went_quiet}s"
    assert_says_no_answer_live(watched.since(first, thawed), thawed - first)
    assert back_s < 10, f"connected {back_s:.1f}s after the broker answered again"


async def test_a_shard_member_keeps_the_reason_between_attempts() -> None:
    """A shard member (`serve --shard-group`) has a connection loop of its own: once an
    attempt failed, the next one starts with the reason and its duration, not a bare
    "connecting…" (a refused port: an attempt fails at once, every 0.5–3 s)."""
    from edamon.shard.member import ShardCollector

    overrides: dict[str, Any] = {
        "kafka": {"bootstrap_servers": "127.0.0.1:1", "connect_timeout_s": 2},
        "shard": {"group": "silent-shard"},
    }
    settings = load_settings(None, overrides, use_default_path=False)
    member = ShardCollector(KafkaBroker(settings.kafka), settings, url="http://127.0.0.1:9")
    seen: list[str] = []

    async def watch() -> None:
        while True:
            seen.append(member.snapshot().connection.message)
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(member.run()), asyncio.create_task(watch())]
    try:
        await asyncio.sleep(6)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
    failed = [i for i, message in enumerate(seen) if "connection refused" in message]
    assert failed, sorted(set(seen))
    after = seen[failed[0] :]
    assert all("connection refused" in message for message in after), sorted(set(after))
    assert any("(for " in message for message in after), sorted(set(after))
