"""DLQ redrive: send dead letters back to the topic they came from, once, with a trail.

Two steps, so that a human (CLI prompt, UI dialog) sees what will happen before it does:

1. `Redriver.plan(dead_letters, force=...)` (pure, no I/O): per dead letter the target topic
   (the original topic from the DLQ headers, else `dlq.routes[<dlq topic>]`, else refused), the
   headers that will be stripped and whether the ledger says it was already retried (skipped
   unless `force`).
2. `await Redriver.execute(plan, rate=...)`: per item, at most `rate` per second: re-read the
   exact DLQ record by its coordinates (the caller's copy may hold a truncated value), send its
   key and value with the redrive headers (`HeaderPolicy`) to the target, await delivery, and
   record the attempt, sent or failed, in the ledger.

Nothing is ever deleted from a DLQ: a failed attempt leaves the dead letter where it was, and
the ledger and the summary say why. If the ledger itself cannot be written the run stops, so
that nothing is sent twice unrecorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from edamon.actions.headers import HeaderPolicy
from edamon.actions.ledger import Ledger, LedgerEntry, ReadOnlyError, RetryResult, current_user
from edamon.actions.plan import (
    Action,
    ItemResult,
    Outcome,
    PlanItem,
    RedrivePlan,
    RedriveSummary,
    Resolution,
    TargetRules,
    resolve_target,
    summarize,
)
from edamon.actions.ratelimit import RateLimiter
from edamon.actions.scan import RecordReader
from edamon.broker.base import Broker, BrokerError
from edamon.config import Settings
from edamon.model.deadletter import DeadLetter
from edamon.model.records import FlawedRecord, RawRecord

__all__ = [
    "Action",
    "ItemResult",
    "Outcome",
    "PlanItem",
    "ReadOnlyError",
    "RedrivePlan",
    "RedriveSummary",
    "Redriver",
    "Resolution",
    "resolve_target",
]


def _same_record(selected: RawRecord, current: RawRecord) -> bool:
    return selected.key == current.key and selected.timestamp_ms == current.timestamp_ms


class Redriver:
    """Plans and runs redrives of dead letters on one broker, recording them in `ledger`.

    The ledger should be loaded (`await ledger.load(broker)`) before planning, so that earlier
    retries are known.
    """

    def __init__(
        self,
        broker: Broker,
        settings: Settings,
        ledger: Ledger,
        *,
        clock: Callable[[], float] = time.time,
        user: str | None = None,
        reread_timeout_s: float = 15.0,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.ledger = ledger
        self.policy = HeaderPolicy(settings.dlq.strip_headers)
        self.targets = TargetRules.from_settings(settings)
        self._clock = clock
        self._user = user
        self._reread_timeout_s = reread_timeout_s
        self._running = asyncio.Lock()
        """One run at a time: two overlapping runs could both pass the ledger check."""
        ledger.bind(broker)

    def plan(self, dead_letters: Iterable[DeadLetter], *, force: bool = False) -> RedrivePlan:
        """Decide per dead letter (repeats of the same coordinates dropped): send, skip (already
        retried, unless `force`) or refuse (no target, or one `TargetRules` forbids: internal,
        the ledger, a DLQ, outside dlq.allowed_targets)."""
        rules = self.targets
        items: list[PlanItem] = []
        seen: set[str] = set()
        for dead_letter in dead_letters:
            coords = dead_letter.record.coords
            if coords in seen:
                continue
            seen.add(coords)
            previous = self.ledger.entry_for(dead_letter.record)
            attempt = 1 if previous is None else previous.attempt + 1
            resolution = resolve_target(dead_letter, rules)
            strip = self.policy.stripped(dead_letter.record.headers)
            if resolution.target is None:
                action, reason = Action.REFUSE, resolution.refusal
            elif isinstance(dead_letter.record, FlawedRecord):  # its bytes can't be resent
                action = Action.REFUSE
                reason = f"{dead_letter.record.flaw}: cannot be resent as it was written"
            elif previous is not None and previous.retried and not force:
                action = Action.SKIP
                reason = f"already retried (attempt {previous.attempt}); use force to resend"
            else:
                action, reason = Action.SEND, None
            items.append(
                PlanItem(
                    dead_letter=dead_letter,
                    action=action,
                    target=resolution.target,
                    source=resolution.source,
                    reason=reason,
                    strip=strip,
                    previous=previous,
                    attempt=attempt,
                )
            )
        return RedrivePlan(tuple(items), force)

    async def execute(
        self,
        plan: RedrivePlan,
        *,
        rate: float,
        stop_on_failure: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> RedriveSummary:
        """Send every `SEND` item of `plan`, at most `rate` per second: oldest first in each
        dead-letter partition (the order they failed in, so one key's records go back in their
        order), one partition after another (`_send_order`); the summary lists them in plan
        order.

        Raises ReadOnlyError (before anything is sent) when settings.read_only. Otherwise never
        raises for broker problems: they end up as failed items (recorded in the ledger when it
        can be written) and `aborted`. `progress(done, total)` is called after each item to send.
        """
        if self.settings.read_only:
            raise ReadOnlyError("edamon is read-only (--read-only / read_only = true): no retry")
        async with self._running:
            return await self._execute(plan, rate, stop_on_failure, progress, cancel)

    async def _execute(
        self,
        plan: RedrivePlan,
        rate: float,
        stop_on_failure: bool,
        progress: Callable[[int, int], None] | None,
        cancel: asyncio.Event | None,
    ) -> RedriveSummary:
        started = time.monotonic()
        results: dict[str, ItemResult] = {}
        for item in plan.items:
            if item.action is Action.SKIP:
                results[item.coords] = ItemResult(item.coords, Outcome.SKIPPED, reason=item.reason)
            elif item.action is Action.REFUSE:
                results[item.coords] = ItemResult(item.coords, Outcome.REFUSED, reason=item.reason)
        todo = _send_order(plan.to_send)
        aborted: str | None = None
        try:
            topics = await self._preflight()
        except BrokerError as exc:
            topics, aborted = set(), f"nothing sent: {exc}"
        if aborted is None and todo:
            aborted = await self._run(
                todo, topics, results, rate, stop_on_failure, progress, cancel, plan.force
            )
        for item in todo:
            if item.coords not in results:
                results[item.coords] = ItemResult(
                    item.coords, Outcome.NOT_ATTEMPTED, item.target, reason=aborted
                )
        ordered = (results[item.coords] for item in plan.items)
        return summarize(ordered, started, aborted)

    async def _preflight(self) -> set[str]:
        await self.ledger.ensure_topic()
        return {info.name for info in await self.broker.list_topics()}

    async def _run(
        self,
        todo: tuple[PlanItem, ...],
        topics: set[str],
        results: dict[str, ItemResult],
        rate: float,
        stop_on_failure: bool,
        progress: Callable[[int, int], None] | None,
        cancel: asyncio.Event | None,
        force: bool,
    ) -> str | None:
        limiter = RateLimiter(rate)
        wanted = [(item.dead_letter.record.tp, item.dead_letter.record.offset) for item in todo]
        reader = RecordReader(self.broker, wanted, timeout_s=self._reread_timeout_s)
        try:
            for done, item in enumerate(todo, start=1):
                if not await limiter.acquire(cancel):
                    return "cancelled"
                result = await self._redrive_one(item, topics, reader, force)
                results[item.coords] = result
                if progress is not None:
                    progress(done, len(todo))
                if result.ledger_error is not None:
                    return (
                        f"stopped: the retry ledger could not be written ({result.ledger_error}); "
                        "nothing more is sent until it can be"
                    )
                if result.outcome is Outcome.FAILED and stop_on_failure:
                    return f"stopped after a failure on {item.coords}: {result.reason}"
                if cancel is not None and cancel.is_set() and done < len(todo):
                    return "cancelled"
        finally:
            await reader.close()
        return None

    async def _redrive_one(
        self, item: PlanItem, topics: set[str], reader: RecordReader, force: bool
    ) -> ItemResult:
        selected = item.dead_letter.record
        target = item.target
        if target is None:  # not from plan(): SEND items always have a target
            return ItemResult(item.coords, Outcome.REFUSED, reason="no target topic")
        refusal = self.targets.refusal(target, selected.topic)
        if refusal is not None:  # not from this redriver's plan(): checked again
            return ItemResult(item.coords, Outcome.REFUSED, target, reason=refusal)
        current = self.ledger.entry_for(selected)
        if current is not None and current.retried and not force:
            return ItemResult(
                item.coords,
                Outcome.SKIPPED,
                target,
                reason=f"already retried (attempt {current.attempt}); use force to resend",
            )
        attempt = 1 if current is None else current.attempt + 1
        try:
            record = await reader.get(selected.tp, selected.offset)
        except BrokerError as exc:
            return await self._failed(item, attempt, f"cannot re-read the dead letter: {exc}")
        if record is None:
            return ItemResult(
                item.coords,
                Outcome.REFUSED,
                target,
                reason="the dead letter no longer exists on the DLQ (retention or compaction)",
            )
        if not _same_record(selected, record):
            return ItemResult(
                item.coords,
                Outcome.REFUSED,
                target,
                reason="the record at this address is not the selected dead letter "
                "(key or timestamp differ: was the topic recreated?)",
            )
        if isinstance(record, FlawedRecord):  # e.g. a header name that is not UTF-8
            return ItemResult(
                item.coords,
                Outcome.REFUSED,
                target,
                reason=f"{record.flaw}: cannot be resent as it was written",
            )
        if target not in topics:
            return await self._failed(item, attempt, f"target topic {target} does not exist")
        at = self._clock()
        headers = self.policy.retry_headers(
            record.headers, retry_of=item.coords, at=at, attempt=attempt
        )
        try:
            partition, offset = await self.broker.produce(target, record.key, record.value, headers)
        except BrokerError as exc:
            return await self._failed(item, attempt, str(exc))
        entry = self.ledger.new_entry(
            selected,
            RetryResult.SENT,
            target_topic=target,
            target_partition=partition,
            target_offset=offset,
            attempt=attempt,
            at=at,
            by=self._user or current_user(),
        )
        ledger_error = await self._record(entry)
        return ItemResult(
            item.coords,
            Outcome.SENT,
            target,
            partition,
            offset,
            attempt=attempt,
            ledger_error=ledger_error,
        )

    async def _failed(self, item: PlanItem, attempt: int, reason: str) -> ItemResult:
        entry = self.ledger.new_entry(
            item.dead_letter.record,
            RetryResult.FAILED,
            target_topic=item.target,
            reason=reason,
            attempt=attempt,
            at=self._clock(),
            by=self._user or current_user(),
        )
        ledger_error = await self._record(entry)
        return ItemResult(
            item.coords,
            Outcome.FAILED,
            item.target,
            reason=reason,
            attempt=attempt,
            ledger_error=ledger_error,
        )

    async def _record(self, entry: LedgerEntry) -> str | None:
        try:
            await self.ledger.record(entry)
        except BrokerError as exc:
            return str(exc)
        return None


def _send_order(items: tuple[PlanItem, ...]) -> tuple[PlanItem, ...]:
    """`items` by dead-letter topic, partition and offset. Plans list the newest first; sent
    in that order, a key's dead letters would go back newest first, and every re-read would
    seek its partition backwards (a fetch round trip per record)."""
    return tuple(sorted(items, key=_address))


def _address(item: PlanItem) -> tuple[str, int, int]:
    record = item.dead_letter.record
    return record.topic, record.partition, record.offset
