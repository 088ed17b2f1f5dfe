#!/usr/bin/env python3
"""UI benchmark (issues 4 and 18): the service under a synthetic stream, with and without a
dashboard attached, in separate processes as `edamon` runs them.

    python bench/ui.py [--rate 20000] [--seconds 30] [--pollers 3]

The service: a child process (this script with `--serve SOCKET`) runs the real HTTP API
(edamon.service.app over uvicorn, on a Unix socket, as the embedded child does) over a
`CollectorState` that a feed fills on the same loop: records built in flows of 5 events over
5 topics with 4 partitions, 2% of PaymentProcessed dead-lettered to a Spring DLT, in fetches of
at most 2,000 paced to `--rate` records/s, ingested in slices of 500 with turns of the loop
after each (`let_requests_in`), what survives frozen after a busy fetch and once a second (as
the collector's tail and tick loops do). No broker: the record building stands in for
the fetch and decode work. The child reports what it ingested and the CPU it used.

Runs, side by side:
- none: the service alone (no client);
- dashboard: one dashboard attached (EdamonApp headless at 120x40 in this process, polling the
  overview at 4 Hz through EdamonClient), keys sent to it every 250 ms (as a terminal would)
  and the time taken until the first compositor update whose screen shows the effect
  (`1`-`6`: the screen switched, drawn from the last answer; `down`/`up`: the overview's
  paused timeline cursor moved); meanwhile a 100-row page (`GET /v1/chains?limit=100`) is
  asked every 100 ms by a process of its own, and its latency taken;
- pollers: `--pollers` more clients polling the overview at 4 Hz (what more dashboards cost the
  service: CPU per attached dashboard).
Targets: ingest with a dashboard >= 0.95x without; key-to-screen p99 <= 50 ms; page p99 <= 20 ms.

    python bench/ui.py --dead-letters [--redraws 40]

The dead-letters screen (issue 14), no feed: a service holding 1,000, then 100,000 dead letters
(ingested before the dashboard attaches) and a dashboard at 120x40 on the dead-letters screen.
`--redraws` times: a tick (`refresh_now()`: the overview and the pages in view asked of the
service; its wall time is mostly the service's), then the cursor moves and the screen is
redrawn from that answer until the compositor's next frame. Reported: wall and CPU time (this
process: the dashboard) per redraw, and their ratio 100,000 : 1,000 (target <= 1.2).
Then the memory of a dashboard process (a child of its own: RSS once the 100,000 dead letters
are listed, and its peak); with `--baseline PATH` the same child runs PATH's edamon (e.g. main's
checkout) against the same service, for the comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("EDAMON_ROOT") or Path(__file__).resolve().parent.parent)
"""The edamon whose dashboard is measured (EDAMON_ROOT: another checkout, e.g. main's code,
for the memory comparison; the service is always this one's)."""
sys.path.insert(0, str(ROOT))

from edamon.collector.collector import (  # noqa: E402
    FETCH_MAX_RECORDS,
    FREEZE_EACH_FETCH,
    INGEST_SLICE,
    let_requests_in,
)
from edamon.collector.runtime import GC_THRESHOLD, freeze_survivors  # noqa: E402
from edamon.collector.state import CollectorState  # noqa: E402
from edamon.config import Settings, load_settings  # noqa: E402
from edamon.model.records import RawRecord  # noqa: E402
from edamon.model.status import ConnectionState  # noqa: E402

TYPES = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled", "OrderClosed"]
PARTITIONS = 4
PREFIX = "bench"
BATCH = FETCH_MAX_RECORDS
"""Records per fetch at most, ingested in slices of INGEST_SLICE (as the collector does)."""
TICK_S = 0.02
KEY_EVERY_S = 0.25
KEY_TIMEOUT_S = 2.0
PAGE_EVERY_S = 0.1
POLL_HZ = 4.0
KEYS = "down,up,2,1,3,1,4,1,5,1,6,1"
TOKEN = "bench-token-bench-token-bench-token"


def _id(flow: int, step: int) -> str:
    """A unique UUID-shaped id for (flow, step); step -1 is the flow's correlation id."""
    return f"{flow:08x}-{step + 1:04x}-4000-8000-{flow * 7919 % 2**48:012x}"


class Records:
    """Builds the stream's records in flow order, one flow's event after another. Cheap on
    purpose (a few µs a record, about what a client library spends decoding one), so the feed
    measures the collector and the UI rather than the generator."""

    def __init__(self) -> None:
        self.index = 0
        self.offsets: dict[tuple[str, int], int] = {}
        self.topics = [f"{PREFIX}.{etype}" for etype in TYPES]
        self.dlt = f"{PREFIX}.PaymentProcessed.DLT"
        self.dlt_headers = (
            ("kafka_dlt-original-topic", f"{PREFIX}.StockReserved".encode()),
            ("kafka_dlt-original-partition", struct.pack(">i", 0)),
            ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
            ("kafka_dlt-exception-message", b"payment gateway timeout"),
        )

    def take(self, n: int, now_ms: int) -> list[RawRecord]:
        """The next `n` records, stamped `now_ms`."""
        out: list[RawRecord] = []
        offsets = self.offsets
        for _ in range(n):
            flow, step = divmod(self.index, len(TYPES))
            self.index += 1
            etype = TYPES[step]
            dlt = step == 2 and flow % 50 == 0  # 2% of PaymentProcessed dead-lettered
            topic = self.dlt if dlt else self.topics[step]
            partition = flow % PARTITIONS
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            cid = _id(flow, -1)
            cause = f'"{_id(flow, step - 1)}"' if step else "null"
            value = (
                f'{{"eventId":"{_id(flow, step)}","eventType":"{etype}",'
                f'"aggregateId":"order-{flow}","occurredAt":{now_ms},"version":2,'
                f'"payload":{{"orderId":"order-{flow}","amount":{flow % 997}.50,'
                f'"currency":"EUR"}},"metadata":{{"correlationId":"{cid}",'
                f'"causationId":{cause},"userId":"u-{flow % 100}"}}}}'
            ).encode()
            headers: tuple[tuple[str, bytes], ...] = (
                ("event-type", etype.encode()),
                ("correlation-id", cid.encode()),
            )
            if dlt:
                headers += (
                    *self.dlt_headers,
                    ("kafka_dlt-original-offset", struct.pack(">q", flow)),
                )
            key = f"order-{flow}".encode()
            out.append(RawRecord(topic, partition, offset, now_ms, key, value, headers))
        return out


@dataclass
class Feeder:
    """Feeds `rate` records/s (None: as fast as it can) for `seconds` into `state`."""

    state: CollectorState
    rate: float | None
    seconds: float
    fed: int = 0
    ingest_s: float = 0.0
    elapsed_s: float = 0.0

    async def run(self) -> None:
        records = Records()
        ingest = self.state.ingest
        start = time.perf_counter()
        frozen = start
        try:
            while (elapsed := time.perf_counter() - start) < self.seconds:
                due = BATCH if self.rate is None else int(self.rate * elapsed) - self.fed
                if due <= 0:
                    await asyncio.sleep(TICK_S)
                    continue
                fetched = records.take(min(due, BATCH), int(time.time() * 1000))
                for first in range(0, len(fetched), INGEST_SLICE):  # as the tail loop does
                    piece = fetched[first : first + INGEST_SLICE]
                    t0 = time.perf_counter()
                    ingest(piece, time.time())
                    self.ingest_s += time.perf_counter() - t0
                    self.fed += len(piece)
                    await let_requests_in()  # requests are answered between slices
                # what the collector's loops freeze (edamon.collector.runtime): after a busy
                # fetch, and once a second (its tick loop)
                now = time.perf_counter()
                if (FREEZE_EACH_FETCH and len(fetched) >= INGEST_SLICE) or now - frozen >= 1.0:
                    freeze_survivors()
                    frozen = now
        finally:
            self.elapsed_s = time.perf_counter() - start


def settings() -> Settings:
    return load_settings(
        None,
        {"topics": {"include": [rf"{PREFIX}\..*"]}, "ui": {"refresh_hz": POLL_HZ}},
        use_default_path=False,
    )


# --- the service child --------------------------------------------------------------------------


def serve_feed(socket_path: str, rate: float | None, seconds: float) -> None:
    """`--serve`: the API over a fed state on `socket_path`; prints a JSON line at the end."""
    import uvicorn

    from edamon.actions.service import RetryService
    from edamon.broker.memory import MemoryBroker
    from edamon.collector.runtime import tune_gc
    from edamon.collector.view import StateView
    from edamon.service.app import create_app
    from edamon.service.auth import Tokens
    from edamon.service.backend import Backend

    tune_gc()  # as `edamon serve` does
    config = settings()
    state = CollectorState(config, cluster="bench")
    state.set_connection(ConnectionState.CONNECTED, "", time.time(), brokers=1)
    view: Any = StateView(state)
    view.caught_up = True  # what the routes ask of a collector besides the view
    broker = MemoryBroker()
    backend = Backend(view, RetryService(broker, config), broker, config)
    app = create_app(backend, Tokens(None, TOKEN, "bench"), max_body_bytes=1 << 20)
    server = uvicorn.Server(
        uvicorn.Config(app, uds=socket_path, log_config=None, access_log=False, lifespan="off")
    )

    async def main() -> dict[str, float]:
        serving = asyncio.create_task(server.serve())
        while not os.path.exists(socket_path):  # noqa: ASYNC240 - a socket appearing
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        sys.stdin.readline()  # the parent says go (its clients are attached)
        feeder = Feeder(state, rate, seconds)
        cpu = time.process_time()
        await feeder.run()
        cpu = time.process_time() - cpu
        server.should_exit = True
        await serving
        return {
            "fed": feeder.fed,
            "elapsed_s": feeder.elapsed_s,
            "ingest_s": feeder.ingest_s,
            "cpu_s": cpu,
        }

    print(json.dumps(asyncio.run(main())), flush=True)


@dataclass
class Service:
    process: subprocess.Popen[str]
    socket: str

    @classmethod
    def start(cls, rate: float | None, seconds: float, directory: str) -> Service:
        socket_path = os.path.join(directory, "bench.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        args = [sys.executable, __file__, "--serve", socket_path, "--seconds", str(seconds)]
        args += ["--rate", str(rate if rate is not None else 0)]
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the service did not start: {line!r}")
        return cls(process, socket_path)

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    async def result(self) -> dict[str, float]:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        await asyncio.to_thread(self.process.wait)
        data: dict[str, float] = json.loads(line)
        return data

    @property
    def url(self) -> str:
        return f"unix:{self.socket}"


# --- the clients ---------------------------------------------------------------------------------


async def poll(url: str, stop: asyncio.Event) -> int:
    """A dashboard's requests without its drawing: the overview at POLL_HZ, one at a time."""
    from edamon.client import ClientError, EdamonClient
    from edamon.ui.source import OVERVIEW_ROWS

    polls = 0
    async with EdamonClient(url, TOKEN) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                await client.overview(rows=OVERVIEW_ROWS)
            except ClientError:  # the service stopped at the end of its feed
                break
            polls += 1
            left = 1 / POLL_HZ - (time.perf_counter() - started)
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), left)
    return polls


