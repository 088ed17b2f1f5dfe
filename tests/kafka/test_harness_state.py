"""`scripts/kafka.py up/status/down` as two checkouts use them: each broker belongs to the
checkout that started it (its `.kafka-run/run.json`), so one checkout's `down` never stops the
other's broker and its `up` never reuses it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from outage_helpers import own_broker, take_down

from kafka_helpers import REPO, load_harness

pytestmark = pytest.mark.kafka

__all__ = ["own_broker"]  # the fixture, imported for the test below


def checkout(root: Path) -> Path:
    """A copy of the harness as another checkout holds it (scripts/kafka.py, what it imports,
    its pom)."""
    (root / "scripts").mkdir(parents=True)
    for name in ("kafka.py", "harness_common.py", "kafka-pom.xml"):
        shutil.copy(REPO / "scripts" / name, root / "scripts" / name)
    return root


def harness(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDAMON_KAFKA_RUN_DIR"}
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "kafka.py"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pid_alive(pid: int) -> bool:
    """A running Kafka JVM (a zombie waiting for its reaper has no command line)."""
    try:
        return b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.fixture
def two_checkouts(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    a, b = checkout(tmp_path / "a"), checkout(tmp_path / "b")
    try:
        yield a, b
    finally:
        for root in (a, b):  # never leave a broker behind, whatever failed
            harness(root, "down")


def test_each_checkout_owns_the_broker_it_started(two_checkouts: tuple[Path, Path]) -> None:
    a, b = two_checkouts
    up_a = harness(a, "up", "--no-sasl", "--no-tls")
    assert up_a.returncode == 0, up_a.stderr
    state_a = json.loads((a / ".kafka-run" / "run.json").read_text())
    assert pid_alive(state_a["pid"])

    status_b = harness(b, "status")
    assert status_b.returncode == 1, status_b.stdout  # b started nothing
    down_b = harness(b, "down")
    assert down_b.returncode == 0 and "not running" in down_b.stdout
    assert pid_alive(state_a["pid"]), "b's down stopped a's broker"
    assert harness(a, "status").returncode == 0

    up_b = harness(b, "up", "--no-sasl", "--no-tls")
    assert up_b.returncode == 0, up_b.stderr
    state_b = json.loads((b / ".kafka-run" / "run.json").read_text())
    assert state_b["pid"] != state_a["pid"], "b's up reused a's broker"
    assert state_b["bootstrap"] != state_a["bootstrap"]

    assert harness(a, "down").returncode == 0
    assert not pid_alive(state_a["pid"])
    assert pid_alive(state_b["pid"]), "a's down stopped b's broker"
    assert harness(b, "status").returncode == 0


async def test_a_broker_down_for_a_restart_keeps_its_data(own_broker: Any) -> None:
    """Another process starting a broker cleans up the data dirs of dead brokers; one whose
    JVM is down only for a restart() of its live owner is not dead (it used to be removed,
    and the restart then failed in parallel test runs)."""
    data_dir = own_broker.data_dir
    jvm = own_broker.pid
    back = await take_down(own_broker, 4.0)
    deadline = time.monotonic() + 20
    while pid_alive(jvm):  # the JVM gone, as a dead broker's would be
        assert time.monotonic() < deadline, "the broker's JVM did not exit"
        await asyncio.sleep(0.05)
    assert not back.done(), "the broker came back before the check"
    load_harness().cleanup_stale_data_dirs()  # what any other broker's start() runs first
    assert data_dir.is_dir(), "the data dir of a broker being restarted was removed"
    await back
    assert load_harness().is_ready(own_broker.port)
