"""Schema registries: the Confluent-compatible REST API on httpx, and an in-process one.

Both answer the same four questions (`SchemaRegistry`): the schema behind an id, a subject's
version (to resolve references), the subjects and versions that use an id, and the subject
list. Failures are `RegistryUnreachable` (no answer, a timeout, a 5xx, refused credentials)
and `SchemaNotFound` (404); their messages never carry a secret.

The Confluent API is served by Confluent's registry, Redpanda, Karapace and Apicurio (under
`/apis/ccompat/v7`); the URL is the API's base. A schema is asked for by its key
(`SchemaKey`): a Confluent schema id through that API, or an Apicurio globalId/contentId (from
Apicurio's record headers, edamon.decode.apicurio) through Apicurio's core v3 API:
`GET /ids/globalIds/{id}` (or `/ids/contentIds/{id}`) answers the schema text,
`GET /search/versions?globalId={id}` its artifact type, artifact id and version, and
`GET /ids/globalIds/{id}/references` its references (checked against Apicurio Registry 3.3.3).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from edamon.config import SchemaRegistrySettings
from edamon.decode.apicurio import core_api_url
from edamon.model.envelope import SchemaKey

__all__ = [
    "HttpSchemaRegistry",
    "MemorySchemaRegistry",
    "RegisteredSchema",
    "RegistryError",
    "RegistryUnreachable",
    "SchemaNotFound",
    "SchemaReference",
    "SchemaRegistry",
]

_ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"


class RegistryError(Exception):
    """The registry could not give what was asked; the message is fit for the operator."""


class RegistryUnreachable(RegistryError):
    """No usable answer: connection refused, timeout, TLS, 401/403, 5xx, not JSON."""


class SchemaNotFound(RegistryError):
    """The registry answered 404: no such schema id (or subject version)."""


@dataclass(frozen=True, slots=True)
class SchemaReference:
    """A schema imported by another: `name` is how the importer names it (a Protobuf import
    path, an Avro full name), `subject`/`version` where it is registered."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """A schema as the registry holds it: its text and type (AVRO, PROTOBUF or JSON)."""

    schema: str
    schema_type: str = "AVRO"
    references: tuple[SchemaReference, ...] = ()


class SchemaRegistry(Protocol):
    """What edamon asks of a registry. Raises RegistryUnreachable or SchemaNotFound."""

    @property
    def name(self) -> str:
        """Where it is, for the operator (a URL without credentials)."""
        ...

    async def schema(self, schema_id: SchemaKey) -> RegisteredSchema: ...

    async def subject_version(self, subject: str, version: int) -> RegisteredSchema: ...

    async def usages(self, schema_id: SchemaKey) -> list[tuple[str, int]]:
        """(subject, version) pairs registered with this id; [] when the registry can't tell."""
        ...

    async def subjects(self) -> list[str]: ...

    async def aclose(self) -> None: ...


def _registered(body: Any) -> RegisteredSchema:
    if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
        raise RegistryUnreachable("unexpected answer from the registry (no schema)")
    refs: list[SchemaReference] = []
    for raw in body.get("references") or ():
        try:
            refs.append(SchemaReference(str(raw["name"]), str(raw["subject"]), int(raw["version"])))
        except (KeyError, TypeError, ValueError):
            raise RegistryUnreachable("unexpected answer from the registry (reference)") from None
    return RegisteredSchema(body["schema"], str(body.get("schemaType") or "AVRO"), tuple(refs))


