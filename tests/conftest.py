"""Shared fixtures: a real Kafka broker and a real schema registry per test session (never
skipped) and helpers.

``kafka_bootstrap`` starts a KRaft broker from scripts/kafka.py on first use (or uses
``EDAMON_TEST_BOOTSTRAP``); ``schema_registry_url`` starts Apicurio Registry from
scripts/registry.py on first use (or uses ``EDAMON_TEST_SCHEMA_REGISTRY``). If either cannot
start, the tests that need it FAIL. Helpers live in tests/kafka_helpers.py.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import kafka_helpers
from kafka_helpers import (
    CommitOffsets,
    KafkaSasl,
    KafkaTestClients,
    KafkaTls,
    MakeTopic,
    Produce,
    UniqueName,
    load_harness,
    sasl_from_env,
    tls_from_env,
)

Session = tuple[str, KafkaSasl | None, KafkaTls | None]


@pytest.fixture(scope="session", autouse=True)
def _ledger_secret_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The retry ledger's generated secret ($XDG_STATE_HOME/edamon/ledger.key) goes to a
    directory of this test session (shared with the processes the tests start), never to the
    user's own."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def _kafka_session() -> Iterator[Session]:
    external = os.environ.get("EDAMON_TEST_BOOTSTRAP")
    if external:
        yield external, sasl_from_env(), tls_from_env()
        return
    harness = load_harness()
    broker = harness.KafkaBroker(tls=True)
    error: str | None = None
    try:
        broker.start()
    except Exception as exc:  # noqa: BLE001 - any failure must fail the tests, with the reason
        error = str(exc)
    except BaseException:  # Ctrl-C while starting: no JVM left behind
        broker.stop()
        raise
    if error is not None:
        broker.stop()
        pytest.fail(f"could not start the Kafka test broker: {error}", pytrace=False)
    try:
        sasl = KafkaSasl(broker.sasl_bootstrap, broker.sasl_user, broker.sasl_password)
        files = broker.tls_files
        tls = KafkaTls(
            broker.ssl_bootstrap,
            broker.sasl_ssl_bootstrap,
            broker.expired_bootstrap,
            str(files.ca),
            str(files.other_ca),
            broker.sasl_user,
            broker.sasl_password,
        )
        yield broker.bootstrap, sasl, tls
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def schema_registry_url() -> Iterator[str]:
    """Base URL of a real Confluent-compatible registry API (Apicurio's ccompat v7), empty
    (in-memory storage) when the harness starts it."""
    external = os.environ.get("EDAMON_TEST_SCHEMA_REGISTRY")
    if external:
        yield external.rstrip("/")
        return
    name = "edamon_registry_harness"
    harness = sys.modules.get(name)
    if harness is None:
        path = Path(__file__).resolve().parents[1] / "scripts" / "registry.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        harness = importlib.util.module_from_spec(spec)
        sys.modules[name] = harness
        spec.loader.exec_module(harness)
    registry = harness.SchemaRegistry()
    error: str | None = None
    try:
        registry.start()
    except Exception as exc:  # noqa: BLE001 - any failure must fail the tests, with the reason
        error = str(exc)
    except BaseException:  # Ctrl-C while starting: no JVM left behind
        registry.stop()
        raise
    if error is not None:
        registry.stop()
        pytest.fail(f"could not start the schema registry: {error}", pytrace=False)
    try:
        yield registry.url
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(_kafka_session: Session) -> str:
    """``host:port`` of a real Kafka broker (PLAINTEXT)."""
    return _kafka_session[0]


@pytest.fixture(scope="session")
def kafka_sasl(_kafka_session: Session) -> KafkaSasl:
    """The broker's SASL_PLAINTEXT/SCRAM listener and credentials."""
    sasl = _kafka_session[1]
    if sasl is None:
        pytest.fail(
            "EDAMON_TEST_BOOTSTRAP is set but EDAMON_TEST_SASL_BOOTSTRAP is not: set it (and "
            "EDAMON_TEST_SASL_USERNAME/PASSWORD/MECHANISM) to the broker's SCRAM listener, or "
            "unset EDAMON_TEST_BOOTSTRAP to let the harness start a broker",
            pytrace=False,
        )
    return sasl


@pytest.fixture(scope="session")
def kafka_tls(_kafka_session: Session) -> KafkaTls:
    """The broker's SSL and SASL_SSL listeners, one with an expired certificate, and CAs."""
    tls = _kafka_session[2]
    if tls is None:
        pytest.fail(
            "EDAMON_TEST_BOOTSTRAP is set but not the TLS listeners: set EDAMON_TEST_SSL_*"
            " as `python scripts/kafka.py up` prints them, or unset EDAMON_TEST_BOOTSTRAP",
            pytrace=False,
        )
    return tls


@pytest.fixture
async def _kafka_clients(kafka_bootstrap: str) -> AsyncIterator[KafkaTestClients]:
    clients = KafkaTestClients(kafka_bootstrap)
    try:
        yield clients
    finally:
        await clients.close()


@pytest.fixture
def make_topic(_kafka_clients: KafkaTestClients) -> MakeTopic:
    """``await make_topic(name=None, partitions=1, config=None) -> name``."""
    return _kafka_clients.make_topic


@pytest.fixture
def produce(_kafka_clients: KafkaTestClients) -> Produce:
    """``await produce(topic, [(key, value, [(hkey, hval), ...]), ...], partition=None,
    timestamp_ms=None) -> [RecordMetadata, ...]``."""
    return _kafka_clients.produce


@pytest.fixture
def commit_offsets(_kafka_clients: KafkaTestClients) -> CommitOffsets:
    """``await commit_offsets(group_id, {TopicPartition | (topic, partition): offset})``."""
    return _kafka_clients.commit_offsets


@pytest.fixture
def unique_name() -> UniqueName:
    """``unique_name(prefix) -> 'prefix-<12 hex>'``."""
    return kafka_helpers.unique_name


BROKER_FIXTURES = frozenset({"_kafka_session", "schema_registry_url"})
"""Session fixtures that start a JVM. Under pytest-xdist (`-n 2 --dist loadgroup`) every test
that needs one, and every test of tests/kafka and tests/ops (some start brokers of their own),
runs on the same worker, so the session starts one broker and one registry (and the outage
tests, which stop and start that broker, never pull it from under another worker's test)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        on_broker = item.path.parent.name in ("kafka", "ops") or item.get_closest_marker("kafka")
        if on_broker or BROKER_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.xdist_group("broker"))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Collect garbage once the tests are done, before the terminal summary.

    aiokafka leaves a task whose exception nobody retrieves when a commit times out during an
    outage (`GroupCoordinator._do_commit_offsets`, after `test_outages.py`'s demo pause). When
    it is collected, asyncio logs its traceback, and CPython 3.11 formats a traceback with
    `ast.parse` (the `^^^` marks). If that collection happens inside another `ast.parse`
    (pytest rewriting hypothesis's modules for its end-of-run summary), the nested parse
    upsets the AST constructor's shared recursion counter: `SystemError: AST constructor
    recursion depth mismatch`, and pytest exits 1 after every test passed. Collected here,
    the task is logged outside any parse. (CPython 3.12 keeps the counter per call.)"""
    gc.collect()
