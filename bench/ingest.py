#!/usr/bin/env python3
"""Ingest benchmark (issue 3): bare aiokafka drain vs the full collector, on a real broker.

    python bench/ingest.py [--events 1000000] [--bootstrap HOST:PORT]

Produces N seed-envelope events in realistic flows (5 events per flow over 5 topics with
4 partitions, 2% dead-lettered to a DLT) to a fresh topic prefix, then drains them twice, each
in its own subprocess so memory is measured cleanly: (a) a bare aiokafka getmany loop that does
nothing else, (b) the full collector (decode, chains, sagas, throughput, retention sized to
keep every event). Prints both rates, their ratio, each drain's CPU time per record and peak
RSS; with the accelerator installed (edamon_native), the collector drains a second time with
the Python decoder (envelope.native = off), in the same turns. With --repeat N the drains take
turns N times (bare, collector, bare, ...) on the same records, and each figure is given as the
best and the spread of its N runs: on a shared machine one pair of runs says little. Without
--bootstrap it starts the harness broker from scripts/kafka.py. EDAMON_BENCH_PROFILE=FILE
writes each drain's cProfile stats to FILE.<drain>.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import resource
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TYPES = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled", "OrderClosed"]
PARTITIONS = 4


def _harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("edamon_kafka_harness", ROOT / "scripts/kafka.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def produce(bootstrap: str, prefix: str, events: int) -> float:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    topics = [f"{prefix}.{t}" for t in TYPES] + [f"{prefix}.PaymentProcessed.DLT"]
    await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, acks=1
    )
    await producer.start()
    started = time.perf_counter()
    base_ms = int(time.time() * 1000) - 600_000
    sent = 0
    flow = 0
    pending = []
    while sent < events:
        cid = str(uuid.uuid4())
        key = f"order-{flow}".encode()
        parent = None
        for step, etype in enumerate(TYPES):
            if sent >= events:
                break
            eid = str(uuid.uuid4())
            at = base_ms + flow * 3 + step * 40
            value = (
                f'{{"eventId":"{eid}","eventType":"{etype}","aggregateId":"order-{flow}",'
                f'"occurredAt":{at},"version":2,"payload":{{"orderId":"order-{flow}",'
                f'"amount":{flow % 997}.50,"currency":"EUR","lines":[{{"sku":"sku-{flow % 50}",'
                f'"qty":{1 + flow % 3}}}]}},"metadata":{{"correlationId":"{cid}",'
                f'"causationId":{json.dumps(parent)},"userId":"u-{flow % 100}"}}}}'
            ).encode()
            headers = [("event-type", etype.encode()), ("correlation-id", cid.encode())]
            topic = f"{prefix}.{etype}"
            if etype == "PaymentProcessed" and flow % 50 == 0:
                topic += ".DLT"
                headers += [
                    ("kafka_dlt-original-topic", f"{prefix}.StockReserved".encode()),
                    ("kafka_dlt-original-partition", struct.pack(">i", 0)),
                    ("kafka_dlt-original-offset", struct.pack(">q", flow)),
                    ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
                    ("kafka_dlt-exception-message", b"payment gateway timeout"),
                ]
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            sent += 1
            parent = eid
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        flow += 1
    await asyncio.gather(*pending)
    await producer.flush()
    await producer.stop()
    return time.perf_counter() - started


async def drain_bare(bootstrap: str, prefix: str, events: int, on_records: Any = None) -> float:
    """The bare getmany loop; `on_records(records)` (bench/native_spike) is handed each
    partition's records. Returns the seconds taken."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=50 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    tps = [
        TopicPartition(f"{prefix}.{t}", p)
        for t in [*TYPES, "PaymentProcessed.DLT"]
        for p in range(PARTITIONS)
    ]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    count = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    while count < events:
        batch = await consumer.getmany(timeout_ms=500, max_records=2000)
        if on_records is None:
            count += sum(len(records) for records in batch.values())
        else:
            for records in batch.values():
                count += len(records)
                on_records(records)
    elapsed = time.perf_counter() - started
    _CPU.append(time.process_time() - cpu_started)
    await consumer.stop()
    return elapsed


async def drain_collector(bootstrap: str, prefix: str, events: int) -> float:
    from edamon.broker.kafka import KafkaBroker
    from edamon.collector.collector import Collector
    from edamon.collector.runtime import tune_gc
    from edamon.config import load_settings

    tune_gc()  # as the edamon command does
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            _GC.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    settings = load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest"},
            "retention": {"max_events": events + 10, "max_age_s": 86_400},
            "lag": {"interval_s": 5},
        },
        use_default_path=False,
    )
    broker = KafkaBroker(settings.kafka)
    collector = Collector(broker, settings)
    task = asyncio.create_task(collector.run())
    started = time.perf_counter()
    cpu_started = time.process_time()
    while collector.records_read < events:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    _CPU.append(time.process_time() - cpu_started)
    snap = collector.snapshot()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    print(
        json.dumps(
            {
                "retained": snap.totals.retained_events,
                "chains": snap.totals.chains,
                "dead_letters": snap.totals.dead_letters,
            }
        ),
        file=sys.stderr,
    )
    return elapsed


_CPU: list[float] = []
"""The drain's CPU time (user and system, this process), set by the drain."""
_GC: list[float] = []
"""The collector's cyclic GC passes, in seconds each."""