class HttpSchemaRegistry:
    """A Confluent-compatible registry over HTTP: one shared `httpx.AsyncClient`."""

    def __init__(
        self, settings: SchemaRegistrySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if settings.url is None:
            raise ValueError("schema_registry.url is not set")
        self._url = settings.url
        self._core = settings.apicurio_url or core_api_url(settings.url)
        """Apicurio's core API (for ids from Apicurio's headers), or None."""
        headers = {"Accept": _ACCEPT}
        auth: httpx.Auth | None = None
        if settings.token is not None:
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        elif settings.username is not None and settings.password is not None:
            auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self._client = httpx.AsyncClient(
            base_url=self._url + "/",
            headers=headers,
            auth=auth,
            verify=_verify(settings),
            timeout=httpx.Timeout(settings.timeout_s),
            transport=transport,
            follow_redirects=True,
        )

    @property
    def name(self) -> str:
        url = httpx.URL(self._url)
        return str(url.copy_with(username=None, password=None)) if url.userinfo else self._url

    @property
    def apicurio_api(self) -> str | None:
        """Apicurio's core API, asked for ids from Apicurio's headers; None: not Apicurio's."""
        return self._core

    async def __aenter__(self) -> HttpSchemaRegistry:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, what: str, *, text: bool = False) -> Any:
        try:
            response = await self._client.get(path)
        except httpx.TimeoutException:
            raise RegistryUnreachable("registry unreachable (timed out)") from None
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"registry unreachable ({type(exc).__name__})") from None
        except ssl.SSLError:
            raise RegistryUnreachable("registry unreachable (TLS error)") from None
        status = response.status_code
        if status == 404:
            raise SchemaNotFound(f"{what} not found")
        if status in (401, 403):
            raise RegistryUnreachable(f"registry refused the credentials (HTTP {status})")
        if status >= 400:
            raise RegistryUnreachable(f"registry unreachable (HTTP {status})")
        if text:
            return response.text
        try:
            return response.json()
        except ValueError:
            raise RegistryUnreachable("registry answered with something not JSON") from None

    async def schema(self, schema_id: SchemaKey) -> RegisteredSchema:
        if isinstance(schema_id, tuple):
            return await self._apicurio_schema(*schema_id)
        return _registered(await self._get(f"schemas/ids/{schema_id}", f"schema {schema_id}"))

    def _core_path(self, kind: str, number: int) -> str:
        if self._core is None:  # not the registry's fault: no state change
            raise RegistryError("not Apicurio's API (set schema_registry.apicurio_url)")
        return f"{self._core}/ids/{kind}s/{number}"

    async def _versions(self, kind: str, number: int) -> list[dict[str, Any]]:
        """The artifact versions a globalId (one) or a contentId (any number) belongs to."""
        self._core_path(kind, number)
        body = await self._get(
            f"{self._core}/search/versions?{kind}={number}&limit=100", f"{kind} {number}"
        )
        found = body.get("versions") if isinstance(body, dict) else None
        return [v for v in found if isinstance(v, dict)] if isinstance(found, list) else []

    async def _apicurio_schema(self, kind: str, number: int) -> RegisteredSchema:
        what = f"{kind} {number}"
        path = self._core_path(kind, number)
        text = await self._get(path, what, text=True)
        versions = await self._versions(kind, number)
        types = {str(v.get("artifactType")) for v in versions if v.get("artifactType")}
        if len(types) != 1:  # this schema's answer, not the registry's health
            raise RegistryError(f"the registry gives {what} no single type ({len(types)})")
        refs: list[SchemaReference] = []
        body = await self._get(f"{path}/references", what)
        for raw in body if isinstance(body, list) else ():
            try:
                refs.append(
                    SchemaReference(str(raw["name"]), str(raw["artifactId"]), int(raw["version"]))
                )
            except (KeyError, TypeError, ValueError):  # e.g. a version "1.0.0"
                raise RegistryError(
                    f"{what} has a reference edamon can't follow (not a name, artifact and "
                    f"numbered version: {str(raw)[:200]})"
                ) from None
        return RegisteredSchema(text, types.pop(), tuple(refs))

    async def subject_version(self, subject: str, version: int) -> RegisteredSchema:
        path = f"subjects/{quote(subject, safe='')}/versions/{version}"
        return _registered(await self._get(path, f"subject {subject} v{version}"))

    async def usages(self, schema_id: SchemaKey) -> list[tuple[str, int]]:
        if isinstance(schema_id, tuple):
            try:
                versions = await self._versions(*schema_id)
            except SchemaNotFound:
                return []
            return [
                (str(v["artifactId"]), int(v["version"]))
                for v in versions
                if isinstance(v.get("artifactId"), str) and str(v.get("version", "")).isdigit()
            ]
        try:
            body = await self._get(f"schemas/ids/{schema_id}/versions", f"schema {schema_id}")
        except SchemaNotFound:
            return []
        out: list[tuple[str, int]] = []
        for item in body if isinstance(body, list) else ():
            if isinstance(item, dict):
                subject, version = item.get("subject"), item.get("version")
                if isinstance(subject, str) and isinstance(version, int):
                    out.append((subject, version))
        return out

    async def subjects(self) -> list[str]:
        body = await self._get("subjects", "subjects")
        return [s for s in body if isinstance(s, str)] if isinstance(body, list) else []

    async def register_schema(self, subject: str, schema: RegisteredSchema) -> int:
        """Register `schema` under `subject` (the demo's producers do); its id."""
        body: dict[str, Any] = {"schema": schema.schema}
        if schema.schema_type != "AVRO":
            body["schemaType"] = schema.schema_type
        if schema.references:
            body["references"] = [
                {"name": r.name, "subject": r.subject, "version": r.version}
                for r in schema.references
            ]
        try:
            response = await self._client.post(
                f"subjects/{quote(subject, safe='')}/versions",
                json=body,
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
            )
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"registry unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise RegistryError(
                f"registry refused the schema for {subject} (HTTP {response.status_code})"
            )
        try:
            return int(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise RegistryUnreachable("unexpected answer from the registry (no id)") from None


def _verify(settings: SchemaRegistrySettings) -> ssl.SSLContext | bool:
    if not settings.ssl_verify:
        return False
    if settings.ssl_cafile is None and settings.ssl_certfile is None:
        return True
    try:
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile is not None:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"schema_registry TLS files: {exc}") from None
    return context


