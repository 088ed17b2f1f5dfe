#!/usr/bin/env python3
"""Where the collector's time per record goes, stage by stage (no broker).

    python bench/stages.py [--events 200000]

Uses bench/state.py's records (seed envelopes in 5-event flows, as bench/ingest.py produces)
and prints the best of three runs, in microseconds per record, of: parsing the value with
orjson alone, decoding envelopes (EnvelopeDecoder, results kept as the state keeps them), and
the whole CollectorState.ingest. Compare with bench/ingest.py's bare aiokafka drain (about
4 µs per record on the reference machine): a collector/bare ratio of 0.7 leaves under 2 µs per
record for everything edamon does.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from edamon.collector.state import CollectorState  # noqa: E402
from edamon.decode.envelope import EnvelopeDecoder  # noqa: E402


def _state_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_state", ROOT / "bench/state.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_us(records: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    bench = _state_bench()
    batches = list(bench.batches(args.events, 2000))
    records = [r for batch in batches for r in batch]
    settings = bench.settings_for(args.events)
    gc.freeze()
    n = len(records)

    def parse() -> None:
        for record in records:
            orjson.loads(record.value)

    def decode() -> list[object]:
        decoder = EnvelopeDecoder(settings.envelope)
        return [decoder.decode(record) for record in records]

    def ingest() -> CollectorState:
        state = CollectorState(settings, cluster="bench")
        for batch in batches:
            state.ingest(batch, 1.0)
        return state

    unordered = settings.model_copy(deep=True)
    unordered.ordering.enabled = False

    def ingest_unordered() -> CollectorState:
        state = CollectorState(unordered, cluster="bench")
        for batch in batches:
            state.ingest(batch, 1.0)
        return state

    print(f"records: {n:,}")
    print(f"orjson.loads(value) alone      : {best_us(n, parse):6.2f} µs/record")
    print(f"EnvelopeDecoder.decode         : {best_us(n, decode):6.2f} µs/record")
    whole, without = float("inf"), float("inf")
    for _ in range(3):  # interleaved, so a busy moment weighs on both alike
        whole = min(whole, best_us(n, ingest))
        without = min(without, best_us(n, ingest_unordered))
    print(f"CollectorState.ingest (all)    : {whole:6.2f} µs/record")
    print(
        f"  of which ordering checks     : {whole - without:6.2f} µs/record "
        f"({(whole - without) / whole:.0%} of ingest; ingest without them {without:.2f})"
    )


if __name__ == "__main__":
    main()
