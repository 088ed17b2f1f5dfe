"""The collector: tails every matching topic (DLQs and the retry ledger included) with no group
id, samples consumer-group lag, and keeps the state views read. Runs on the caller's loop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

from edamon.broker.base import Broker, BrokerAuthError, BrokerError, Tailer
from edamon.broker.reading import RecordReader
from edamon.collector.cancelling import cancel_and_wait
from edamon.collector.lagsampler import LagSampler
from edamon.collector.outage import PROBE_TIMEOUT_S, Outage
from edamon.collector.runtime import freeze_survivors
from edamon.collector.state import CollectorState
from edamon.collector.view import StateView
from edamon.config import Settings
from edamon.decode.registry import HttpSchemaRegistry, RegistryError, SchemaRegistry
from edamon.decode.schemas import SchemaStore
from edamon.model.envelope import SchemaKey
from edamon.model.records import TP, RawRecord, parse_coords
from edamon.model.snapshot import CatchUpView, GroupLag
from edamon.model.status import ConnectionState
from edamon.model.timespec import resolve_start

log = logging.getLogger(__name__)
T = TypeVar("T")

FETCH_MAX_RECORDS = 2000
INGEST_SLICE = 500
"""Records ingested between two turns of the event loop (~8 ms of work): a key press in the
dashboard waits for one slice at most, not for a whole fetch."""
REQUEST_TURNS = 3
"""Turns of the event loop given between two slices (`let_requests_in`). A request to the
service needs two (uvicorn reads its bytes in one, its task runs in the next) and a turn runs
only what was ready when it began, the ingest loop's own step first: after a single turn a
request waited for two more slices (bench/ui.py: a 100-row page p99 38 -> 23 ms)."""
FETCH_TIMEOUT_MS = 200
FREEZE_EACH_FETCH = True
"""After a fetch of at least INGEST_SLICE records, what it left alive is frozen at once
(edamon.collector.runtime; otherwise once a second): the cyclic GC then seldom has a young
generation to go through. Measured with bench/ingest.py: on 400,000 events, frozen once a
second, 28 GC passes took 1.4 s (longest 0.17 s) and the collector 21.1 µs of CPU per record;
frozen after each busy fetch, no pass and 19.5 µs. On 1,000,000 events, no pass instead of 53
(2.9 to 3.0 s); the peak RSS was 895 and 899 MB (873 and 891 MB without this freeze, in other
turns): cyclic garbage frozen by mistake waits for the next defrost (DEFROST_EVERY_S), as before."""
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 3.0
"""Reconnect attempts after an outage: 0.5 s, 1 s, 2 s, then every 3 s, each ±20 % (jitter, so
that many collectors do not knock at once): a broker back after an outage of any length is
seen within ~3.6 s."""
AUTH_RETRY_S = 30.0
"""Refused credentials or certificate: tried again this much later (the state says "error")."""
READ_RECORD_TIMEOUT_S = 10.0
WATCH_EVERY_S = 0.5
"""How often the connection state's reason (and its live duration) is brought up to date while
the cluster does not answer (edamon.collector.outage)."""
REGISTRY_PROBE_S = 30.0
"""How often the schema registry is asked for its subjects (its state in the connection view)."""


async def let_requests_in() -> None:
    """Between two ingest slices: let what is waiting on the loop (a request read, then
    answered) run before the next slice (REQUEST_TURNS turns; microseconds when idle)."""
    for _ in range(REQUEST_TURNS):
        await asyncio.sleep(0)


def retry_delay(failures: int) -> float:
    """Seconds before the next connection attempt after `failures` failed ones in a row:
    doubling from BACKOFF_FIRST_S up to BACKOFF_MAX_S, ±20 % jitter."""
    base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(failures, 16))
    return float(base * random.uniform(0.8, 1.2))


class Collector(StateView):
    """Implements `CollectorView`; `run()` until cancelled."""

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        registry: SchemaRegistry | None = None,
    ) -> None:
        """`registry`: the schema registry (default: the configured one, if any)."""
        self._broker = broker
        self._settings = settings
        if registry is None and settings.schema_registry.url is not None:
            registry = HttpSchemaRegistry(settings.schema_registry)
        schemas = SchemaStore(registry, retry_s=settings.schema_registry.retry_s)
        super().__init__(CollectorState(settings, cluster=broker.name, schemas=schemas), clock)
        schemas.on_resolved = self._schema_resolved
        self._lag = LagSampler(broker, settings.lag, clock=clock)
        self._positions: dict[TP, int] = {}
        self._catchup_start: dict[TP, int] = {}
        self._catchup_target: dict[TP, int] = {}
        self._caught_up = False
        self._tailer: Tailer | None = None
        self._session_up = False
        """The current session reached the cluster (resets the reconnect backoff)."""
        self.outage = Outage(broker.name)
        """Why the cluster does not answer, and since when (the connection state's reason)."""
        self._probe: asyncio.Task[None] | None = None
        self.records_read = 0

    @property
    def caught_up(self) -> bool:
        return self._caught_up

    async def read_record(self, coords: str) -> RawRecord | None:
        """The record at `coords` read again from the broker (no group, its own tailer).
        Raises ValueError for a malformed address, BrokerError when the broker can't tell."""
        topic, partition, offset = parse_coords(coords)
        reader = RecordReader(self._broker, timeout_s=READ_RECORD_TIMEOUT_S, read_ahead=0)
        try:
            return await reader.get(TP(topic, partition), offset)
        finally:
            await reader.close()

    # ---- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect (retrying with backoff), then tail and sample until cancelled.

        On cancellation the tailer and the broker's clients are closed before returning.
        """
        helpers = [asyncio.create_task(self._watch_loop(), name="edamon-connection-watch")]
        if self.state.schemas.registry is not None:
            helpers.append(asyncio.create_task(self._registry_loop(), name="edamon-registry"))
        try:
            await self._run_forever()
        finally:
            if self._probe is not None:
                helpers.append(self._probe)
            await cancel_and_wait(helpers)
            await self.state.schemas.aclose()
            await self._close_tailer()
            with suppress(BrokerError):
                await self._broker.close()
            self.state.set_connection(ConnectionState.STOPPED, "stopped", self._clock())

    async def _run_forever(self) -> None:
        failures = 0
        while True:
            self._session_up = False
            try:
                self.outage.asking(self._clock())  # a connection: the cluster must answer
                self._show_outage()
                await self._broker.start()
                await self._session()
                delay = retry_delay(0)
            except BrokerAuthError as exc:  # refused credentials or certificate
                self.outage.answered()  # an answer, if a refusal: no silence to tell
                self.state.set_connection(ConnectionState.ERROR, str(exc), self._clock())
                self.state.notice(str(exc))
                delay = AUTH_RETRY_S
            except BrokerError as exc:  # an outage: "connecting", with the reason; not "error"
                if self._session_up:  # the cluster answered: a new outage starts here
                    failures = 0
                delay = retry_delay(failures)
                failures += 1
                self.outage.failed(str(exc), self._clock(), delay)
                self._show_outage()
            await self._close_tailer()  # the broker's own clients reconnect by themselves
            await asyncio.sleep(delay)

    async def _close_tailer(self) -> None:
        if self._tailer is not None:
            tailer, self._tailer = self._tailer, None
            with suppress(BrokerError):
                await tailer.close()

    async def _session(self) -> None:
        info = await self._ask(self._broker.cluster_info())
        self.state.set_connection(
            ConnectionState.CONNECTED, "", self._clock(), brokers=len(info.brokers)
        )
        self._session_up = True
        self._tailer = self._broker.tailer()
        # a new tailer, even if no topic changed
        await self._ask(self._refresh_topics(assign=True))
        tasks = [
            asyncio.create_task(self._tail_loop(), name="edamon-tail"),
            asyncio.create_task(self._refresh_loop(), name="edamon-topics"),
            asyncio.create_task(self._lag_loop(), name="edamon-lag"),
            asyncio.create_task(self._tick_loop(), name="edamon-tick"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # re-raise the failure that ended the session
        finally:
            await cancel_and_wait(tasks)  # again and again: a library may swallow one
            for task in tasks:
                if task.done():
                    with suppress(asyncio.CancelledError, BrokerError):
                        await task

    async def _refresh_topics(self, *, assign: bool = False) -> None:
        """Assign new matching topics, drop deleted ones; resume known partitions. With
        `assign`, the tailer is assigned even when no topic changed (a session's new one)."""
        assert self._tailer is not None
        topics = await self._broker.list_topics()
        rules = self.state.rules
        selected = {t.name: t.partitions for t in topics if not t.internal and rules.tailed(t.name)}
        self.state.set_partitions(selected, self._clock())
        wanted = [TP(name, p) for name, count in selected.items() for p in range(count)]
        current = set(self._positions)
        new = [tp for tp in wanted if tp not in current]
        gone = current - set(wanted)
        if not new and not gone and not assign:
            return
        for tp in gone:
            del self._positions[tp]
        if new:
            first_assignment = not current
            starts = await self._start_offsets(new, initial=first_assignment)
            ends = await self._broker.end_offsets(new)
            self._positions.update(starts)
            for tp in new:
                self._catchup_start[tp] = starts[tp]
                self._catchup_target[tp] = ends.get(tp, starts[tp])
            if not first_assignment:
                self._caught_up = self._caught_up and all(
                    starts[tp] >= self._catchup_target[tp] for tp in new
                )
        await self._tailer.assign(dict(self._positions))

    async def _start_offsets(self, tps: list[TP], *, initial: bool) -> dict[TP, int]:
        """Start position for partitions: the configured one at start-up; topics that appear
        later are read from their beginning (all their records are new)."""
        ledger = self._settings.dlq.ledger_topic
        ledger_tps = [tp for tp in tps if tp.topic == ledger]
        others = [tp for tp in tps if tp.topic != ledger]
        starts: dict[TP, int] = {}
        if ledger_tps:  # the ledger is always read whole: it says what was retried
            starts.update(await self._broker.beginning_offsets(ledger_tps))
        if not others:
            return starts
        if not initial:
            starts.update(await self._broker.beginning_offsets(others))
            return starts
        spec = resolve_start(self._settings.topics.start_from, self._clock())
        if spec.kind == "earliest":
            starts.update(await self._broker.beginning_offsets(others))
        elif spec.kind == "latest":
            starts.update(await self._broker.end_offsets(others))
        else:
            assert spec.timestamp_ms is not None
            starts.update(await self._broker.offsets_for_time(others, spec.timestamp_ms))
        return starts

    async def _tail_loop(self) -> None:
        assert self._tailer is not None
        tailer = self._tailer
        while True:
            records = await tailer.fetch(FETCH_MAX_RECORDS, FETCH_TIMEOUT_MS)
            if records:
                await self._ingest_fetch(records, tailer)
                self._update_catchup()
                if FREEZE_EACH_FETCH and len(records) >= INGEST_SLICE:
                    freeze_survivors()
            elif not self._caught_up:
                self._positions.update(tailer.positions())
                self._update_catchup()

    async def _ingest_fetch(self, records: list[RawRecord], tailer: Tailer) -> None:
        """Ingest one fetch in slices, each after a turn of the loop (requests to the service
        are answered between them); then move the positions past it. Cancelled between
        slices (the session ends), the rest is ingested at once first: the positions always
        cover exactly what the state holds, so the next session neither skips records nor
        reads these again."""
        done = 0
        try:
            while done < len(records):
                done += self._ingest(records[done : done + INGEST_SLICE])
                await let_requests_in()
        except asyncio.CancelledError:
            self._ingest(records[done:])
            self._positions.update(tailer.positions())
            raise
        self._positions.update(tailer.positions())

    def _ingest(self, records: list[RawRecord]) -> int:
        """Ingest `records` (if any) now; returns how many."""
        if records:
            self.state.ingest(records, self._clock())
            self.records_read += len(records)
        return len(records)

    def _update_catchup(self) -> None:
        if self._caught_up:
            return
        total = behind = 0
        for tp, target in self._catchup_target.items():
            start = self._catchup_start.get(tp, target)
            pos = self._positions.get(tp, start)
            total += max(0, target - start)
            behind += max(0, target - pos)
        self._caught_up = behind == 0
        percent = 100.0 if total == 0 else 100.0 * (total - behind) / total
        self.state.catchup = CatchUpView(self._caught_up, behind, percent)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.topics.refresh_s)
            await self._ask(self._refresh_topics())

    async def _lag_loop(self) -> None:
        while True:
            try:
                groups, ends = await self._sample_lag()
            except BrokerAuthError as exc:  # "error" only for refused credentials
                self.outage.answered()
                self.state.set_connection(ConnectionState.ERROR, str(exc), self._clock())
            except BrokerError as exc:  # an outage: the reason, and since when
                self.outage.failed(str(exc), self._clock())
                self._show_outage()
            else:
                self.state.lag = groups
                self.state.collector_lag = sum(
                    max(0, end - self._positions.get(tp, end))
                    for tp, end in ends.items()
                    if tp in self._positions
                )
                if self.state.connection.state != ConnectionState.CONNECTED:
                    self.state.set_connection(ConnectionState.CONNECTED, "", self._clock())
            self.state.lag_health = self._lag.health()
            await self._lag.wait_next()  # samples start on a clock, not after a pause

    async def _sample_lag(self) -> tuple[tuple[GroupLag, ...], dict[TP, int]]:
        """One lag sample; while the cluster takes longer than NO_ANSWER_S to answer it, the
        connection shows "no answer" (`_watch_loop`: a hung broker fails the request only
        after the request timeout)."""
        return await self._ask(self._lag.sample(self.state.partitions, list(self._positions)))

    async def _ask(self, request: Awaitable[T]) -> T:
        """Await a request the cluster must answer: while it waits, the outage tracker knows
        (a silent cluster shows as "no answer" after NO_ANSWER_S); its answer ends an outage."""
        self.outage.asking(self._clock())
        # Run as a task of its own, awaited through asyncio.wait: a cancellation (the session
        # or the collector ends) reaches this task even when the request swallows its own
        # (asyncio.wait_for in Python 3.11 can, when the answer comes in the same turn).
        asked = asyncio.ensure_future(request)
        try:
            await asyncio.wait({asked})
        except asyncio.CancelledError:
            asked.cancel()
            raise
        result = asked.result()
        self.outage.answered()
        if self._session_up and self.state.connection.state is ConnectionState.CONNECTING:
            self.state.set_connection(ConnectionState.CONNECTED, "", self._clock())
        return result

    def _show_outage(self) -> None:
        """The connection state while the cluster does not answer: the reason, live."""
        now = self._clock()
        self.state.set_connection(ConnectionState.CONNECTING, self.outage.text(now), now)

    async def _watch_loop(self) -> None:
        """Keep the reason of an outage (and its duration) current, turn a connection whose
        requests go unanswered to "connecting", and try a new connection to the servers now
        and then to tell why (edamon.collector.outage)."""
        while True:
            now = self._clock()
            state = self.state.connection.state
            if state is ConnectionState.CONNECTING or (
                state is ConnectionState.CONNECTED and self.outage.unanswered(now)
            ):
                self._show_outage()
            if self.outage.wants_probe(now) and (self._probe is None or self._probe.done()):
                self.outage.probed_at = now  # one at a time, not again before its time
                self._probe = asyncio.create_task(self._probe_servers(), name="edamon-probe")
            await asyncio.sleep(WATCH_EVERY_S)

    async def _probe_servers(self) -> None:
        probes = await self._broker.probe_servers(PROBE_TIMEOUT_S)
        self.outage.probed(probes, self._clock())
        if self.state.connection.state is ConnectionState.CONNECTING:
            self._show_outage()

    def _schema_resolved(self, schema_id: SchemaKey, reason: str | None) -> None:
        self.state.schema_resolved(schema_id, reason, self._clock())

    async def _registry_loop(self) -> None:
        """Ask the registry for its subjects now and then: its state for the connection view."""
        while True:
            with suppress(RegistryError):
                await self.state.schemas.probe()
            await asyncio.sleep(REGISTRY_PROBE_S)

    async def _tick_loop(self) -> None:
        while True:
            self.state.tick(self._clock())
            freeze_survivors()
            await asyncio.sleep(1.0)
