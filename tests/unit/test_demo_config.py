"""config/demo.toml: it loads, its packaged copy is identical, its sagas are the demo's own and
its DLQ patterns match exactly the demo's dead-letter topics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edamon.broker.memory import MemoryBroker
from edamon.config import Settings, load_settings
from edamon.demo import DemoSystem, demo_sagas, packaged_config
from edamon.demo.events import COMMANDS, CONTEXTS, REPLIES

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "demo.toml"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(CONFIG, use_default_path=False)


def test_packaged_copy_is_identical() -> None:
    assert packaged_config().read_bytes() == CONFIG.read_bytes()


def test_it_loads_with_what_the_demo_needs(settings: Settings) -> None:
    assert settings.topics.start_from == "earliest"
    assert settings.demo.prefix == "demo."
    assert settings.demo.slow_group == "shipping"
    assert settings.demo.stopped_group == "analytics"


@pytest.mark.parametrize("prefix", ["demo.", "t-123."])
def test_sagas_are_the_demos(settings: Settings, prefix: str) -> None:
    assert settings.sagas.definitions == demo_sagas(prefix)


def test_saga_event_types_are_ones_the_demo_publishes(settings: Settings) -> None:
    published = set(CONTEXTS) | set(COMMANDS) | set(REPLIES)
    for saga in settings.sagas.definitions:
        names = set(saga.start)
        for step in saga.steps:
            names |= {*step.success, *step.failure, *step.compensation, *step.command}
        assert names <= published, names - published


@pytest.mark.parametrize("prefix", ["demo.", "team-x_"])
def test_dlq_patterns_match_the_demo_dead_letter_topics_only(
    settings: Settings, prefix: str
) -> None:
    system = DemoSystem(MemoryBroker(), settings.demo.model_copy(update={"prefix": prefix}))
    patterns = [re.compile(p) for p in settings.topics.dlq]
    dlqs = {t for t in system.topic_plan() if any(p.match(t) for p in patterns)}
    assert dlqs == {
        f"{prefix}inventory.StockReserved.DLT",
        f"{prefix}commands.ChargePayment.DLT",
        f"{prefix}commands.RefundPayment.DLT",
        f"{prefix}shipping.dlq",
    }
