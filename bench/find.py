#!/usr/bin/env python3
"""Search benchmark (issue 16): records scanned per second by a correlation-id search vs the bare
aiokafka drain, on the same topics in the same run.

    python bench/find.py [--events 300000] [--bootstrap HOST:PORT] [--rounds 2]

Produces N seed-envelope events (bench/ingest.py's flows: 5 topics of 4 partitions and a DLT),
then alternates, each in its own subprocess: (a) the bare aiokafka getmany drain of every
record, (b) `edamon.search.Search` by a correlation id that is not there (the worst case: every
record in range read, every one held against the id, none kept) over the whole range. Prints
both rates and their ratio (target >= 0.5). Without --bootstrap it starts the harness broker.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ingest():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("edamon_bench_ingest", ROOT / "bench/ingest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def search(bootstrap: str, prefix: str, events: int) -> tuple[float, int]:
    from edamon.broker.kafka import KafkaBroker
    from edamon.config import load_settings
    from edamon.search import Search, build_query

    settings = load_settings(
        None,
        {"kafka": {"bootstrap_servers": bootstrap}, "topics": {"include": [rf"{prefix}\..*"]}},
        use_default_path=False,
    )
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    query = build_query(
        "correlation_id",
        "00000000-0000-4000-8000-000000000000",
        0,
        budget_records=events * 2,
        budget_seconds=3600,
    )
    started = time.perf_counter()
    doc = await Search(broker, settings, query).run()
    elapsed = time.perf_counter() - started
    await broker.close()
    if doc.state != "done" or doc.scanned != events:
        raise SystemExit(f"search did not read everything: {doc.state}, {doc.scanned:,}")
    return elapsed, doc.scanned


def child(mode: str, bootstrap: str, prefix: str, events: int) -> None:
    if mode == "bare":
        elapsed = asyncio.run(_ingest().drain_bare(bootstrap, prefix, events))
        scanned = events
    else:
        elapsed, scanned = asyncio.run(search(bootstrap, prefix, events))
    print(json.dumps({"elapsed": elapsed, "scanned": scanned}))


def run_child(mode: str, bootstrap: str, prefix: str, events: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--bootstrap", bootstrap, "--prefix", prefix,
         "--events", str(events)],
        check=False, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["scanned"]) / float(result["elapsed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix")
    parser.add_argument("--child", choices=["bare", "search"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.bootstrap, args.prefix, args.events)
        return
    ingest = _ingest()
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = ingest._harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        prefix = args.prefix or f"benchfind{int(time.time())}"
        print(f"producing {args.events:,} events to {bootstrap} under {prefix}.* ...")
        took = asyncio.run(ingest.produce(bootstrap, prefix, args.events))
        print(f"  produced in {took:.1f}s")
        bare: list[float] = []
        found: list[float] = []
        for _ in range(args.rounds):  # alternate, so load on the machine hits both alike
            bare.append(run_child("bare", bootstrap, prefix, args.events))
            found.append(run_child("search", bootstrap, prefix, args.events))
        for i, (b, s) in enumerate(zip(bare, found, strict=True), 1):
            print(f"round {i}: bare {b:10,.0f} records/s   search {s:10,.0f} records/s   "
                  f"ratio {s / b:.2f}")  # fmt: skip
        b, s = max(bare), max(found)
        print(f"best: bare {b:,.0f}/s, correlation-id search {s:,.0f}/s, ratio {s / b:.2f} "
              "(target >= 0.5)")  # fmt: skip
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
