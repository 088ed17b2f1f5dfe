"""Settings: defaults < TOML file < EDAMON_* environment (nested with __) < command-line flags.

Every field is documented; config/edamon.toml mirrors them. Load with `load_settings()`, which
turns every problem into one ConfigError naming the key and the source.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class ConfigError(Exception):
    """A configuration problem, with a message fit for the operator (no secrets, no traceback)."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return patterns


_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


_HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?")
"""A host name or an IPv4 address (IPv6 goes in brackets)."""
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?\]")
"""A bracketed IPv6 address, optionally with a zone (`[fe80::1%eth0]`)."""


def _check_bootstrap(value: str) -> str:
    """A comma-separated list of host:port: each host a name, an IPv4 address or a bracketed
    IPv6 address, each port a number from 1 to 65535. Anything else (no port, a URL, an empty
    entry, spaces in a name) is refused here, at load, rather than at connect time."""
    if not value.strip():
        raise ValueError("no broker given (expected host:port, e.g. localhost:9092)")
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"an empty entry in {value!r} (expected host:port,host:port)")
        if "://" in entry:
            raise ValueError(f"{entry!r} is a URL: give host:port without a scheme")
        host, sep, port = entry.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{entry!r} is not host:port (a port is required, e.g. :9092)")
        if not (_HOST_NAME.fullmatch(host) or _IPV6.fullmatch(host)):
            shown = "an IPv6 address goes in brackets, [::1]:9092" if ":" in host else "a name"
            raise ValueError(f"{entry!r}: {host!r} is not a host name or address ({shown})")
        if not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return value


def _check_locations(locations: list[str]) -> list[str]:
    """Each location is a dotted JSON path, `header:NAME` or `key:`."""
    for raw in locations:
        text = raw.strip()
        if text == "key:":
            continue
        if text.startswith("header:"):
            if not text[len("header:") :]:
                raise ValueError(f"{raw!r}: `header:` needs a header name")
        elif not any(part for part in text.split(".")):
            raise ValueError(f"{raw!r} is not a JSON path, header:NAME or key:")
    return locations


class KafkaSettings(Section):
    bootstrap_servers: str = "localhost:9092"
    """Comma-separated host:port list of brokers."""
    client_id: str = "edamon"
    """Client id edamon presents to the brokers."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """Required with SASL_PLAINTEXT and SASL_SSL."""
    username: str | None = None
    password: SecretStr | None = None
    """Never logged or shown; prefer EDAMON_KAFKA__PASSWORD to writing it in a file."""
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    request_timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of one request to the cluster (metadata, offsets, produce)."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """How long `edamon check` and start-up wait for the first connection."""

    _bootstrap = field_validator("bootstrap_servers")(_check_bootstrap)

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        """What the security protocol needs is there: SASL credentials, TLS files."""
        if self.security_protocol.endswith("SSL"):
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, name)
                if path is not None and not path.is_file():
                    raise ValueError(f"kafka.{name}: no such file: {path}")
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("sasl_mechanism", self.sasl_mechanism),
                    ("username", self.username),
                    ("password", self.password),
                )
                if value is None
            ]
            if missing:
                needed = ", ".join(f"kafka.{name}" for name in missing)
                raise ValueError(
                    f"{needed} required with security_protocol {self.security_protocol}"
                )
        return self


class SchemaRegistrySettings(Section):
    """A Confluent-compatible schema registry (Confluent, Redpanda, Karapace, Apicurio's ccompat
    API) for values and keys in the Confluent wire format."""

    url: str | None = None
    """Base URL of the registry's API; unset: Avro and Protobuf records stay undecodable
    (JSON Schema ones need no registry)."""
    username: str | None = None
    """Basic auth user name."""
    password: SecretStr | None = None
    """Basic auth password. Never logged or shown; prefer EDAMON_SCHEMA_REGISTRY__PASSWORD."""
    token: SecretStr | None = None
    """Bearer token; used instead of basic auth when both are set. Never logged or shown; prefer
    EDAMON_SCHEMA_REGISTRY__TOKEN."""
    ssl_cafile: Path | None = None
    """CA bundle (PEM) to verify the registry's certificate; system CAs when unset."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for mutual TLS."""
    ssl_keyfile: Path | None = None
    """Private key (PEM) of the client certificate."""
    ssl_verify: bool = True
    """Verify the registry's certificate (turn off only for a test registry)."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of one request to the registry."""
    retry_s: float = Field(default=5.0, gt=0)
    """While records wait for a schema the registry did not give (down, or not found), ask
    again this often."""
    hold_records: int = Field(default=1000, ge=0)
    """Records held per unknown schema id while it is fetched (the oldest go beyond it)."""
    apicurio_url: str | None = None
    """Base URL of Apicurio Registry's core v3 API (`https://host/apis/registry/v3`), for
    records written by Apicurio's serdes with the schema id in headers
    (`apicurio.value.globalId`, `apicurio.value.contentId`, and the key's); unset: derived from
    `url` when that is Apicurio's Confluent-compatible API (`.../apis/ccompat/v7`)."""

    @field_validator("url", "apicurio_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> SchemaRegistrySettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("schema_registry: username and password go together")
        if self.url is not None and self.url.startswith("https://"):
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, name)
                if path is not None and not path.is_file():
                    raise ValueError(f"schema_registry.{name}: no such file: {path}")
        return self


