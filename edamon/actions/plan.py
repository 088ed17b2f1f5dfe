"""The data of a DLQ redrive: targets, the plan shown before sending, the results after.

Pure data and pure functions (no I/O); `edamon.actions.redrive.Redriver` makes and runs plans.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from edamon.actions.ledger import DEFAULT_LEDGER_TOPIC, LedgerEntry
from edamon.config import Settings, TopicsSettings
from edamon.model.deadletter import DeadLetter
from edamon.model.topics import TopicRules

__all__ = [
    "Action",
    "ItemResult",
    "Outcome",
    "PlanItem",
    "RedrivePlan",
    "RedriveSummary",
    "Resolution",
    "TargetRules",
    "resolve_target",
    "summarize",
]

_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}\Z")


class Action(StrEnum):
    """What the plan does with one dead letter."""

    SEND = "send"
    SKIP = "skip"
    """Already retried successfully (per the ledger), and not forced."""
    REFUSE = "refuse"
    """No usable target topic (none, or one a retry must never write to: `TargetRules`)."""


class Outcome(StrEnum):
    """What became of one dead letter in a run."""

    SENT = "sent"
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    """The run stopped (failure, cancel, ledger problem) before reaching it."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a dead letter goes back to, and why; or why it cannot."""

    target: str | None
    source: str | None = None
    """`header` (the DLQ headers name the original topic) or `route` (dlq.routes)."""
    refusal: str | None = None


def _topic_problem(name: str) -> str | None:
    if name in (".", "..") or not _TOPIC_NAME.match(name):
        return f"{name!r} is not a valid topic name"
    return None


