"""Real-broker test helpers behind the fixtures in tests/conftest.py.

The broker comes from ``scripts/kafka.py`` (loaded by path: ``scripts`` is not a package), or
from ``EDAMON_TEST_BOOTSTRAP`` (+ ``EDAMON_TEST_SASL_BOOTSTRAP``, ``EDAMON_TEST_SASL_USERNAME``,
``EDAMON_TEST_SASL_PASSWORD``, ``EDAMON_TEST_SASL_MECHANISM``, and for the TLS listeners
``EDAMON_TEST_SSL_BOOTSTRAP``, ``EDAMON_TEST_SASL_SSL_BOOTSTRAP``,
``EDAMON_TEST_EXPIRED_BOOTSTRAP``, ``EDAMON_TEST_SSL_CAFILE``, ``EDAMON_TEST_SSL_OTHER_CAFILE``)
for an already running one, e.g. ``python scripts/kafka.py up``, which prints those exports.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from edamon.broker.kafka import KafkaBroker
from edamon.collector.collector import Collector
from edamon.config import Settings

REPO = Path(__file__).resolve().parents[1]
HARNESS_PATH = REPO / "scripts" / "kafka.py"

Bytesish = bytes | str | None
Header = tuple[str, bytes]
Record = tuple[Bytesish, Bytesish] | tuple[Bytesish, Bytesish, Sequence[Header]]


@dataclass(frozen=True)
class KafkaSasl:
    """Connection details for the SASL_PLAINTEXT listener (SCRAM)."""

    bootstrap: str
    username: str
    password: str
    mechanism: str = "SCRAM-SHA-256"

    def client_kwargs(self, *, password: str | None = None) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password if password is None else password,
        }


@dataclass(frozen=True)
class KafkaTls:
    """The broker's TLS listeners (scripts/kafka.py ``tls=True``) and the CA files."""

    ssl_bootstrap: str
    sasl_ssl_bootstrap: str
    expired_bootstrap: str
    """An SSL listener whose certificate has expired."""
    cafile: str
    """The CA that signed the listeners' certificates (for IP 127.0.0.1 only)."""
    other_cafile: str
    """A CA that signed nothing the broker serves."""
    username: str = "edamon"
    password: str = "edamon-secret"
    mechanism: str = "SCRAM-SHA-256"


def tls_from_env() -> KafkaTls | None:
    names = (
        "EDAMON_TEST_SSL_BOOTSTRAP",
        "EDAMON_TEST_SASL_SSL_BOOTSTRAP",
        "EDAMON_TEST_EXPIRED_BOOTSTRAP",
        "EDAMON_TEST_SSL_CAFILE",
        "EDAMON_TEST_SSL_OTHER_CAFILE",
    )
    values = [os.environ.get(name) for name in names]
    if not all(values):
        return None
    return KafkaTls(*values)  # type: ignore[arg-type]


def load_harness() -> ModuleType:
    """Import scripts/kafka.py as module ``edamon_kafka_harness`` (once)."""
    name = "edamon_kafka_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HARNESS_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {HARNESS_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sasl_from_env() -> KafkaSasl | None:
    bootstrap = os.environ.get("EDAMON_TEST_SASL_BOOTSTRAP")
    if not bootstrap:
        return None
    return KafkaSasl(
        bootstrap=bootstrap,
        username=os.environ.get("EDAMON_TEST_SASL_USERNAME", "edamon"),
        password=os.environ.get("EDAMON_TEST_SASL_PASSWORD", "edamon-secret"),
        mechanism=os.environ.get("EDAMON_TEST_SASL_MECHANISM", "SCRAM-SHA-256"),
    )


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _to_bytes(value: Bytesish) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _tp(key: TopicPartition | tuple[str, int]) -> TopicPartition:
    return key if isinstance(key, TopicPartition) else TopicPartition(key[0], key[1])


class KafkaTestClients:
    """Per-test lazily started aiokafka clients; ``close()`` stops whatever was started."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None

    async def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        return self._admin

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        if producer is not None:
            await producer.stop()
        if admin is not None:
            await admin.close()

    async def make_topic(
        self,
        name: str | None = None,
        partitions: int = 1,
        *,
        config: Mapping[str, str] | None = None,
        ready_within: float = 15.0,
    ) -> str:
        """Create a topic (unique name when ``name`` is None) and wait until metadata has all
        its partitions with a leader. Returns the name."""
        topic = name or unique_name("topic")
        admin = await self.admin()
        response = await admin.create_topics(
            [NewTopic(topic, partitions, 1, topic_configs=dict(config or {}))]
        )
        for t_name, code, message in response.topic_errors:
            if code:
                raise RuntimeError(f"create_topics({t_name}) failed: error {code} {message}")

        async def until_ready() -> None:
            while True:
                described = await admin.describe_topics([topic])
                parts = described[0]["partitions"] if described else []
                if (
                    described
                    and described[0]["error_code"] == 0
                    and len(parts) == partitions
                    and all(p["leader"] >= 0 for p in parts)
                ):
                    return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until_ready(), ready_within)
        return topic

    async def produce(
        self,
        topic: str,
        records: Sequence[Record],
        *,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> list[Any]:
        """Send ``(key, value[, headers])`` records in order; returns their RecordMetadata."""
        producer = await self.producer()
        futures = []
        for record in records:
            key, value = record[0], record[1]
            headers = list(record[2]) if len(record) > 2 else []
            futures.append(
                await producer.send(
                    topic,
                    value=_to_bytes(value),
                    key=_to_bytes(key),
                    partition=partition,
                    timestamp_ms=timestamp_ms,
                    headers=headers,
                )
            )
        return list(await asyncio.gather(*futures))

    async def commit_offsets(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition | tuple[str, int], int],
        *,
        metadata: str = "",
    ) -> None:
        """Commit ``offsets`` for ``group_id`` (manual assign + commit), then leave."""
        tps = {_tp(k): v for k, v in offsets.items()}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group_id, enable_auto_commit=False
        )
        try:
            await consumer.start()
            consumer.assign(list(tps))
            await consumer.commit({tp: (off, metadata) for tp, off in tps.items()})
        finally:
            await consumer.stop()


MakeTopic = Callable[..., Awaitable[str]]
Produce = Callable[..., Awaitable[list[Any]]]
CommitOffsets = Callable[..., Awaitable[None]]
UniqueName = Callable[[str], str]


@asynccontextmanager
async def running_collector(settings: Settings) -> AsyncIterator[Collector]:
    """A `Collector` on a real `KafkaBroker` with `settings`, running in a task for the
    block; cancelled after it."""
    collector = Collector(KafkaBroker(settings.kafka), settings)
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
