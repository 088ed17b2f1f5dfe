"""The CLI's human output never writes a record's control characters to the terminal:
`dlq list`, `dlq show` and `check` on the real broker, with a hostile dead letter."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
from test_check import edamon

from kafka_helpers import MakeTopic, Produce, UniqueName

pytestmark = pytest.mark.kafka

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x9b1;1H\u202e"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def test_dlq_list_show_and_check_print_record_text_escaped(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    produce: Produce,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    target = await make_topic(unique_name("orders"))
    dlq = await make_topic(f"{target}.DLT")
    value = json.dumps({"eventId": "e-1", "eventType": "OrderPlaced" + HOSTILE}).encode()
    headers = [
        ("event-type", ("OrderPlaced" + HOSTILE).encode()),
        ("kafka_dlt-original-topic", target.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-original-offset", struct.pack(">q", 3)),
        ("kafka_dlt-exception-fqcn", ("com.acme.Bad" + HOSTILE).encode()),
        ("kafka_dlt-exception-message", ("boom\r\x1b[1A\x1b[2KFAKE" + HOSTILE).encode()),
        ("kafka_dlt-exception-stacktrace", ("boom\n\tat a.B(B.java:1)" + HOSTILE).encode()),
    ]
    await produce(dlq, [("order-1" + HOSTILE, value, headers)])

    runs = {
        "list": await edamon("dlq", "list", "-b", kafka_bootstrap, "--topic", dlq, cwd=tmp_path),
        "show": await edamon("dlq", "show", f"{dlq}/0/0", "-b", kafka_bootstrap, cwd=tmp_path),
        "check": await edamon("check", "-b", kafka_bootstrap, "--all", cwd=tmp_path),
    }
    for name, run in runs.items():
        assert run.code == 0, (name, run.stderr)
        assert RAW.findall(run.stdout + run.stderr) == [], name
    show = runs["show"].stdout
    # The message, visible (click itself drops CSI sequences when stdout is not a terminal).
    assert "boom\\r" in show and "FAKE\\x1b]0;PWNED\\x07" in show
    assert re.search(r"\n\s+at a\.B\(B\.java:1\)\\x1b\]0;PWNED", show)  # trace lines kept
    assert "\\x1b]0;PWNED" in runs["list"].stdout
