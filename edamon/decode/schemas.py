"""Schemas by id for the process lifetime, fetched in the background, never on the record path.

`SchemaStore.get(id)` answers at once from memory (ids never change meaning). An id is a
`SchemaKey`: a Confluent schema id, or an Apicurio globalId/contentId from record headers;
reasons name it as such ("globalId 7 not found"). An id not known
yet is asked for once (`want`): one task per id fetches the schema and its references, compiles
it and calls `on_resolved(id, None)`; a failure is kept as the id's reason ("schema 42:
registry unreachable", "schema 42 not found") and `on_resolved(id, reason)` is called; while
someone still waits for it (`waiting`), it is asked again every `retry_s`. Without a running
event loop (a bench, a test of pure logic) nothing is fetched: schemas can be `add`ed.

The store also tells how the registry is doing (`status`), for the connection view.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from edamon.decode.registry import (
    RegisteredSchema,
    RegistryError,
    RegistryUnreachable,
    SchemaNotFound,
    SchemaRegistry,
)
from edamon.decode.wire import CompiledSchema, WireError, compile_schema
from edamon.model.envelope import SchemaKey, schema_key_text
from edamon.model.status import ConnectionState

__all__ = ["SchemaStore"]

log = logging.getLogger(__name__)

MAX_REFERENCE_DEPTH = 16


def _preferred(usage: tuple[str, int]) -> tuple[bool, int]:
    """Of the subjects using one id, a value subject's latest version first."""
    return usage[0].endswith("-value"), usage[1]


class SchemaStore:
    """Compiled schemas by id, and the fetching of the ones not known yet."""

    def __init__(
        self,
        registry: SchemaRegistry | None,
        *,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._retry_s = retry_s
        self._clock = clock
        self._compiled: dict[SchemaKey, CompiledSchema] = {}
        self._failed: dict[SchemaKey, str] = {}
        self._tried_at: dict[SchemaKey, float] = {}
        self._fetching: dict[SchemaKey, asyncio.Task[None]] = {}
        self._retries: dict[SchemaKey, asyncio.TimerHandle] = {}
        self.on_resolved: Callable[[SchemaKey, str | None], None] | None = None
        """Called on the loop when an id's fetch ends: (id, None) it arrived, else the reason."""
        self.waiting: Callable[[SchemaKey], bool] = lambda schema_id: False
        """Whether records still wait for an id (a failed one is asked again while they do)."""
        self.state = ConnectionState.CONNECTING if registry else ConnectionState.STOPPED
        self.message = "" if registry else "no schema registry"
        self.subjects: int | None = None

    # ---- the record path (synchronous, never waits) ------------------------------------

    def get(self, schema_id: SchemaKey) -> CompiledSchema | None:
        return self._compiled.get(schema_id)

    def failure(self, schema_id: SchemaKey) -> str | None:
        """Why the last fetch of `schema_id` failed, or None (not tried, in flight, known)."""
        return self._failed.get(schema_id)

    def fetching(self, schema_id: SchemaKey) -> bool:
        return schema_id in self._fetching

    def want(self, schema_id: SchemaKey) -> str:
        """Ask for `schema_id` unless known, in flight or failed less than retry_s ago; returns
        the reason a record written with it can't be decoded now."""
        name = schema_key_text(schema_id)
        if self.registry is None:
            return f"{name}: no schema registry configured"
        if schema_id in self._compiled or schema_id in self._fetching:
            return self._failed.get(schema_id) or f"{name}: fetching"
        failed = self._failed.get(schema_id)
        if failed is not None and self._clock() - self._tried_at[schema_id] < self._retry_s:
            return failed
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return failed or f"{name}: not fetched (no event loop)"
        self._tried_at[schema_id] = self._clock()
        self._fetching[schema_id] = loop.create_task(
            self._fetch_task(schema_id), name=f"edamon-{name.replace(' ', '-')}"
        )
        return failed or f"{name}: fetching"

    def add(self, schema_id: SchemaKey, compiled: CompiledSchema) -> None:
        """Know `schema_id` without asking (preloaded, or fetched by someone else)."""
        self._compiled[schema_id] = compiled
        self._failed.pop(schema_id, None)

    # ---- fetching -----------------------------------------------------------------------

    async def fetch(self, schema_id: SchemaKey) -> CompiledSchema:
        """The compiled schema, fetched now if unknown. Raises RegistryError, WireError."""
        known = self._compiled.get(schema_id)
        if known is not None:
            return known
        if self.registry is None:
            raise RegistryUnreachable("no schema registry configured")
        registry = self.registry
        main = await registry.schema(schema_id)
        references: dict[str, RegisteredSchema] = {}
        await self._resolve(main, references, 0)
        subject = version = None
        with suppress(RegistryError):
            usages = await registry.usages(schema_id)
            if usages:
                subject, version = max(
                    usages, key=lambda usage: (usage[0].endswith("-value"), usage[1])
                )
        compiled = compile_schema(schema_id, main, references, subject, version)
        self._compiled[schema_id] = compiled
        return compiled

    async def _resolve(
        self, schema: RegisteredSchema, out: dict[str, RegisteredSchema], depth: int
    ) -> None:
        """`schema`'s references, imports first, into `out` by import name."""
        if depth > MAX_REFERENCE_DEPTH:
            raise WireError("schema references nest too deep")
        assert self.registry is not None
        for ref in schema.references:
            if ref.name in out:
                continue
            imported = await self.registry.subject_version(ref.subject, ref.version)
            await self._resolve(imported, out, depth + 1)
            out[ref.name] = imported

    async def _fetch_task(self, schema_id: SchemaKey) -> None:
        reason: str | None = None
        name = schema_key_text(schema_id)
        try:
            await self.fetch(schema_id)
        except SchemaNotFound:
            reason = f"{name} not found"
            self._healthy()
        except RegistryUnreachable as exc:
            reason = f"{name}: {exc}"
            self.state, self.message = ConnectionState.ERROR, str(exc)
        except RegistryError as exc:  # e.g. an Apicurio id and no Apicurio API to ask
            reason = f"{name}: {exc}"
        except WireError as exc:
            reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            self._healthy()
        else:
            self._healthy()
        finally:
            self._fetching.pop(schema_id, None)
        if reason is None:
            self._failed.pop(schema_id, None)
        else:
            log.info("%s", reason)
            self._failed[schema_id] = reason
            if self.waiting(schema_id):
                self._retry_later(schema_id)
        if self.on_resolved is not None:
            self.on_resolved(schema_id, reason)

    def _retry_later(self, schema_id: SchemaKey) -> None:
        old = self._retries.pop(schema_id, None)
        if old is not None:
            old.cancel()

        def again() -> None:
            self._retries.pop(schema_id, None)
            if schema_id in self._failed and self.waiting(schema_id):
                self.want(schema_id)

        loop = asyncio.get_running_loop()
        self._retries[schema_id] = loop.call_later(self._retry_s, again)

    def _healthy(self) -> None:
        self.state, self.message = ConnectionState.CONNECTED, ""

    async def probe(self) -> int:
        """How many subjects the registry has; updates `status`. Raises RegistryError."""
        if self.registry is None:
            raise RegistryUnreachable("no schema registry configured")
        try:
            subjects = await self.registry.subjects()
        except RegistryError as exc:
            self.state, self.message = ConnectionState.ERROR, str(exc)
            raise
        self._healthy()
        self.subjects = len(subjects)
        return len(subjects)

    async def aclose(self) -> None:
        """Cancel fetches and retries; close the registry client."""
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        tasks = list(self._fetching.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self.registry is not None:
            await self.registry.aclose()
