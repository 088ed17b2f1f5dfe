"""Settings: the example config is complete and loads to the defaults; precedence; errors."""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from edamon.config import ConfigError, SagaDefinition, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "edamon.toml"
SECRET = "s3cr3t-Pa55word-913"

_HEADER = re.compile(r"^\[\[?\s*([A-Za-z0-9_.]+)\s*\]\]?$")
_KEY = re.compile(r'^([A-Za-z0-9_]+|"[^"]+")\s*=\s')
_COMMENTED = re.compile(r"^#\s?(.*)$")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No EDAMON_* variables, no ./edamon.toml and no XDG config leak into these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("EDAMON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(tmp_path: Path, text: str, name: str = "edamon.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the example file ------------------------------------------------------------------------


def _setting_line(text: str) -> bool:
    return bool(_HEADER.match(text) or _KEY.match(text))


def documented_lines() -> Iterator[tuple[int, str, bool]]:
    """(index, text, commented) of the example's lines, with commented-out settings and table
    headers uncommented; prose comments are yielded with commented=True and their # kept."""
    for index, raw in enumerate(EXAMPLE.read_text(encoding="utf-8").splitlines()):
        line = raw.rstrip()
        match = _COMMENTED.match(line)
        if match and _setting_line(match.group(1)):
            yield index, match.group(1), True
        else:
            yield index, line, False


def documented_view() -> dict[str, Any]:
    """The example with every commented-out setting enabled, parsed as TOML."""
    return tomllib.loads("\n".join(text for _, text, _ in documented_lines()))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds directly or as list items, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None


def field_paths(model: type[BaseModel], prefix: str = "", *, leaves: bool = False) -> list[str]:
    """Every setting's dotted path, recursing into nested models and lists of models
    (only the settings that hold values, not sections, with `leaves`)."""
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        if nested is None or not leaves:
            paths.append(path)
        if nested is not None:
            paths.extend(field_paths(nested, f"{path}.", leaves=leaves))
    return paths


def _lookup(data: Any, path: list[str]) -> bool:
    """Whether `path` exists in `data`, descending into every item of arrays of tables."""
    if not path:
        return True
    if isinstance(data, list):
        return bool(data) and all(_lookup(item, path) for item in data)
    return isinstance(data, dict) and path[0] in data and _lookup(data[path[0]], path[1:])


def test_field_walk_sees_nested_models() -> None:
    paths = field_paths(Settings)
    assert "kafka.password" in paths
    assert "sagas.definitions.steps.compensation" in paths
    assert "dlq.routes" in paths
    assert len(paths) > 80
    leaves = field_paths(Settings, leaves=True)
    assert "kafka" not in leaves and "sagas.definitions" not in leaves
    assert "sagas.definitions.steps.name" in leaves


def test_example_loads_to_the_defaults() -> None:
    loaded = load_settings(EXAMPLE, use_default_path=False)
    assert loaded.model_dump() == Settings().model_dump()
    assert loaded.model_dump() == load_settings(use_default_path=False).model_dump()


def test_example_documents_every_setting() -> None:
    view = documented_view()
    missing = [p for p in field_paths(Settings) if not _lookup(view, p.split("."))]
    assert missing == [], f"config/edamon.toml does not document: {missing}"


def test_example_has_no_unknown_settings_and_its_examples_are_valid() -> None:
    settings = Settings.model_validate(documented_view())
    assert settings.kafka.password is not None
    assert settings.kafka.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    assert settings.dlq.routes
    saga = settings.sagas.definitions[0]
    assert isinstance(saga, SagaDefinition)
    assert len(saga.steps) >= 2 and all(step.success for step in saga.steps)


def test_every_setting_has_a_comment_above_it() -> None:
    wanted = set(field_paths(Settings, leaves=True))
    lines = list(documented_lines())
    section = ""
    seen: set[str] = set()
    undocumented = []
    for position, (_, text, _) in enumerate(lines):
        header = _HEADER.match(text)
        key = _KEY.match(text)
        if header:
            section = header.group(1)
            path = section
        elif key:
            path = f"{section}.{key.group(1)}" if section else key.group(1)
        else:
            continue
        if path not in wanted or path in seen:
            continue
        seen.add(path)
        before = lines[position - 1] if position else None
        is_prose = before is not None and before[1].startswith("#") and not before[2]
        if not is_prose:
            undocumented.append(path)
    assert undocumented == []
    assert wanted <= seen


def test_example_secrets_are_commented_out() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "password" not in data["kafka"]
    assert "EDAMON_KAFKA__PASSWORD" in EXAMPLE.read_text(encoding="utf-8")
    assert not {"password", "token"} & set(data["schema_registry"])


# -- precedence ------------------------------------------------------------------------------


def test_precedence_defaults_file_env_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        '[kafka]\nbootstrap_servers = "file:1"\nclient_id = "from-file"\n[lag]\ninterval_s = 2.5\n',
    )
    assert load_settings(use_default_path=False).kafka.bootstrap_servers == "localhost:9092"

    from_file = load_settings(path)
    assert from_file.kafka.bootstrap_servers == "file:1"
    assert from_file.lag.interval_s == 2.5

    monkeypatch.setenv("EDAMON_KAFKA__BOOTSTRAP_SERVERS", "env:2")
    monkeypatch.setenv("EDAMON_READ_ONLY", "true")
    monkeypatch.setenv("EDAMON_TOPICS__INCLUDE", '["orders\\\\..*"]')
    from_env = load_settings(path)
    assert from_env.kafka.bootstrap_servers == "env:2"
    assert from_env.kafka.client_id == "from-file"  # the env only replaces its own key
    assert from_env.lag.interval_s == 2.5
    assert from_env.read_only is True
    assert from_env.topics.include == ["orders\\..*"]

    flagged = load_settings(path, {"kafka": {"bootstrap_servers": "flag:3"}, "read_only": None})
    assert flagged.kafka.bootstrap_servers == "flag:3"
    assert flagged.kafka.client_id == "from-file"
    assert flagged.read_only is True  # a None flag means "not given"


