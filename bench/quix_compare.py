#!/usr/bin/env python3
"""Prior art for the shard design (issue 15): quixstreams' stateful group-by through a
repartition topic, on the events bench/shard.py produced, on the same broker.

quixstreams is not a dependency of edamon: run this with a Python that has it, e.g.

    python -m venv /tmp/qs && /tmp/qs/bin/pip install quixstreams==3.28.1
    /tmp/qs/bin/python bench/quix_compare.py --bootstrap HOST:PORT --prefix shardbenchNNN \\
        --events 200000

The pipeline does what a shard member does with a record, in quixstreams' terms: JSON values
from the 5 event topics and the DLT, `group_by` correlation id (quixstreams writes and reads a
repartition topic), then a stateful step per flow (RocksDB) that keeps the flow's event ids
once each. One process; timed from the first record processed after the group-by to the
N-th, with the process's CPU time per record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from typing import Any

TYPES = ["OrderPlaced", "StockReserved", "PaymentProcessed", "ShipmentScheduled", "OrderClosed"]


def main() -> None:
    from quixstreams import Application, State

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    group = f"qb{int(time.time()) % 100000}"
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=f"/tmp/quixbench-state-{group}",
        loglevel="WARNING",
    )
    names = [f"{args.prefix}.{t}" for t in TYPES] + [f"{args.prefix}.PaymentProcessed.DLT"]
    frames = [app.dataframe(app.topic(name, value_deserializer="json")) for name in names]
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    sdf = sdf.group_by(lambda v: v["metadata"]["correlationId"], name="correlation")
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    def keep(value: dict[str, Any], state: State) -> None:
        ids = state.get("ids", [])
        if value["eventId"] not in ids:
            ids.append(value["eventId"])
            state.set("ids", ids)
        seen["n"] += 1
        now = time.time()
        if not seen["first"]:
            seen["first"] = now
        seen["last"] = now

    sdf.update(keep, stateful=True)

    def report() -> None:
        while seen["n"] < args.events:
            time.sleep(0.2)
        cpu = time.process_time()
        elapsed = seen["last"] - seen["first"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            json.dumps(
                {
                    "records_per_s": args.events / elapsed,
                    "seconds": elapsed,
                    "cpu_us_per_record": 1e6 * cpu / args.events,
                    "peak_rss_mb": peak,
                }
            ),
            flush=True,
        )
        os._exit(0)

    threading.Thread(target=report, daemon=True).start()
    app.run()


if __name__ == "__main__":
    main()
