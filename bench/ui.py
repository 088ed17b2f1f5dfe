#!/usr/bin/env python3
"""UI benchmark (issue 4): the dashboard under a synthetic stream, headless.

    python bench/ui.py [--rate 20000] [--seconds 30] [--capacity-seconds 10]

The feed: a coroutine on the app's own event loop builds records (seed envelopes in 5-event
flows over 5 topics with 4 partitions, 2% of PaymentProcessed dead-lettered to a Spring DLT,
timestamps = now) in "fetches" of at most 2,000 paced to `--rate` records/s, and hands each to
`CollectorState.ingest` as the collector's tail loop does: in slices of 500, each one after
waiting at the view's ingest gate (held by the app from a key press to its frame), with a turn
of the loop after each.
No broker is involved: the record building stands in for the fetch and decode work a client
library does on the same loop. The app reads the state through a plain CollectorView.

Measured, with the app running headless at 120x40 (default refresh 4 Hz):
- refreshes/s: `refresh_now()` calls completed per second (snapshot + draw of the active
  screen), with their duration p50/p99; frames/s: compositor updates (the rendered screen
  handed to the driver) per second.
- key-to-screen latency: a key event is sent to the driver (as a terminal would) and the time
  is taken until the first compositor update whose screen shows its effect (for `1`-`6`: the
  screen switched, drawn from the app's latest snapshot; for `down`/`up`: the cursor of the
  overview's timeline moved, the timeline being paused with `p` so that its rows hold still
  while the rest of the overview keeps updating).
  Keys are sent every 250 ms, in turn: `--keys` (default down,up,2,1,3,1,4,1,5,1,6,1: every
  screen, each switch from the overview and back), with p50/p99 per kind and per key.
- ingest: records ingested per second at the paced rate, with the app and without it (the
  same feed on a bare loop), plus the share of wall time spent inside `ingest()`; then the
  capacity (the feed unpaced, as fast as the loop allows) with and without the app.
The cyclic GC is tuned as the `edamon` command tunes it (edamon.collector.runtime: a raised
threshold, and the collector freezes survivors every second; the feed here bypasses the
collector's loop, so the bench freezes them itself). Every measurement is taken a second time
without the freezing, to show what collections over the retained state cost.
Targets: key-to-screen p99 <= 100 ms; ingest with the UI >= 0.8x without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.screen import Screen  # noqa: E402

from edamon.collector.collector import FETCH_MAX_RECORDS, INGEST_SLICE  # noqa: E402
from edamon.collector.gate import IngestGate  # noqa: E402
from edamon.collector.runtime import GC_THRESHOLD, tune_gc  # noqa: E402
from edamon.collector.state import CollectorState  # noqa: E402
from edamon.collector.view import StateView  # noqa: E402
from edamon.config import Settings, load_settings  # noqa: E402
from edamon.model.records import RawRecord  # noqa: E402
from edamon.model.status import ConnectionState  # noqa: E402
from edamon.ui.app import EdamonApp  # noqa: E402
from edamon.ui.screens.base import DashboardScreen  # noqa: E402
from edamon.ui.screens.chains import ChainsScreen  # noqa: E402
from edamon.ui.screens.deadletters import DeadLettersScreen  # noqa: E402
from edamon.ui.screens.lag import LagScreen  # noqa: E402
from edamon.ui.screens.overview import OverviewScreen  # noqa: E402
from edamon.ui.screens.sagas import SagasScreen  # noqa: E402
from edamon.ui.screens.throughput import ThroughputScreen  # noqa: E402
from edamon.ui.widgets.table import LiveTable  # noqa: E402

TYPES = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled", "OrderClosed"]
PARTITIONS = 4
PREFIX = "bench"
BATCH = FETCH_MAX_RECORDS
"""Records per fetch at most, ingested in slices of INGEST_SLICE (as the collector does)."""
TICK_S = 0.02
KEY_EVERY_S = 0.25
KEY_TIMEOUT_S = 2.0
KEYS = "down,up,2,1,3,1,4,1,5,1,6,1"
SCREEN_KEYS: dict[str, type[Screen[Any]]] = {
    "1": OverviewScreen,
    "2": ChainsScreen,
    "3": DeadLettersScreen,
    "4": SagasScreen,
    "5": LagScreen,
    "6": ThroughputScreen,
}


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


async def freeze_gc_every_second() -> None:
    """`--gc-freeze`: move every object alive to the permanent generation each second, so the
    cyclic GC never rescans the retained state (a full collection over ~200k retained events
    otherwise stops the loop for hundreds of milliseconds)."""
    while True:
        await asyncio.sleep(1.0)
        gc.freeze()


class GcPauses:
    """Wall time of every cyclic GC collection, by generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __enter__(self) -> GcPauses:
        gc.collect()
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._start))

    def line(self) -> str:
        every = [p * 1000 for _, p in self.pauses]
        longest = ", ".join(
            f"gen {g} {max((p * 1000 for gg, p in self.pauses if gg == g), default=0.0):.0f} ms"
            for g in (0, 1, 2)
        )
        return f"{len(every)} collections, {sum(every):.0f} ms in all; longest: {longest}"


