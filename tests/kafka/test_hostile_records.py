"""Records that other clients can write and aiokafka cannot read: a header name that is not
UTF-8 (Go's sarama and librdkafka write any bytes there). Written here with kcat (librdkafka),
read back by the collector, `edamon collect` and the `dlq` commands on the real broker."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from test_cli_dlq import Edamon, edamon, read_topic  # noqa: F401 - `edamon` is a fixture
from test_collector import settings_for, until

from edamon.broker.kafka_records import (
    BadHeaderName,
    TolerantRecords,
    decode_batch,
    escape_bytes,
)
from edamon.model.status import ConnectionState
from kafka_helpers import MakeTopic, Produce, UniqueName, running_collector

pytestmark = pytest.mark.kafka

BAD_NAME = b"\xff\xfeid"
BAD_NAME_GZIP = b"tr\xc3ace\\"  # a cut UTF-8 sequence and a backslash, in a gzip batch


def kcat_produce(
    bootstrap: str,
    topic: str,
    partition: int,
    value: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    compression: str | None = None,
) -> None:
    """Write one record with raw header bytes, as a librdkafka client does."""
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("kcat is not installed (apt-get install -y kcat): it writes the records")
    cmd: list[bytes] = [kcat.encode(), b"-b", bootstrap.encode(), b"-P", b"-t", topic.encode()]
    cmd += [b"-p", str(partition).encode(), b"-c", b"1"]
    if compression:
        cmd += [b"-z", compression.encode()]
    for name, header_value in headers:
        cmd += [b"-H", name + b"=" + header_value]
    subprocess.run(cmd, input=value + b"\n", check=True, timeout=30, capture_output=True)


def event(n: int, prefix: str = "e") -> bytes:
    return json.dumps(
        {"eventId": f"{prefix}-{n}", "eventType": "OrderPlaced", "aggregateId": f"order-{n}"}
    ).encode()


def batch_bytes(
    records: list[tuple[bytes, list[tuple[str, bytes]]]], compression: int = 0
) -> bytes:
    builder = DefaultRecordBatchBuilder(2, compression, 0, -1, -1, -1, 1 << 20)
    for offset, (value, headers) in enumerate(records):
        builder.append(offset, 1_700_000_000_000 + offset, f"k{offset}".encode(), value, headers)
    return bytes(builder.build())


def aiokafka_records(data: bytes) -> list[object]:
    """The records of one batch as aiokafka's own (C) decoder reads them."""
    batch = MemoryRecords(data).next_batch()
    assert batch is not None
    return list(batch)


def test_aiokafka_still_fails_on_a_header_name_that_is_not_utf8() -> None:
    """Tells the day aiokafka reads such names itself: then edamon/broker/kafka_records.py's
    workaround of its fetcher can go."""
    placeholder = "NAME"
    data = batch_bytes([(event(0), [("ok", b"1")]), (event(1), [(placeholder, b"v")])])
    bad = data.replace(placeholder.encode(), BAD_NAME)
    assert len(bad) == len(data)
    with pytest.raises(UnicodeDecodeError):
        aiokafka_records(bad)
    # The workaround reads the same batch whole, the name kept as its bytes.
    records = decode_batch(bad)
    assert [r.offset for r in records] == [0, 1]
    name = records[1].headers[0][0]
    assert isinstance(name, BadHeaderName) and name.raw == BAD_NAME
    assert name == "\\xff\\xfeid"
    assert records[0].headers == [("ok", b"1")] and records[1].value == event(1)


@pytest.mark.parametrize("compression", [0, 1], ids=["none", "gzip"])
def test_workaround_decodes_batches_as_aiokafka_does(compression: int) -> None:
    """(snappy, lz4 and zstd need packages edamon does not install: aiokafka can't read them
    either, so the workaround never sees them.)"""
    records = [
        (event(n), [("event-type", b"OrderPlaced"), ("n", str(n).encode()), ("é", b"")])
        for n in range(50)
    ]
    data = batch_bytes(records, compression)
    ours = decode_batch(data)
    theirs = aiokafka_records(data)
    assert len(ours) == len(theirs) == 50
    for mine, upstream in zip(ours, theirs, strict=True):
        fields = ("offset", "timestamp", "timestamp_type", "key", "value", "headers", "checksum")
        assert [getattr(mine, f) for f in fields] == [getattr(upstream, f) for f in fields]


def test_tolerant_records_hand_out_each_record_of_a_flawed_batch_once() -> None:
    """aiokafka's decoder gives the records before the bad one; the rest come from here."""
    placeholder = "NAME"
    data = batch_bytes([(event(n), [(placeholder if n == 2 else "ok", b"v")]) for n in range(5)])
    bad = data.replace(placeholder.encode(), BAD_NAME)
    records = TolerantRecords(bad)
    batch = records.next_batch()
    assert batch is not None and records.next_batch() is None
    got = list(batch)
    assert [r.offset for r in got] == [0, 1, 2, 3, 4]
    assert [r.value for r in got] == [event(n) for n in range(5)]
    assert [type(r.headers[0][0]) for r in got] == [str, str, BadHeaderName, str, str]


