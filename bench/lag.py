#!/usr/bin/env python3
"""Lag-sampler benchmark (issue 20): many consumer groups on a private broker.

    python bench/lag.py [--groups 53] [--partitions-per-group 250] [--topics 10]
                        [--partitions 100] [--seconds 60] [--interval 1.0] [--bootstrap H:P]

Setup (minutes, not hours, at 500 groups x 250 partitions): creates `--topics` topics of
`--partitions` partitions, writes a few records to every partition, then commits offsets for
`--groups` groups directly (OffsetCommit with no member and generation -1: no consumer joins
any group). Each group commits on `--partitions-per-group` consecutive partitions of the
topic-partition list, from a different start per group, so a group's topics are partly
committed (as with a consumer that owns part of a topic).

Measurement (in a subprocess, so its RSS is the sampler's): the collector's lag sampler on a
KafkaBroker runs at `--interval` for `--seconds`, while this process keeps producing a steady
trickle (`--rate` records/s) so end offsets move. Printed: cycle time p50/p99, samples per
minute against the expected, requests per sample (every request aiokafka sends, by API),
the longest event-loop block (a probe task that wakes every 5 ms), and RSS per tracked
group-partition. Without --bootstrap it starts the harness broker from scripts/kafka.py.
`EDAMON_SRC=DIR` measures the edamon package in DIR instead (e.g. `git archive` of an older
commit); `--offsets-topic` then reads `__consumer_offsets` whole, as Burrow does, and times it.

Measured 2026-12-07 on the shared 2-core machine, 10 topics x 100 partitions, 200 records/s,
interval 1 s, 30 s per run; "before" is main at 113ce5c (run as EDAMON_SRC), "after" this code,
alternating, 3 runs each, medians shown (load average 4-6 from other work: wall times are 2-4x
the CPU times, and CPU per cycle is the figure that travels). "block" is the probe's longest
lateness, wall / the most CPU this process used in one probe wait:

    scale               code    cycle p50/p99  CPU p50  samples/min  requests  block        RSS/gp
    53 x 250 (13,250)   before  428 / 723 ms   184 ms   60 (1.00)      6        95 / 31 ms  2.7 KB
    53 x 250 (13,250)   after    84 / 205 ms    33 ms   60 (1.00)      6        65 / 13 ms  0.96 KB
    500 x 250 (125k)    before  3.11 / 4.15 s  1.31 s   18 (0.30)     32       170 / 40 ms  1.9 KB
    500 x 250 (125k)    after   0.52 / 0.72 s  208 ms   60 (1.00)     32       127 / 19 ms  0.76 KB

Where the CPU went before (cProfile, 53 groups): building a PartitionLag object per row for
every group at every sample (~64%), per-partition observe with one tracker object each (~24%),
parsing (~10%). After: rows are built only when read, trackers are arrays per group, the
OffsetFetch answer is unpacked by runs (0.3 us a group-partition); what is left is one Python
step per group-partition for lag seconds and status (~1 us) and one vectorised step per group.
RSS/gp counts everything the process grew by (two samples' views included). Reading
`__consumer_offsets`: 3.2 us of CPU per commit record (125,000 records in 2.0 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "lagbench"
PROBE_S = 0.005


def _harness():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("edamon_kafka_harness", ROOT / "scripts/kafka.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _topic_partitions(topics: int, partitions: int) -> list[tuple[str, int]]:
    return [(f"{PREFIX}.t{t:03d}", p) for t in range(topics) for p in range(partitions)]


# ---- setup -----------------------------------------------------------------------------------


async def setup(bootstrap: str, args: argparse.Namespace) -> dict[str, float]:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.commit import OffsetCommitRequest

    took: dict[str, float] = {}
    t0 = time.perf_counter()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=120_000)
    await admin.start()
    names = [f"{PREFIX}.t{t:03d}" for t in range(args.topics)]
    existing = set(await admin.list_topics())
    new = [NewTopic(n, args.partitions, 1) for n in names if n not in existing]
    for i in range(0, len(new), 10):
        await admin.create_topics(new[i : i + 10], timeout_ms=120_000)
    await admin.close()
    took["topics_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tps = _topic_partitions(args.topics, args.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, acks=1)
    await producer.start()
    try:
        futures = []
        for topic, partition in tps:
            for _ in range(args.records):
                futures.append(await producer.send(topic, b"x" * 32, partition=partition))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    took["produce_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=60_000)
    await client.bootstrap()
    node = client.get_random_node()  # one broker: it coordinates every group
    rng = random.Random(20)
    stride = max(1, len(tps) // max(1, args.groups))
    limit = asyncio.Semaphore(16)

    async def commit(g: int) -> None:
        start = (g * stride) % len(tps)
        count = min(args.partitions_per_group, len(tps))
        mine = [tps[(start + i) % len(tps)] for i in range(count)]
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        for topic, partition in mine:
            by_topic.setdefault(topic, []).append((partition, rng.randint(0, args.records), ""))
        request = OffsetCommitRequest(f"{PREFIX}-g{g:04d}", -1, "", -1, sorted(by_topic.items()))
        async with limit:
            response = await client.send(node, request)
        for _, parts in response.topics:
            for _, error in parts:
                if error:
                    raise RuntimeError(f"commit for group {g} failed: error {error}")

    await asyncio.gather(*(commit(g) for g in range(args.groups)))
    await client.close()
    took["commit_s"] = time.perf_counter() - t0
    return took


async def trickle(bootstrap: str, args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Produce `args.rate` records/s over all partitions until `stop` is set."""
    from aiokafka import AIOKafkaProducer

    tps = _topic_partitions(args.topics, args.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await producer.start()
    sent = 0
    try:
        rng = random.Random(7)
        while not stop.is_set():
            t0 = time.monotonic()
            batch = max(1, int(args.rate / 10))
            for _ in range(batch):
                topic, partition = tps[rng.randrange(len(tps))]
                await producer.send(topic, b"y" * 32, partition=partition)
            sent += batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, 0.1 - (time.monotonic() - t0)))
    finally:
        await producer.stop()
    return sent