async def pages(url: str, stop: asyncio.Event) -> list[float]:
    """Latency of a 100-row page every PAGE_EVERY_S, on a connection of its own."""
    from edamon.client import ClientError, EdamonClient

    latencies: list[float] = []
    async with EdamonClient(url, TOKEN) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                page = await client.chains(offset=0, limit=100)
            except ClientError:  # the service stopped at the end of its feed
                break
            latencies.append(time.perf_counter() - started)
            assert len(page.items) <= 100
            await asyncio.sleep(PAGE_EVERY_S)
    return latencies


def page_child(url: str) -> None:
    """`--page-child URL`: `pages()` in a process of its own until a line on stdin; prints the
    latencies as JSON. Not in the dashboard's process: there its loop's turns would count in
    the page's latency, and its page parsing in the dashboard's key-to-screen."""

    async def main() -> list[float]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wait_for_stop() -> None:
            sys.stdin.readline()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=wait_for_stop, daemon=True).start()
        return await pages(url, stop)

    print(json.dumps(asyncio.run(main())), flush=True)


def start_pager(url: str) -> subprocess.Popen[str]:
    """The page requester (`page_child`) in a process of its own; a line on its stdin stops
    it."""
    args = [sys.executable, __file__, "--page-child", url]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@dataclass
class Run:
    label: str
    service: dict[str, float]
    dashboard_cpu_s: float = 0.0
    polls: int = 0
    pages: list[float] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    by_key: dict[str, list[float]] = field(default_factory=dict)
    timeouts: int = 0
    frames: int = 0

    @property
    def rate(self) -> float:
        return self.service["fed"] / self.service["elapsed_s"]

    @property
    def cpu_share(self) -> float:
        return self.service["cpu_s"] / self.service["elapsed_s"]


