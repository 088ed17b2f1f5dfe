"""Read-only mode on the real broker: no write path creates a topic or writes a record."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from edamon.actions.ledger import Ledger, ReadOnlyError, RetryResult
from edamon.actions.redrive import Redriver
from edamon.broker.kafka import KafkaBroker
from edamon.config import Settings
from edamon.demo import DemoSystem
from edamon.model.records import RawRecord
from kafka_helpers import UniqueName

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


async def topics_named(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


async def edamon_demo(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    environ["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    environ.update(env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edamon",
        "demo",
        *args,
        cwd=cwd,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"edamon demo {' '.join(args)} did not stop: read-only was not refused")
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("how", ["flag", "config", "environment"])
async def test_the_demo_on_a_cluster_is_refused_when_read_only(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path, how: str
) -> None:
    prefix = unique_name("ro") + "."
    args = ["-b", kafka_bootstrap, "--prefix", prefix, "--headless", "--duration", "5s"]
    env: dict[str, str] = {}
    if how == "flag":
        args.append("--read-only")
    elif how == "config":
        config = tmp_path / "edamon.toml"
        # read_only is a top-level key: before the first table
        config.write_text("read_only = true\n" + (REPO / "config" / "demo.toml").read_text())
        args += ["--config", str(config)]
    else:
        env["EDAMON_READ_ONLY"] = "true"
    code, out, err = await edamon_demo(tmp_path, *args, env=env)
    assert (code, out) == (2, ""), out + err
    assert err.splitlines() == [
        "edamon: read-only (--read-only / read_only = true): the demo creates topics and "
        "writes records, nothing was written"
    ]
    assert await topics_named(kafka_bootstrap, prefix) == []


async def test_a_read_only_demo_system_writes_nothing(
    kafka_bootstrap: str, unique_name: UniqueName
) -> None:
    """Below the command line too: the demo system itself refuses before any write."""
    prefix = unique_name("ro") + "."
    settings = Settings(kafka={"bootstrap_servers": kafka_bootstrap}, demo={"prefix": prefix})
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        with pytest.raises(ReadOnlyError, match="nothing was written"):
            await DemoSystem(broker, settings.demo, read_only=True).run(1.0)
    finally:
        await broker.close()
    assert await topics_named(kafka_bootstrap, prefix) == []


async def test_read_only_creates_no_ledger_topic_and_sends_no_retry(
    kafka_bootstrap: str, unique_name: UniqueName
) -> None:
    ledger_topic = unique_name("ledger")
    settings = Settings(
        kafka={"bootstrap_servers": kafka_bootstrap},
        dlq={"ledger_topic": ledger_topic},
        read_only=True,
    )
    broker = KafkaBroker(settings.kafka)
    await broker.start()
    try:
        ledger = Ledger.from_settings(settings)
        assert await ledger.load(broker) == 0  # reading works
        with pytest.raises(ReadOnlyError):
            await ledger.ensure_topic()
        dead = RawRecord(f"{ledger_topic}.x.DLT", 0, 0, 0, b"k", b"v")
        with pytest.raises(ReadOnlyError):
            await ledger.record(ledger.new_entry(dead, RetryResult.SENT, target_topic="x"))
        redriver = Redriver(broker, settings, ledger)
        with pytest.raises(ReadOnlyError):
            await redriver.execute(redriver.plan([]), rate=10)
    finally:
        await broker.close()
    assert await topics_named(kafka_bootstrap, ledger_topic) == []