class TopicsSettings(Section):
    include: list[str] = Field(default_factory=lambda: [".*"])
    """Regexes (re.match, anchored at the start) of topics to tail."""
    exclude: list[str] = Field(default_factory=lambda: ["__.*", "_confluent.*", "_schemas"])
    """Regexes of topics never tailed (internal topics by default)."""
    dlq: list[str] = Field(
        default_factory=lambda: [
            r".*[.\-_](DLT|dlt|DLQ|dlq)$",
            r".*[.\-_](dead[.\-_]?letter|deadletter)s?$",
            r"(dlq|DLQ)[.\-_].*",
        ]
    )
    """Regexes of topics that are dead-letter queues."""
    refresh_s: float = Field(default=10.0, gt=0)
    """How often to look for new and deleted topics."""
    start_from: str = "15m"
    """Where tailing starts: latest, earliest, a duration ago (30s, 15m, 2h) or an ISO time."""

    _regexes = field_validator("include", "exclude", "dlq")(_check_patterns)

    @field_validator("start_from")
    @classmethod
    def _check_start(cls, value: str) -> str:
        from edamon.model.timespec import resolve_start

        resolve_start(value, 0.0)  # raises ValueError with a clear message
        return value


class EnvelopeSettings(Section):
    """Where each envelope field is found, tried in order: dotted JSON paths into the value,
    or `header:NAME`. CloudEvents (binary and structured) are recognised before these."""

    event_id: list[str] = Field(default_factory=lambda: ["eventId", "id", "header:event-id"])
    event_type: list[str] = Field(
        default_factory=lambda: ["eventType", "type", "header:event-type"]
    )
    correlation_id: list[str] = Field(
        default_factory=lambda: [
            "metadata.correlationId",
            "correlationId",
            "header:correlation-id",
            "header:correlation_id",
            "header:kafka_correlationId",
        ]
    )
    causation_id: list[str] = Field(
        default_factory=lambda: ["metadata.causationId", "causationId", "header:causation-id"]
    )
    aggregate_id: list[str] = Field(default_factory=lambda: ["aggregateId", "key:"])
    """`key:` means the record key."""
    occurred_at: list[str] = Field(default_factory=lambda: ["occurredAt", "timestamp", "time"])
    version: list[str] = Field(default_factory=lambda: ["version", "schemaVersion"])
    source: list[str] = Field(
        default_factory=lambda: ["metadata.source", "source", "header:source", "header:service"]
    )
    max_value_bytes: int = Field(default=1_048_576, gt=0)
    """Records with a larger value are counted as undecodable (too large)."""
    keep_value_bytes: int = Field(default=16_384, gt=0)
    """Values are kept (for the detail view) up to this size, truncated beyond it."""
    native: Literal["auto", "off", "required"] = "auto"
    """The optional accelerator (`pip install ./native`, needs a Rust toolchain) decodes the
    usual JSON record: `auto` uses it when installed, `off` never, `required` refuses to start
    without it. Results are the same either way (records it does not read exactly go the
    Python way)."""

    @field_validator("native")
    @classmethod
    def _check_native(cls, value: str) -> str:
        if value == "required" and importlib.util.find_spec("edamon_native") is None:
            raise ValueError(
                "'required' but the accelerator is not installed: `pip install ./native` "
                "(needs a Rust toolchain), or set it to 'auto'"
            )
        return value

    _locations = field_validator(
        "event_id",
        "event_type",
        "correlation_id",
        "causation_id",
        "aggregate_id",
        "occurred_at",
        "version",
        "source",
    )(_check_locations)