async def run_plain(args: argparse.Namespace, pollers: int, directory: str) -> Run:
    """The service alone, or with `pollers` clients polling the overview."""
    service = Service.start(args.rate, args.seconds, directory)
    stop = asyncio.Event()
    clients = [asyncio.create_task(poll(service.url, stop)) for _ in range(pollers)]
    await asyncio.sleep(0.5)  # connected and polling
    service.go()
    result = await service.result()
    stop.set()
    polls = sum(await asyncio.gather(*clients))
    label = "service alone" if not pollers else f"service + {pollers} pollers at 4 Hz"
    return Run(label, result, polls=polls)


async def run_dashboard(args: argparse.Namespace, directory: str) -> Run:
    """The service with one dashboard attached (headless, in this process) and a page
    requester; keys sent to the dashboard every KEY_EVERY_S."""
    from textual import events
    from textual.screen import Screen

    from edamon.client import EdamonClient
    from edamon.ui.app import EdamonApp
    from edamon.ui.screens.base import DashboardScreen
    from edamon.ui.screens.chains import ChainsScreen
    from edamon.ui.screens.deadletters import DeadLettersScreen
    from edamon.ui.screens.lag import LagScreen
    from edamon.ui.screens.overview import OverviewScreen
    from edamon.ui.screens.sagas import SagasScreen
    from edamon.ui.screens.throughput import ThroughputScreen
    from edamon.ui.source import DataSource
    from edamon.ui.widgets.snapshot_table import SnapshotTable

    screens: dict[str, type[Screen[Any]]] = {
        "1": OverviewScreen,
        "2": ChainsScreen,
        "3": DeadLettersScreen,
        "4": SagasScreen,
        "5": LagScreen,
        "6": ThroughputScreen,
    }
    service = Service.start(args.rate, args.seconds, directory)
    app = EdamonApp(DataSource(EdamonClient(service.url, TOKEN)), settings(), tune_gc=True)
    run = Run("service + 1 dashboard at 4 Hz", {})
    thresholds = gc.get_threshold()
    probe: list[tuple[float, Callable[[Screen[Any]], bool], list[float]]] = []

    # Instrumented (bench only, not the app): every compositor update of the headless screen.
    display = app._display

    def counting_display(screen: Screen[Any], renderable: Any) -> None:
        display(screen, renderable)
        if renderable is None:
            return
        run.frames += 1
        if probe and not probe[0][2] and probe[0][1](screen):
            probe[0][2].append(time.perf_counter() - probe[0][0])

    app._display = counting_display  # type: ignore[method-assign]
    stop = asyncio.Event()
    cpu = time.process_time()
    async with app.run_test(size=(120, 40)) as pilot:
        driver = app._driver
        assert driver is not None
        overview = app.main_screens["overview"]
        assert isinstance(overview, OverviewScreen)
        timeline = overview.query_one("#timeline", SnapshotTable)
        pager = start_pager(service.url)
        service.go()
        done = asyncio.create_task(service.result())

        def on_screen(kind: type[Screen[Any]]) -> Callable[[Screen[Any]], bool]:
            return lambda screen: (
                isinstance(screen, kind)
                and isinstance(screen, DashboardScreen)
                and screen.drawn is app.last_snapshot
            )

        def cursor_at(row: int) -> Callable[[Screen[Any]], bool]:
            return lambda screen: screen is overview and timeline.cursor_row == row

        plan = [
            (key, "cursor", cursor_at(1 if key == "down" else 0))
            if key in ("down", "up")
            else (key, "screen", on_screen(screens[key]))
            for key in args.keys
        ]
        while timeline.row_count < 10 and not done.done():
            await pilot.pause(0.05)
        await pilot.press("p")  # pause the timeline: its rows hold still, the cursor moves
        step = 0
        while not done.done():
            key, kind, shown = plan[step % len(plan)]
            step += 1
            got: list[float] = []
            probe[:] = [(time.perf_counter(), shown, got)]
            driver.send_message(events.Key(key, None))
            deadline = time.perf_counter() + KEY_TIMEOUT_S
            while not got and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            probe.clear()
            if not got:
                run.timeouts += 1
                app.go("overview")
                timeline.move_cursor(row=0)
            else:
                run.latencies.setdefault(kind, []).append(got[0])
                run.by_key.setdefault(key, []).append(got[0])
            await asyncio.sleep(KEY_EVERY_S)
        run.service = await done
        stop.set()
        out, _ = await asyncio.to_thread(pager.communicate, "stop\n")
        run.pages = json.loads(out)
        run.polls = app.source.polls
    run.dashboard_cpu_s = time.process_time() - cpu
    gc.unfreeze()  # the dashboard tuned this process's GC as `edamon` does: undo it
    gc.set_threshold(*thresholds)
    return run