def test_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg" / "edamon"
    xdg.mkdir(parents=True)
    write(xdg, '[kafka]\nclient_id = "xdg"\n')
    assert load_settings().kafka.client_id == "xdg"
    write(tmp_path, '[kafka]\nclient_id = "local"\n')  # ./edamon.toml wins
    assert load_settings().kafka.client_id == "local"
    assert load_settings(use_default_path=False).kafka.client_id == "edamon"


def test_unrelated_edamon_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDAMON_KAFKA_VERSION", "4.1.1")  # the test harness's, not a setting
    monkeypatch.setenv("EDAMON_TEST_BOOTSTRAP", "127.0.0.1:1")
    assert load_settings(use_default_path=False).kafka.bootstrap_servers == "localhost:9092"


# -- errors ----------------------------------------------------------------------------------


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[kafka]\nbootstrap_server = "x:1"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "kafka.bootstrap_server" in message
    assert "unknown setting" in message
    assert str(path) in message


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafak]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"kafak: unknown setting"):
        load_settings(path)


def test_unknown_nested_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDAMON_KAFKA__BOOTSTRAP_SERVER", "x:1")
    with pytest.raises(ConfigError, match=r"kafka\.bootstrap_server: unknown setting"):
        load_settings(use_default_path=False)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[lag]\ninterval_s = "soon"\n', "lag.interval_s"),
        ("[lag]\nwindow = 1\n", "lag.window"),
        ('[kafka]\nsecurity_protocol = "TLS"\n', "kafka.security_protocol"),
        ("[ui]\nrefresh_hz = 100\n", "ui.refresh_hz"),
        ('[[sagas.definitions]]\nname = "x"\nstart = ["A"]\n', "sagas.definitions.0.steps"),
        ('read_only = "perhaps"\n', "read_only"),
        ('[kafka]\nbootstrap_servers = "localhost:abc"\n', "kafka.bootstrap_servers"),
        ('[kafka]\nbootstrap_servers = ","\n', "kafka.bootstrap_servers"),
        ('[kafka]\nbootstrap_servers = ":9092"\n', "kafka.bootstrap_servers"),
        ('[kafka]\nbootstrap_servers = "a:99999"\n', "kafka.bootstrap_servers"),
        ('[envelope]\nevent_type = ["header:"]\n', "envelope.event_type"),
        ('[envelope]\nsource = [".."]\n', "envelope.source"),
        (
            '[[sagas.definitions]]\nname = "x"\nstart = ["A"]\nsteps = []\n',
            "sagas.definitions.0.steps",
        ),
        (
            '[[sagas.definitions]]\nname = "x"\nstart = []\n'
            'steps = [{name = "s", success = ["B"]}]\n',
            "sagas.definitions.0.start",
        ),
        ('[dlq]\nledger_topic = ""\n', "dlq.ledger_topic"),
        ('[dlq]\nledger_topic = "edamon retries"\n', "dlq.ledger_topic"),
        ('[dlq]\nledger_topic = "a/b"\n', "dlq.ledger_topic"),
        ('[dlq]\nledger_topic = ".."\n', "dlq.ledger_topic"),
    ],
)
def test_wrong_type_or_value_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{key}:" in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "servers",
    [
        "kafka-1:9092, kafka-2:9092,[::1]:9093,10.0.0.7:19092",
        "kafka_1:9092",
        "[fe80::1%eth0]:9092",
    ],
)
def test_bootstrap_forms_that_are_fine(servers: str) -> None:
    loaded = load_settings(None, {"kafka": {"bootstrap_servers": servers}}, use_default_path=False)
    assert loaded.kafka.bootstrap_servers == servers


