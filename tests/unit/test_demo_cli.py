"""`edamon demo`: options, the packaged config, headless runs, and the hand-over to the
dashboard (replaced by a recorder here; the dashboard itself is tested elsewhere)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

import edamon.cli.dashboard
from edamon.broker.base import Broker
from edamon.broker.memory import MemoryBroker
from edamon.cli.demo import command
from edamon.config import Settings
from edamon.decode.registry import MemorySchemaRegistry


def test_headless_runs_for_the_duration_and_prints_stats() -> None:
    result = CliRunner().invoke(
        command, ["--headless", "--duration", "1s", "--rate", "20", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "edamon demo on in-memory, seed 4 (Ctrl-C stops)"
    last = lines[-1]
    assert "flows=" in last and "events=" in last
    flows = int(last.split("flows=")[1].split()[0])
    assert flows > 5


def test_bad_duration_is_a_usage_error() -> None:
    result = CliRunner().invoke(command, ["--headless", "--duration", "soon"])
    assert result.exit_code == 2
    assert "--duration" in result.output


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Settings, Broker | None, int]] = []

    def __call__(
        self,
        settings: Settings,
        broker: Broker | None = None,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> int:
        assert broker is not None
        self.calls.append((settings, broker, len(background)))

        async def briefly() -> None:  # what the app does with `background`: run, then cancel
            tasks = [asyncio.create_task(job()) for job in background]
            await asyncio.sleep(0.3)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(briefly())
        return 0


def test_without_headless_it_opens_the_dashboard_on_the_demo_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(edamon.cli.dashboard, "run_dashboard", recorder)
    result = CliRunner().invoke(command, ["--seed", "9", "--prefix", "shop.", "--rate", "50"])
    assert result.exit_code == 0, result.output
    [(settings, broker, jobs)] = recorder.calls
    assert isinstance(broker, MemoryBroker) and jobs == 1
    assert (settings.demo.seed, settings.demo.prefix, settings.demo.rate) == (9, "shop.", 50.0)
    assert settings.topics.start_from == "earliest"  # the packaged demo config
    assert [s.name for s in settings.sagas.definitions] == ["order-fulfilment", "checkout"]
    topics = asyncio.run(_topic_names(broker))
    assert "shop.orders.OrderPlaced" in topics  # the background job ran the simulation


async def _topic_names(broker: MemoryBroker) -> set[str]:
    return {t.name for t in await broker.list_topics()}


def test_an_explicit_config_replaces_the_packaged_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[demo]\nprefix = "mine."\nrate = 2.0\n')
    recorder = Recorder()
    monkeypatch.setattr(edamon.cli.dashboard, "run_dashboard", recorder)
    result = CliRunner().invoke(command, ["--config", str(config)])
    assert result.exit_code == 0, result.output
    [(settings, _broker, _jobs)] = recorder.calls
    assert (settings.demo.prefix, settings.demo.rate) == ("mine.", 2.0)
    assert settings.sagas.definitions == []
    assert isinstance(_broker, MemoryBroker)


def test_format_avro_writes_avro_through_the_in_process_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[MemoryBroker, MemorySchemaRegistry]] = []

    def dashboard(
        settings: Settings,
        broker: Broker | None = None,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
        registry: object = None,
    ) -> int:
        assert isinstance(broker, MemoryBroker) and isinstance(registry, MemorySchemaRegistry)
        seen.append((broker, registry))
        Recorder()(settings, broker, background)
        return 0

    monkeypatch.setattr(edamon.cli.dashboard, "run_dashboard", dashboard)
    result = CliRunner().invoke(command, ["--seed", "9", "--format", "avro", "--rate", "50"])
    assert result.exit_code == 0, result.output
    [(broker, registry)] = seen
    subjects = asyncio.run(registry.subjects())
    assert "demo.orders.OrderPlaced-value" in subjects
    values = asyncio.run(_values(broker, "demo.orders.OrderPlaced"))
    wire = [v for v in values if v[:1] == b"\x00"]  # the Confluent wire format
    poison = [v for v in values if v[:1] in (b"{", b"\xac")]  # the demo's poison records
    assert wire and len(wire) + len(poison) == len(values)


async def _values(broker: MemoryBroker, topic: str) -> list[bytes]:
    from edamon.model.records import TP

    tailer = broker.tailer()
    await tailer.assign({TP(topic, p): 0 for p in range(3)})
    records = await tailer.fetch(1000, 100)
    await tailer.close()
    return [r.value for r in records if r.value is not None]


def test_format_avro_on_a_cluster_needs_the_registry() -> None:
    result = CliRunner().invoke(command, ["-b", "localhost:1", "--format", "avro"])
    assert result.exit_code == 2
    assert "--schema-registry" in result.output