# --- the dead-letters screen: redraw cost and memory by the number of dead letters ---------------

DLT = f"{PREFIX}.Payments.DLT"


def dead_letter_records(n: int, now_ms: int) -> list[RawRecord]:
    """`n` Spring dead letters (each its own flow), offsets 0..n-1."""
    out = []
    for i in range(n):
        cid = _id(i, -1)
        value = (
            f'{{"eventId":"{_id(i, 2)}","eventType":"PaymentProcessed",'
            f'"aggregateId":"order-{i}","occurredAt":{now_ms},"version":2,"payload":{{}},'
            f'"metadata":{{"correlationId":"{cid}","causationId":null}}}}'
        ).encode()
        headers = (
            ("event-type", b"PaymentProcessed"),
            ("kafka_dlt-original-topic", f"{PREFIX}.Payments".encode()),
            ("kafka_dlt-original-partition", struct.pack(">i", i % PARTITIONS)),
            ("kafka_dlt-original-offset", struct.pack(">q", i)),
            ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
            ("kafka_dlt-exception-message", f"payment gateway timeout #{i}".encode()),
        )
        out.append(RawRecord(DLT, 0, i, now_ms - (n - i), f"order-{i}".encode(), value, headers))
    return out


def dead_letter_settings(n: int) -> Settings:
    return load_settings(
        None,
        {
            "topics": {"include": [rf"{PREFIX}\..*"]},
            "ui": {"refresh_hz": POLL_HZ},
            "retention": {"max_dead_letters": max(n, 1000)},
        },
        use_default_path=False,
    )


