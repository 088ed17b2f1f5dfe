#!/usr/bin/env python3
"""Where the collector's time per record goes, stage by stage (no broker).

    python bench/stages.py [--events 200000]

Uses bench/state.py's records (seed envelopes in 5-event flows, as bench/ingest.py produces)
and prints the best of several runs, in microseconds per record (wall, and CPU time), of:
parsing the value with orjson alone, decoding envelopes (EnvelopeDecoder, record by record and
a batch at a time as the state does, results kept as the state keeps them), and the whole
CollectorState.ingest. The figure to watch is the last line, whole ingest / orjson.loads of the
same values (target: at most 5x): the two take turns round after round in one run, so a busy
machine slows both alike. The garbage collector is tuned as the edamon command tunes it
(edamon.collector.runtime.tune_gc). Compare with bench/ingest.py's bare aiokafka drain.

The same records are also written in the Confluent wire format, as Avro (fastavro's writer) and
as Protobuf (protobuf's serializer), with the same fields, and decoded side by side in the same
run with their schemas already cached (the registry is asked once per id, off this path); the
Avro/JSON ratio is the figure to watch (target: at most 2).
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

import base64  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
from importlib import resources  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402
from fastavro import parse_schema, schemaless_writer  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402

from edamon.collector.runtime import GC_THRESHOLD  # noqa: E402
from edamon.collector.state import CollectorState  # noqa: E402
from edamon.decode.envelope import EnvelopeDecoder  # noqa: E402
from edamon.decode.registry import RegisteredSchema  # noqa: E402
from edamon.decode.schemas import SchemaStore  # noqa: E402
from edamon.decode.wire import compile_schema  # noqa: E402
from edamon.model.records import RawRecord  # noqa: E402

AVRO_ID, PROTO_ID = 1, 2
AVRO = {
    "type": "record",
    "name": "Event",
    "namespace": "bench",
    "fields": [
        {"name": "eventId", "type": "string"},
        {"name": "eventType", "type": "string"},
        {"name": "aggregateId", "type": "string"},
        {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "version", "type": "int"},
        {
            "name": "payload",
            "type": {
                "type": "record",
                "name": "Payload",
                "fields": [
                    {"name": "orderId", "type": "string"},
                    {"name": "amount", "type": "double"},
                    {"name": "currency", "type": "string"},
                    {
                        "name": "lines",
                        "type": {
                            "type": "array",
                            "items": {
                                "type": "record",
                                "name": "Line",
                                "fields": [
                                    {"name": "sku", "type": "string"},
                                    {"name": "qty", "type": "int"},
                                ],
                            },
                        },
                    },
                ],
            },
        },
        {
            "name": "metadata",
            "type": {
                "type": "record",
                "name": "Metadata",
                "fields": [
                    {"name": "correlationId", "type": "string"},
                    {"name": "causationId", "type": ["null", "string"]},
                    {"name": "userId", "type": "string"},
                ],
            },
        },
    ],
}
PROTO = """syntax = "proto3";
package bench;
import "google/protobuf/timestamp.proto";
message Event {
  string event_id = 1;
  string event_type = 2;
  string aggregate_id = 3;
  google.protobuf.Timestamp occurred_at = 4;
  int32 version = 5;
  message Line { string sku = 1; int32 qty = 2; }
  message Payload { string order_id = 1; double amount = 2; string currency = 3;
                    repeated Line lines = 4; }
  Payload payload = 6;
  message Metadata { string correlation_id = 1; string causation_id = 2; string user_id = 3; }
  Metadata metadata = 7;
}
"""


def _proto_file() -> descriptor_pb2.FileDescriptorProto:
    """bench/event.proto compiled with protoc (as a producer's build would)."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench/event.proto").parent.mkdir()
        (Path(tmp) / "bench/event.proto").write_text(PROTO)
        out = Path(tmp) / "set.pb"
        with resources.as_file(resources.files("grpc_tools") / "_proto") as include:
            args = [f"-I{tmp}", f"-I{include}", f"--descriptor_set_out={out}", "bench/event.proto"]
            assert protoc.main(["protoc", *args]) == 0
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]