# ---- measurement (subprocess) ----------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Requests:
    """Counts every request aiokafka sends in this process, by request class name."""

    def __init__(self) -> None:
        import aiokafka.conn as conn

        self.counts: Counter[str] = Counter()
        original = conn.AIOKafkaConnection.send
        counts = self.counts

        def send(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
            counts[type(request).__name__] += 1
            return original(self, request, *a, **kw)

        conn.AIOKafkaConnection.send = send  # type: ignore[method-assign]


async def _probe(longest: list[float], stop: asyncio.Event, tick: Any) -> None:
    """The loop-lag probe: wakes every PROBE_S; `longest` gets the longest lateness (wall) and
    the most CPU this thread used in one probe's wait beyond PROBE_S (on a shared machine a
    process that is not scheduled looks late too: the CPU figure is what the code blocked)."""
    loop = asyncio.get_running_loop()
    last_tick = loop.time()
    while not stop.is_set():
        if loop.time() - last_tick >= 1.0:  # the collector's tick loop
            tick()
            last_tick = loop.time()
        t0, c0 = loop.time(), time.thread_time()
        await asyncio.sleep(PROBE_S)
        late = loop.time() - t0 - PROBE_S
        busy = time.thread_time() - c0
        if late > longest[0]:
            longest[0] = late
        if busy > longest[1]:
            longest[1] = busy


async def read_offsets_topic(bootstrap: str) -> dict[str, Any]:
    """Burrow's way, measured: read `__consumer_offsets` from the beginning with a group-less
    consumer and decode every offset-commit record (key v0/v1: group, topic, partition;
    value: offset). Returns records, commits decoded, and CPU per record."""
    import struct as st

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        exclude_internal_topics=False,
        fetch_max_bytes=16 * 2**20, max_partition_fetch_bytes=16 * 2**20,
    )  # fmt: skip
    await consumer.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        described = await admin.describe_topics(["__consumer_offsets"])
        await admin.close()
        parts = [p["partition"] for p in described[0]["partitions"]]
        tps = [TopicPartition("__consumer_offsets", p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        latest: dict[tuple[str, str, int], int] = {}
        records = commits = 0
        t0, c0 = time.perf_counter(), time.process_time()
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            for messages in batches.values():
                for m in messages:
                    records += 1
                    key = m.key
                    if key is None or m.value is None:
                        continue
                    (version,) = st.unpack_from(">h", key, 0)
                    if version > 1:
                        continue  # group metadata, not a commit
                    n = st.unpack_from(">h", key, 2)[0]
                    group = key[4 : 4 + n].decode()
                    pos = 4 + n
                    n = st.unpack_from(">h", key, pos)[0]
                    topic = key[pos + 2 : pos + 2 + n].decode()
                    (partition,) = st.unpack_from(">i", key, pos + 2 + n)
                    (offset,) = st.unpack_from(">q", m.value, 2)
                    latest[(group, topic, partition)] = offset
                    commits += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await consumer.stop()
    return {
        "records": records,
        "commits": commits,
        "group_partitions": len(latest),
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_record": 1e6 * cpu / max(1, records),
    }


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def measure(
    bootstrap: str, interval: float, seconds: float, read_topic: bool
) -> dict[str, Any]:
    sys.path.insert(0, os.environ.get("EDAMON_SRC", str(ROOT)))
    from edamon.broker.kafka import KafkaBroker
    from edamon.collector import lagsampler
    from edamon.config import load_settings

    settings = load_settings(
        None,
        {
            "kafka": {"bootstrap_servers": bootstrap, "request_timeout_s": 30},
            "lag": {"interval_s": interval, "groups_include": [rf"{PREFIX}-.*"]},
        },
        use_default_path=False,
    )
    from edamon.collector.runtime import freeze_survivors, tune_gc

    tune_gc()  # as the edamon command does, with the collector's once-a-second freeze below
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    topics = await broker.list_topics()
    partitions = {t.name: t.partitions for t in topics if t.name.startswith(PREFIX)}
    requests = _Requests()
    cycles: list[float] = []
    cpu: list[float] = []  # CPU time of the process during each cycle: contention aside
    original = lagsampler.LagSampler.sample

    async def timed(self: Any, *a: Any, **kw: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return await original(self, *a, **kw)
        finally:
            cycles.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)

    lagsampler.LagSampler.sample = timed  # type: ignore[method-assign]
    sampler = lagsampler.LagSampler(broker, settings.lag)
    baseline = _rss_bytes()
    stop = asyncio.Event()
    longest = [0.0, 0.0]
    probe = asyncio.create_task(_probe(longest, stop, freeze_survivors))
    result: list[Any] = []
    warmup = [0]

    async def loop_old() -> None:  # the collector's loop before issue 20: sample, then pause
        while True:
            views, _ = await sampler.sample(time.time(), partitions, [])
            result[:] = [views]
            await asyncio.sleep(interval)

    async def loop_new() -> None:  # the collector's loop now: samples on the sampler's clock
        while True:
            views, _ = await sampler.sample(partitions, [])
            result[:] = [views]
            await sampler.wait_next()

    new_api = hasattr(lagsampler.LagSampler, "wait_next")
    task = asyncio.create_task(loop_new() if new_api else loop_old())
    # the first sample finds every group (coordinators, first history): not steady state
    while not cycles:
        await asyncio.sleep(0.05)
    warmup[0] = len(cycles)
    requests.counts.clear()
    longest[:] = [0.0, 0.0]
    t_start = time.monotonic()
    first = len(cycles)
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t_start
    samples = len(cycles) - first
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stop.set()
    await probe
    rss = _rss_bytes()
    views = result[0] if result else ()
    rows = sum(len(v.partitions) for v in views)
    committed = sum(1 for v in views for p in v.partitions if p.committed is not None)
    health = sampler.health() if hasattr(sampler, "health") else None
    await broker.close()
    offsets_topic = await read_offsets_topic(bootstrap) if read_topic else None
    steady = sorted(cycles[first:]) or [0.0]
    steady_cpu = sorted(cpu[first:]) or [0.0]
    return {
        "api": "clock" if new_api else "pause",
        "groups": len(views),
        "rows": rows,
        "committed_group_partitions": committed,
        "cycle_p50_ms": 1000 * statistics.median(steady),
        "cycle_p99_ms": 1000 * _p99(steady),
        "cycle_max_ms": 1000 * steady[-1],
        "cycle_cpu_p50_ms": 1000 * statistics.median(steady_cpu),
        "cycle_cpu_p99_ms": 1000
        * steady_cpu[min(len(steady_cpu) - 1, int(0.99 * len(steady_cpu)))],
        "load_average": os.getloadavg(),
        "samples": samples,
        "seconds": elapsed,
        "samples_per_min": 60 * samples / elapsed,
        "expected_per_min": 60 / interval,
        "requests": dict(requests.counts),
        "requests_per_sample": sum(requests.counts.values()) / max(1, samples),
        "longest_block_ms": 1000 * longest[0],
        "longest_block_cpu_ms": 1000 * longest[1],
        "rss_growth_mb": (rss - baseline) / 2**20,
        "rss_per_committed_gp_bytes": (rss - baseline) / max(1, committed),
        "rss_total_mb": rss / 2**20,
        "health": None if health is None else dataclasses.asdict(health),
        "offsets_topic": offsets_topic,
    }


# ---- main ------------------------------------------------------------------------------------


def _print(
    args: argparse.Namespace, took: dict[str, float], r: dict[str, Any], rate: float
) -> None:
    print(
        f"scale: {args.groups} groups x {args.partitions_per_group} partitions "
        f"({r['committed_group_partitions']:,} committed group-partitions, {r['rows']:,} rows) "
        f"on {args.topics} topics x {args.partitions} partitions; producing {rate:.0f} rec/s"
    )
    print("setup: " + ", ".join(f"{k} {v:.1f}" for k, v in took.items()))
    print(f"sampler loop: {r['api']}, interval {args.interval:g}s, {r['seconds']:.0f}s measured")
    print(
        f"cycle p50 {r['cycle_p50_ms']:.0f} ms, p99 {r['cycle_p99_ms']:.0f} ms "
        f"(max {r['cycle_max_ms']:.0f} ms); CPU per cycle p50 {r['cycle_cpu_p50_ms']:.0f} ms, "
        f"p99 {r['cycle_cpu_p99_ms']:.0f} ms; load average at the end "
        + "/".join(f"{x:.1f}" for x in r["load_average"])
        + f" on {os.cpu_count()} cores"
    )
    ratio = r["samples_per_min"] / r["expected_per_min"]
    print(
        f"samples/min {r['samples_per_min']:.1f} vs expected {r['expected_per_min']:.1f} "
        f"({ratio:.2f}x)"
    )
    print(f"requests per sample {r['requests_per_sample']:.1f}: {r['requests']}")
    print(
        f"longest event-loop block {r['longest_block_ms']:.0f} ms wall; most CPU in one "
        f"probe interval {r.get('longest_block_cpu_ms', float('nan')):.0f} ms"
    )
    print(
        f"RSS growth {r['rss_growth_mb']:.1f} MB = {r['rss_per_committed_gp_bytes']:.0f} B per "
        f"committed group-partition (process RSS {r['rss_total_mb']:.0f} MB)"
    )
    if r.get("health"):
        print(f"sampler health: {r['health']}")
    if r.get("offsets_topic"):
        o = r["offsets_topic"]
        print(
            f"__consumer_offsets read whole: {o['records']:,} records ({o['commits']:,} commits, "
            f"{o['group_partitions']:,} group-partitions) in {o['wall_s']:.1f}s, CPU "
            f"{o['cpu_us_per_record']:.1f} us per record"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=53)
    parser.add_argument("--partitions-per-group", type=int, default=250)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--records", type=int, default=20, help="records per partition at setup")
    parser.add_argument("--rate", type=float, default=200.0, help="records/s during the run")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--bootstrap")
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument(
        "--offsets-topic",
        action="store_true",
        help="then read __consumer_offsets whole, as Burrow does, and time it",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the producer's retries on new topics

    if args.measure:
        result = asyncio.run(
            measure(args.bootstrap, args.interval, args.seconds, args.offsets_topic)
        )
        print(json.dumps(result))
        return 0

    broker = None
    if args.bootstrap is None:
        broker = _harness().KafkaBroker(sasl=False)
        broker.start()
        args.bootstrap = broker.bootstrap
    try:
        took = {} if args.skip_setup else asyncio.run(setup(args.bootstrap, args))

        async def run() -> tuple[dict[str, Any], float]:
            stop = asyncio.Event()
            t0 = time.monotonic()
            producing = asyncio.create_task(trickle(args.bootstrap, args, stop))
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--measure", "--bootstrap", args.bootstrap,
                "--interval", str(args.interval), "--seconds", str(args.seconds),
                *(["--offsets-topic"] if args.offsets_topic else []),
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": os.environ.get("EDAMON_SRC", str(ROOT))},
            )  # fmt: skip
            out, _ = await child.communicate()
            stop.set()
            sent = await producing
            if child.returncode != 0:
                raise SystemExit(f"the measuring process failed ({child.returncode})")
            return json.loads(out.decode().strip().splitlines()[-1]), sent / (time.monotonic() - t0)

        result, rate = asyncio.run(run())
        _print(args, took, result, rate)
        if args.json:
            print(json.dumps({"args": vars(args), "setup": took, **result}))
    finally:
        if broker is not None:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