def test_escaped_header_name() -> None:
    assert escape_bytes(b"a\\b\x1b[2J\xff") == "a\\\\b\\x1b[2J\\xff"
    assert escape_bytes(b"\xff" * 10, 2) == "\\xff\\xff…"


async def test_collector_reads_past_header_names_that_are_not_utf8(
    kafka_bootstrap: str, make_topic: MakeTopic, produce: Produce, unique_name: UniqueName
) -> None:
    prefix = unique_name("hostile")
    orders = await make_topic(f"{prefix}.orders", partitions=2)
    await produce(orders, [(f"a{n}", event(n, "a")) for n in range(3)], partition=0)
    await asyncio.to_thread(
        kcat_produce, kafka_bootstrap, orders, 0, event(0, "bad"), [(BAD_NAME, b"v")]
    )
    await asyncio.to_thread(
        kcat_produce,
        kafka_bootstrap,
        orders,
        0,
        event(1, "bad"),
        [(b"event-type", b"OrderPlaced"), (BAD_NAME_GZIP, b"w")],
        compression="gzip",
    )
    await produce(orders, [(f"b{n}", event(n, "b")) for n in range(3)], partition=0)
    await produce(orders, [(f"c{n}", event(n, "c")) for n in range(3)], partition=1)

    settings = settings_for(kafka_bootstrap, prefix)
    seen: set[tuple[ConnectionState, str]] = set()
    async with running_collector(settings) as collector:

        def done() -> bool:
            snap = collector.snapshot()
            seen.add((snap.connection.state, snap.connection.message))
            return snap.totals.events == 9 and snap.totals.undecodable == 2

        await until(done, 30, "9 events and 2 undecodable records")
        snap = collector.snapshot()
    assert snap.catchup.caught_up
    samples = {s.coords: s.reason for s in snap.undecodable.samples}
    assert samples == {
        f"{orders}/0/3": "header name not UTF-8: \\xff\\xfeid",
        f"{orders}/0/4": "header name not UTF-8: tr\\xc3ace\\\\",
    }
    states = {state for state, _ in seen}
    assert ConnectionState.ERROR not in states, seen
    assert all("utf" not in message.lower() for _, message in seen), seen


async def test_collect_until_idle_finishes_past_such_a_record(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix = unique_name("hostile")
    topic = await make_topic(f"{prefix}.orders")
    await produce(topic, [(f"a{n}", event(n, "a")) for n in range(2)])
    await asyncio.to_thread(kcat_produce, kafka_bootstrap, topic, 0, event(9), [(BAD_NAME, b"")])
    await produce(topic, [(f"b{n}", event(n, "b")) for n in range(2)])
    config = tmp_path / "edamon.toml"
    config.write_text(f'[topics]\ninclude = ["{prefix}\\\\..*"]\nstart_from = "earliest"\n')
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edamon", "collect", "--config", str(config), "-b", kafka_bootstrap,
        "--until-idle", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("collect --until-idle did not finish past the record")
    assert proc.returncode == 0, err.decode()
    doc = json.loads(out)
    totals = doc["snapshot"]["totals"]
    assert totals["events"] == 4 and totals["undecodable"] == 1
    assert time.monotonic() - started < 60


async def test_dlq_commands_on_a_partition_with_such_a_record(
    kafka_bootstrap: str,
    edamon: Edamon,  # noqa: F811 - the fixture imported above
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")

    def origin(offset: int) -> list[tuple[str, bytes]]:
        return [
            ("x-original-topic", target.encode()),
            ("x-original-partition", b"0"),
            ("x-original-offset", str(offset).encode()),
            ("x-exception-message", b"boom"),
        ]

    await produce(dlq, [("k0", event(0), origin(10))])
    raw_origin = [(k.encode(), v) for k, v in origin(11)]
    await asyncio.to_thread(
        kcat_produce, kafka_bootstrap, dlq, 0, event(1), [*raw_origin, (BAD_NAME, b"v")]
    )
    await produce(dlq, [("k2", event(2), origin(12))])

    listed = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, "--json")
    assert listed.code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["coords"] for r in rows] == [f"{dlq}/0/0", f"{dlq}/0/1", f"{dlq}/0/2"]
    assert [r["decode_error"] for r in rows] == [None, "header name not UTF-8: \\xff\\xfeid", None]

    table = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq)
    assert table.code == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith(f"{dlq}/0/1"))
    assert "header name not UTF-8" in row, table.stdout

    shown = await edamon("show", f"{dlq}/0/1", "-b", kafka_bootstrap)
    assert shown.code == 0, shown.stderr
    assert "\\xff\\xfeid: v" in shown.stdout
    assert "header name not UTF-8" in shown.stdout

    retried = await edamon("retry", "--filter", f"dlq-topic={dlq}", "-b", kafka_bootstrap, "--yes")
    assert retried.code == 1, retried.stdout + retried.stderr  # 1: some were not sent
    assert "2 sent, 1 refused" in retried.stdout, retried.stdout
    assert "cannot be resent as it was written" in retried.stdout, retried.stdout
    copies = await read_topic(kafka_bootstrap, target)
    assert sorted(c.value for c in copies) == [event(0), event(2)]
