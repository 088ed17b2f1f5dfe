"""Saga instances followed from the events of a flow (conventions §4; Eventuate Tram, Temporal).

One instance per correlation id, bound to the definition whose start event created it. Works
for choreographed sagas (services react to events) and orchestrated ones (commands, replies and
compensation commands are all just event types in the definition).

States: RUNNING (step i) -> ... -> COMPLETED; a failure of step i -> COMPENSATING (step k being
undone, latest succeeded step first) -> COMPENSATED, or FAILED when nothing can be compensated
or when another step fails while compensating. STUCK (no progress for longer than the timeout)
and DEAD-LETTERED (a step's event sits in a DLQ) overlay RUNNING/COMPENSATING; the next progress
clears them. Events may arrive out of order: a success, command or failure of a later step
implies that the steps before it succeeded.

A step is compensated when the LAST type of its `compensation` list is seen; earlier types (an
orchestrator's compensation command, e.g. `[ReleaseStock, StockReleased]`) mark it as under way.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from enum import IntEnum
from operator import attrgetter

from edamon.config import SagaDefinition
from edamon.model.snapshot import SagaInstance, SagaSummary
from edamon.model.status import SagaState

_RUNNING, _COMPENSATING = SagaState.RUNNING, SagaState.COMPENSATING
_FINISHED = frozenset({SagaState.COMPLETED, SagaState.COMPENSATED, SagaState.FAILED})
_ACTIVE = frozenset({_RUNNING, _COMPENSATING})
_RECENCY = attrgetter("updated", "cid")


class _Role(IntEnum):
    START = 0
    COMMAND = 1
    SUCCESS = 2
    FAILURE = 3
    COMPENSATION = 4
    COMPENSATION_DONE = 5


class _Def:
    """A definition, precomputed: event type -> [(role, step)], counts, finished durations."""

    __slots__ = (
        "compensable",
        "counts",
        "durations",
        "name",
        "roles",
        "steps",
        "summary",
        "timeout",
    )

    def __init__(self, definition: SagaDefinition) -> None:
        self.name = definition.name
        self.timeout = definition.timeout_s
        self.steps = tuple(step.name for step in definition.steps)
        self.compensable = tuple(bool(step.compensation) for step in definition.steps)
        roles: dict[str, list[tuple[_Role, int]]] = {}
        for event_type in definition.start:
            roles.setdefault(event_type, []).append((_Role.START, 0))
        for index, step in enumerate(definition.steps):
            for kind, types in (
                (_Role.COMMAND, step.command),
                (_Role.SUCCESS, step.success),
                (_Role.FAILURE, step.failure),
            ):
                for event_type in types:
                    roles.setdefault(event_type, []).append((kind, index))
            for position, event_type in enumerate(step.compensation):
                last = position == len(step.compensation) - 1
                kind = _Role.COMPENSATION_DONE if last else _Role.COMPENSATION
                roles.setdefault(event_type, []).append((kind, index))
        self.roles = {event_type: tuple(entries) for event_type, entries in roles.items()}
        self.counts = dict.fromkeys(SagaState, 0)
        self.durations: dict[str, float] = {}
        self.summary: SagaSummary | None = None


class _Instance:
    __slots__ = (
        "armed",
        "cid",
        "commanded",
        "compensated",
        "compensating",
        "defn",
        "done",
        "duration",
        "failed_step",
        "overlay",
        "phase",
        "started",
        "step",
        "timeout",
        "updated",
        "view",
    )

    def __init__(self, cid: str, defn: _Def, time: float) -> None:
        self.cid = cid
        self.defn = defn
        self.timeout = defn.timeout
        self.phase = _RUNNING
        """RUNNING, COMPENSATING or a finished state; STUCK/DEAD-LETTERED live in `overlay`."""
        self.overlay: SagaState | None = None
        self.step = 0
        self.done = 0
        """Steps 0..done-1 succeeded (a prefix: a later step implies the earlier ones)."""
        self.commanded = -1
        self.compensating: set[int] = set()
        self.compensated: set[int] = set()
        self.failed_step: int | None = None
        """The step whose failure started compensation; -1 when compensation came first."""
        self.started = time
        self.updated = time
        self.duration: float | None = None
        self.view: SagaInstance | None = None
        self.armed = False

    @property
    def state(self) -> SagaState:
        return self.overlay or self.phase

    def pending(self) -> list[int]:
        """Succeeded steps with compensation types that are not compensated yet."""
        defn = self.defn
        return [s for s in range(self.done) if defn.compensable[s] and s not in self.compensated]


class SagaTracker:
    """Follows saga instances, one per correlation id; cheap to query at a few Hz."""

    def __init__(self, definitions: Sequence[SagaDefinition]) -> None:
        self._defs = [_Def(d) for d in definitions]
        self._starts: dict[str, _Def] = {}
        for defn in self._defs:  # the first definition naming a start type wins
            for event_type, entries in defn.roles.items():
                if any(role == _Role.START for role, _ in entries):
                    self._starts.setdefault(event_type, defn)
        self._instances: dict[str, _Instance] = {}
        self._heap: list[tuple[float, int, _Instance]] = []
        self._seq = itertools.count()
        self._version = 0
        self._listing: tuple[tuple[int, int | None], tuple[SagaInstance, ...]] | None = None

    # ---------------------------------------------------------------- updates

    def observe(self, correlation_id: str, event_type: str, time: float) -> None:
        """Feed one (new, not duplicate) event of flow `correlation_id`."""
        inst = self._instances.get(correlation_id)
        if inst is None:
            defn = self._starts.get(event_type)
            if defn is not None:
                inst = _Instance(correlation_id, defn, time)
                self._instances[correlation_id] = inst
                defn.counts[_RUNNING] += 1
                defn.summary = None
                self._version += 1
                self._arm(inst)
            return
        roles = inst.defn.roles.get(event_type)
        if roles is None:
            return
        before = inst.state
        progress = False
        for role, step in roles:
            progress = self._apply(inst, role, step) or progress
        if progress:
            inst.overlay = None
        if time < inst.started:
            inst.started = time
        if time > inst.updated:
            inst.updated = time
        self._changed(inst, before)

    def dead_lettered(self, correlation_id: str, time: float) -> None:
        """A step's event of this flow sits in a DLQ: DEAD-LETTERED unless already finished."""
        inst = self._instances.get(correlation_id)
        if inst is None or inst.phase in _FINISHED:
            return
        before = inst.state
        inst.overlay = SagaState.DEAD_LETTERED
        inst.updated = max(inst.updated, time)
        self._changed(inst, before)

    def tick(self, now: float) -> None:
        """RUNNING/COMPENSATING instances with no event for longer than the timeout: STUCK."""
        heap = self._heap
        while heap and heap[0][0] < now:
            _, _, inst = heapq.heappop(heap)
            inst.armed = False
            if self._instances.get(inst.cid) is not inst or inst.state not in _ACTIVE:
                continue
            deadline = inst.updated + inst.timeout
            if deadline < now:
                before = inst.state
                inst.overlay = SagaState.STUCK
                self._changed(inst, before)
            else:
                self._arm(inst)

    def evict(self, correlation_id: str) -> None:
        """Forget the instance of a flow (when the collector evicts the chain)."""
        inst = self._instances.pop(correlation_id, None)
        if inst is None:
            return
        defn = inst.defn
        defn.counts[inst.state] -= 1
        defn.durations.pop(correlation_id, None)
        defn.summary = None
        self._version += 1

    def _apply(self, inst: _Instance, role: _Role, step: int) -> bool:
        """Apply one role of an event; True when the instance made progress."""
        phase = inst.phase
        if role >= _Role.COMPENSATION:
            return self._compensate(inst, step, role == _Role.COMPENSATION_DONE)
        if phase in _FINISHED or role == _Role.START:
            return False
        if role == _Role.FAILURE:
            if phase == _COMPENSATING:
                if inst.failed_step == -1:  # compensation was seen before the failure
                    inst.failed_step = step
                    return True
                if step == inst.failed_step:
                    return False
                inst.phase, inst.step = SagaState.FAILED, step
                return True
            if step < inst.step:
                return False  # that step already succeeded
            inst.done = max(inst.done, step)
            inst.failed_step = inst.step = step
            pending = inst.pending()
            if pending:
                inst.phase, inst.step = _COMPENSATING, max(pending)
            else:
                inst.phase = SagaState.FAILED
            return True
        if phase != _RUNNING or step < inst.step:
            return False
        if role == _Role.COMMAND:
            progress = step > inst.step or inst.commanded < step
            inst.done = max(inst.done, step)
            inst.step = step
            inst.commanded = step
            return progress
        inst.done = step + 1  # success of `step`
        inst.step = step + 1
        if inst.step >= len(inst.defn.steps):
            inst.phase = SagaState.COMPLETED
        return True

    def _compensate(self, inst: _Instance, step: int, final: bool) -> bool:
        if step >= inst.done or step in inst.compensated:
            return False  # never succeeded, or already undone
        if final:
            inst.compensated.add(step)
        elif step in inst.compensating:
            return False
        else:
            inst.compensating.add(step)
        if inst.phase in (_RUNNING, SagaState.COMPLETED):  # the failure has not been seen
            inst.phase, inst.failed_step = _COMPENSATING, -1
        if inst.phase == _COMPENSATING:
            pending = inst.pending()
            if pending:
                inst.step = max(pending)
            else:
                inst.phase = SagaState.COMPENSATED
                failed = inst.failed_step
                inst.step = failed if failed is not None and failed >= 0 else min(inst.compensated)
        return True

    def _arm(self, inst: _Instance) -> None:
        if not inst.armed and inst.state in _ACTIVE:
            inst.armed = True
            deadline = inst.updated + inst.timeout
            heapq.heappush(self._heap, (deadline, next(self._seq), inst))

    def _changed(self, inst: _Instance, before: SagaState) -> None:
        inst.view = None
        self._version += 1
        after = inst.state
        defn = inst.defn
        if after != before:
            defn.counts[before] -= 1
            defn.counts[after] += 1
            defn.summary = None
            if after in _FINISHED and before not in _FINISHED:
                inst.duration = max(0.0, inst.updated - inst.started)
                defn.durations[inst.cid] = inst.duration
            elif before in _FINISHED and after not in _FINISHED:
                inst.duration = None
                defn.durations.pop(inst.cid, None)
        self._arm(inst)

    # ---------------------------------------------------------------- queries

    def instance(self, correlation_id: str) -> SagaInstance | None:
        """The saga instance of a flow, or None (cached until it changes)."""
        inst = self._instances.get(correlation_id)
        return None if inst is None else self._view(inst)

    @staticmethod
    def _view(inst: _Instance) -> SagaInstance:
        view = inst.view
        if view is None:
            steps = inst.defn.steps
            duration = inst.duration
            view = inst.view = SagaInstance(
                correlation_id=inst.cid,
                saga=inst.defn.name,
                state=inst.state,
                step=min(inst.step + 1, len(steps)),
                step_name=steps[inst.step] if inst.step < len(steps) else "",
                started=inst.started,
                updated=inst.updated,
                duration_s=duration if duration is not None else inst.updated - inst.started,
            )
        return view

    def instances(self, limit: int | None = None) -> tuple[SagaInstance, ...]:
        """Instances, most recently updated first (ties by correlation id); cached until
        something changes."""
        cached = self._listing
        if cached is not None and cached[0] == (self._version, limit):
            return cached[1]
        chosen = sorted(self._instances.values(), key=_RECENCY, reverse=True)  # nearly sorted
        if limit is not None:
            chosen = chosen[: max(0, limit)]
        listing = tuple(self._view(inst) for inst in chosen)
        self._listing = ((self._version, limit), listing)
        return listing

    def select(self, state: SagaState | None, saga: str | None) -> tuple[SagaInstance, ...]:
        """Every instance in `state`, of the saga named `saga` (None: any), most recently
        updated first (ties by correlation id): not only those `instances(limit)` lists."""
        chosen = [
            inst
            for inst in self._instances.values()
            if (state is None or inst.state is state) and (saga is None or inst.defn.name == saga)
        ]
        chosen.sort(key=_RECENCY, reverse=True)
        return tuple(self._view(inst) for inst in chosen)

    def summaries(self) -> tuple[SagaSummary, ...]:
        """One summary per definition: every state with its count (SagaState order) and
        p50/p95 of the durations of finished instances. Cached until something changes."""
        out = []
        for defn in self._defs:
            if defn.summary is None:
                durations = sorted(defn.durations.values())
                defn.summary = SagaSummary(
                    saga=defn.name,
                    counts=tuple((state, defn.counts[state]) for state in SagaState),
                    p50_s=percentile(durations, 0.50),
                    p95_s=percentile(durations, 0.95),
                )
            out.append(defn.summary)
        return tuple(out)


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of sorted values, interpolating linearly between ranks; None when
    empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * min(1.0, max(0.0, q))
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