@dataclass(frozen=True, slots=True)
class TargetRules:
    """Where a retry may send. The original-topic header is written by whoever wrote the dead
    letter, so it is not trusted: a retry never goes to an internal topic (`__*`), the retry
    ledger, or a topic edamon treats as a DLQ (unless `routes` sends this DLQ there), nor
    outside `allowed` when that is set."""

    routes: Mapping[str, str] = field(default_factory=dict)
    """`dlq.routes`: DLQ topic -> target topic."""
    ledger_topic: str = DEFAULT_LEDGER_TOPIC
    dlq_rules: TopicRules = field(default_factory=lambda: TopicRules(TopicsSettings()))
    """Which topics are DLQs (`topics.dlq`, and every DLQ named in dlq.routes)."""
    allowed: tuple[re.Pattern[str], ...] = ()
    """`dlq.allowed_targets` (whole-name regexes); empty: no restriction."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetRules:
        dlq = settings.dlq
        return cls(
            routes=dict(dlq.routes),
            ledger_topic=dlq.ledger_topic,
            dlq_rules=TopicRules(
                settings.topics, ledger_topic=dlq.ledger_topic, dlq_routes=dlq.routes
            ),
            allowed=tuple(re.compile(pattern) for pattern in dlq.allowed_targets),
        )

    def refusal(self, target: str, dlq_topic: str) -> str | None:
        """Why a dead letter of `dlq_topic` may not be sent to `target`, or None."""
        problem = _topic_problem(target)
        if problem is not None:
            return problem
        if target == dlq_topic:
            return f"target {target} is the DLQ itself"
        if target.startswith("__"):
            return f"target {target} is an internal topic (__*): never a retry target"
        if target == self.ledger_topic:
            return f"target {target} is edamon's retry ledger (dlq.ledger_topic)"
        if self.dlq_rules.is_dlq(target) and self.routes.get(dlq_topic) != target:
            return (
                f"target {target} is a DLQ topic (topics.dlq); "
                f"a dlq.routes entry {dlq_topic} = {target} allows it"
            )
        if self.allowed and not any(pattern.fullmatch(target) for pattern in self.allowed):
            return f"target {target} is outside dlq.allowed_targets"
        return None


def resolve_target(dead_letter: DeadLetter, rules: TargetRules) -> Resolution:
    """The topic to redrive `dead_letter` to: the original topic its DLQ headers name (any
    convention), else `rules.routes[<its DLQ topic>]`; refused when neither gives a topic
    `rules` allows."""
    dlq_topic = dead_letter.record.topic
    original = dead_letter.info.original_topic
    if original:
        target, source = original, "header"
    elif dlq_topic in rules.routes:
        target, source = rules.routes[dlq_topic], "route"
    else:
        return Resolution(
            None,
            refusal=(
                f"no original topic in the DLQ headers and no dlq.routes entry for {dlq_topic}"
            ),
        )
    problem = _topic_problem(target)
    if problem is not None:
        return Resolution(None, source, f"target from {source}: {problem}")
    refusal = rules.refusal(target, dlq_topic)
    if refusal is not None:
        return Resolution(None, source, refusal)
    return Resolution(target, source)


@dataclass(frozen=True, slots=True)
class PlanItem:
    """What will happen to one dead letter."""

    dead_letter: DeadLetter
    action: Action
    target: str | None
    source: str | None
    """How the target was found: `header` or `route`."""
    reason: str | None
    """Why it is refused or skipped."""
    strip: tuple[str, ...]
    """Header names removed from the redriven record (as the caller's copy shows them)."""
    previous: LedgerEntry | None
    """The latest ledger entry of this dead letter."""
    attempt: int
    """The attempt number a send would carry."""

    @property
    def coords(self) -> str:
        return self.dead_letter.record.coords

    @property
    def already_retried(self) -> bool:
        return self.previous is not None and self.previous.retried


@dataclass(frozen=True, slots=True)
class RedrivePlan:
    """Every selected dead letter with its action, in the order they will be sent."""

    items: tuple[PlanItem, ...]
    force: bool = False

    def with_action(self, action: Action) -> tuple[PlanItem, ...]:
        """The items with `action`, in plan order."""
        return tuple(item for item in self.items if item.action is action)

    @property
    def to_send(self) -> tuple[PlanItem, ...]:
        return self.with_action(Action.SEND)

    @property
    def skipped(self) -> tuple[PlanItem, ...]:
        return self.with_action(Action.SKIP)

    @property
    def refused(self) -> tuple[PlanItem, ...]:
        return self.with_action(Action.REFUSE)

    def targets(self) -> dict[str, int]:
        """Target topic -> number of dead letters to send there, most first."""
        return dict(Counter(item.target for item in self.to_send if item.target).most_common())

    def stripped_headers(self) -> dict[str, int]:
        """Header name -> number of records to send that lose it, most first."""
        counts: Counter[str] = Counter()
        for item in self.to_send:
            counts.update(item.strip)
        return dict(counts.most_common())


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one dead letter."""

    coords: str
    outcome: Outcome
    target_topic: str | None = None
    target_partition: int | None = None
    target_offset: int | None = None
    reason: str | None = None
    attempt: int | None = None
    ledger_error: str | None = None
    """Set when the attempt could not be recorded in the ledger."""

    @property
    def target_coords(self) -> str | None:
        """`topic/partition/offset` of the copy, when sent."""
        if self.target_topic is None or self.target_partition is None:
            return None
        return f"{self.target_topic}/{self.target_partition}/{self.target_offset}"


@dataclass(frozen=True, slots=True)
class RedriveSummary:
    """The result of `Redriver.execute`: one ItemResult per plan item, in plan order."""

    results: tuple[ItemResult, ...]
    elapsed_s: float
    aborted: str | None = None
    """Why the run stopped before the end (failure with stop_on_failure, cancel, ledger)."""
    counts: dict[Outcome, int] = field(default_factory=dict)
    """Results per outcome (every outcome present, zeros included)."""

    def of(self, outcome: Outcome) -> tuple[ItemResult, ...]:
        """The results with `outcome`, in plan order."""
        return tuple(result for result in self.results if result.outcome is outcome)

    @property
    def sent(self) -> tuple[ItemResult, ...]:
        return self.of(Outcome.SENT)

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        return self.of(Outcome.FAILED)

    @property
    def ok(self) -> bool:
        """Everything was sent or skipped as already retried, and the ledger has it all."""
        return all(
            r.outcome in (Outcome.SENT, Outcome.SKIPPED) and r.ledger_error is None
            for r in self.results
        )


def summarize(results: Iterable[ItemResult], started: float, aborted: str | None) -> RedriveSummary:
    """A summary of `results`; `started` is the time.monotonic() of the start."""
    items = tuple(results)
    counts = Counter(result.outcome for result in items)
    return RedriveSummary(
        results=items,
        elapsed_s=time.monotonic() - started,
        aborted=aborted,
        counts={outcome: counts.get(outcome, 0) for outcome in Outcome},
    )
