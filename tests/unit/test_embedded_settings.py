"""The settings the dashboard hands its embedded collector: every secret arrives in clear
(pydantic's dump masks them as `**********`), except the service's own tokens."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr

from edamon.cli.embedded import settings_line
from edamon.config import Settings


def secret_fields(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every SecretStr setting, by its path (read from the settings model, not listed here)."""
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if annotation is not None and "SecretStr" in repr(annotation):
            found.append((*path, name))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += secret_fields(annotation, (*path, name))
    return found


def test_every_secret_reaches_the_embedded_collector_but_the_service_tokens() -> None:
    paths = secret_fields(Settings)
    assert ("dlq", "ledger_secret") in paths and ("kafka", "password") in paths
    data: dict[str, Any] = {}
    for path in paths:
        section = data
        for part in path[:-1]:
            section = section.setdefault(part, {})
        section[path[-1]] = "secret-" + ".".join(path)
    data["kafka"].update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", username="u")
    data["schema_registry"]["username"] = "u"
    settings = Settings.model_validate(data)
    child = Settings.model_validate(json.loads(settings_line(settings)))
    for path in paths:
        value: Any = child
        for part in path:
            value = getattr(value, part)
        if path[0] == "service":
            assert value is None, path
        else:
            assert isinstance(value, SecretStr), path
            assert value.get_secret_value() == "secret-" + ".".join(path)