class SagaStep(Section):
    name: str
    """Shown as `RUNNING (step i: name)`."""
    success: list[str] = Field(min_length=1)
    """Event types that mean the step succeeded (events, or replies in an orchestration)."""
    failure: list[str] = Field(default_factory=list)
    """Event types that mean the step failed; compensation of earlier steps follows."""
    compensation: list[str] = Field(default_factory=list)
    """Event types that mean this step was compensated (undone)."""
    command: list[str] = Field(default_factory=list)
    """Command types that start this step (orchestrated sagas); optional."""


class SagaDefinition(Section):
    name: str = Field(min_length=1)
    start: list[str] = Field(min_length=1)
    """Event types that start an instance of this saga."""
    steps: list[SagaStep] = Field(min_length=1)
    timeout_s: float = Field(default=60.0, gt=0)
    """No progress for longer than this: STUCK."""


class SagasSettings(Section):
    definitions: list[SagaDefinition] = Field(default_factory=list)

    @field_validator("definitions")
    @classmethod
    def _unique_names(cls, definitions: list[SagaDefinition]) -> list[SagaDefinition]:
        names = [d.name for d in definitions]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"saga names must be unique: {', '.join(twice)} defined twice")
        return definitions


class LagSettings(Section):
    interval_s: float = Field(default=5.0, gt=0)
    """How often consumer-group offsets are sampled."""
    window: int = Field(default=10, ge=2)
    """Burrow window: distinct committed offsets kept per partition. WARN needs the lag to
    have grown (never fallen, never 0) over all of them, so it shows after `window` moves of
    a partition's committed offset at the soonest."""
    caught_up_samples: int = Field(default=10, ge=1)
    """End offsets kept per partition, one per sample, for Burrow's "caught up recently": a
    partition is not STOP while one of them is at or below its committed offset (a consumer
    that was caught up while no records came had nothing to commit). Burrow keeps as many
    broker offsets as its window holds commits."""
    allowed_lag: int = Field(default=0, ge=0)
    """Lag at or under this is OK (Burrow rule 1)."""
    table_points: int = Field(default=60, ge=2)
    """Points of (end offset, time) kept per partition to turn offsets into seconds."""
    trend_points: int = Field(default=60, ge=2)
    """Samples kept for trend sparklines."""
    groups_include: list[str] = Field(default_factory=lambda: [".*"])
    groups_exclude: list[str] = Field(default_factory=list)

    _regexes = field_validator("groups_include", "groups_exclude")(_check_patterns)