@dataclass
class _Subject:
    versions: list[int] = field(default_factory=list)
    """Schema ids, version i+1 at index i."""


class MemorySchemaRegistry:
    """An in-process registry (the in-memory demo): ids are content ids, as in Apicurio and
    Confluent (the same schema under two subjects gets one id). `register` is synchronous."""

    def __init__(self) -> None:
        self._schemas: list[RegisteredSchema] = []
        self._subjects: dict[str, _Subject] = {}
        self.down = False
        """While True every request fails as if the registry were unreachable."""

    @property
    def name(self) -> str:
        return "in-memory registry"

    def register(
        self,
        subject: str,
        schema: str,
        schema_type: str = "AVRO",
        references: tuple[SchemaReference, ...] = (),
    ) -> int:
        """Register `schema` under `subject` (a new version unless it is the latest); its id."""
        registered = RegisteredSchema(schema, schema_type, references)
        if registered in self._schemas:
            schema_id = self._schemas.index(registered) + 1
        else:
            self._schemas.append(registered)
            schema_id = len(self._schemas)
        versions = self._subjects.setdefault(subject, _Subject()).versions
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id

    async def register_schema(self, subject: str, schema: RegisteredSchema) -> int:
        self._check()
        return self.register(subject, schema.schema, schema.schema_type, schema.references)

    def _check(self) -> None:
        if self.down:
            raise RegistryUnreachable("registry unreachable (down)")

    async def schema(self, schema_id: SchemaKey) -> RegisteredSchema:
        self._check()
        if isinstance(schema_id, tuple):  # its ids are content ids, it has no global ids
            if schema_id[0] != "contentId":
                raise SchemaNotFound(f"{schema_id[0]} {schema_id[1]} not found")
            schema_id = schema_id[1]
        if not 0 < schema_id <= len(self._schemas):
            raise SchemaNotFound(f"schema {schema_id} not found")
        return self._schemas[schema_id - 1]

    async def subject_version(self, subject: str, version: int) -> RegisteredSchema:
        self._check()
        versions = self._subjects.get(subject)
        if versions is None or not 0 < version <= len(versions.versions):
            raise SchemaNotFound(f"subject {subject} v{version} not found")
        return self._schemas[versions.versions[version - 1] - 1]

    async def usages(self, schema_id: SchemaKey) -> list[tuple[str, int]]:
        self._check()
        if isinstance(schema_id, tuple):
            schema_id = schema_id[1] if schema_id[0] == "contentId" else 0
        return [
            (subject, index + 1)
            for subject, entry in self._subjects.items()
            for index, used in enumerate(entry.versions)
            if used == schema_id
        ]

    async def subjects(self) -> list[str]:
        self._check()
        return sorted(self._subjects)

    async def aclose(self) -> None:
        return None
