#!/usr/bin/env python3
"""Ingest benchmark without a broker: CollectorState.ingest on in-memory records.

    python bench/state.py [--events 200000] [--batch 2000] [--no-memory] [--profile]
                          [--no-gc] [--gc-threshold 50000,20,10]

Builds N records shaped like bench/ingest.py's (seed envelopes in 5-event flows over 5 topics
with 4 partitions, 2% of the PaymentProcessed events dead-lettered to a Spring DLT with its
headers), delivered the way a getmany() drain delivers them: batches of `--batch` records taken
partition by partition, header keys and values as fresh objects per record (aiokafka decodes
them per record). Retention keeps every event.

Pass 1 times `ingest()` alone (each batch is built just before it is ingested, outside the
timing): records/s, CPU time and the part of it spent in cyclic GC, then the RSS growth per
retained event. Pass 2 (skipped with --no-memory) replays the same records under tracemalloc
and reports the traced memory that stays per retained event, with the biggest allocation sites.
No broker: this is the fast loop for work on the ingest path (bench/ingest.py is the real one).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import json
import resource
import struct
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edamon.collector.state import CollectorState  # noqa: E402
from edamon.config import Settings, load_settings  # noqa: E402
from edamon.model.records import RawRecord  # noqa: E402

TYPES = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled", "OrderClosed"]
PARTITIONS = 4
PREFIX = "bench"
BASE_MS = 1_700_000_000_000


def _fresh(text: str) -> str:
    """A new str object equal to `text` (what a client library gives per record)."""
    return text.encode().decode()


def _uuid(flow: int, step: int) -> str:
    """A reproducible random-looking UUID for (flow, step); step -1 is the correlation id."""
    digest = hashlib.blake2b(f"{flow}/{step}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def record(topic: str, partition: int, offset: int, flow: int, step: int) -> RawRecord:
    """The record of step `step` of flow `flow`, as bench/ingest.py produces it."""
    etype = TYPES[step]
    cid = _uuid(flow, -1)
    parent = _uuid(flow, step - 1) if step else None
    at = BASE_MS + flow * 3 + step * 40
    value = (
        f'{{"eventId":"{_uuid(flow, step)}","eventType":"{etype}","aggregateId":"order-{flow}",'
        f'"occurredAt":{at},"version":2,"payload":{{"orderId":"order-{flow}",'
        f'"amount":{flow % 997}.50,"currency":"EUR","lines":[{{"sku":"sku-{flow % 50}",'
        f'"qty":{1 + flow % 3}}}]}},"metadata":{{"correlationId":"{cid}",'
        f'"causationId":{json.dumps(parent)},"userId":"u-{flow % 100}"}}}}'
    ).encode()
    headers = [(_fresh("event-type"), etype.encode()), (_fresh("correlation-id"), cid.encode())]
    if topic.endswith(".DLT"):
        headers += [
            (_fresh("kafka_dlt-original-topic"), f"{PREFIX}.StockReserved".encode()),
            (_fresh("kafka_dlt-original-partition"), struct.pack(">i", 0)),
            (_fresh("kafka_dlt-original-offset"), struct.pack(">q", flow)),
            (_fresh("kafka_dlt-exception-fqcn"), b"java.lang.IllegalStateException"),
            (_fresh("kafka_dlt-exception-message"), b"payment gateway timeout"),
        ]
    key = f"order-{flow}".encode()
    return RawRecord(topic, partition, offset, at + 5, key, value, tuple(headers))


def partition_log(events: int, step: int, dlt: bool, partition: int) -> Iterator[RawRecord]:
    """One partition's records in offset order (flows are keyed by order: flow % 4)."""
    name = f"{PREFIX}.{TYPES[step]}" + (".DLT" if dlt else "")
    topic = _fresh(name)  # one topic object per partition, like aiokafka
    offset = 0
    for flow in range(partition, -(-events // len(TYPES)), PARTITIONS):
        if flow * len(TYPES) + step >= events:
            break
        if (TYPES[step] == "PaymentProcessed" and flow % 50 == 0) != dlt:
            continue
        yield record(topic, partition, offset, flow, step)
        offset += 1


def batches(events: int, batch: int) -> Iterator[list[RawRecord]]:
    """Records as a drain from the earliest offsets returns them: each partition's records in
    offset order, `batch` at a time, a share from each partition in turn. Built lazily, so
    that only the retained state stays in memory."""
    logs = [
        partition_log(events, step, dlt, partition)
        for step in range(len(TYPES))
        for dlt in ((False, True) if TYPES[step] == "PaymentProcessed" else (False,))
        for partition in range(PARTITIONS)
    ]
    share = max(1, batch // PARTITIONS)
    out: list[RawRecord] = []
    while logs:
        for log in list(logs):
            chunk = list(itertools.islice(log, share))
            if len(chunk) < share:
                logs.remove(log)
            out += chunk
            if len(out) >= batch:
                yield out
                out = []
    if out:
        yield out


def settings_for(events: int) -> Settings:
    return load_settings(
        None,
        {
            "topics": {"include": [rf"{PREFIX}\..*"], "start_from": "earliest"},
            "retention": {"max_events": events + 10, "max_age_s": 86_400},
        },
        use_default_path=False,
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def timed(events: int, batch: int, profile: bool, no_gc: bool) -> None:
    gc.collect()
    if no_gc:
        gc.disable()
    rss0 = rss_mb()
    state = CollectorState(settings_for(events), cluster="bench")
    now = 1_700_000_600.0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    gc_time = [0.0, 0.0]
    timing = False

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        elif timing:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(on_gc)
    count = calls = 0
    wall = cpu = 0.0
    for records in batches(events, batch):
        # Each batch is built just before it is ingested, like a fetch: only ingest is timed.
        now += 0.02
        timing = True
        if profiler is not None:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        state.ingest(records, now)
        wall += time.perf_counter() - wall0
        cpu += time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
        timing = False
        count += len(records)
        calls += 1
    del records
    gc.callbacks.remove(on_gc)
    gc.enable()
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    snap = state.snapshot(now)
    totals = snap.totals
    gc.collect()
    rss1 = rss_mb()
    retained = max(1, totals.retained_events)
    print(
        f"records            : {count:,} in {len(snap.throughput.topics)} topics, {calls} batches"
    )
    print(
        f"retained           : {totals.retained_events:,} events, {totals.chains:,} chains, "
        f"{totals.dead_letters:,} dead letters, {totals.duplicates} duplicates"
    )
    print(f"ingest wall        : {wall:.2f} s  -> {count / wall:,.0f} records/s")
    print(
        f"ingest CPU         : {cpu:.2f} s  -> {count / cpu:,.0f} records/s per core "
        f"(cyclic GC {gc_time[0]:.2f} s of it)"
    )
    print(
        f"RSS growth         : {rss1 - rss0:,.0f} MB = "
        f"{(rss1 - rss0) * 2**20 / retained:,.0f} B per retained event"
    )
    print(
        f"peak RSS           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )


def traced(events: int, batch: int, top: int) -> None:
    gc.collect()
    state = CollectorState(settings_for(events), cluster="bench")
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    now = 1_700_000_600.0
    for i, records in enumerate(batches(events, batch)):
        state.ingest(records, now + i * 0.02)
    del records
    gc.collect()
    current = tracemalloc.get_traced_memory()[0] - base
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    retained = state.snapshot(now).totals.retained_events
    print(
        f"traced memory kept : {current / 2**20:,.1f} MB "
        f"= {current / max(1, retained):,.0f} B per retained event (tracemalloc)"
    )
    if top:
        print("biggest allocation sites (B per retained event):")
        for stat in snapshot.statistics("lineno")[:top]:
            frame = stat.traceback[0]
            name = Path(frame.filename)
            where = name.relative_to(ROOT) if name.is_relative_to(ROOT) else name.name
            print(f"  {stat.size / retained:7,.0f}  {where}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--top", type=int, default=12, help="allocation sites to list")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed pass")
    parser.add_argument("--no-gc", action="store_true", help="cyclic GC off in the timed pass")
    parser.add_argument(
        "--gc-threshold",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="gc.set_threshold(...) first, e.g. 50000,20,10 (default: Python's 700,10,10)",
    )
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(*args.gc_threshold)
    timed(args.events, args.batch, args.profile, args.no_gc)
    if not args.no_memory:
        traced(args.events, args.batch, args.top)


if __name__ == "__main__":
    main()
