#!/usr/bin/env python3
"""How close a native per-record path on aiokafka gets to the bare drain (issue 3's ratio).

    python bench/native_spike/run.py [--events 1000000] [--bootstrap HOST:PORT --prefix P]

A measurement spike, not part of edamon. Builds the Rust extension beside this file (needs
cargo and `pip install maturin`) into a temporary directory, produces the events of
bench/ingest.py (or reuses a prefix it produced), then drains them in subprocesses: (a) the bare
aiokafka getmany loop of bench/ingest.py, (b) the same loop handing each partition's records to
the extension's `Floor.ingest` (see src/lib.rs: the least any collector does per record).
Prints both rates, their ratio and peak RSS, then the extension's cost per record by stage,
measured in one process on records already fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
STAGES = {1: "record attributes", 2: "+ JSON fields", 0: "+ index, count, retain"}


def _ingest_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", HERE.parent / "ingest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(into: Path) -> Path:
    """Build the extension's wheel and install it under `into`; returns the import path."""
    wheels = into / "wheels"
    subprocess.run(["maturin", "build", "--release", "-q", "-o", str(wheels)], cwd=HERE, check=True)
    lib = into / "lib"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(lib), str(wheel)],
        check=True,
    )
    return lib


async def fetch_all(bootstrap: str, prefix: str, events: int, floor: Any, stage: int) -> float:
    """bench/ingest.py's bare drain, handing each partition's records to `floor`. Returns the
    seconds taken."""
    return float(
        await _ingest_bench().drain_bare(
            bootstrap, prefix, events, lambda records: floor.ingest(records, time.time(), stage)
        )
    )


def child(lib: str, bootstrap: str, prefix: str, events: int) -> None:
    sys.path.insert(0, lib)
    import edamon_native_spike

    floor = edamon_native_spike.Floor()
    elapsed = asyncio.run(fetch_all(bootstrap, prefix, events, floor, 0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"elapsed": elapsed, "peak_rss_mb": peak, "counts": floor.counts()}))


def stages(lib: Path, bootstrap: str, prefix: str, events: int) -> None:
    """The extension's µs per record by stage, on records fetched beforehand (best of 3)."""
    sys.path.insert(0, str(lib))
    import edamon_native_spike
    from aiokafka import ConsumerRecord

    kept: list[list[ConsumerRecord[bytes, bytes]]] = []

    class Keep:
        def ingest(self, records: list[ConsumerRecord[bytes, bytes]], _now: float, _s: int) -> None:
            kept.append(records)

    asyncio.run(fetch_all(bootstrap, prefix, events, Keep(), 0))
    for stage, name in STAGES.items():
        best = float("inf")
        for _ in range(3):
            floor = edamon_native_spike.Floor()
            gc.collect()
            started = time.perf_counter()
            for records in kept:
                floor.ingest(records, 1.0, stage)
            best = min(best, time.perf_counter() - started)
            del floor
        print(f"  stage {name:24s}: {best / events * 1e6:5.2f} µs/record")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix", help="reuse events bench/ingest.py produced earlier")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bootstrap, args.prefix, args.events)
        return
    bench = _ingest_bench()
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = bench._harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        with tempfile.TemporaryDirectory(prefix="edamon-spike-") as tmp:
            lib = build(Path(tmp))
            prefix = args.prefix
            if prefix is None:
                prefix = f"bench{int(time.time())}"
                print(f"producing {args.events:,} events to {bootstrap} under {prefix}.* ...")
                asyncio.run(bench.produce(bootstrap, prefix, args.events))
            bare = bench.run_child("bare", bootstrap, prefix, args.events)
            command = [sys.executable, __file__, "--child", str(lib), "--bootstrap", bootstrap]
            command += ["--prefix", prefix, "--events", str(args.events)]
            out = subprocess.run(command, check=True, capture_output=True, text=True)
            spike = json.loads(out.stdout.strip().splitlines()[-1])
            bare_rate = args.events / bare["elapsed"]
            spike_rate = args.events / spike["elapsed"]
            retained, flows, duplicates, undecodable = spike["counts"]
            print(
                f"bare aiokafka drain : {bare_rate:10,.0f} records/s  "
                f"peak RSS {bare['peak_rss_mb']:.0f} MB"
            )
            print(
                f"native floor        : {spike_rate:10,.0f} records/s  "
                f"peak RSS {spike['peak_rss_mb']:.0f} MB  ({retained:,} retained, "
                f"{flows:,} flows, {duplicates} duplicates, {undecodable} undecodable)"
            )
            print(f"ratio floor/bare    : {spike_rate / bare_rate:.2f}  (issue 3 target >= 0.7)")
            print("native floor by stage, records already fetched:")
            stages(lib, bootstrap, prefix, args.events)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
