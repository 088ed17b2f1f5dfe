#!/usr/bin/env python3
"""Latency of a shard group's retry plan by filter (`POST /v1/retries/preview` with `filters`).

    flock /tmp/edamon-bench.lock python bench/shard_retry.py [--dead-letters 10000]
                                                            [--requests 7] [--bootstrap HOST:PORT]

Starts two real `edamon serve --shard-group` members (tests/service_helpers.py), produces
`--dead-letters` Spring dead letters of as many flows to a 3-partition DLT (each member holds
those of its flows, about half), waits until the members hold them all, then asks each member
`--requests` times for the plan of every one of them (`filters: ["group=billing"]`): the member
plans its own, asks the other for its addresses (`GET /v1/shard/dead-letter-coords`) and reads
those from Kafka. Also timed: one member's own addresses, and reading the other member's
dead letters from Kafka alone (`find_dead_letters`, in this process). Sends nothing. Without
--bootstrap it starts the harness broker from scripts/kafka.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from builders import spring_dlt_headers  # noqa: E402
from edamon.actions.scan import find_dead_letters  # noqa: E402
from edamon.broker.kafka import KafkaBroker  # noqa: E402
from edamon.config import KafkaSettings, Settings  # noqa: E402
from kafka_helpers import load_harness  # noqa: E402
from service_helpers import Service, start_service, wait_for  # noqa: E402

PARTITIONS = 3


async def produce(bootstrap: str, prefix: str, count: int) -> str:
    """`count` dead letters of as many flows to `<prefix>.Orders.DLT`; returns the DLT."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    dlt, target = f"{prefix}.Orders.DLT", f"{prefix}.Orders"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dlt, PARTITIONS, 1), NewTopic(target, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = []
        for i in range(count):
            correlation = str(uuid.uuid4())
            value = (
                f'{{"eventId":"{uuid.uuid4()}","eventType":"OrderPlaced",'
                f'"aggregateId":"agg-{i}","occurredAt":"2026-12-07T10:00:00.000Z","version":1,'
                f'"payload":{{}},"metadata":{{"correlationId":"{correlation}"}}}}'
            ).encode()
            headers = spring_dlt_headers(target, i % PARTITIONS, i, group="billing")
            sent.append(await producer.send(dlt, value, key=f"k-{i}".encode(), headers=headers))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return dlt


def get(service: Service, path: str) -> Any:
    with service.client("viewer") as http:
        response = http.get(path)
    response.raise_for_status()
    return response.json()


def settled(shard: dict[str, Any]) -> bool:
    members = shard["members"]
    return (
        len(members) == 2 and not shard["partial"] and all(m["index_partitions"] for m in members)
    )


def timed(samples: list[float]) -> str:
    ms = sorted(round(s * 1000) for s in samples)
    return f"median {statistics.median(ms):,.0f} ms (min {ms[0]:,}, max {ms[-1]:,})"


async def read_alone(bootstrap: str, coords: list[str], requests: int) -> list[float]:
    broker = KafkaBroker(KafkaSettings(bootstrap_servers=bootstrap))
    await broker.start()
    try:
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            found, problems = await find_dead_letters(broker, Settings(), sorted(coords))
            samples.append(time.perf_counter() - started)
            assert len(found) == len(coords) and not problems
        return samples
    finally:
        await broker.close()


def run(bootstrap: str, count: int, requests: int) -> None:
    prefix = f"retrybench{int(time.time())}"
    tmp = Path(tempfile.mkdtemp(prefix="edamon-retry-bench-"))
    env = {
        "EDAMON_RETENTION__MAX_DEAD_LETTERS": str(count * 2),
        "EDAMON_SHARD__PEER_TIMEOUT_S": "30",
    }
    members = [
        start_service(
            bootstrap, prefix, tmp, "--shard-group", prefix, env_tokens=True, env=env, timeout=60
        )
        for _ in range(2)
    ]
    try:
        for one in members:
            wait_for(lambda one=one: settled(get(one, "/v1/shard")), "two settled members", 90)
        took = time.perf_counter()
        asyncio.run(produce(bootstrap, prefix, count))
        print(f"produced {count:,} dead letters in {time.perf_counter() - took:.1f}s")
        held: dict[str, int] = {}

        def all_held() -> bool:
            for one in members:
                held[one.url] = get(one, "/v1/shard/dead-letter-coords?first=1")["total"]
            return sum(held.values()) == count

        wait_for(all_held, "every dead letter held", 300)
        print("held:", ", ".join(f"{n:,}" for n in held.values()))
        for one, other in (members, members[::-1]):
            samples = []
            with one.client("viewer") as http:
                for _ in range(requests):
                    started = time.perf_counter()
                    response = http.post("/v1/retries/preview", json={"filters": ["group=billing"]})
                    samples.append(time.perf_counter() - started)
                    plan = response.json()
                    assert len(plan["items"]) == count and not plan["notices"], plan["notices"]
            print(f"{one.url}: preview of {count:,}: {timed(samples)}")
            own: list[float] = []
            for _ in range(requests):
                started = time.perf_counter()
                coords = get(other, "/v1/shard/dead-letter-coords?select=group%3Dbilling")
                own.append(time.perf_counter() - started)
            print(f"{other.url}: its own {coords['total']:,} addresses: {timed(own)}")
            alone = asyncio.run(read_alone(bootstrap, coords["coords"], requests))
            print(f"  reading those {coords['total']:,} from Kafka alone: {timed(alone)}")
    finally:
        for one in members:
            one.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead-letters", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = load_harness().KafkaBroker(sasl=False)
        broker.start()
        bootstrap = broker.bootstrap
    try:
        run(bootstrap, args.dead_letters, args.requests)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