class RetentionSettings(Section):
    max_events: int = Field(default=200_000, gt=0)
    """Events retained in memory; the oldest flows are evicted whole beyond it."""
    max_age_s: float = Field(default=1800.0, gt=0)
    """Flows with no event for longer than this are evicted."""
    max_dead_letters: int = Field(default=20_000, gt=0)
    dead_letter_memory_mb: float = Field(default=64.0, ge=0)
    """Memory for the bodies (value, headers, stack trace, message beyond its first line) of the
    newest retained dead letters. Older ones keep what their rows show; their record is read
    again from Kafka when shown in detail."""
    record_memory_mb: float = Field(default=64.0, ge=0)
    """Memory for the key, value and headers of the newest retained events, with the objects
    holding them (about 400 bytes each). Older events keep their decoded fields and
    coordinates; their record is read again from Kafka when shown."""
    throughput_window_s: int = Field(default=300, ge=10)
    """Seconds of 1-second buckets kept for throughput history."""
    timeline: int = Field(default=500, gt=0)
    """Events kept for the live timeline."""


class OrderingSettings(Section):
    enabled: bool = True
    """Check partition-key ordering: keys that are not the aggregate id, aggregates split
    across partitions, events out of order within a partition."""
    tolerance_ms: int = Field(default=1000, ge=0)
    """Within one partition, an aggregate's event whose occurred-at is earlier than the
    previous one's by more than this is out of order (producers' clocks differ a little)."""
    max_aggregates: int = Field(default=100_000, ge=1)
    """Aggregates whose ordering state is kept (least recently seen dropped first, ~250 bytes
    each); findings about a dropped aggregate go unseen, and the numbers say how many."""


class UiSettings(Section):
    refresh_hz: float = Field(default=4.0, gt=0, le=30)
    """Screen redraws per second."""
    theme: str = "textual-dark"
    """Any Textual built-in theme (textual-dark, nord, gruvbox, dracula, ...)."""
    absolute_times: bool = False
    """Show absolute clock times instead of relative ones (toggle with `t`)."""


AlertKind = Literal[
    "group_status",
    "lag_seconds",
    "dead_letters_rate",
    "stuck_sagas",
    "undecodable_rate",
    "disconnected",
    "registry_unreachable",
]
"""The kinds of alert rule (README, "Alerts"): a group's status ERR; a group's lag in seconds
above `threshold`; dead letters per minute above `threshold`; stuck sagas above `threshold`;
undecodable records per minute above `threshold`; the collector not connected; the schema
registry not answering. Each must hold for `for_s` before it fires."""


class AlertRule(Section):
    """One alerting rule (`[[alerts.rules]]`)."""

    name: str = Field(min_length=1, max_length=100)
    """The alert's name in notifications and /v1/alerts; unique."""
    kind: AlertKind
    threshold: float = Field(default=0.0, ge=0)
    """lag_seconds: seconds; dead_letters_rate, undecodable_rate: records per minute;
    stuck_sagas: instances. The alert holds while the value is above it. Unused by the others."""
    for_s: float = Field(default=0.0, ge=0)
    """How long the condition must hold before the alert fires (pending until then)."""
    severity: Literal["critical", "warning", "info"] = "warning"
    groups: list[str] = Field(default_factory=lambda: [".*"])
    """group_status, lag_seconds: regexes (re.fullmatch) of the consumer groups watched; one
    alert per matching group."""
    topics: list[str] = Field(default_factory=lambda: [".*"])
    """dead_letters_rate: regexes (re.fullmatch) of the dead letters' source topics counted."""
    exceptions: list[str] = Field(default_factory=lambda: [".*"])
    """dead_letters_rate: regexes (re.fullmatch) of the exception (or cause) classes counted."""
    by: list[Literal["topic", "group", "exception"]] = Field(default_factory=list)
    """dead_letters_rate: one alert per source topic, consumer group and/or exception instead of
    one over all the dead letters counted."""
    sagas: list[str] = Field(default_factory=lambda: [".*"])
    """stuck_sagas: regexes (re.fullmatch) of the saga definitions counted."""
    receivers: list[str] = Field(default_factory=list)
    """Names of the receivers notified; empty: all of them."""

    _regexes = field_validator("groups", "topics", "exceptions", "sagas")(_check_patterns)


