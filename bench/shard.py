#!/usr/bin/env python3
"""Shard benchmark (issue 15, part 2): aggregate ingest of one and two shard members against
the single collector, on a real broker, and the cost of the repartition hop.

    python bench/shard.py [--events 200000] [--bootstrap HOST:PORT] [--members 1,2]
                          [--modes cold,steady] [--repeat N]

Produces N events as bench/ingest.py does (5 topics x 4 partitions and a DLT), then drains
them: (a) the single collector, (b) for each member count, that many `ShardCollector`
processes in a fresh shard group (no HTTP: the members' own counters), in each mode:

- cold: the members start together on the produced records, as a fresh group does: the first
  to join reads alone until the others join, and the rebalance makes it rebuild. Timed from
  the first record read.
- steady: the members join both groups and settle (every source and index partition owned,
  none rebuilding) before stage 1 fetches anything (`ShardCollector(start_fetching=...)`);
  timed from the moment they are let go. What a running group does with new load.

A run ends when every event is held by the run's members (their current states: a member that
lost flows in a rebalance and rebuilt counts once). Reported per run: records/s, CPU µs per
record summed over the run's processes over the timed span (start-up excluded), and for the
shard runs the bytes written to the index topic per record (record values and headers, before
Kafka's batch overhead and compression). The repartition hop is shard x1 − single collector
(CPU per record). The members run the edamon on PYTHONPATH when it is set (e.g. another
checkout's), else this one's. Without --bootstrap it starts the harness broker from
scripts/kafka.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def settings_for(bootstrap: str, prefix: str, events: int, group: str | None) -> Any:
    from edamon.config import load_settings

    overrides: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": {"include": [rf"{prefix}\..*"], "start_from": "earliest", "refresh_s": 2},
        "retention": {"max_events": events + 10, "max_age_s": 86_400},
        "lag": {"interval_s": 5, "groups_include": ["none-wanted"]},
    }
    if group is not None:
        overrides["shard"] = {"group": group, "index_partitions": 12}
    return load_settings(None, overrides, use_default_path=False)


async def run_member(
    bootstrap: str, prefix: str, events: int, group: str | None, me: int, steady: bool
) -> None:
    """One process: the single collector (group None) or one shard member. Prints a progress
    line every 0.2 s until killed. `steady`: stage 1 waits for a line on stdin."""
    from edamon.broker.kafka import KafkaBroker
    from edamon.collector.collector import Collector
    from edamon.collector.runtime import tune_gc

    tune_gc()
    settings = settings_for(bootstrap, prefix, events, group)
    broker = KafkaBroker(settings.kafka)
    collector: Any
    if group is None:
        collector = Collector(broker, settings)
    else:
        from edamon.shard.member import ShardCollector

        gate: asyncio.Event | None = None
        if steady:
            gate = asyncio.Event()
            asyncio.get_running_loop().run_in_executor(None, _go, asyncio.get_running_loop(), gate)
        collector = ShardCollector(
            broker, settings, url=f"http://127.0.0.1:1/bench-{me}", start_fetching=gate
        )
    task = asyncio.create_task(collector.run())
    first_read: float | None = None
    while not task.done():
        await asyncio.sleep(0.2)
        totals = collector.state.totals()  # no snapshot: its cost is not ingest's
        read = collector.index_records_written if group is not None else collector.records_read
        if read and first_read is None:
            first_read = time.time()
        line = {
            "t": time.time(),
            "first": first_read,
            "held": totals.events + totals.dead_letters + totals.undecodable,
            "cpu": time.process_time(),
            "written": getattr(collector, "index_records_written", 0),
            "bytes": getattr(collector, "index_bytes_written", 0),
        }
        if group is not None:
            status = collector.status()
            line["src"] = len(status.source_partitions)
            line["idx"] = len(status.index_partitions)
            line["rebuilding"] = status.rebuilding
        print(json.dumps(line), flush=True)
    task.result()


def _go(loop: asyncio.AbstractEventLoop, gate: asyncio.Event) -> None:
    sys.stdin.readline()
    loop.call_soon_threadsafe(gate.set)


SOURCE_PARTITIONS = 24
"""bench/ingest.py's topics: 5 event types and a DLT, 4 partitions each."""
INDEX_PARTITIONS = 12


