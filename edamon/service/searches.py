"""The searches a service runs and holds (issue 16): started by POST /v1/searches, polled,
cancelled, kept until dismissed (outside the collector's retention)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from contextlib import suppress

from edamon.broker.base import Broker, BrokerError
from edamon.collector.cancelling import cancel_and_wait
from edamon.config import Settings
from edamon.model.search import SearchDoc, SearchQuery
from edamon.search import Search, SearchError

log = logging.getLogger(__name__)

MAX_HELD = 20
"""Searches held at once (running or finished and not dismissed)."""
MAX_RUNNING = 2
"""Searches running at once: each reads Kafka hard."""
CANCEL_GRACE_S = 3.0
"""How long a cancelled search may take to reach its next batch before its task is cancelled."""


class TooMany(Exception):
    """No room for another search; the message says why."""


class Searches:
    def __init__(self, broker: Broker, settings: Settings) -> None:
        self._broker = broker
        self._settings = settings
        self._held: dict[str, tuple[Search, asyncio.Task[None]]] = {}
        self._enforcing: dict[asyncio.Task[None], asyncio.Task[None]] = {}
        self._ids = itertools.count(1)

    async def start(self, query: SearchQuery) -> Search:
        """Start a search (TooMany when the service holds or runs too many; SearchError for
        an unknown topic; BrokerError)."""
        if len(self._held) >= MAX_HELD:
            raise TooMany(f"{MAX_HELD} searches are held: dismiss some (DELETE) first")
        running = sum(1 for search, _ in self._held.values() if search.running)
        if running >= MAX_RUNNING:
            raise TooMany(f"{MAX_RUNNING} searches are running: wait for one or cancel it")
        search = Search(self._broker, self._settings, query, search_id=f"s{next(self._ids)}")
        await search.prepare()
        task = asyncio.create_task(self._run(search), name=f"search-{search.id}")
        self._held[search.id] = (search, task)
        return search

    async def _run(self, search: Search) -> None:
        try:
            await search.run()
        except (SearchError, BrokerError) as exc:
            log.info("search %s failed: %s", search.id, exc)  # its doc says so
        except Exception:
            log.exception("search %s failed", search.id)

    def get(self, search_id: str) -> SearchDoc | None:
        held = self._held.get(search_id)
        return None if held is None else held[0].doc()

    def delete(self, search_id: str) -> SearchDoc | None:
        """Cancel a running search (kept, with what it found), dismiss a finished one."""
        held = self._held.get(search_id)
        if held is None:
            return None
        search, task = held
        if search.running:
            search.cancel()
            if task not in self._enforcing:
                enforce = asyncio.create_task(self._enforce_cancel(task))
                self._enforcing[task] = enforce
                enforce.add_done_callback(lambda _: self._enforcing.pop(task, None))
        else:
            del self._held[search_id]
        return search.doc()

    async def _enforce_cancel(self, task: asyncio.Task[None]) -> None:
        """A search stops at its next batch once told to; one stuck in a broker call longer
        than CANCEL_GRACE_S has its task cancelled (again, until it ends: a client library
        may swallow a cancellation). What it found is kept either way."""
        _, pending = await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
        if pending:
            log.info(
                "a cancelled search did not stop within %.0f s: its task is cancelled",
                CANCEL_GRACE_S,
            )
            await cancel_and_wait(pending)

    async def close(self) -> None:
        for search, task in self._held.values():
            search.cancel()
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
