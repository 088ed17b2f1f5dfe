"""`edamon check` as a user runs it (a subprocess) against the real broker."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edamon.broker.kafka import KafkaBroker
from edamon.config import KafkaSettings
from kafka_helpers import CommitOffsets, KafkaSasl, MakeTopic, UniqueName
from registry_helpers import register, subjects

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


async def edamon(
    *args: str, cwd: Path, env: dict[str, str] | None = None, limit: float = 60.0
) -> Run:
    """Run `python -m edamon ARGS` in `cwd` with a clean EDAMON_* environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EDAMON_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))
    environ["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    environ.update(env or {})
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edamon",
        *args,
        cwd=cwd,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"edamon {' '.join(args)} did not finish within {limit}s")
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


def section(stdout: str, title: str) -> list[str]:
    """The indented names listed under a `title` line of the check output."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(title))
    names = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        names.append(line.strip())
    return names


async def test_check_lists_what_it_sees(
    kafka_bootstrap: str,
    make_topic: MakeTopic,
    commit_offsets: CommitOffsets,
    unique_name: UniqueName,
    tmp_path: Path,
) -> None:
    prefix = unique_name("orders")
    dlt = await make_topic(f"{prefix}.DLT")
    dlq = await make_topic(f"dlq.{prefix}")
    events = await make_topic(f"{prefix}.OrderPlaced", partitions=2)
    hidden = await make_topic(f"{prefix}.hidden.DLT")
    group = unique_name("check-group")
    await commit_offsets(group, {(events, 0): 0})
    config = tmp_path / "edamon.toml"
    config.write_text(f'[topics]\nexclude = ["__.*", "{prefix}\\\\.hidden"]\n', encoding="utf-8")

    run = await edamon("check", "-b", kafka_bootstrap, cwd=tmp_path)  # ./edamon.toml is used
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert out.startswith(f"kafka at {kafka_bootstrap}: reachable")
    assert f"brokers             1: {kafka_bootstrap} (controller)" in out
    assert "cluster id" in out and "(unknown)" not in out
    dead_letters = section(out, "dead-letter topics")
    assert dlt in dead_letters and dlq in dead_letters
    assert f"{hidden}  (not tailed: topics.include/exclude)" in dead_letters
    assert events not in dead_letters
    tailed = section(out, "tailed topics")
    assert {dlt, dlq, events} <= set(tailed)
    assert hidden not in tailed
    assert not any(name.startswith("__") for name in tailed)

    client = KafkaBroker(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    try:
        await client.start()
        topics = [t for t in await client.list_topics() if not t.internal]
        groups = await client.list_groups()
    finally:
        await client.close()
    assert re.search(rf"^  topics +{len(topics)} \(\+\d+ internal\)$", out, re.M), out
    assert re.search(rf"^  consumer groups +{len(groups)}$", out, re.M), out
    assert group in groups


async def test_check_unreachable_is_one_line_and_exit_1(tmp_path: Path) -> None:
    run = await edamon("check", "-b", "127.0.0.1:1", "--timeout", "3", cwd=tmp_path)
    assert run.code == 1
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("edamon: cannot reach kafka at 127.0.0.1:1: ")
    assert run.seconds < 3 + 5


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"127.0.0.1:{server.getsockname()[1]}"


async def test_check_gives_up_after_the_timeout(silent_listener: str, tmp_path: Path) -> None:
    run = await edamon("check", "-b", silent_listener, "--timeout", "2", cwd=tmp_path)
    assert run.code == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"edamon: cannot reach kafka at {silent_listener}: ")
    assert "2s" in line
    assert 2 <= run.seconds < 2 + 5


async def test_check_timeout_defaults_to_connect_timeout(
    silent_listener: str, tmp_path: Path
) -> None:
    env = {"EDAMON_KAFKA__CONNECT_TIMEOUT_S": "1.5"}
    run = await edamon("check", "-b", silent_listener, cwd=tmp_path, env=env)
    assert run.code == 1
    assert "1.5s" in run.stderr
    assert 1.5 <= run.seconds < 1.5 + 5


async def test_check_with_sasl(kafka_sasl: KafkaSasl, tmp_path: Path) -> None:
    env = {
        "EDAMON_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "EDAMON_KAFKA__SASL_MECHANISM": kafka_sasl.mechanism,
        "EDAMON_KAFKA__USERNAME": kafka_sasl.username,
        "EDAMON_KAFKA__PASSWORD": kafka_sasl.password,
    }
    run = await edamon("check", "-b", kafka_sasl.bootstrap, cwd=tmp_path, env=env)
    assert run.code == 0, run.stderr
    assert f"SASL_PLAINTEXT ({kafka_sasl.mechanism} as {kafka_sasl.username})" in run.stdout
    assert kafka_sasl.password not in run.stdout + run.stderr


async def test_check_wrong_password(
    kafka_sasl: KafkaSasl, unique_name: UniqueName, tmp_path: Path
) -> None:
    wrong = unique_name("not-the-password")
    env = {
        "EDAMON_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "EDAMON_KAFKA__SASL_MECHANISM": kafka_sasl.mechanism,
        "EDAMON_KAFKA__USERNAME": kafka_sasl.username,
        "EDAMON_KAFKA__PASSWORD": wrong,
    }
    run = await edamon("check", "-b", kafka_sasl.bootstrap, cwd=tmp_path, env=env)
    assert run.code == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"edamon: authentication failed at {kafka_sasl.bootstrap}")
    assert wrong not in run.stdout + run.stderr
    # collect says the same at once, not after its connect timeout
    env["EDAMON_KAFKA__CONNECT_TIMEOUT_S"] = "30"
    started = time.monotonic()
    collect = await edamon(
        "collect", "-b", kafka_sasl.bootstrap, "--until-idle", cwd=tmp_path, env=env
    )
    assert collect.code == 1 and time.monotonic() - started < 20
    (line,) = collect.stderr.splitlines()
    assert line.startswith(f"edamon: authentication failed at {kafka_sasl.bootstrap}")
    assert wrong not in collect.stdout + collect.stderr


async def test_check_bad_config_exits_2_naming_key_and_file(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[kafka]\nbootstrap_servers = "x:1"\nretries = 3\n', encoding="utf-8")
    run = await edamon("check", "--config", str(config), "-b", kafka_bootstrap, cwd=tmp_path)
    assert run.code == 2
    (line,) = run.stderr.splitlines()
    assert "kafka.retries: unknown setting" in line
    assert str(config) in line
    assert run.stdout == ""


async def test_check_reports_the_schema_registry(
    kafka_bootstrap: str, schema_registry_url: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    register(schema_registry_url, unique_name("check") + "-value", {"type": "string"})
    listed = subjects(schema_registry_url)
    secret = "registry-Pa55-913"
    with_user = schema_registry_url.replace("http://", f"http://ops:{secret}-url@")
    env = {  # Apicurio ignores both (no auth configured); neither may show
        "EDAMON_SCHEMA_REGISTRY__URL": with_user,
        "EDAMON_SCHEMA_REGISTRY__TOKEN": secret,
    }
    run = await edamon("check", "-b", kafka_bootstrap, cwd=tmp_path, env=env)
    assert run.code == 0, run.stderr
    assert f"schema registry at {schema_registry_url}: reachable" in run.stdout
    found = re.search(r"^  subjects +(\d+)$", run.stdout, re.M)
    assert found is not None, run.stdout
    assert int(found.group(1)) >= len(listed) >= 1
    assert secret not in run.stdout + run.stderr


async def test_check_with_the_registry_down_says_so_and_exits_1(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {"EDAMON_SCHEMA_REGISTRY__URL": f"http://127.0.0.1:{port}"}
    run = await edamon("check", "-b", kafka_bootstrap, cwd=tmp_path, env=env)
    assert run.code == 1
    assert f"kafka at {kafka_bootstrap}: reachable" in run.stdout
    assert (
        f"schema registry at http://127.0.0.1:{port}: registry unreachable (ConnectError)"
        in run.stdout
    )