def settled(lines: list[dict[str, Any]]) -> bool:
    return (
        all(p.get("src") and p.get("idx") and not p.get("rebuilding") for p in lines)
        and sum(p["src"] for p in lines) == SOURCE_PARTITIONS
        and sum(p["idx"] for p in lines) == INDEX_PARTITIONS
    )


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) seconds of every core of the machine so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / tick, idle / tick


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process `pid` so far; 0 when unknown."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(
    bootstrap: str,
    prefix: str,
    events: int,
    members: int,
    shard: bool,
    mode: str = "cold",
    broker_pid: int | None = None,
) -> dict[str, Any]:
    steady = shard and mode == "steady"
    group = f"{prefix}-{members}-{mode}-{time.time_ns()}" if shard else None
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                str(i),
                "--bootstrap",
                bootstrap,
                "--prefix",
                prefix,
                "--events",
                str(events),
                *(["--group", group] if group else []),
                *(["--steady"] if steady else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)},
        )
        for i in range(members)
    ]
    last: list[dict[str, Any]] = [{} for _ in procs]
    idle_cpu = [0.0 for _ in procs]
    """Each process's CPU before it read anything (start-up, joining, settling)."""
    started: float | None = None
    marks: tuple[float, float, float] | None = None
    """The machine's busy and idle seconds and the broker's CPU when the timing started."""
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            for i, proc in enumerate(procs):
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"member {i} exited:\n{proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
                last[i] = json.loads(line)
                if started is None and not last[i]["first"]:
                    idle_cpu[i] = last[i]["cpu"]
                if marks is None and not steady and last[i]["first"]:
                    marks = (*machine_cpu(), process_cpu(broker_pid))
            if steady and started is None and settled(last):
                started = time.time()
                marks = (*machine_cpu(), process_cpu(broker_pid))
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
            if sum(p.get("held", 0) for p in last) >= events:
                break
        else:
            raise SystemExit(f"timed out: {last}")
        busy, idle = machine_cpu()
        broker_cpu = process_cpu(broker_pid)
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    end = max(p["t"] for p in last)
    start = started if started is not None else min(p["first"] for p in last if p.get("first"))
    written = sum(p["written"] for p in last)
    cpu = sum(p["cpu"] - idle for p, idle in zip(last, idle_cpu, strict=True))
    return {
        "members": members,
        "shard": shard,
        "mode": mode if shard else "-",
        "seconds": end - start,
        "rate": events / (end - start),
        "cpu_us_per_record": 1e6 * cpu / events,
        "index_records": written,
        "index_bytes_per_record": (sum(p["bytes"] for p in last) / written) if written else 0,
        "machine_busy": (busy - marks[0]) / max(1e-9, busy - marks[0] + idle - marks[1])
        if marks
        else 0.0,
        "broker_cpu_us_per_record": 1e6 * (broker_cpu - marks[2]) / events if marks else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix")
    parser.add_argument("--members", default="1,2")
    parser.add_argument("--modes", default="cold,steady")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--broker-pid", type=int, help="the broker's process (--bootstrap)")
    parser.add_argument("--child", type=int)
    parser.add_argument("--group")
    parser.add_argument("--steady", action="store_true")
    args = parser.parse_args()
    if args.child is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_member(
                    args.bootstrap, args.prefix, args.events, args.group, args.child, args.steady
                )
            )
        return
    ingest = _load("edamon_bench_ingest", ROOT / "bench" / "ingest.py")
    broker = None
    bootstrap = args.bootstrap
    broker_pid = args.broker_pid
    if bootstrap is None:
        broker = ingest._harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
        broker_pid = broker.pid
    modes = args.modes.split(",")
    counts = [int(n) for n in args.members.split(",")]
    try:
        prefix = args.prefix or f"shardbench{int(time.time())}"
        print(f"producing {args.events:,} events to {bootstrap} under {prefix}.* ...")
        took = asyncio.run(ingest.produce(bootstrap, prefix, args.events))
        print(f"  produced in {took:.1f}s ({args.events / took:,.0f}/s)")
        results: list[dict[str, Any]] = []
        for _ in range(args.repeat):  # the runs take turns: a busy machine slows all alike
            results.append(drain(bootstrap, prefix, args.events, 1, False, broker_pid=broker_pid))
            report(results[-1])
            for mode in modes:
                for count in counts:
                    results.append(
                        drain(bootstrap, prefix, args.events, count, True, mode, broker_pid)
                    )
                    report(results[-1])
        summary(results, modes)
        print(json.dumps(results))
    finally:
        if broker is not None:
            broker.stop()


def report(r: dict[str, Any]) -> None:
    name = f"shard x{r['members']} {r['mode']}" if r["shard"] else "single collector"
    extra = (
        f"  index {r['index_bytes_per_record']:.0f} B/record ({r['index_records']:,})"
        if r["shard"]
        else ""
    )
    print(
        f"{name:17}: {r['rate']:9,.0f} records/s  {r['seconds']:6.1f}s  "
        f"CPU {r['cpu_us_per_record']:5.1f} µs/record{extra}  "
        f"members on {r['cpu_us_per_record'] * r['rate'] / 1e6:.2f} cores  "
        f"broker {r['broker_cpu_us_per_record']:4.1f} µs/record  "
        f"machine busy {100 * r['machine_busy']:3.0f}% (others: {others(r):.2f} cores)",
        flush=True,
    )


def others(r: dict[str, Any]) -> float:
    """Cores the run's processes and the broker did not use of the machine's busy ones: other
    work on the machine."""
    cores = (r["cpu_us_per_record"] + r["broker_cpu_us_per_record"]) * r["rate"] / 1e6
    return r["machine_busy"] * (os.cpu_count() or 1) - cores


def summary(results: list[dict[str, Any]], modes: list[str]) -> None:
    singles = [r for r in results if not r["shard"]]
    for mode in modes:
        runs = [r for r in results if r["shard"] and r["mode"] == mode]
        ones = [r for r in runs if r["members"] == 1]
        twos = [r for r in runs if r["members"] == 2]
        hops = [
            one["cpu_us_per_record"] - single["cpu_us_per_record"]
            for one, single in zip(ones, singles, strict=False)
        ]
        scales = [two["rate"] / one["rate"] for one, two in zip(ones, twos, strict=False)]
        if hops:
            listed = ", ".join(f"{h:.1f}" for h in hops)
            print(f"{mode}: repartition hop (shard x1 - single): {listed} µs CPU/record")
        if ones:
            listed = ", ".join(f"{r['index_bytes_per_record']:.0f}" for r in ones)
            print(f"{mode}: index bytes written per record: {listed}")
        if scales:
            listed = ", ".join(f"{s:.2f}x" for s in scales)
            print(f"{mode}: two members / one member: {listed}")


if __name__ == "__main__":
    main()
