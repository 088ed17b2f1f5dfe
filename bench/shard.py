#!/usr/bin/env python3
"""Shard benchmark (issue 15, part 2): aggregate ingest of one and two shard members against
the single collector, on a real broker, and the cost of the repartition hop.

    python bench/shard.py [--events 200000] [--bootstrap HOST:PORT] [--members 1,2]

Produces N events as bench/ingest.py does (5 topics x 4 partitions and a DLT), then drains
them: (a) the single collector, (b) for each member count, that many `ShardCollector`
processes in a fresh shard group (no HTTP: the members' own counters). Each run is timed from
the first record read to the moment every event is held by the run's members (their current
states: a member that lost flows in a rebalance and rebuilt counts once). Reported per run:
records/s, CPU µs per record summed over the run's processes, and for the shard runs the
index records' bytes (key + value + headers, before Kafka's batch overhead and compression).
Without --bootstrap it starts the harness broker from scripts/kafka.py.
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


async def run_member(bootstrap: str, prefix: str, events: int, group: str | None, me: int) -> None:
    """One process: the single collector (group None) or one shard member. Prints a progress
    line every 0.2 s until killed."""
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

        collector = ShardCollector(broker, settings, url=f"http://127.0.0.1:1/bench-{me}")
    task = asyncio.create_task(collector.run())
    first_read: float | None = None
    while not task.done():
        await asyncio.sleep(0.2)
        totals = collector.state.snapshot(time.time()).totals
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
        print(json.dumps(line), flush=True)
    task.result()


def drain(bootstrap: str, prefix: str, events: int, members: int, shard: bool) -> dict[str, Any]:
    group = f"{prefix}-{members}-{int(time.time())}" if shard else None
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
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for i in range(members)
    ]
    last: list[dict[str, Any]] = [{} for _ in procs]
    deadline = time.time() + 300
    try:
        os.set_blocking(procs[0].stdout.fileno(), True)  # type: ignore[union-attr]
        while time.time() < deadline:
            for i, proc in enumerate(procs):
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"member {i} exited:\n{proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
                last[i] = json.loads(line)
            if sum(p.get("held", 0) for p in last) >= events:
                break
        else:
            raise SystemExit(f"timed out: {last}")
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate()
    end = max(p["t"] for p in last)
    start = min(p["first"] for p in last if p.get("first"))
    written = sum(p["written"] for p in last)
    return {
        "members": members,
        "shard": shard,
        "seconds": end - start,
        "rate": events / (end - start),
        "cpu_us_per_record": 1e6 * sum(p["cpu"] for p in last) / events,
        "index_records": written,
        "index_bytes_per_record": (sum(p["bytes"] for p in last) / written) if written else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix")
    parser.add_argument("--members", default="1,2")
    parser.add_argument("--child", type=int)
    parser.add_argument("--group")
    args = parser.parse_args()
    if args.child is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_member(args.bootstrap, args.prefix, args.events, args.group, args.child)
            )
        return
    ingest = _load("edamon_bench_ingest", ROOT / "bench" / "ingest.py")
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = ingest._harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        prefix = args.prefix or f"shardbench{int(time.time())}"
        print(f"producing {args.events:,} events to {bootstrap} under {prefix}.* ...")
        took = asyncio.run(ingest.produce(bootstrap, prefix, args.events))
        print(f"  produced in {took:.1f}s ({args.events / took:,.0f}/s)")
        results = [drain(bootstrap, prefix, args.events, 1, shard=False)]
        for count in (int(n) for n in args.members.split(",")):
            results.append(drain(bootstrap, prefix, args.events, count, shard=True))
        for r in results:
            name = f"shard x{r['members']}" if r["shard"] else "single collector"
            extra = (
                f"  index {r['index_bytes_per_record']:.0f} B/record ({r['index_records']:,})"
                if r["shard"]
                else ""
            )
            print(
                f"{name:17}: {r['rate']:9,.0f} records/s  {r['seconds']:6.1f}s  "
                f"CPU {r['cpu_us_per_record']:5.1f} µs/record{extra}"
            )
        single = results[0]
        shards = {r["members"]: r for r in results if r["shard"]}
        if 1 in shards:
            hop = shards[1]["cpu_us_per_record"] - single["cpu_us_per_record"]
            print(f"repartition hop (shard x1 - single) : {hop:.1f} µs CPU/record")
        if 1 in shards and 2 in shards:
            scale = shards[2]["rate"] / shards[1]["rate"]
            print(f"two members / one member            : {scale:.2f}x")
        print(json.dumps(results))
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