class AlertReceiver(Section):
    """Where notifications go (`[[alerts.receivers]]`)."""

    name: str = Field(min_length=1, max_length=100)
    """The receiver's name (in rules, logs and /v1/alerts); unique."""
    kind: Literal["webhook", "slack", "teams"]
    """webhook: a JSON body like Alertmanager's webhook; slack: a Slack incoming webhook
    (`{"text": ...}`); teams: a Microsoft Teams workflow webhook (an Adaptive Card)."""
    url: SecretStr | None = None
    """The webhook URL. A secret: never logged, shown masked. Prefer url_env."""
    url_env: str | None = None
    """Name of an environment variable holding the URL; when set, it wins over url."""
    timeout_s: float = Field(default=10.0, gt=0)
    """One delivery attempt gives up after this long (a receiver that hangs)."""
    max_attempts: int = Field(default=5, ge=1)
    """Attempts per notification, with exponential backoff between them; then it is counted
    as undeliverable (shown in /v1/alerts, the metrics and the dashboard's notices)."""

    @model_validator(mode="after")
    def _a_url(self) -> AlertReceiver:
        if self.url is None and self.url_env is None:
            raise ValueError(f"receiver {self.name!r}: give url or url_env")
        return self

    def target(self) -> str | None:
        """The URL: url_env's variable when set, else url; None when neither gives one."""
        if self.url_env and os.environ.get(self.url_env):
            return os.environ[self.url_env]
        return self.url.get_secret_value() if self.url is not None else None