def child(mode: str, bootstrap: str, prefix: str, events: int) -> None:
    runner = drain_bare if mode == "bare" else drain_collector
    profile = os.environ.get("EDAMON_BENCH_PROFILE")
    if profile:  # cProfile stats of this drain to that file (pstats reads them)
        import cProfile

        with cProfile.Profile() as profiler:
            elapsed = asyncio.run(runner(bootstrap, prefix, events))
        profiler.dump_stats(f"{profile}.{mode}")
    else:
        elapsed = asyncio.run(runner(bootstrap, prefix, events))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"elapsed": elapsed, "cpu": _CPU[-1], "peak_rss_mb": peak_kb / 1024}
    if mode == "collector":
        longest = max(_GC, default=0.0)
        print(
            f"cyclic GC: {len(_GC)} passes, {sum(_GC):.2f} s, longest {longest:.3f} s",
            file=sys.stderr,
        )
    print(json.dumps(out))


def run_child(
    mode: str,
    bootstrap: str,
    prefix: str,
    events: int,
    code: Path | None = None,
    python_decoder: bool = False,
) -> dict[str, float]:
    """One drain in a subprocess; `code`: the checkout whose edamon it imports (default: the
    one on PYTHONPATH, or this one); `python_decoder`: without the accelerator."""
    env = None
    if code is not None:
        env = {**os.environ, "PYTHONPATH": str(code)}
    if python_decoder:
        env = {**(env or os.environ), "EDAMON_ENVELOPE__NATIVE": "off"}
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--bootstrap",
            bootstrap,
            "--prefix",
            prefix,
            "--events",
            str(events),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} drain failed:\n{out.stderr[-3000:]}")
    for line in out.stderr.strip().splitlines()[-2:]:  # what it retained; its GC passes
        print(f"  ({mode}) {line}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _spread(values: list[float], fmt: str) -> str:
    """The best (first) of `values`, then all of them in the order they were measured."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values[0], fmt)} ({', '.join(format(v, fmt) for v in values[1:])})"


def report(runs: dict[str, list[dict[str, float]]], events: int) -> None:
    """Rates, CPU per record and peak RSS of each drain; with repeats, best first."""
    rate = {mode: [events / run["elapsed"] for run in got] for mode, got in runs.items()}
    cpu = {mode: [run["cpu"] / events * 1e6 for run in got] for mode, got in runs.items()}
    rss = {mode: [run["peak_rss_mb"] for run in got] for mode, got in runs.items()}
    for mode, label in (("bare", "bare aiokafka drain "), ("collector", "full collector      ")):
        print(
            f"{label}: {_spread(sorted(rate[mode], reverse=True), ',.0f')} records/s  "
            f"CPU {_spread(sorted(cpu[mode]), '.2f')} µs/record  "
            f"peak RSS {_spread(sorted(rss[mode]), '.0f')} MB"
        )
    pairs = [c / b for b, c in zip(rate["bare"], rate["collector"], strict=True)]
    cpu_pairs = [b / c for b, c in zip(cpu["bare"], cpu["collector"], strict=True)]
    print(
        f"ratio collector/bare: {_spread(sorted(pairs, reverse=True), '.2f')} by wall time, "
        f"{_spread(sorted(cpu_pairs, reverse=True), '.2f')} by CPU time  (target >= 0.35)"
    )
    print(
        f"collector peak RSS  : {min(rss['collector']):.0f} MB with {events:,} events retained "
        "(target <= 500 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix")
    parser.add_argument("--child", choices=["bare", "collector"])
    parser.add_argument("--repeat", type=int, default=1, help="pairs of drains, taking turns")
    parser.add_argument(
        "--also",
        type=Path,
        help="another checkout (e.g. main's) whose collector drains too, in the same turns",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bootstrap, args.prefix, args.events)
        return
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = _harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        prefix = args.prefix or f"bench{int(time.time())}"
        print(f"producing {args.events:,} events to {bootstrap} under {prefix}.* ...")
        took = asyncio.run(produce(bootstrap, prefix, args.events))
        print(f"  produced in {took:.1f}s ({args.events / took:,.0f}/s)")
        runs: dict[str, list[dict[str, float]]] = {"bare": [], "collector": []}
        other: dict[str, list[dict[str, float]]] = {"bare": runs["bare"], "collector": []}
        python: dict[str, list[dict[str, float]]] = {"bare": runs["bare"], "collector": []}
        native = importlib.util.find_spec("edamon_native") is not None
        print(f"accelerator (edamon_native): {'installed' if native else 'not installed'}")
        for _ in range(args.repeat):
            runs["bare"].append(run_child("bare", bootstrap, prefix, args.events))
            runs["collector"].append(run_child("collector", bootstrap, prefix, args.events))
            if native:
                python["collector"].append(
                    run_child("collector", bootstrap, prefix, args.events, python_decoder=True)
                )
            if args.also is not None:
                other["collector"].append(
                    run_child("collector", bootstrap, prefix, args.events, args.also)
                )
        report(runs, args.events)
        if native:
            print("-- the same collector with the Python decoder (envelope.native = off):")
            report(python, args.events)
        if args.also is not None:
            print(f"-- the collector of {args.also}, in the same turns:")
            report(other, args.events)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