def wire_records(records: list[RawRecord]) -> tuple[list[RawRecord], list[RawRecord], SchemaStore]:
    """The records as Avro and as Protobuf in the wire format, and a store that knows both."""
    parsed = parse_schema(AVRO)
    proto_file = _proto_file()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_timestamp_file())
    pool.Add(proto_file)
    event_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Event"))
    avro_head = b"\x00" + struct.pack(">I", AVRO_ID)
    proto_head = b"\x00" + struct.pack(">I", PROTO_ID) + b"\x00"
    avro_out: list[RawRecord] = []
    proto_out: list[RawRecord] = []
    for record in records:
        data: dict[str, Any] = orjson.loads(record.value or b"{}")
        buffer = io.BytesIO()
        buffer.write(avro_head)
        schemaless_writer(buffer, parsed, data)
        avro_out.append(_with_value(record, buffer.getvalue()))
        meta, payload = data["metadata"], data["payload"]
        message = event_class(
            event_id=data["eventId"],
            event_type=data["eventType"],
            aggregate_id=data["aggregateId"],
            version=data["version"],
        )
        message.occurred_at.FromMilliseconds(data["occurredAt"])
        message.payload.order_id = payload["orderId"]
        message.payload.amount = payload["amount"]
        message.payload.currency = payload["currency"]
        for line in payload["lines"]:
            message.payload.lines.add(sku=line["sku"], qty=line["qty"])
        message.metadata.correlation_id = meta["correlationId"]
        message.metadata.causation_id = meta["causationId"] or ""
        message.metadata.user_id = meta["userId"]
        proto_out.append(_with_value(record, proto_head + message.SerializeToString()))
    store = SchemaStore(None)
    store.add(AVRO_ID, compile_schema(AVRO_ID, RegisteredSchema(json.dumps(AVRO)), {}))
    text = base64.b64encode(proto_file.SerializeToString()).decode()
    store.add(PROTO_ID, compile_schema(PROTO_ID, RegisteredSchema(text, "PROTOBUF"), {}))
    return avro_out, proto_out, store


def _timestamp_file() -> descriptor_pb2.FileDescriptorProto:
    from google.protobuf import timestamp_pb2

    proto = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(proto)
    return proto


def _with_value(record: RawRecord, value: bytes) -> RawRecord:
    return RawRecord(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp_ms,
        record.key,
        value,
        record.headers,
    )


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


def interleaved(records: int, runs: list[Callable[[], object]], rounds: int = 5) -> list[float]:
    """best_us of each run, the runs taking turns round after round."""
    return [wall for wall, _ in interleaved_cpu(records, runs, rounds)]


