"""`edamon check`: connect to the configured cluster and print what edamon would see."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from edamon.cli import EXIT_FAILED, config_options, fail, settings_from
from edamon.config import Settings

LIST_LIMIT = 40
"""Tailed topics listed by name without --all."""


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `edamon check` found on the cluster."""

    bootstrap: str
    security: str
    cluster_id: str | None
    brokers: tuple[str, ...]
    controller: str | None
    topics: int
    internal_topics: int
    groups: int
    tailed: tuple[str, ...]
    dead_letter: tuple[tuple[str, bool], ...]
    """(topic, tailed) for every topic matched by topics.dlq."""
    read_only: bool
    registry: str | None = None
    """The schema registry's URL (None: none configured)."""
    registry_subjects: int | None = None
    """Its subject count; None when it did not answer (`registry_error` says why)."""
    registry_error: str | None = None


def _security(settings: Settings) -> str:
    kafka = settings.kafka
    if not kafka.security_protocol.startswith("SASL_"):
        return kafka.security_protocol
    user = f" as {kafka.username}" if kafka.username else ""
    return f"{kafka.security_protocol} ({kafka.sasl_mechanism}{user})"


async def inspect_cluster(settings: Settings) -> CheckReport:
    """Connect with `settings.kafka` and collect a CheckReport (raises BrokerError)."""
    from edamon.broker.kafka import KafkaBroker
    from edamon.model.topics import TopicRules

    broker = KafkaBroker(settings.kafka)
    try:
        await broker.start()
        info = await broker.cluster_info()
        topics = await broker.list_topics()
        groups = await broker.list_groups()
    finally:
        await broker.close()
    rules = TopicRules(
        settings.topics,
        ledger_topic=settings.dlq.ledger_topic,
        dlq_routes=settings.dlq.routes,
    )
    names = [t.name for t in topics if not t.internal]
    tailed = tuple(rules.select(names))
    tailed_set = set(tailed)
    registry, subjects, error = await inspect_registry(settings)
    return CheckReport(
        bootstrap=settings.kafka.bootstrap_servers,
        security=_security(settings),
        cluster_id=info.cluster_id,
        brokers=info.brokers,
        controller=info.controller,
        topics=len(names),
        internal_topics=len(topics) - len(names),
        groups=len(groups),
        tailed=tailed,
        dead_letter=tuple((n, n in tailed_set) for n in sorted(names) if rules.is_dlq(n)),
        read_only=settings.read_only,
        registry=registry,
        registry_subjects=subjects,
        registry_error=error,
    )


async def inspect_registry(settings: Settings) -> tuple[str | None, int | None, str | None]:
    """(URL without credentials, subject count, error) of the configured schema registry."""
    from edamon.decode.registry import HttpSchemaRegistry, RegistryError

    if settings.schema_registry.url is None:
        return None, None, None
    try:
        registry = HttpSchemaRegistry(settings.schema_registry)
    except ValueError as exc:
        return settings.schema_registry.url, None, str(exc)
    async with registry:
        try:
            return registry.name, len(await registry.subjects()), None
        except RegistryError as exc:
            return registry.name, None, str(exc)


def render(report: CheckReport, *, show_all: bool = False) -> str:
    """The human-readable check output."""
    brokers = ", ".join(
        f"{b} (controller)" if b == report.controller else b for b in report.brokers
    )

    def row(label: str, value: object) -> str:
        return f"  {label:<20}{value}"

    lines = [
        f"kafka at {report.bootstrap}: reachable",
        row("security", report.security),
        row("cluster id", report.cluster_id or "(unknown)"),
        row("brokers", f"{len(report.brokers)}: {brokers}"),
        row("topics", f"{report.topics} (+{report.internal_topics} internal)"),
        row("consumer groups", report.groups),
        row("read-only", "yes" if report.read_only else "no"),
        row("tailed topics", f"{len(report.tailed)} (matched by topics.include/exclude)"),
    ]
    shown = report.tailed if show_all else report.tailed[:LIST_LIMIT]
    lines.extend(f"    {name}" for name in shown)
    if len(shown) < len(report.tailed):
        lines.append(f"    ... and {len(report.tailed) - len(shown)} more (--all lists them)")
    lines.append(row("dead-letter topics", f"{len(report.dead_letter)} (matched by topics.dlq)"))
    lines.extend(
        f"    {name}" if tailed else f"    {name}  (not tailed: topics.include/exclude)"
        for name, tailed in report.dead_letter
    )
    if report.registry is None:
        lines.append(row("schema registry", "none (Avro and Protobuf stay undecodable)"))
    elif report.registry_error is not None:
        lines.append(f"schema registry at {report.registry}: {report.registry_error}")
    else:
        lines.append(f"schema registry at {report.registry}: reachable")
        lines.append(row("subjects", report.registry_subjects))
    return "\n".join(lines)


@contextmanager
def _quiet_kafka_logs() -> Iterator[None]:
    """aiokafka logs each failed connection at ERROR; with no logging configured Python would
    print those to stderr. The check reports failures itself, in one line."""
    logger = logging.getLogger("aiokafka")
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@click.command(name="check")
@config_options
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Give up after this long (default: kafka.connect_timeout_s).",
)
@click.option("--all", "show_all", is_flag=True, help="List every tailed topic.")
def command(
    config_path: Path | None,
    bootstrap: str | None,
    read_only: bool | None,
    timeout: float | None,
    show_all: bool,
) -> None:
    """Connect to the cluster and show what edamon sees: cluster id, brokers, topics,
    consumer groups, tailed topics and dead-letter topics.

    With a schema registry configured ([schema_registry] url), whether it answers and how
    many subjects it has.

    Exit status: 0 reachable, 1 unreachable or refused (Kafka or the schema registry), 2 bad
    configuration.
    """
    from edamon.broker.base import BrokerError, BrokerUnavailable

    settings = settings_from(config_path, bootstrap, read_only)
    limit = timeout if timeout is not None else settings.kafka.connect_timeout_s
    kafka = settings.kafka.model_copy(
        update={
            "connect_timeout_s": limit,
            "request_timeout_s": min(limit, settings.kafka.request_timeout_s),
        }
    )
    settings = settings.model_copy(update={"kafka": kafka})

    async def run() -> CheckReport:
        try:
            return await asyncio.wait_for(inspect_cluster(settings), limit)
        except TimeoutError:
            raise BrokerUnavailable(
                f"cannot reach kafka at {kafka.bootstrap_servers}: "
                f"no complete answer within {limit:g}s"
            ) from None

    with _quiet_kafka_logs():
        try:
            report = asyncio.run(run())
        except BrokerError as exc:
            fail(str(exc))
            return
        except KeyboardInterrupt:
            fail("interrupted", 130)
            return
    click.echo(render(report, show_all=show_all))
    if report.registry_error is not None:
        sys.exit(EXIT_FAILED)
