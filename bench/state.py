#!/usr/bin/env python3
"""Ingest benchmark without a broker: CollectorState.ingest on in-memory records.

    python bench/state.py [--events 200000] [--batch 2000] [--no-memory] [--profile]

Builds N records shaped like bench/ingest.py's (seed envelopes in 5-event flows over 5 topics
with 4 partitions, 2% of the PaymentProcessed events dead-lettered to a Spring DLT with its
headers), delivered the way a getmany() drain delivers them: batches of `--batch` records taken
partition by partition, header keys and values as fresh objects per record (aiokafka decodes
them per record). Retention keeps every event.

Pass 1 times `ingest()` alone (records are built beforehand): records/s and CPU time, then the
RSS growth per retained event. Pass 2 (skipped with --no-memory) replays the same records
under tracemalloc, building each batch just before ingesting it, and reports the traced memory
that stays per retained event, with the biggest allocation sites.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
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


def _fresh(text: str) -> str:
    """A new str object equal to `text` (what a client library gives per record)."""
    return text.encode().decode()


def flows(events: int, seed: int) -> Iterator[tuple[str, int, bytes, bytes, list[tuple[str, bytes]], int]]:
    """(topic, partition, key, value, headers, timestamp_ms) in production order."""
    rng = random.Random(seed)
    base_ms = 1_700_000_000_000
    sent = flow = 0
    while sent < events:
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        key = f"order-{flow}".encode()
        parent = None
        for step, etype in enumerate(TYPES):
            if sent >= events:
                break
            eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            at = base_ms + flow * 3 + step * 40
            value = (
                f'{{"eventId":"{eid}","eventType":"{etype}","aggregateId":"order-{flow}",'
                f'"occurredAt":{at},"version":2,"payload":{{"orderId":"order-{flow}",'
                f'"amount":{flow % 997}.50,"currency":"EUR","lines":[{{"sku":"sku-{flow % 50}",'
                f'"qty":{1 + flow % 3}}}]}},"metadata":{{"correlationId":"{cid}",'
                f'"causationId":{json.dumps(parent)},"userId":"u-{flow % 100}"}}}}'
            ).encode()
            headers = [("event-type", etype.encode()), ("correlation-id", cid.encode())]
            topic = f"{PREFIX}.{etype}"
            if etype == "PaymentProcessed" and flow % 50 == 0:
                topic += ".DLT"
                headers += [
                    ("kafka_dlt-original-topic", f"{PREFIX}.StockReserved".encode()),
                    ("kafka_dlt-original-partition", struct.pack(">i", 0)),
                    ("kafka_dlt-original-offset", struct.pack(">q", flow)),
                    ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
                    ("kafka_dlt-exception-message", b"payment gateway timeout"),
                ]
            yield topic, flow % PARTITIONS, key, value, headers, at + 5
            sent += 1
            parent = eid
        flow += 1


def batches(events: int, batch: int, seed: int = 7) -> Iterator[list[RawRecord]]:
    """Records as a drain from the earliest offsets returns them: each partition's records
    in offset order, `batch` at a time, taking a share from each partition round-robin."""
    logs: dict[tuple[str, int], list[tuple[bytes, bytes, list[tuple[str, bytes]], int]]] = {}
    for topic, partition, key, value, headers, ts in flows(events, seed):
        logs.setdefault((topic, partition), []).append((key, value, headers, ts))
    topics = {tp: _fresh(tp[0]) for tp in logs}  # one topic object per partition, like aiokafka
    cursors = dict.fromkeys(logs, 0)
    share = max(1, batch // PARTITIONS)
    while cursors:
        out: list[RawRecord] = []
        for tp in list(cursors):
            start = cursors[tp]
            log = logs[tp]
            chunk = log[start : start + share]
            topic = topics[tp]
            for offset, (key, value, headers, ts) in enumerate(chunk, start):
                hdrs = tuple((_fresh(k), bytes(v)) for k, v in headers)
                out.append(RawRecord(topic, tp[1], offset, ts, bytes(key), bytes(value), hdrs))
            if start + share >= len(log):
                del cursors[tp]
            else:
                cursors[tp] = start + share
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


def timed(events: int, batch: int, profile: bool) -> None:
    gc.collect()
    rss0 = rss_mb()
    data = list(batches(events, batch))
    count = sum(len(b) for b in data)
    rss_data = rss_mb()
    state = CollectorState(settings_for(events), cluster="bench")
    now = 1_700_000_600.0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for i, records in enumerate(data):
        state.ingest(records, now + i * 0.02)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    snap = state.snapshot(now + len(data) * 0.02)
    totals = snap.totals
    del data
    gc.collect()
    rss1 = rss_mb()
    print(f"records            : {count:,} in {len(snap.throughput.topics)} topics, batch {batch}")
    print(
        f"retained           : {totals.retained_events:,} events, {totals.chains:,} chains, "
        f"{totals.dead_letters:,} dead letters, {totals.duplicates} duplicates"
    )
    print(f"ingest wall        : {wall:.2f} s  -> {count / wall:,.0f} records/s")
    print(f"ingest CPU         : {cpu:.2f} s  -> {count / cpu:,.0f} records/s per core")
    print(f"input records RSS  : {rss_data - rss0:,.0f} MB (built before timing)")
    print(
        f"RSS after ingest   : +{rss1 - rss0:,.0f} MB over start "
        f"({(rss1 - rss0) * 2**20 / max(1, totals.retained_events):,.0f} B/retained event; "
        "freed input pages may stay mapped)"
    )
    print(f"peak RSS           : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


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
    args = parser.parse_args()
    timed(args.events, args.batch, args.profile)
    if not args.no_memory:
        traced(args.events, args.batch, args.top)


if __name__ == "__main__":
    main()
