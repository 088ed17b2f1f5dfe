"""`edamon demo`: options, the packaged config, headless runs, the hand-over to the dashboard
(replaced by a recorder here; the dashboard itself is tested elsewhere) and what its embedded
collector process runs beside the collector (the simulation, built by `edamon serve`'s
embedded mode: `embedded_broker`)."""

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
from edamon.cli.serve import embedded_broker
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
    """Stands in for `run_dashboard`: what the demo hands the dashboard."""

    def __init__(self) -> None:
        self.calls: list[tuple[Settings, str | None, str]] = []

    def __call__(
        self, settings: Settings, demo: str | None = None, demo_format: str = "json"
    ) -> int:
        self.calls.append((settings, demo, demo_format))
        return 0


def simulate_briefly(
    background: Sequence[Callable[[Callable[[str], None]], Awaitable[None]]],
) -> list[str]:
    """What the embedded service does with its background jobs: run, then cancel; returns
    the notices they told."""
    notices: list[str] = []

    async def briefly() -> None:
        tasks = [asyncio.create_task(job(notices.append)) for job in background]
        await asyncio.sleep(0.3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(briefly())
    return notices


def test_without_headless_it_opens_the_dashboard_on_the_demo_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(edamon.cli.dashboard, "run_dashboard", recorder)
    result = CliRunner().invoke(command, ["--seed", "9", "--prefix", "shop.", "--rate", "50"])
    assert result.exit_code == 0, result.output
    [(settings, demo, demo_format)] = recorder.calls
    assert (demo, demo_format) == ("memory", "json")  # the simulation runs in the child
    assert (settings.demo.seed, settings.demo.prefix, settings.demo.rate) == (9, "shop.", 50.0)
    assert settings.topics.start_from == "earliest"  # the packaged demo config
    assert [s.name for s in settings.sagas.definitions] == ["order-fulfilment", "checkout"]
    broker, background, registry = embedded_broker(settings, demo, demo_format)
    assert isinstance(broker, MemoryBroker) and len(background) == 1 and registry is None
    simulate_briefly(background)
    topics = asyncio.run(_topic_names(broker))
    assert "shop.orders.OrderPlaced" in topics  # the background job ran the simulation


async def _topic_names(broker: Broker) -> set[str]:
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
    [(settings, demo, _format)] = recorder.calls
    assert (settings.demo.prefix, settings.demo.rate) == ("mine.", 2.0)
    assert settings.sagas.definitions == []
    assert demo == "memory"


def test_format_avro_writes_avro_through_the_in_process_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(edamon.cli.dashboard, "run_dashboard", recorder)
    result = CliRunner().invoke(command, ["--seed", "9", "--format", "avro", "--rate", "50"])
    assert result.exit_code == 0, result.output
    [(settings, demo, demo_format)] = recorder.calls
    assert (demo, demo_format) == ("memory", "avro")
    broker, background, registry = embedded_broker(settings, demo, demo_format)
    assert isinstance(broker, MemoryBroker) and isinstance(registry, MemorySchemaRegistry)
    simulate_briefly(background)
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