def serve_dead_letters(socket_path: str, n: int) -> None:
    """`--serve-dead-letters SOCKET N`: the API over a state holding N dead letters; runs
    until its stdin closes."""
    import uvicorn

    from edamon.actions.service import RetryService
    from edamon.broker.memory import MemoryBroker
    from edamon.collector.view import StateView
    from edamon.service.app import create_app
    from edamon.service.auth import Tokens
    from edamon.service.backend import Backend

    # the service's pages of dead letters reach all N (its snapshot lists the newest 2,000)
    config = dead_letter_settings(n)
    state = CollectorState(config, cluster="bench")
    state.set_connection(ConnectionState.CONNECTED, "", time.time(), brokers=1)
    records = dead_letter_records(n, int(time.time() * 1000))
    for first in range(0, n, INGEST_SLICE):
        state.ingest(records[first : first + INGEST_SLICE], time.time())
    del records
    view: Any = StateView(state)
    view.caught_up = True
    broker = MemoryBroker()
    backend = Backend(view, RetryService(broker, config), broker, config)
    app = create_app(backend, Tokens(None, TOKEN, "bench"), max_body_bytes=1 << 20)
    server = uvicorn.Server(
        uvicorn.Config(app, uds=socket_path, log_config=None, access_log=False, lifespan="off")
    )

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not os.path.exists(socket_path):  # noqa: ASYNC240 - a socket appearing
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        server.should_exit = True
        await serving

    asyncio.run(main())