@dataclass
class Feeder:
    """Feeds `rate` records/s (None: as fast as it can) for `seconds` into `state`."""

    state: CollectorState
    rate: float | None
    seconds: float
    gate: IngestGate = field(default_factory=IngestGate)
    """Waited at before each ingest, as the collector's tail loop does (the app holds it
    from a key press until its frame)."""
    fed: int = 0
    ingest_s: float = 0.0
    elapsed_s: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        records = Records()
        ingest = self.state.ingest
        start = time.perf_counter()
        try:
            while (elapsed := time.perf_counter() - start) < self.seconds:
                due = BATCH if self.rate is None else int(self.rate * elapsed) - self.fed
                if due <= 0:
                    await asyncio.sleep(TICK_S)
                    continue
                fetched = records.take(min(due, BATCH), int(time.time() * 1000))
                # As the collector's tail loop: slices, each after the gate and a loop turn.
                for first in range(0, len(fetched), INGEST_SLICE):
                    await self.gate.wait()
                    piece = fetched[first : first + INGEST_SLICE]
                    t0 = time.perf_counter()
                    ingest(piece, time.time())
                    self.ingest_s += time.perf_counter() - t0
                    self.fed += len(piece)
                    await asyncio.sleep(0)  # let the UI breathe between slices
        finally:
            self.elapsed_s = time.perf_counter() - start
            self.done.set()

    @property
    def per_second(self) -> float:
        return self.fed / self.elapsed_s if self.elapsed_s else 0.0


def settings() -> Settings:
    return load_settings(None, {"topics": {"include": [rf"{PREFIX}\..*"]}}, use_default_path=False)


def new_state(config: Settings) -> CollectorState:
    state = CollectorState(config, cluster="bench")
    state.set_connection(ConnectionState.CONNECTED, "", time.time(), brokers=1)
    return state


@dataclass
class Probe:
    """A key waiting for the screen to show its effect."""

    sent: float
    shown: Callable[[Screen[Any]], bool]
    latency: float | None = None


@dataclass
class UiRun:
    feeder: Feeder
    refreshes: list[float] = field(default_factory=list)
    """Duration of each refresh_now()."""
    frames: int = 0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """By kind: cursor, screen."""
    by_key: dict[str, list[float]] = field(default_factory=dict)
    timeouts: int = 0


