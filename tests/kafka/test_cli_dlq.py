"""`edamon dlq list/show/retry` as a user runs them (a subprocess) against the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from kafka_helpers import MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


class Edamon:
    """Runs `python -m edamon ...` in a clean directory with a clean EDAMON_* environment."""

    def __init__(self, cwd: Path, bootstrap: str, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.bootstrap = bootstrap
        self.env = env

    async def __call__(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Run:
        # No EDAMON_* and no COLUMNS (pytest-xdist's workers set it): the output is a pipe,
        # so tables print full values unless a test sets the width itself.
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("EDAMON_") and k not in ("COLUMNS", "LINES")
        }
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO), environ.get("PYTHONPATH")])
        )
        environ["XDG_CONFIG_HOME"] = str(self.cwd / "xdg")
        environ.update(self.env)
        environ.update(env or {})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edamon",
            "dlq",
            *args,
            cwd=self.cwd,
            env=environ,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"edamon dlq {' '.join(args)} did not finish in time")
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def edamon(kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path) -> Edamon:
    return Edamon(
        tmp_path,
        kafka_bootstrap,
        {
            "EDAMON_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "EDAMON_DLQ__LEDGER_TOPIC": unique_name("ledger"),
        },
    )


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of partition 0 of `topic`, with a plain aiokafka consumer."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        end = (await asyncio.wait_for(consumer.end_offsets([tp]), 10))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records: list[Any] = []
        deadline = time.monotonic() + 15
        while await consumer.position(tp) < end:
            assert time.monotonic() < deadline
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def spring(topic: str, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("event-type", b"OrderPlaced"),
        ("kafka_dlt-original-topic", topic.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-consumer-group", b"billing"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
        ("kafka_dlt-exception-message", b"out of stock"),
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ]


def event(n: int) -> bytes:
    return json.dumps(
        {"eventId": f"e-{n}", "eventType": "OrderPlaced", "aggregateId": f"order-{n}"}
    ).encode()


async def seed(
    make_topic: MakeTopic, produce: Produce, unique_name: UniqueName, count: int = 2
) -> tuple[str, str]:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    await produce(dlq, [(f"order-{i}", event(i), spring(target, 40 + i)) for i in range(count)])
    return target, dlq


async def test_list_show_and_retry(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target, dlq = await seed(make_topic, produce, unique_name)

    listed = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, "--json")
    assert listed.code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["coords"], r["original_topic"], r["retry"]) for r in rows] == [
        (f"{dlq}/0/0", target, None),
        (f"{dlq}/0/1", target, None),
    ]
    assert rows[1]["exception_class"] == "java.lang.IllegalStateException"
    assert rows[1]["event"]["event_id"] == "e-1"

    table = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq)
    assert table.code == 0
    assert f"{dlq}/0/1" in table.stdout and f"{target}/0/41" in table.stdout
    assert "2 dead letter(s)" in table.stdout

    shown = await edamon("show", f"{dlq}/0/1", "-b", kafka_bootstrap)
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header_lines = [line.strip() for line in lines if line.startswith("  ") and ": " in line]
    assert header_lines[:4] == [
        "event-type: OrderPlaced",
        f"kafka_dlt-original-topic: {target}",
        "kafka_dlt-original-partition: 0x00000000 (int 0)",
        "kafka_dlt-original-offset: 0x0000000000000029 (int 41)",
    ]
    assert '"eventId": "e-1"' in shown.stdout
    assert any(line.startswith("retry:") and "never retried" in line for line in lines)

    sent = await edamon("retry", f"{dlq}/0/0", "-b", kafka_bootstrap, "--yes")
    assert sent.code == 0, sent.stdout + sent.stderr
    assert "headers stripped:" in sent.stdout and "traceparent" in sent.stdout
    assert "1 sent" in sent.stdout
    copies = await read_topic(kafka_bootstrap, target)
    assert [(c.key, c.value) for c in copies] == [(b"order-0", event(0))]
    assert [k for k, _ in copies[0].headers] == [
        "event-type",
        "edamon-retry-of",
        "edamon-retry-at",
        "edamon-retry-attempt",
    ]

    again = await edamon("retry", f"{dlq}/0/0", "-b", kafka_bootstrap, "--yes")
    assert again.code == 0
    assert "already retried" in again.stdout and "nothing to send" in again.stdout
    assert len(await read_topic(kafka_bootstrap, target)) == 1

    after = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, "--json")
    statuses = [json.loads(line)["retry"] for line in after.stdout.splitlines()]
    assert statuses[0]["status"] == "sent" and statuses[0]["attempt"] == 1
    assert statuses[0]["target_topic"] == target
    assert statuses[1] is None

    # Confirmation on stdin, by filter, at a given rate.
    confirmed = await edamon(
        "retry",
        "--filter",
        f"dlq-topic={dlq}",
        "-b",
        kafka_bootstrap,
        "--rate",
        "20",
        stdin=b"y\n",
    )
    assert confirmed.code == 0, confirmed.stdout + confirmed.stderr
    assert "rate: 20/s" in confirmed.stdout
    assert "1 sent, 1 skipped" in confirmed.stdout
    assert [c.key for c in await read_topic(kafka_bootstrap, target)] == [b"order-0", b"order-1"]


async def test_dlqs_the_dashboard_does_not_tail_are_skipped_with_a_note(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    _, tailed = await seed(make_topic, produce, unique_name, count=1)
    _, other = await seed(make_topic, produce, unique_name, count=1)
    env = {"EDAMON_TOPICS__INCLUDE": json.dumps([re.escape(tailed)])}
    listed = await edamon("list", "-b", kafka_bootstrap, "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert [json.loads(line)["coords"] for line in listed.stdout.splitlines()] == [f"{tailed}/0/0"]
    assert "not tailed per topics.include/exclude" in listed.stderr and other in listed.stderr
    named = await edamon("list", "-b", kafka_bootstrap, "--topic", other, "--json", env=env)
    assert [json.loads(line)["coords"] for line in named.stdout.splitlines()] == [f"{other}/0/0"]
    assert "not tailed" not in named.stderr  # named: read, nothing skipped


async def test_refusals_and_usage_errors_exit_2_and_send_nothing(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target, dlq = await seed(make_topic, produce, unique_name, count=1)
    address = f"{dlq}/0/0"

    read_only = await edamon("retry", address, "-b", kafka_bootstrap, "--read-only", "--yes")
    assert read_only.code == 2
    assert "read-only" in read_only.stderr
    by_env = await edamon("retry", address, "--yes", env={"EDAMON_READ_ONLY": "true"})
    assert by_env.code == 2 and "read-only" in by_env.stderr
    dry = await edamon("retry", address, "--read-only", "--dry-run")
    assert dry.code == 0 and "dry run: nothing sent" in dry.stdout

    unconfirmed = await edamon("retry", address)  # stdin is /dev/null
    assert unconfirmed.code == 2
    assert "nothing sent" in unconfirmed.stderr and "--yes" in unconfirmed.stderr
    declined = await edamon("retry", address, stdin=b"n\n")
    assert declined.code == 2

    for args in (
        ("retry",),
        ("retry", "not-an-address", "--yes"),
        ("retry", "--filter", "colour=red", "--yes"),
        ("retry", "--filter", "since=someday", "--yes"),
        ("retry", address, "--rate", "0", "--yes"),
        ("show", "x/y/z"),
    ):
        run = await edamon(*args)
        assert run.code == 2, (args, run.stdout, run.stderr)

    assert await read_topic(kafka_bootstrap, target) == []


async def test_failed_retry_exits_1_and_the_ledger_says_why(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    dlq = await make_topic(unique_name("legacy") + "-dlq")
    missing = unique_name("never-created")
    await produce(dlq, [(b"k", b"payload", [("x-exception-fqcn", b"TimeoutError")])])
    routes = {"EDAMON_DLQ__ROUTES": json.dumps({dlq: missing})}

    refused = await edamon("retry", f"{dlq}/0/0", "--yes")
    assert refused.code == 1
    assert "no original topic in the DLQ headers and no dlq.routes entry" in refused.stdout

    failed = await edamon("retry", f"{dlq}/0/0", "--yes", env=routes)
    assert failed.code == 1
    assert f"target topic {missing} does not exist" in failed.stdout
    assert f"stopped after a failure on {dlq}/0/0" in failed.stderr

    listed = await edamon("list", "--topic", dlq, "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["retry"]["status"] == f"failed: target topic {missing} does not exist"
    assert len(await read_topic(kafka_bootstrap, dlq)) == 1

    missing_record = await edamon("show", f"{dlq}/0/5")
    assert missing_record.code == 1 and "no record" in missing_record.stderr


async def test_unreachable_broker_exits_1_with_the_reason(edamon: Edamon) -> None:
    run = await edamon(
        "list",
        "-b",
        "127.0.0.1:1",
        env={"EDAMON_KAFKA__CONNECT_TIMEOUT_S": "3"},
    )
    assert run.code == 1
    assert "cannot reach kafka at 127.0.0.1:1" in run.stderr


async def test_ctrl_c_stops_after_the_current_record(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target, dlq = await seed(make_topic, produce, unique_name, count=10)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    environ.update(edamon.env, PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(edamon.cwd / "xdg"))
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "edamon", "dlq", "retry", "--filter", f"dlq-topic={dlq}"),
        *("--rate", "2", "--yes"),
        cwd=edamon.cwd,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        first = await asyncio.wait_for(proc.stderr.readline(), 60)
        assert first.startswith(b"retrying: 1/10"), first
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stdout = out.decode()
    assert proc.returncode == 1, (stdout, err)
    assert "not attempted" in stdout
    assert "cancelled" in err.decode()
    sent = len(await read_topic(kafka_bootstrap, target))
    assert 1 <= sent < 10
    assert f"{sent} sent" in stdout


async def test_retries_never_aim_at_the_ledger_and_forged_ledger_entries_count_for_nothing(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    ledger = edamon.env["EDAMON_DLQ__LEDGER_TOPIC"]
    await make_topic(ledger, config={"cleanup.policy": "compact"})
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    await produce(
        dlq,
        [
            ("aimed", event(0), spring(ledger, 1)),  # a header naming the ledger as origin
            ("internal", event(1), spring("__consumer_offsets", 2)),
            ("untouched", event(2), spring(target, 3)),
        ],
    )
    untouched = f"{dlq}/0/2"
    forged = {
        "dead_letter": untouched,
        "target_topic": target,
        "target_partition": 0,
        "target_offset": 0,
        "result": "sent",
        "reason": None,
        "at": time.time(),
        "by": "mallory",
        "attempt": 1,
        "sent_count": 1,
    }
    value = json.dumps(forged).encode()
    made_up = [("edamon-ledger-sig", b"v1:" + b"0" * 64)]
    await produce(ledger, [(untouched, value), (untouched, value, made_up)])

    listed = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, "--json")
    assert listed.code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    retry = {row["coords"]: row["retry"] for row in rows}
    assert retry == {f"{dlq}/0/0": None, f"{dlq}/0/1": None, untouched: None}

    run = await edamon("retry", "--filter", f"dlq-topic={dlq}", "-b", kafka_bootstrap, "--yes")
    assert run.code == 1, run.stdout + run.stderr  # two refused
    assert "refused:  2" in run.stdout
    assert f"{dlq}/0/0: target {ledger} is edamon's retry ledger (dlq.ledger_topic)" in run.stdout
    assert f"{dlq}/0/1: target __consumer_offsets is an internal topic (__*)" in run.stdout
    assert "1 sent" in run.stdout and "already retried" not in run.stdout

    copies = await read_topic(kafka_bootstrap, target)
    assert [c.key for c in copies] == [b"untouched"]
    entries = await read_topic(kafka_bootstrap, ledger)
    assert [(e.key, e.value == value) for e in entries] == [
        (untouched.encode(), True),
        (untouched.encode(), True),
        (untouched.encode(), False),  # edamon's own, signed
    ]
    assert [k for k, _ in entries[2].headers] == ["edamon-ledger-sig"]
    assert json.loads(entries[2].value)["by"] != "mallory"


async def test_list_piped_prints_whole_messages_and_honours_columns(
    kafka_bootstrap: str,
    edamon: Edamon,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
) -> None:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    message = "stock service answered 503 " + "x" * 300 + " END"
    headers = [
        (k, message.encode() if k == "kafka_dlt-exception-message" else v)
        for k, v in spring(target, 7)
    ]
    await produce(dlq, [("order-7", event(7), headers)])

    piped = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, env={"COLUMNS": ""})
    assert piped.code == 0, piped.stderr
    assert piped.stdout.splitlines()[1].endswith(message)  # stdout is a pipe: nothing cut

    narrow = await edamon("list", "-b", kafka_bootstrap, "--topic", dlq, env={"COLUMNS": "150"})
    row = narrow.stdout.splitlines()[1]
    assert len(row) == 150 and row.endswith("…") and "stock service" in row