class AlertsSettings(Section):
    notify_dead_letters: bool = True
    """Pop a notification when new dead letters arrive."""
    lag_seconds_warn: float = Field(default=60.0, gt=0)
    """Highlight groups whose lag in seconds exceeds this."""
    dlq_rate_warn: float = Field(default=1.0, ge=0)
    """Highlight DLQ arrivals above this many per second."""
    rules: list[AlertRule] = Field(default_factory=list)
    """Alerting rules, evaluated continuously by `edamon serve` and the dashboard's collector."""
    receivers: list[AlertReceiver] = Field(default_factory=list)
    """Where firing and resolved alerts are sent."""
    evaluate_interval_s: float = Field(default=5.0, gt=0)
    """How often the rules are evaluated."""
    repeat_interval_s: float = Field(default=3600.0, gt=0)
    """A firing alert is sent again this often, never more often."""
    send_resolved: bool = True
    """Send a notification when a firing alert clears."""
    retry_backoff_s: float = Field(default=1.0, gt=0)
    """First wait before a failed delivery is tried again; doubles each time."""
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    """Longest wait between two attempts (a Retry-After above it is cut to it)."""
    queue_size: int = Field(default=1000, ge=1)
    """Notifications waiting per receiver; beyond it they are counted as undeliverable."""

    @model_validator(mode="after")
    def _names(self) -> AlertsSettings:
        for what, names in (
            ("rule", [r.name for r in self.rules]),
            ("receiver", [r.name for r in self.receivers]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"alert {what} names must be unique: {', '.join(twice)}")
        known = {r.name for r in self.receivers}
        for rule in self.rules:
            unknown = sorted(set(rule.receivers) - known)
            if unknown:
                raise ValueError(f"rule {rule.name!r}: unknown receivers {', '.join(unknown)}")
        return self


class MetricsSettings(Section):
    """`GET /metrics` on `edamon serve` (Prometheus text format; same tokens as the API).
    Label values are bounded: a topic, group, event type, exception or reason gets its own
    series when it matches the patterns and fewer than the cap have been seen; the rest are
    counted together under `other`."""

    enabled: bool = True
    """Serve /metrics."""
    topics: list[str] = Field(default_factory=lambda: [".*"])
    """Regexes (re.fullmatch) of topics named in labels."""
    groups: list[str] = Field(default_factory=lambda: [".*"])
    """Regexes (re.fullmatch) of consumer groups named in labels."""
    event_types: list[str] = Field(default_factory=lambda: [".*"])
    """Regexes (re.fullmatch) of event types named in labels."""
    max_topics: int = Field(default=200, ge=1)
    """Topics named in labels at most (first seen first); the rest are `other`."""
    max_groups: int = Field(default=200, ge=1)
    """Consumer groups named in labels at most."""
    max_event_types: int = Field(default=200, ge=1)
    """Event types named in labels at most."""
    max_exceptions: int = Field(default=100, ge=1)
    """Exception classes named in dead-letter labels at most."""
    max_reasons: int = Field(default=50, ge=1)
    """Undecodable reasons named in labels at most."""
    partitions: bool = True
    """Also export lag per partition (group, topic, partition), not only per group."""
    max_partitions: int = Field(default=1000, ge=0)
    """Partitions exported per scrape at most (worst groups first); the rest only in their
    group's series."""

    _regexes = field_validator("topics", "groups", "event_types")(_check_patterns)


class DlqSettings(Section):
    routes: dict[str, str] = Field(default_factory=dict)
    """DLQ topic -> target topic, used when the DLQ headers name no original topic."""
    strip_headers: list[str] = Field(
        default_factory=lambda: ["traceparent", "tracestate", "baggage"]
    )
    """Headers removed from a redriven record (besides every DLQ/error header)."""
    ledger_topic: str = "edamon.retries"
    """Compacted topic recording every retry; created when missing."""
    ledger_secret: SecretStr | None = None
    """Key of the signature every ledger entry carries; entries without a valid one (written by
    anyone else) are ignored. Everyone who retries on one cluster must share it (prefer
    EDAMON_DLQ__LEDGER_SECRET). None: a random key kept in $XDG_STATE_HOME/edamon/ledger.key,
    valid for this user on this machine only."""
    allowed_targets: list[str] = Field(default_factory=list)
    """Regexes (whole name): a retry may only send to a matching topic; empty: any topic that is
    not internal (`__*`), the ledger or a DLQ (a DLQ only when dlq.routes names it)."""
    rate: float = Field(default=100.0, gt=0)
    """Bulk retry rate limit, records per second."""

    _targets = field_validator("allowed_targets")(_check_patterns)

    @field_validator("ledger_topic")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        if not _TOPIC_NAME.fullmatch(value) or value in (".", ".."):
            raise ValueError(f"{value!r} is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)")
        return value


class DemoSettings(Section):
    prefix: str = "demo."
    """Topic prefix of the simulated system on a real cluster."""
    rate: float = Field(default=5.0, gt=0)
    """New business flows per second."""
    seed: int | None = None
    """Seed of the simulation's randomness; None: a new one each run."""
    orchestrated_share: float = Field(default=0.4, ge=0, le=1)
    """Share of flows run by the orchestrator instead of choreography."""
    v1_share: float = Field(default=0.3, ge=0, le=1)
    """Share of OrderPlaced published in schema v1 (no currency)."""
    stock_failure_rate: float = Field(default=0.1, ge=0, le=1)
    payment_failure_rate: float = Field(default=0.15, ge=0, le=1)
    transient_error_rate: float = Field(default=0.05, ge=0, le=1)
    """Handler errors that are retried, then dead-lettered."""
    poison_rate: float = Field(default=0.01, ge=0, le=1)
    """Records published as invalid JSON."""
    duplicate_rate: float = Field(default=0.03, ge=0, le=1)
    """Deliveries injected twice (handlers must be idempotent)."""
    stuck_rate: float = Field(default=0.03, ge=0, le=1)
    """Saga steps that are never answered."""
    shipment_failure_rate: float = Field(default=0.1, ge=0, le=1)
    """Orchestrated shipments that fail (the orchestrator then refunds and releases stock)."""
    handler_latency_ms: float = Field(default=25.0, ge=0)
    """Mean time a service takes to handle one record (exponentially distributed), so flows
    take realistic time; 0 makes handlers instant."""
    slow_group: str = "shipping"
    """A consumer group that lags (grows, then drains); "" disables."""
    stopped_group: str = "analytics"
    """A consumer group that stops committing after a while; "" disables."""
    wrong_key_rate: float = Field(default=0.2, ge=0, le=1)
    """Share of the shipping service's events published keyed by their event id instead of
    their aggregate id: a bug that splits an order's replies across partitions."""
    grow_partitions_after_s: float = Field(default=60.0, ge=0)
    """Simulated seconds after which the replies topic gets two more partitions (keys then
    map to other partitions, as after a real resize); 0 disables."""


class ServiceSettings(Section):
    """`edamon serve`: the collector as an HTTP service (see README, "edamon as a service")."""

    listen: str = "127.0.0.1:8765"
    """host:port the service listens on (`--listen`). Loopback by default; any other address
    needs tls_certfile and tls_keyfile, or `edamon serve --insecure-bind`."""
    token_file: Path | None = None
    """File holding the access tokens (TOML: `viewer = "..."`, `operator = "..."`, mode 0600),
    created with fresh random tokens when missing. Default:
    $XDG_CONFIG_HOME/edamon/service-tokens.toml. Not read when the environment gives tokens."""
    viewer_token: SecretStr | None = None
    """Token of the `viewer` role (reads only); set it as EDAMON_SERVICE__VIEWER_TOKEN rather
    than in a file. When this or operator_token is set, the token file is not used."""
    operator_token: SecretStr | None = None
    """Token of the `operator` role (reads and retries dead letters); set it as
    EDAMON_SERVICE__OPERATOR_TOKEN."""
    tls_certfile: Path | None = None
    """TLS certificate (PEM) to serve HTTPS; with tls_keyfile."""
    tls_keyfile: Path | None = None
    """TLS private key (PEM) of tls_certfile."""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest request body accepted; larger ones get 413."""
    snapshot_max_age_s: float = Field(default=0.2, ge=0, le=5)
    """Requests within this many seconds share one snapshot of the collector's state (~20 ms to
    take under the demo's load), so any number of dashboards polling at 4 Hz cost at most one
    snapshot per 0.2 s. A page of flows (`/v1/chains`) is built from the flows as they are
    now, not from this snapshot."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        from edamon.model.api import parse_listen

        parse_listen(value)  # raises ValueError with a clear message
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> ServiceSettings:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("service.tls_certfile and service.tls_keyfile go together")
        return self


class WebSettings(Section):
    """`edamon web`: the dashboard in browsers, attached to one `edamon serve`."""

    listen: str = "127.0.0.1:8766"
    """host:port `edamon web` listens on (`--listen`). Loopback by default; any other address
    needs `edamon web --insecure-bind` (it has no TLS: put a TLS reverse proxy in front)."""
    service_url: str | None = None
    """The `edamon serve` each browser session's dashboard attaches to (`--attach`); default:
    http://<service.listen>."""
    max_sessions: int = Field(default=8, ge=1)
    """Browser sessions (each a dashboard process, ~75 MB) at once; more are refused."""

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        from edamon.model.api import parse_listen

        parse_listen(value)
        return value


class ShardSettings(Section):
    """`edamon serve --shard-group NAME`: several services share one cluster's load through
    edamon-owned consumer groups (README: "Scaling: sharded collectors")."""

    group: str | None = None
    """The shard group's name (`--shard-group`); None: this service reads every partition
    alone. Members join the groups `edamon-shard.<group>.source` and `.index`, never another."""
    index_topic: str | None = None
    """The repartition (index) topic. Default: `edamon-shard.<group>.index`."""
    index_partitions: int = Field(default=12, gt=0)
    """Partitions of the index topic when edamon creates it (replicated on up to 3 brokers, as
    edamon's other topics): at most this many members own flows."""
    index_bootstrap_servers: str | None = None
    """The cluster that holds the index topic (same security settings as [kafka]); None: the
    watched cluster. Keeps edamon's writes off a production cluster."""
    advertise_url: str | None = None
    """The URL the other members reach this one at. Default: where it listens."""
    peer_refresh_s: float = Field(default=1.0, gt=0)
    """How often each member asks the others for their share of the state."""
    peer_timeout_s: float = Field(default=3.0, gt=0)
    """A member that does not answer within this many seconds is left out of the answer,
    which then says it is partial."""
    commit_every_s: float = Field(default=1.0, gt=0)
    """How often, in seconds, stage 1 commits the source offsets of what the index holds (also
    before Kafka moves partitions away). A member that dies reads again, after the rebalance,
    what it indexed since its last commit."""

    @field_validator("index_bootstrap_servers")
    @classmethod
    def _check_index_bootstrap(cls, value: str | None) -> str | None:
        return value if value is None else _check_bootstrap(value)

    @field_validator("group")
    @classmethod
    def _check_group(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", value):
            raise ValueError("letters, digits, '.', '_' and '-' only (1 to 100)")
        return value

    def index_topic_name(self) -> str:
        return self.index_topic or f"edamon-shard.{self.group}.index"

    def group_ids(self) -> tuple[str, str]:
        """The source and index groups' ids: edamon's own, by their prefix."""
        return f"edamon-shard.{self.group}.source", f"edamon-shard.{self.group}.index"


class Settings(BaseSettings):
    """All of edamon's settings."""

    model_config = SettingsConfigDict(
        env_prefix="EDAMON_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    read_only: bool = False
    """Disable every action that writes to Kafka (DLQ retry, the retry ledger, the demo on a
    cluster), in the UI and the CLI."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Level of the log written to $EDAMON_LOG_FILE (when set). DEBUG adds the client
    library's per-request and per-partition lines: tens of MB a minute on a large cluster."""
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicsSettings = Field(default_factory=TopicsSettings)
    envelope: EnvelopeSettings = Field(default_factory=EnvelopeSettings)
    schema_registry: SchemaRegistrySettings = Field(default_factory=SchemaRegistrySettings)
    sagas: SagasSettings = Field(default_factory=SagasSettings)
    lag: LagSettings = Field(default_factory=LagSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    ordering: OrderingSettings = Field(default_factory=OrderingSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    dlq: DlqSettings = Field(default_factory=DlqSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    shard: ShardSettings = Field(default_factory=ShardSettings)


def default_config_path() -> Path | None:
    """./edamon.toml, else $XDG_CONFIG_HOME/edamon/edamon.toml (~/.config if unset)."""
    local = Path("edamon.toml")
    if local.is_file():
        return local
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidate = xdg / "edamon" / "edamon.toml"
    return candidate if candidate.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None


def _describe(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = "unknown setting" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        lines.append(f"{key}: {message}")
    return f"invalid configuration ({origin}): " + "; ".join(lines)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    use_default_path: bool = True,
) -> Settings:
    """Load settings from the TOML file (explicit, or the default locations), the environment
    and `overrides` (command-line flags, nested dicts), later overriding earlier.

    Raises ConfigError with one clear message naming the key and the file.
    """
    path = config if config is not None else (default_config_path() if use_default_path else None)
    file_data: dict[str, Any] = _read_toml(path) if path is not None else {}
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    origin = f"file {path}" if path is not None else "defaults"
    origin += ", EDAMON_* environment or command-line flags"

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml_source = InitSettingsSource(settings_cls, init_kwargs=file_data)
            return (init_settings, env_settings, toml_source)

    try:
        loaded = _Loaded(**flags)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    except ValueError as exc:  # pydantic-settings: env values that are not valid JSON
        raise ConfigError(f"invalid configuration ({origin}): {exc}") from None
    return Settings.model_validate(loaded.model_dump())


def merge_overrides(*parts: dict[str, Any]) -> dict[str, Any]:
    """Merge nested override dicts (e.g. flags of several option groups)."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged = _deep_merge(merged, part)
    return merged