@pytest.mark.parametrize(
    ("servers", "reason"),
    [
        ("localhost", "a port is required"),
        ("kafka-1:9092,kafka-2", "'kafka-2' is not host:port"),
        ("::1", "an IPv6 address goes in brackets"),
        ("::1:9092", "an IPv6 address goes in brackets"),
        ("http://host:9092", "is a URL"),
        ("", "no broker given"),
        ("   ", "no broker given"),
        ("a:1,,b:2", "an empty entry"),
        ("127.0.0.1:9092,", "an empty entry"),
        ("not a host", "a port is required"),
        ("not a host:9092", "'not a host' is not a host name"),
        ("host:0", "from 1 to 65535"),
    ],
)
def test_bootstrap_forms_that_are_refused(servers: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)) as err:
        load_settings(None, {"kafka": {"bootstrap_servers": servers}}, use_default_path=False)
    assert "kafka.bootstrap_servers" in str(err.value) and "\n" not in str(err.value)


def test_cloudevents_only_needs_no_envelope_locations() -> None:
    flags = {"envelope": {"event_id": [], "event_type": []}}
    loaded = load_settings(None, flags, use_default_path=False)
    assert loaded.envelope.event_id == [] and loaded.envelope.event_type == []


def test_saga_names_are_unique(tmp_path: Path) -> None:
    saga = '[[sagas.definitions]]\nname = "order"\nstart = ["A"]\n'
    saga += 'steps = [{name = "s", success = ["B"]}]\n'
    with pytest.raises(ConfigError, match=r"sagas\.definitions: saga names must be unique: order"):
        load_settings(write(tmp_path, saga * 2))


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        (
            {"sasl_mechanism": "SCRAM-SHA-512", "username": "u"},
            "kafka: kafka.password required with security_protocol SASL_PLAINTEXT",
        ),
        ({}, "kafka.sasl_mechanism, kafka.username, kafka.password required"),
    ],
)
def test_sasl_needs_its_mechanism_and_credentials(kafka: dict[str, str], message: str) -> None:
    flags = {"kafka": {"security_protocol": "SASL_PLAINTEXT", **kafka}}
    with pytest.raises(ConfigError) as err:
        load_settings(None, flags, use_default_path=False)
    assert message in str(err.value)


