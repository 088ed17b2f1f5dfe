"""`scripts/kafka.py up/status/down` as two checkouts use them: each broker belongs to the
checkout that started it (its `.kafka-run/run.json`), so one checkout's `down` never stops the
other's broker and its `up` never reuses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_helpers import REPO

pytestmark = pytest.mark.kafka


def checkout(root: Path) -> Path:
    """A copy of the harness as another checkout holds it (scripts/kafka.py and its pom)."""
    (root / "scripts").mkdir(parents=True)
    for name in ("kafka.py", "kafka-pom.xml"):
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