def start_dead_letter_service(n: int, directory: str) -> Service:
    socket_path = os.path.join(directory, f"dl-{n}.sock")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    env = {**os.environ, "EDAMON_ROOT": str(Path(__file__).resolve().parent.parent)}
    args = [sys.executable, __file__, "--serve-dead-letters", socket_path, str(n)]
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise SystemExit(f"the service did not start: {line!r}")
    return Service(process, socket_path)


async def show_dead_letters(app: Any, pilot: Any, n: int) -> Any:
    """Switch to the dead-letters screen and wait until it lists the service's dead letters
    (as many as the screen lists: all of them, or its page)."""
    await pilot.press("3")
    table = app.screen.query_one("#dead-letters")
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        await app.refresh_now()
        await pilot.pause()
        listed = max(table.row_count, len(table.all_keys))  # all_keys: a lazy table's (main's)
        if listed >= min(n, 1000) and app.screen.drawn is app.last_snapshot:
            return table
    raise SystemExit(f"the dead letters were not listed ({table.row_count} of {n})")


async def redraws(url: str, n: int, count: int, profile: str | None = None) -> dict[str, float]:
    """Wall and CPU time of `count` redraws of the dead-letters screen (median, p90)."""
    from edamon.client import EdamonClient
    from edamon.ui.app import EdamonApp
    from edamon.ui.source import DataSource

    app = EdamonApp(DataSource(EdamonClient(url, TOKEN)), dead_letter_settings(n), refresh=False)
    # Instrumented (bench only, not the app): the compositor's updates of the headless screen.
    frames: list[float] = []
    display = app._display

    def counting_display(screen: Any, renderable: Any) -> None:
        display(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = counting_display  # type: ignore[method-assign]
    walls: list[float] = []
    cpus: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = await show_dead_letters(app, pilot, n)
        rows = table.row_count
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        ticks: list[float] = []
        for i in range(count):
            tick = time.perf_counter()
            await app.refresh_now()  # fresh pages from the service (not timed as a redraw)
            ticks.append(time.perf_counter() - tick)
            await pilot.pause()
            table.move_cursor(row=(i * 7) % 30)  # something changes on screen each time
            frames.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            app.screen.redraw()  # the screen drawn from the last answer, to the next frame
            while not frames:
                await asyncio.sleep(0)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}-{n}.prof")
    return {
        "rows": rows,
        "tick_wall_ms": statistics.median(ticks) * 1000,
        "wall_ms": statistics.median(walls) * 1000,
        "wall_p90_ms": pct(walls, 0.9) * 1000,
        "cpu_ms": statistics.median(cpus) * 1000,
        "cpu_p90_ms": pct(cpus, 0.9) * 1000,
    }


