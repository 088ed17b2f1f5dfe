"""Peak and final RSS of a collector state holding 2,000 dead letters with 100 KB stack traces,
with retention.dead_letter_memory_mb at the given value (default 64; 100000 is as good as
unbounded). Usage: python bench/deadletter_memory.py [MB] [COUNT]"""

from __future__ import annotations

import sys

import psutil

from edamon.collector.state import CollectorState
from edamon.config import Settings
from edamon.model.records import RawRecord

TRACE = "\tat a.B.c(B.java:1)\n" * 5000


def record(offset: int) -> RawRecord:
    trace = f"java.lang.IllegalStateException #{offset}\n{TRACE}"[:100_000]
    headers = (
        ("kafka_dlt-original-topic", b"payments"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"payment gateway timeout"),
        ("kafka_dlt-exception-stacktrace", trace.encode()),
    )
    value = (
        b'{"eventId": "e%d", "eventType": "PaymentRequested", "metadata": {"correlationId": "c%d"}}'
    )
    return RawRecord(
        "payments.DLT",
        0,
        offset,
        1_795_000_000_000 + offset,
        b"k",
        value % (offset, offset),
        headers,
    )


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 64.0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    settings = Settings()
    settings.retention.dead_letter_memory_mb = mb
    state = CollectorState(settings, cluster="bench")
    process = psutil.Process()
    start = process.memory_info().rss
    peak = start
    for offset in range(count):
        state.ingest([record(offset)], 1_795_000_100.0)
        if offset % 50 == 0:
            peak = max(peak, process.memory_info().rss)
    end = process.memory_info().rss
    peak = max(peak, end)
    kept = sum(1 for dl in state.dead_letters() if not dl.dropped)
    print(
        f"dead_letter_memory_mb={mb:g}: {count} dead letters, {kept} with bodies; "
        f"RSS start {start / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB, end {end / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()