async def run_with_app(rate: float | None, seconds: float, keys: list[str], freeze: bool) -> UiRun:
    """The feed on the app's loop, the app headless; `keys` sent in turn while it runs."""
    config = settings()
    state = new_state(config)
    view = StateView(state)
    feeder = Feeder(state, rate, seconds, view.ingest_gate)
    background = [feeder.run, freeze_gc_every_second] if freeze else [feeder.run]
    app = EdamonApp(view, config, background=background)
    result = UiRun(feeder)
    probe: list[Probe] = []

    display = app._display  # instrumented: every compositor update of the headless screen

    def counting_display(screen: Screen[Any], renderable: Any) -> None:
        display(screen, renderable)
        if renderable is None:
            return
        result.frames += 1
        if probe and probe[0].latency is None and probe[0].shown(screen):
            probe[0].latency = time.perf_counter() - probe[0].sent

    app._display = counting_display  # type: ignore[method-assign]
    refresh_now = app.refresh_now

    def timed_refresh() -> None:
        t0 = time.perf_counter()
        refresh_now()
        result.refreshes.append(time.perf_counter() - t0)

    app.refresh_now = timed_refresh  # type: ignore[method-assign]

    async with app.run_test(size=(120, 40)) as pilot:
        driver = app._driver
        assert driver is not None
        overview = app.main_screens["overview"]
        assert isinstance(overview, OverviewScreen)
        timeline = overview.query_one("#timeline", LiveTable)

        def on_screen(kind: type[Screen[Any]]) -> Callable[[Screen[Any]], bool]:
            return lambda screen: (
                isinstance(screen, kind)
                and isinstance(screen, DashboardScreen)
                and screen.drawn is app.last_snapshot
            )

        def cursor_at(row: int) -> Callable[[Screen[Any]], bool]:
            return lambda screen: screen is overview and timeline.cursor_row == row

        def probe_for(key: str) -> tuple[str, str, Callable[[Screen[Any]], bool]]:
            if key in ("down", "up"):
                return key, "cursor", cursor_at(1 if key == "down" else 0)
            return key, "screen", on_screen(SCREEN_KEYS[key])

        plan = [probe_for(key) for key in keys]
        while timeline.row_count < 10:  # some events to move the cursor over
            await pilot.pause(0.05)
        await pilot.press("p")  # pause the timeline: its rows hold still, the cursor moves
        assert overview.paused
        step = 0
        result.frames = 0
        result.refreshes.clear()
        while not feeder.done.is_set():
            if plan:
                key, kind, shown = plan[step % len(plan)]
                step += 1
                probe[:] = [Probe(time.perf_counter(), shown)]
                driver.send_message(events.Key(key, None))
                deadline = time.perf_counter() + KEY_TIMEOUT_S
                while probe[0].latency is None and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
                latency = probe[0].latency
                if latency is None:
                    result.timeouts += 1
                    # Back to a known state: the overview, cursor on the first row.
                    app.go("overview")
                    timeline.move_cursor(row=0)
                else:
                    result.latencies.setdefault(kind, []).append(latency)
                    result.by_key.setdefault(key, []).append(latency)
                probe.clear()
            await asyncio.sleep(KEY_EVERY_S)
    return result


async def run_bare(rate: float | None, seconds: float, freeze: bool) -> Feeder:
    """The same feed on a loop with nothing else on it."""
    feeder = Feeder(new_state(settings()), rate, seconds)
    freezer = asyncio.create_task(freeze_gc_every_second()) if freeze else None
    try:
        await feeder.run()
    finally:
        if freezer is not None:
            freezer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await freezer
    return feeder


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report_ui(run: UiRun, label: str) -> None:
    feeder = run.feeder
    seconds = feeder.elapsed_s
    print(f"{label}")
    print(
        f"  ingested           : {feeder.fed:,} records in {seconds:.1f} s "
        f"-> {feeder.per_second:,.0f} records/s "
        f"(ingest() busy {100 * feeder.ingest_s / seconds:.0f}% of wall time)"
    )
    print(
        f"  ingest gate        : held {feeder.gate.holds} times, ingest waited "
        f"{feeder.gate.waited_s * 1000:.0f} ms in all"
    )
    if run.refreshes:
        ms = [r * 1000 for r in run.refreshes]
        print(
            f"  refreshes/s        : {len(ms) / seconds:.2f} (target 4.00); refresh_now() "
            f"p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 0.99):.1f} ms, "
            f"max {max(ms):.1f} ms"
        )
    print(f"  frames/s           : {run.frames / seconds:.2f} compositor updates")
    every: list[float] = []
    for kind, values in sorted(run.latencies.items()):
        ms = [v * 1000 for v in values]
        every += ms
        print(
            f"  key-to-screen {kind:<6}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, "
            f"p99 {pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
        )
    if every:
        print(
            f"  key-to-screen all  : n={len(every)} p50 {statistics.median(every):.1f} ms, "
            f"p99 {pct(every, 0.99):.1f} ms (target <= 100 ms); timeouts {run.timeouts}"
        )
    if len(run.by_key) > 2:
        print(
            "  per key (p50/max ms): "
            + ", ".join(
                f"{key} {statistics.median(values) * 1000:.0f}/{max(values) * 1000:.0f}"
                for key, values in run.by_key.items()
            )
        )


