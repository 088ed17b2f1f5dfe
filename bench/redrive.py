#!/usr/bin/env python3
"""How long a bulk retry of dead letters takes: the send order of this code (oldest first in
each dead-letter partition, one partition after another) against the plan's order (newest
first across partitions, as the service plans a retry by filter), side by side in one run.

    flock /tmp/edamon-bench.lock python bench/redrive.py [--dead-letters 2000]
                                                         [--bootstrap HOST:PORT]

Produces `--dead-letters` Spring dead letters (~1 KB each) to a 3-partition DLT, reads them
(`read_dead_letters`), plans them newest first, and executes the plan twice with the real
`Redriver` (`dlq.rate` far above what is reached, `force` on the second run), once per order,
alternating which goes first. Prints seconds and records per second for each. Without
--bootstrap it starts the harness broker from scripts/kafka.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from builders import spring_dlt_headers  # noqa: E402
from edamon.actions import redrive  # noqa: E402
from edamon.actions.ledger import Ledger  # noqa: E402
from edamon.actions.scan import read_dead_letters  # noqa: E402
from edamon.broker.kafka import KafkaBroker  # noqa: E402
from edamon.config import Settings  # noqa: E402
from kafka_helpers import load_harness  # noqa: E402

PARTITIONS = 3


async def produce(bootstrap: str, dlt: str, target: str, count: int) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dlt, PARTITIONS, 1), NewTopic(target, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i in range(count):
            headers = spring_dlt_headers(target, i % PARTITIONS, i)
            event_id = uuid.uuid4().hex.encode()
            value = b'{"eventId":"%s","type":"OrderPlaced","pad":"%s"}' % (event_id, b"x" * 900)
            await producer.send(dlt, value, key=f"k-{i}".encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def run(bootstrap: str, count: int) -> None:
    prefix = f"bench-redrive-{uuid.uuid4().hex[:8]}"
    dlt, target = f"{prefix}.Orders.DLT", f"{prefix}.Orders"
    await produce(bootstrap, dlt, target, count)
    settings = Settings(
        kafka={"bootstrap_servers": bootstrap},
        dlq={"ledger_topic": f"{prefix}.ledger", "rate": 1_000_000.0},
    )
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    sorted_order = redrive._send_order
    orders = {"this code's order": sorted_order, "plan order": lambda items: items}
    try:
        dead = await read_dead_letters(broker, settings, [dlt])
        dead.sort(key=lambda dl: -dl.record.timestamp_ms)  # newest first, as the service plans
        print(f"{len(dead):,} dead letters on {PARTITIONS} partitions")
        ledger = Ledger(settings.dlq.ledger_topic)
        await ledger.load(broker)
        redriver = redrive.Redriver(broker, settings, ledger)
        names = list(orders) if count % 2 else list(reversed(orders))
        for turn, name in enumerate(names):
            redrive._send_order = orders[name]  # type: ignore[assignment]
            plan = redriver.plan(dead, force=turn > 0)
            started = time.monotonic()
            summary = await redriver.execute(plan, rate=settings.dlq.rate)
            took = time.monotonic() - started
            print(
                f"{name:>18}: {len(summary.sent):,} sent in {took:6.2f} s "
                f"({len(summary.sent) / took:,.0f} records/s)"
            )
    finally:
        redrive._send_order = sorted_order
        await broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dead-letters", type=int, default=2000)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    if args.bootstrap:
        asyncio.run(run(args.bootstrap, args.dead_letters))
        return
    harness = load_harness()
    broker = harness.KafkaBroker(sasl=False, tls=False)
    broker.start()
    try:
        asyncio.run(run(broker.bootstrap, args.dead_letters))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
