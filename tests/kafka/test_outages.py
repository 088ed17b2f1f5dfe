"""The real broker goes away and comes back: DLQ retries, lag sampling, the demo's services and
`edamon collect` live through it. Each test takes a broker of its own down (outage_helpers)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from outage_helpers import (
    commit,
    create_topics,
    frozen,
    own_broker,
    read_all,
    send,
    take_down,
    until,
)
from test_demo_collected import demo_settings

from builders import event_value
from edamon.actions.plan import Outcome
from edamon.actions.scan import read_dead_letters
from edamon.actions.service import RetryService
from edamon.broker.base import BrokerError
from edamon.broker.kafka import KafkaBroker
from edamon.cli.serve import embedded_broker
from edamon.collector.collector import Collector
from edamon.collector.lagsampler import LagSampler
from edamon.config import Settings, load_settings
from edamon.demo import DemoSystem
from edamon.demo.runner import PARTITIONS

pytestmark = pytest.mark.kafka

__all__ = ["own_broker"]  # the fixture, imported for the tests below

ROOT = Path(__file__).resolve().parents[2]
FAST = {"request_timeout_s": 2, "connect_timeout_s": 2}
"""Short client timeouts: an outage shows within seconds."""


async def test_a_bulk_retry_cut_by_an_outage_sends_nothing_it_reports_failed(
    own_broker: Any,
) -> None:
    """The broker goes down in the middle of a bulk retry: the run stops with the reason, the
    ledger holds exactly what reached the target, nothing reported failed is delivered later
    when the broker is back, and a later retry sends the rest: each dead letter once."""
    bootstrap = own_broker.bootstrap
    await create_topics(bootstrap, {"orders": 1, "orders.DLT": 1})
    headers = [("x-original-topic", b"orders"), ("x-exception-fqcn", b"TimeoutError")]
    await send(
        bootstrap,
        "orders.DLT",
        [(f"k{i}".encode(), json.dumps({"eventId": f"e{i}"}).encode(), headers) for i in range(12)],
    )
    settings = Settings(kafka={"bootstrap_servers": bootstrap, **FAST}, dlq={"rate": 4})
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        service = RetryService(broker, settings, ledger_timeout_s=10)
        await service.refresh_ledger()
        dead = await read_dead_letters(broker, settings, ["orders.DLT"], timeout_s=10)
        assert len(dead) == 12
        done = [0]
        run = asyncio.create_task(
            service.execute(service.plan(dead), progress=lambda n, _: done.__setitem__(0, n))
        )
        await until(lambda: done[0] >= 3, 15, "three dead letters retried")
        back = await take_down(own_broker, 5.0)
        first = await asyncio.wait_for(run, 20)
        assert first.aborted is not None
        assert "cannot reach kafka" in first.aborted
        outcomes = [r.outcome for r in first.results]
        sent_first = {r.coords for r in first.results if r.outcome is Outcome.SENT}
        assert len(sent_first) >= 3
        assert outcomes[: len(sent_first)] == [Outcome.SENT] * len(sent_first)
        assert Outcome.SENT not in outcomes[len(sent_first) :], outcomes
        await back

        # A later retry: what was sent is skipped, the rest goes now. Its sends share the
        # partitions with anything left pending by the first run, which would land first.
        await service.refresh_ledger()
        second = await asyncio.wait_for(service.execute(service.plan(dead)), 30)
        assert second.aborted is None, second.aborted
        assert {r.coords for r in second.results if r.outcome is Outcome.SKIPPED} == sent_first
        assert len(second.sent) == 12 - len(sent_first)
    finally:
        await broker.close()

    copies = await read_all(bootstrap, "orders")
    retry_of = [dict(r.headers)["edamon-retry-of"].decode() for r in copies]
    assert Counter(retry_of) == Counter(dl.record.coords for dl in dead), "sent twice or lost"
    ledger = {
        r.key.decode(): json.loads(r.value) for r in await read_all(bootstrap, "edamon.retries")
    }
    assert sorted(ledger) == sorted(dl.record.coords for dl in dead)
    for coords, entry in ledger.items():  # every entry says where its copy is, and it is there
        assert entry["result"] == "sent", (coords, entry)
        copy = copies[entry["target_offset"]]
        assert dict(copy.headers)["edamon-retry-of"].decode() == coords


async def test_a_send_cancelled_in_an_outage_is_dropped_and_close_does_not_wait(
    own_broker: Any,
) -> None:
    """A produce cancelled while the broker is down (a retry interrupted, the dashboard quit)
    leaves nothing pending: closing the client returns at once instead of waiting for the
    broker to come back, and the cancelled record never lands."""
    bootstrap = own_broker.bootstrap
    await create_topics(bootstrap, {"cancel.Ticks": 1})
    broker = KafkaBroker(Settings(kafka={"bootstrap_servers": bootstrap, **FAST}).kafka)
    await broker.start()
    try:
        await broker.produce("cancel.Ticks", b"before", b"1")
        back = await take_down(own_broker, 6.0)
        pending = asyncio.create_task(broker.produce("cancel.Ticks", b"cancelled", b"2"))
        await asyncio.sleep(0.5)  # not a wait for data: the send is queued by then
        assert not pending.done()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        started = time.monotonic()
        await asyncio.wait_for(broker.close(), 30)
        assert time.monotonic() - started < 3, "close() waited for the broker to come back"
        assert not back.done()
    finally:
        await broker.close()
    await back
    after = KafkaBroker(Settings(kafka={"bootstrap_servers": bootstrap, **FAST}).kafka)
    await after.start()
    try:
        await after.produce("cancel.Ticks", b"after", b"3")
    finally:
        await after.close()
    assert [r.key for r in await read_all(bootstrap, "cancel.Ticks")] == [b"before", b"after"]


async def test_lag_sampling_survives_an_outage_and_the_lag_table_recovers(
    own_broker: Any,
) -> None:
    """Through an outage the lag sampler fails only with BrokerErrors (never a raw aiokafka
    error), the collector keeps running, and a commit made after the broker is back shows in
    its lag table."""
    bootstrap = own_broker.bootstrap
    await create_topics(bootstrap, {"lag.Ticks": 1})
    await send(
        bootstrap, "lag.Ticks", [(b"k", event_value(f"t{i}", "Tick", "f"), []) for i in range(40)]
    )
    await commit(bootstrap, "lag-group", {("lag.Ticks", 0): 10})
    settings = load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap, **FAST},
            "topics": {"include": [r"lag\..*"], "start_from": "earliest", "refresh_s": 0.5},
            "lag": {"interval_s": 0.5, "groups_include": ["lag-group"]},
        },
        use_default_path=False,
    )
    collector = Collector(KafkaBroker(settings.kafka), settings)
    sampler_broker = KafkaBroker(settings.kafka)
    await sampler_broker.start()
    sampler = LagSampler(sampler_broker, settings.lag)
    raw: list[BaseException] = []
    failures = successes = 0

    async def sample_forever() -> None:
        nonlocal failures, successes
        while True:
            try:
                await sampler.sample({"lag.Ticks": 1})
                successes += 1
            except BrokerError:
                failures += 1
            except Exception as exc:  # noqa: BLE001 - the point: nothing else may come out
                raw.append(exc)
            await asyncio.sleep(0.2)

    def group_lag() -> int | None:
        lag = {g.group: g.total_lag for g in collector.snapshot().lag}
        return lag.get("lag-group")

    task = asyncio.create_task(collector.run())
    sampling = asyncio.create_task(sample_forever())
    try:
        await until(lambda: group_lag() == 30, 30, "the group's lag of 30")
        back = await take_down(own_broker, 6.0)
        await back
        assert not task.done(), f"the collector stopped: {task.exception()!r}"
        before = successes
        await commit(bootstrap, "lag-group", {("lag.Ticks", 0): 25})
        await until(lambda: group_lag() == 15, 40, "the lag table to show the new commit")
        await until(lambda: successes > before, 20, "the sampler to sample again")
        assert failures > 0, "the outage never reached the sampler"
        assert not raw, f"raw exceptions escaped the lag sampler: {raw!r}"
    finally:
        sampling.cancel()
        task.cancel()
        with suppress(asyncio.CancelledError):
            await sampling
        with pytest.raises(asyncio.CancelledError):
            await task
        await sampler_broker.close()


async def test_the_demo_on_kafka_lives_through_an_outage_and_stops_promptly(
    own_broker: Any,
) -> None:
    """Every service of the demo keeps running through an outage, commits again once the
    broker is back, the generator starts new flows again, and stopping takes seconds."""
    settings = demo_settings("out.", own_broker.bootstrap)
    settings.kafka.request_timeout_s = 3
    settings.kafka.connect_timeout_s = 3
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    system = DemoSystem(broker, settings.demo)
    committing = [s for s in system.services if not s.stops_committing]
    run = asyncio.create_task(system.run())
    try:
        await until(
            lambda: all(s.stats["commits"] > 0 for s in committing), 30, "every service to commit"
        )
        back = await take_down(own_broker, 5.0)
        await back
        assert not run.done(), f"the demo stopped: {run.exception()!r}"
        commits = {s.name: s.stats["commits"] for s in committing}
        flows = system.flows
        await until(
            lambda: (
                all(s.stats["commits"] > commits[s.name] for s in committing)
                and system.flows > flows + 3
            ),
            40,
            "every service to commit again and new flows",
        )
    finally:
        started = time.monotonic()
        run.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(run, 30)
        await asyncio.wait_for(broker.close(), 15)
    assert time.monotonic() - started < 10, "stopping the demo took too long"


def collect(bootstrap: str, duration: str, **env: str) -> subprocess.CompletedProcess[str]:
    args = ["collect", "-b", bootstrap, "--from", "earliest", "--json", "--duration", duration]
    return subprocess.run(
        [sys.executable, "-m", "edamon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "EDAMON_TOPICS__INCLUDE": json.dumps([r"cli\..*"]), **env},
    )


async def test_collect_with_the_broker_down_reports_why_and_reads_once_it_is_back(
    own_broker: Any,
) -> None:
    """`edamon collect --json --duration 5s` while the broker is down: exit 1 with the reason
    (README), not an empty snapshot and 0. Started while it is down and back within the
    connect timeout: it keeps retrying, connects and reads everything (exit 0)."""
    bootstrap = own_broker.bootstrap
    await create_topics(bootstrap, {"cli.Ticks": 1})
    await send(
        bootstrap, "cli.Ticks", [(b"k", event_value(f"c{i}", "Tick", "f"), []) for i in range(7)]
    )
    back = await take_down(own_broker, 8.0)
    down = await asyncio.to_thread(collect, bootstrap, "5s")
    assert not back.done(), "the broker came back during the first run"
    assert down.returncode == 1, (down.returncode, down.stdout[:300], down.stderr)
    assert down.stdout == ""
    assert down.stderr.startswith(f"edamon: cannot reach kafka at {bootstrap}")
    assert "connection refused" in down.stderr
    assert "Traceback" not in down.stderr

    later = await asyncio.to_thread(collect, bootstrap, "15s", EDAMON_KAFKA__CONNECT_TIMEOUT_S="30")
    await back
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["snapshot"]["totals"]["events"] == 7


async def test_the_demo_writes_again_after_a_broker_pause_and_says_so_meanwhile(
    own_broker: Any,
) -> None:
    """The broker frozen (SIGSTOP) for 13 s under the running demo, as `edamon demo -b` runs
    it (the simulation beside the collector, with the collector's notices): the demo tells
    that its producer fails ("demo producer: broker not answering …, retrying") and, once the
    broker answers again, writes again and says so (3 s client timeouts here)."""
    settings = demo_settings("pause.", own_broker.bootstrap)
    settings.kafka.request_timeout_s = 3
    settings.kafka.connect_timeout_s = 3
    broker, background, _ = embedded_broker(settings, "kafka")
    notices: list[str] = []
    [simulate] = background
    run = asyncio.create_task(simulate(notices.append))
    orders = "pause.orders.OrderPlaced"
    try:
        await until_async(lambda: written(own_broker.bootstrap, orders, 20), 60, "20 orders")
        with frozen(own_broker):
            await asyncio.sleep(13)
        thawed = time.monotonic()
        assert any(n.startswith("demo producer: broker not answering since") for n in notices), (
            notices
        )
        before = 0
        while not before:  # plain clients too may fail at first after the pause
            with suppress(KafkaError):
                before = await end_offsets(own_broker.bootstrap, orders)
        await until_async(
            lambda: written(own_broker.bootstrap, orders, before + 10), 30, "10 new orders"
        )
        resumed_s = time.monotonic() - thawed
        assert any(n.startswith("demo producer: writing again after") for n in notices), notices
        assert not run.done(), f"the demo stopped: {run}"
    finally:
        run.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(run, 30)
        await asyncio.wait_for(broker.close(), 15)
    assert resumed_s < 20, f"the demo wrote 10 new orders {resumed_s:.1f}s after the pause"


async def end_offsets(bootstrap: str, topic: str) -> int:
    """Records written to `topic` (one of the demo's, PARTITIONS partitions) so far, read by
    plain clients; 0 before the demo created it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return 0
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def written(bootstrap: str, topic: str, at_least: int) -> bool:
    try:
        return await end_offsets(bootstrap, topic) >= at_least
    except KafkaError:  # e.g. NodeNotReadyError just after the broker resumed: ask again
        return False


async def until_async(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.5)