def test_tls_files_must_exist_when_tls_is_used(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    flags: dict[str, Any] = {"kafka": {"ssl_cafile": str(missing)}}
    assert load_settings(None, flags, use_default_path=False).kafka.ssl_cafile == missing
    flags["kafka"]["security_protocol"] = "SSL"
    with pytest.raises(
        ConfigError, match=rf"kafka\.ssl_cafile: no such file: {re.escape(str(missing))}"
    ):
        load_settings(None, flags, use_default_path=False)
    missing.write_text("not checked here: aiokafka reads it")
    assert load_settings(None, flags, use_default_path=False).kafka.security_protocol == "SSL"


def test_wrong_type_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDAMON_LAG__INTERVAL_S", "abc")
    with pytest.raises(ConfigError, match=r"lag\.interval_s"):
        load_settings(use_default_path=False)


def test_bad_regex(tmp_path: Path) -> None:
    path = write(tmp_path, '[topics]\ndlq = [".*DLT$", "(unclosed"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "topics.dlq" in str(err.value)
    assert "invalid regular expression '(unclosed'" in str(err.value)


def test_schema_registry_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[schema_registry]\nurl = "registry:8081"\n')
    with pytest.raises(ConfigError, match=r"schema_registry\.url: not an http\(s\) URL"):
        load_settings(path)
    path = write(tmp_path, '[schema_registry]\nurl = "https://sr:8081/"\nusername = "u"\n')
    with pytest.raises(ConfigError, match="username and password go together"):
        load_settings(path)
    monkeypatch.setenv("EDAMON_SCHEMA_REGISTRY__PASSWORD", SECRET)
    registry = load_settings(path).schema_registry
    assert registry.url == "https://sr:8081"
    assert registry.password is not None and registry.password.get_secret_value() == SECRET
    assert SECRET not in repr(registry)
    monkeypatch.delenv("EDAMON_SCHEMA_REGISTRY__PASSWORD")
    path = write(tmp_path, '[schema_registry]\nurl = "https://sr"\nssl_cafile = "/nope/ca.pem"\n')
    with pytest.raises(ConfigError, match=r"schema_registry\.ssl_cafile: no such file"):
        load_settings(path)


def test_bad_group_regex(tmp_path: Path) -> None:
    path = write(tmp_path, '[lag]\ngroups_exclude = ["*"]\n')
    with pytest.raises(ConfigError, match=r"lag\.groups_exclude"):
        load_settings(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        load_settings(path)


def test_unreadable_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match=r"cannot read config file .*dir\.toml"):
        load_settings(directory)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"config file .*binary\.toml is not UTF-8 text"):
        load_settings(path)


def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka\nbootstrap_servers = \n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "is not valid TOML" in str(err.value)
    assert str(path) in str(err.value)


# -- secrets ---------------------------------------------------------------------------------


def test_password_is_loaded_but_never_shown(tmp_path: Path) -> None:
    path = write(tmp_path, f'[kafka]\nusername = "alice"\npassword = "{SECRET}"\n')
    settings = load_settings(path)
    assert settings.kafka.password is not None
    assert settings.kafka.password.get_secret_value() == SECRET
    for shown in (str(settings), repr(settings), str(settings.kafka), repr(settings.kafka)):
        assert SECRET not in shown
    assert SECRET not in settings.model_dump_json()


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDAMON_KAFKA__PASSWORD", SECRET)
    settings = load_settings(use_default_path=False)
    assert settings.kafka.password is not None
    assert settings.kafka.password.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    "toml",
    [
        f'[kafka]\npassword = "{SECRET}"\nbootstrap_server = "x"\n',
        f'[kafka]\npassword = ["{SECRET}"]\n',
        f'[kafka]\npassword = "{SECRET}"\nrequest_timeout_s = -1\n',
    ],
)
def test_config_errors_never_contain_the_password(tmp_path: Path, toml: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert SECRET not in str(err.value)
    assert SECRET not in repr(err.value)


def test_invalid_toml_error_never_contains_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, f'[kafka]\npassword = "{SECRET}\n')  # unterminated string
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert SECRET not in str(err.value)