def rss_kib(field_name: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def memory_child(url: str, n: int) -> None:
    """`--memory-child URL N`: a dashboard process that lists the dead letters; prints its
    memory as JSON (kB)."""
    from edamon.client import EdamonClient
    from edamon.ui.app import EdamonApp
    from edamon.ui.source import DataSource

    async def main() -> dict[str, int]:
        app = EdamonApp(
            DataSource(EdamonClient(url, TOKEN)), dead_letter_settings(n), refresh=False
        )
        before = rss_kib()
        async with app.run_test(size=(120, 40)) as pilot:
            started = rss_kib()
            table = await show_dead_letters(app, pilot, n)
            for _ in range(10):  # a few ticks on the screen, scrolling through it
                await pilot.press("pagedown")
                await app.refresh_now()
                await pilot.pause()
            return {
                "rows_listed": max(table.row_count, len(table.all_keys)),
                "rss_before_app_kb": before,
                "rss_app_started_kb": started,
                "rss_listed_kb": rss_kib(),
                "peak_kb": rss_kib("VmHWM"),
            }

    print(json.dumps(asyncio.run(main())), flush=True)


def measure_memory(url: str, n: int, root: str | None) -> dict[str, int]:
    env = {**os.environ, "EDAMON_ROOT": root or str(Path(__file__).resolve().parent.parent)}
    env["PYTHONPATH"] = env["EDAMON_ROOT"]
    here = Path(__file__).resolve()
    out = subprocess.run(
        [sys.executable, str(here), "--memory-child", url, str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"memory child failed:\n{out.stderr[-3000:]}")
    data: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


async def bench_dead_letters(args: argparse.Namespace) -> None:
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="edamon-bench-") as directory:
        for n in (1_000, 100_000):
            started = time.perf_counter()
            service = start_dead_letter_service(n, directory)
            print(f"service with {n:,} dead letters ready in {time.perf_counter() - started:.1f} s")
            try:
                results[n] = await redraws(service.url, n, args.redraws, args.profile)
                print(f"  redraw at {n:>7,} dead letters: {results[n]}")
                if n == 100_000:
                    mine = measure_memory(service.url, n, None)
                    print(f"  dashboard memory, this code: {mine}")
                    if args.baseline:
                        base = measure_memory(service.url, n, args.baseline)
                        print(f"  dashboard memory, {args.baseline}: {base}")
            finally:
                assert service.process.stdin is not None
                service.process.stdin.close()
                service.process.wait(timeout=30)
    small, large = results[1_000], results[100_000]
    print(
        f"redraw 100,000 : 1,000 dead letters: wall {large['wall_ms'] / small['wall_ms']:.2f}, "
        f"CPU {large['cpu_ms'] / small['cpu_ms']:.2f} (target <= 1.2); "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(values: list[float]) -> str:
    if not values:
        return "n=0"
    got = [v * 1000 for v in values]
    return (
        f"n={len(got)} p50 {statistics.median(got):.1f} ms, p99 {pct(got, 0.99):.1f} ms, "
        f"max {max(got):.1f} ms"
    )


def report(runs: list[Run], seconds: float) -> None:
    alone = runs[0]
    width = max(len(r.label) for r in runs)
    print(f"{'run':<{width}}  ingest rec/s  vs alone  service CPU  polls/s")
    for r in runs:
        print(
            f"{r.label:<{width}}  {r.rate:>12,.0f}  {r.rate / alone.rate:>8.3f}  "
            f"{100 * r.cpu_share:>10.1f}%  {r.polls / r.service['elapsed_s']:>7.2f}"
        )
    dash = next(r for r in runs if r.label.endswith("dashboard at 4 Hz"))
    print()
    print(f"ingest with one dashboard / alone: {dash.rate / alone.rate:.3f} (target >= 0.95)")
    every: list[float] = []
    for kind, values in sorted(dash.latencies.items()):
        every += values
        print(f"key-to-screen {kind:<6}: {ms(values)}")
    print(f"key-to-screen all   : {ms(every)} (target p99 <= 50 ms); timeouts {dash.timeouts}")
    print(
        "  per key (p50/max ms): "
        + ", ".join(
            f"{key} {statistics.median(v) * 1000:.0f}/{max(v) * 1000:.0f}"
            for key, v in dash.by_key.items()
        )
    )
    page = ms(dash.pages)
    print(f"100-row page (GET /v1/chains?limit=100) under load: {page} (target p99 <= 20 ms)")
    print(
        f"frames/s {dash.frames / dash.service['elapsed_s']:.2f}; dashboard process CPU "
        f"{100 * dash.dashboard_cpu_s / dash.service['elapsed_s']:.1f}% "
        "(the page requester runs apart)"
    )
    # CPU per dashboard from CPU *time* (robust to a shared machine giving the service less
    # CPU when more processes run): what the run used beyond its records at the alone run's
    # cost per record.
    per_record = alone.service["cpu_s"] / max(1.0, alone.service["fed"])
    print(f"service CPU per 1,000 records ingested (alone): {per_record * 1e6:.1f} ms")
    for r in runs[1:]:
        extra = r.service["cpu_s"] - r.service["fed"] * per_record
        clients = 1 if r is dash else int(r.label.split("+ ")[1].split()[0])
        per_poll = extra / max(1, r.polls) * 1000
        per_client = 100 * extra / r.service["elapsed_s"] / clients
        print(
            f"{r.label}: service CPU beyond ingest {extra:.2f} s in "
            f"{r.service['elapsed_s']:.0f} s -> {per_client:.1f}% of a core per client, "
            f"{per_poll:.1f} ms per overview poll ({r.polls} polls)"
        )


def keys_option(value: str) -> list[str]:
    keys = [key.strip() for key in value.split(",") if key.strip()]
    unknown = [key for key in keys if key not in ("down", "up", "1", "2", "3", "4", "5", "6")]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"unknown keys: {', '.join(unknown) or value!r}")
    return keys


async def bench(args: argparse.Namespace) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="edamon-bench-") as directory:
        runs = [await run_plain(args, 0, directory), await run_dashboard(args, directory)]
        if args.pollers:
            runs.append(await run_plain(args, args.pollers, directory))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--pollers", type=int, default=3, help="polling clients in the last run")
    parser.add_argument(
        "--keys",
        type=keys_option,
        default=keys_option(KEYS),
        help=f"keys sent in turn, comma-separated: down, up, 1-6 (default {KEYS})",
    )
    parser.add_argument(
        "--dead-letters", action="store_true", help="the dead-letters screen: redraw, memory"
    )
    parser.add_argument("--redraws", type=int, default=40, help="redraws measured per size")
    parser.add_argument("--baseline", metavar="PATH", help="another edamon checkout (memory)")
    parser.add_argument("--profile", metavar="PREFIX", help="cProfile the redraws to PREFIX-N.prof")
    parser.add_argument("--serve", metavar="SOCKET", help=argparse.SUPPRESS)
    parser.add_argument("--serve-dead-letters", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--page-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_feed(args.serve, args.rate or None, args.seconds)
        return
    if args.serve_dead_letters:
        serve_dead_letters(args.serve_dead_letters[0], int(args.serve_dead_letters[1]))
        return
    if args.page_child:
        page_child(args.page_child)
        return
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    if args.dead_letters:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        asyncio.run(bench_dead_letters(args))
        return
    print(
        f"feed: {args.rate:,.0f} records/s for {args.seconds:.0f} s per run, fetches <= {BATCH} "
        f"ingested in slices of {INGEST_SLICE}; service gc threshold {GC_THRESHOLD}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    report(asyncio.run(bench(args)), args.seconds)


if __name__ == "__main__":
    main()
