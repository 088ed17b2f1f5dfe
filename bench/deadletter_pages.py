"""Latency of `GET /v1/dead-letters` pages with 20,000 dead letters held.

The real service app (edamon.service.app over a Backend) over a collector state holding
`--held` Spring dead letters (retention.max_dead_letters = held, 4 partitions, 3 source topics,
2 exceptions), asked in process through httpx's ASGI transport: the time measured is the
route's (build the page, serialise it), not a socket's. Between two requests `--arriving` new
dead letters are ingested (the oldest are evicted), so that snapshots and row caches are as
stale as under a steady trickle of failures, and the shared snapshot (snapshot_max_age_s, 0.2 s)
is rebuilt on a request's path when it is older than that, as in the service. The garbage
collector is tuned and the survivors frozen once a second, as `edamon serve` does
(edamon.collector.runtime).

Pages asked, `--requests` times each, one after another 10 ms apart:
  newest      ?limit=100                          (the dashboard's first screen)
  deep        ?offset=15000&limit=100             (beyond the newest 2,000)
  filtered    ?filter=SocketTimeout&limit=100     (text in a row's fields)
  ordered     ?order=attempts&limit=100           (a column sort)
  selected    ?select=exception=SocketTimeout&limit=100

Usage: flock /tmp/edamon-bench.lock python bench/deadletter_pages.py [--held N] [--requests N]
Prints p50/p99 per page and each page's total and row count (what it reached).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(os.environ.get("EDAMON_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

from edamon.actions.service import RetryService  # noqa: E402
from edamon.broker.memory import MemoryBroker  # noqa: E402
from edamon.collector.runtime import freeze_survivors, tune_gc  # noqa: E402
from edamon.collector.state import CollectorState  # noqa: E402
from edamon.collector.view import StateView  # noqa: E402
from edamon.config import load_settings  # noqa: E402
from edamon.model.records import RawRecord  # noqa: E402
from edamon.service.app import create_app  # noqa: E402
from edamon.service.auth import Tokens  # noqa: E402
from edamon.service.backend import Backend  # noqa: E402

TOKEN = "viewer-token-for-the-dead-letter-page-bench"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SOURCES = ("shop.Payments", "shop.Orders", "shop.Stock")
PAGES: dict[str, dict[str, Any]] = {
    "newest": {"limit": 100},
    "deep": {"offset": 15_000, "limit": 100},
    "filtered": {"filter": "SocketTimeout", "limit": 100},
    "ordered": {"order": "attempts", "limit": 100},
    "selected": {"select": "exception=SocketTimeout", "limit": 100},
}


def dead_letter(n: int, now_ms: int) -> RawRecord:
    source = SOURCES[n % len(SOURCES)]
    exception = "java.net.SocketTimeoutException" if n % 7 == 0 else "java.lang.IllegalState"
    headers = (
        ("kafka_dlt-original-topic", source.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", n % 4)),
        ("kafka_dlt-original-offset", struct.pack(">q", n)),
        ("kafka_dlt-original-consumer-group", b"payments-service"),
        ("kafka_dlt-exception-fqcn", exception.encode()),
        ("kafka_dlt-exception-message", b"payment gateway timeout after 30000 ms"),
        ("retry_topic-attempts", struct.pack(">i", 1 + n % 5)),
    )
    value = (
        b'{"eventId":"e-%d","eventType":"PaymentProcessed","aggregateId":"order-%d",'
        b'"metadata":{"correlationId":"flow-%d"}}' % (n, n, n)
    )
    return RawRecord("shop.Payments.DLT", n % 4, n // 4, now_ms + n, None, value, headers)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(held: int, requests: int, arriving: int) -> None:
    config = load_settings(
        None,
        {"topics": {"include": [r"shop\..*"]}, "retention": {"max_dead_letters": held}},
        use_default_path=False,
    )
    tune_gc()
    state = CollectorState(config, cluster="bench")
    now_ms = int(time.time() * 1000) - 10_000_000
    state.ingest([dead_letter(n, now_ms) for n in range(held)], time.time())
    freeze_survivors()
    broker = MemoryBroker()
    backend = Backend(StateView(state), RetryService(broker, config), broker, config)  # type: ignore[arg-type]
    app = create_app(backend, Tokens(TOKEN, None, "bench"), max_body_bytes=1 << 20)
    transport = httpx.ASGITransport(app=app)
    n = held
    frozen = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://edamon") as http:
        for name, params in PAGES.items():
            times: list[float] = []
            answer: dict[str, Any] = {}
            for _ in range(requests):
                state.ingest([dead_letter(n + i, now_ms) for i in range(arriving)], time.time())
                n += arriving
                start = time.perf_counter()
                response = await http.get("/v1/dead-letters", params=params, headers=HEADERS)
                times.append((time.perf_counter() - start) * 1000)
                answer = response.json()
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.01)
                if time.perf_counter() - frozen >= 1.0:  # the collector's tick loop does
                    freeze_survivors()
                    frozen = time.perf_counter()
            print(
                f"{name:9} p50 {percentile(times, 0.5):7.2f} ms  p99 {percentile(times, 0.99):7.2f}"
                f" ms  total {answer['total']:>6,}  rows {len(answer['items'])}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--held", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--arriving", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.held:,} dead letters held, {args.arriving} arriving between requests")
    asyncio.run(run(args.held, args.requests, args.arriving))


if __name__ == "__main__":
    main()