def scenario(args: argparse.Namespace, freeze: bool) -> None:
    """Every measurement once, with or without the periodic gc.freeze()."""
    label = "on (as the edamon command runs)" if freeze else "off (threshold only)"
    print(f"=== gc.freeze() every second: {label}")
    with GcPauses() as pauses:
        with_ui = asyncio.run(run_with_app(args.rate, args.seconds, args.keys, freeze))
    report_ui(with_ui, "with the app (120x40, keys every 250 ms)")
    print(f"  GC                 : {pauses.line()}")
    with GcPauses() as pauses:
        bare = asyncio.run(run_bare(args.rate, args.seconds, freeze))
    print("without the app")
    print(
        f"  ingested           : {bare.fed:,} records in {bare.elapsed_s:.1f} s "
        f"-> {bare.per_second:,.0f} records/s "
        f"(ingest() busy {100 * bare.ingest_s / bare.elapsed_s:.0f}% of wall time)"
    )
    print(f"  GC                 : {pauses.line()}")
    ratio = with_ui.feeder.per_second / bare.per_second
    print(f"ingest with UI / without: {ratio:.2f} (target >= 0.80)")
    if args.capacity_seconds > 0:
        seconds = args.capacity_seconds
        cap_ui = asyncio.run(run_with_app(None, seconds, [], freeze))
        cap_bare = asyncio.run(run_bare(None, seconds, freeze))
        print(f"capacity (feed unpaced, {seconds:.0f} s)")
        print(
            f"  with the app       : {cap_ui.feeder.per_second:,.0f} records/s, "
            f"{len(cap_ui.refreshes) / cap_ui.feeder.elapsed_s:.2f} refreshes/s"
        )
        print(f"  without the app    : {cap_bare.per_second:,.0f} records/s")
        print(f"  ratio              : {cap_ui.feeder.per_second / cap_bare.per_second:.2f}")


def keys_option(value: str) -> list[str]:
    """`--keys`: the keys to send in turn."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    unknown = [key for key in keys if key not in ("down", "up", *SCREEN_KEYS)]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"unknown keys: {', '.join(unknown) or value!r}")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=20_000.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the paced runs")
    parser.add_argument(
        "--capacity-seconds", type=float, default=10.0, help="length of the unpaced runs (0: skip)"
    )
    parser.add_argument(
        "--keys",
        type=keys_option,
        default=keys_option(KEYS),
        help=f"keys sent in turn, comma-separated: down, up, 1-6 (default {KEYS})",
    )
    parser.add_argument(
        "--gc-freeze",
        choices=("off", "on", "both"),
        default="both",
        help="with gc.freeze() every second (as edamon runs), without it, or both",
    )
    args = parser.parse_args()
    tune_gc()  # as the edamon command does
    print(
        f"feed: {args.rate:,.0f} records/s for {args.seconds:.0f} s, fetches <= {BATCH} "
        f"ingested in slices of {INGEST_SLICE}; "
        f"gc threshold {GC_THRESHOLD}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    for freeze in {"off": (False,), "on": (True,), "both": (True, False)}[args.gc_freeze]:
        scenario(args, freeze)


if __name__ == "__main__":
    main()