def interleaved_cpu(
    records: int, runs: list[Callable[[], object]], rounds: int = 5
) -> list[tuple[float, float]]:
    """(best wall, best CPU) µs per record of each run, the runs taking turns."""
    best = [float("inf")] * len(runs)
    best_cpu = [float("inf")] * len(runs)
    for _ in range(rounds):
        for index, run in enumerate(runs):
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            result = run()
            best[index] = min(best[index], time.perf_counter() - started)
            best_cpu[index] = min(best_cpu[index], time.process_time() - cpu)
            del result
    return [
        (seconds / records * 1e6, cpu / records * 1e6)
        for seconds, cpu in zip(best, best_cpu, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--only-ratio", action="store_true", help="only the whole-ingest / orjson figure"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bench = _state_bench()
    batches = list(bench.batches(args.events, 2000))
    records = [r for batch in batches for r in batch]
    settings = bench.settings_for(args.events)
    gc.set_threshold(*GC_THRESHOLD)  # as the edamon command does (tune_gc)
    gc.freeze()
    n = len(records)

    def parse() -> None:
        for record in records:
            orjson.loads(record.value)

    def decode() -> list[object]:
        decoder = EnvelopeDecoder(settings.envelope)
        return [decoder.decode(record) for record in records]

    python = settings.model_copy(deep=True)
    python.envelope.native = "off"
    native = _has_native()

    def decode_batches(envelope: Any = settings.envelope) -> list[object]:
        decoder = EnvelopeDecoder(envelope)
        if not hasattr(decoder, "decode_many"):  # before the batch path
            return [decoder.decode(record) for record in records]
        out: list[object] = []
        for batch in batches:
            out += decoder.decode_many(batch)
        return out

    def decode_batches_python() -> list[object]:
        return decode_batches(python.envelope)

    def ingest() -> CollectorState:
        state = CollectorState(settings, cluster="bench")
        for batch in batches:
            state.ingest(batch, 1.0)
        return state

    unordered = settings.model_copy(deep=True)
    unordered.ordering.enabled = False

    def ingest_python() -> CollectorState:
        state = CollectorState(python, cluster="bench")
        for batch in batches:
            state.ingest(batch, 1.0)
        return state

    def ingest_unordered() -> CollectorState:
        state = CollectorState(unordered, cluster="bench")
        for batch in batches:
            state.ingest(batch, 1.0)
        return state

    installed = "installed" if native else "not installed"
    print(f"records: {n:,}; accelerator (edamon_native): {installed}")
    if not args.only_ratio:
        stages(
            n,
            records,
            settings,
            parse,
            decode,
            decode_batches,
            ingest,
            ingest_unordered,
            decode_batches_python if native else None,
        )
    # side by side: orjson and the whole ingest take turns, so a busy moment weighs on both
    runs = [parse, ingest, ingest_python] if native else [parse, ingest]
    figures = interleaved_cpu(n, runs, args.rounds)
    (parse_us, parse_cpu), (whole_us, whole_cpu) = figures[0], figures[1]
    print(f"orjson.loads(value) alone      : {parse_us:6.2f} µs/record (CPU {parse_cpu:.2f})")
    print(f"CollectorState.ingest (all)    : {whole_us:6.2f} µs/record (CPU {whole_cpu:.2f})")
    if native:
        py_us, py_cpu = figures[2]
        print(f"  the same, Python decoder     : {py_us:6.2f} µs/record (CPU {py_cpu:.2f})")
    print(
        f"whole ingest / orjson.loads    : {whole_us / parse_us:6.2f}x "
        f"(CPU {whole_cpu / parse_cpu:.2f}x; target <= 5x)"
    )
    if native:
        print(
            f"  the same, Python decoder     : {py_us / parse_us:6.2f}x "
            f"(CPU {py_cpu / parse_cpu:.2f}x)"
        )


def _has_native() -> bool:
    return importlib.util.find_spec("edamon_native") is not None


def stages(  # type: ignore[no-untyped-def]
    n, records, settings, parse, decode, decode_batches, ingest, ingest_unordered, python_batches
) -> None:
    avro_records, proto_records, store = wire_records(records)

    def decode_wire(wire: list[RawRecord]) -> Callable[[], list[object]]:
        def run() -> list[object]:
            decoder = EnvelopeDecoder(settings.envelope, store)
            return [decoder.decode(record) for record in wire]

        return run

    check = EnvelopeDecoder(settings.envelope, store)
    for wire in (avro_records, proto_records):
        sample = check.decode(wire[7])
        assert getattr(sample, "correlation_id", None), sample  # decoded, not undecodable

    print(f"orjson.loads(value) alone      : {best_us(n, parse):6.2f} µs/record")
    # side by side: the decoders take turns, so a busy machine slows all of them alike
    extra = [python_batches] if python_batches is not None else []
    json_us, batch_us, avro_us, proto_us, *python_us = interleaved(
        n, [decode, decode_batches, decode_wire(avro_records), decode_wire(proto_records), *extra]
    )
    print(f"EnvelopeDecoder.decode         : {json_us:6.2f} µs/record")
    print(f"  a batch at a time (decode_many): {batch_us:4.2f} µs/record")
    if python_us:
        print(f"  the same, Python batch path  : {python_us[0]:6.2f} µs/record")
    print(f"  the same, Avro (wire format) : {avro_us:6.2f} µs/record ({avro_us / json_us:.2f}x)")
    print(f"  the same, Protobuf           : {proto_us:6.2f} µs/record ({proto_us / json_us:.2f}x)")
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
