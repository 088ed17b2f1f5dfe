"""How a correlation chain stores its events and links them (conventions §4): ingest.

`ChainStore` is the base of `Chain` (`edamon.model.chain`, which adds the views). It is built
incrementally: `add` is O(1) amortised, events may arrive in any order (a child before its
parent hangs under a PLACEHOLDER until the parent shows up), duplicate deliveries are counted,
failed-handler (dead-letter) and redriven-copy nodes join the flow, and causation loops are
detected when they close. Every traversal is iterative with visited sets, so neither loops nor
chains of many thousands of events can hang or overflow the stack.

Memory matters (the collector retains up to a million events): a chain stores each event's
envelope and nothing else per event. Tree links are not stored but derived: a node's parent is
the node its cause names (the event's causation id; for a dead letter the original event; for a
redriven copy its dead letter, else the original event), or the placeholder standing for that
cause while it is missing, or none (a root) when the cause is the flow's correlation id itself
and no event has that id yet. The tree is built from that only for a view.

What is stored per node is in `edamon.model.chainnodes`. The underscored names are internal to
the chain's modules, which import them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from edamon.model.chainnodes import (
    _DLQ,
    _RETRY,
    DLQ_PREFIX,
    RETRY_HEADER,
    RETRY_PREFIX,
    _Special,
    _Stored,
)
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.snapshot import ChainNode, ChainSummary
from edamon.model.status import SagaState

__all__ = ["ChainStore"]

_INF = float("inf")
_NINF = float("-inf")


class ChainStore:
    """A chain's nodes and counters, linked by causation; `Chain` adds the views."""

    __slots__ = (
        "_corr_waiting",
        "_dead_letters",
        "_duplicates",
        "_dups",
        "_end",
        "_events",
        "_first",
        "_last_update",
        "_loop_ids",
        "_loops",
        "_nodes",
        "_orphans",
        "_placeholders",
        "_retry_waiting",
        "_rows",
        "_start",
        "_summary",
        "_version",
        "_view",
        "correlation_id",
    )

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self._nodes: dict[str, _Stored] = {}
        self._placeholders: dict[str, int] | None = None
        """Missing causes something hangs under, each with how many events hang there."""
        self._corr_waiting = 0
        """Nodes caused by the correlation id itself while no event has that id."""
        self._retry_waiting: dict[str, int] | None = None
        """Redriven copies per missing dead-letter node id."""
        self._events = 0
        self._duplicates = 0
        self._dups: dict[str, int] | None = None
        """Duplicate deliveries per node id."""
        self._dead_letters = 0
        self._orphans = 0
        self._start = _INF
        self._end = _NINF
        self._last_update = _NINF
        self._first: Envelope | None = None
        """The earliest event (time, then id)."""
        self._loops: list[tuple[str, ...]] | None = None
        self._loop_ids: set[str] | None = None
        self._version = 0
        # The views' caches (kept here so that one __init__ sets every slot; `Chain` uses them):
        self._summary: tuple[tuple[int, str | None, SagaState | None], ChainSummary] | None = None
        self._view: tuple[int, tuple[ChainNode, ...], tuple[tuple[str, ...], ...]] | None = None
        self._rows: dict[str, ChainNode] | None = None
        """The rows of the last view by node id, reused while nothing they show changes."""

    # ------------------------------------------------------------------ ingest

    def add(self, env: Envelope, now: float | None = None) -> bool:
        """Add an event; False (and counted) when its event id is already in the chain.

        `now` is the arrival time used for `last_update` (default: the event's time). A record
        carrying the `edamon-retry-of` header is a redriven copy of a dead letter: it becomes a
        RETRIED node `retry:<its coords>` under `dlq:<that coords>` (else under the original).
        """
        record = env.record
        headers = record.headers
        if headers:
            for name, _ in headers:
                if name == RETRY_HEADER:
                    retry_of = record.header_text(RETRY_HEADER)
                    if retry_of:
                        return self._add_retry(env, retry_of, now)
                    break
        event_id = env.event_id
        time = env.occurred_at
        if time is None:
            time = record.timestamp_ms / 1000.0
        if now is None:
            now = time
        nodes = self._nodes
        placeholders = self._placeholders
        if event_id in nodes:
            self._duplicates += 1
            self._count_duplicate(event_id)
            self._touch(now)
            return False
        nodes[event_id] = env
        had_children = False
        if placeholders is not None and event_id in placeholders:  # the awaited cause
            self._orphans -= placeholders.pop(event_id)
            had_children = True
        self._events += 1
        first = self._first
        if first is None:
            self._first = env
        else:
            first_time = first.time
            if time < first_time or (time == first_time and event_id < first.event_id):
                self._first = env
        if time < self._start:
            self._start = time
        if time > self._end:
            self._end = time
        cause = env.causation_id
        if cause and cause != event_id and cause not in nodes:
            self._await(cause, True)
        if event_id == self.correlation_id and self._corr_waiting:
            self._corr_waiting = 0
            had_children = True
        if had_children:
            self._check_loop(event_id)
        if now > self._last_update:
            self._last_update = now
        self._version += 1
        return True

    def add_dead_letter(self, dl: DeadLetter, now: float | None = None) -> bool:
        """Add a failed-handler node `dlq:<coords>` (DEAD_LETTERED) under the original event
        (a placeholder when it is not present). Returns False for a record already added."""
        node_id = DLQ_PREFIX + dl.coords
        time = dl.record.timestamp_ms / 1000.0
        if node_id in self._nodes or (self._placeholders and node_id in self._placeholders):
            self._count_duplicate(node_id)
            self._touch(time if now is None else now)
            return False
        cause = dl.envelope.event_id if dl.envelope is not None else None
        node = _Special(node_id, _DLQ, time, dl.envelope, cause)
        node.dl = dl
        info = dl.info
        parts = [p for p in (info.exception_class, info.exception_message) if p]
        node.detail = ": ".join(parts) or dl.decode_error or "dead-lettered"
        self._nodes[node_id] = node
        self._dead_letters += 1
        self._extend(time)
        if cause is not None and cause not in self._nodes:
            self._await(cause, False)
        waiting = self._retry_waiting.pop(node_id, 0) if self._retry_waiting is not None else 0
        if waiting or cause == node_id:  # redriven copies now hang under it; or itself does
            self._check_loop(node_id)
        self._touch(time if now is None else now)
        return True

    def _add_retry(self, env: Envelope, retry_of: str, now: float | None) -> bool:
        node_id = RETRY_PREFIX + env.record.coords
        time = env.record.timestamp_ms / 1000.0
        if node_id in self._nodes or (self._placeholders and node_id in self._placeholders):
            self._count_duplicate(node_id)
            self._duplicates += 1
            self._touch(time if now is None else now)
            return False
        node = _Special(node_id, _RETRY, time, env, env.event_id)
        node.dlq_id = dlq_id = DLQ_PREFIX + retry_of
        node.detail = f"redrive of {retry_of}"
        self._events += 1
        self._nodes[node_id] = node
        self._extend(time)
        if dlq_id in self._nodes or (self._placeholders and dlq_id in self._placeholders):
            node.under_dlq = True
        else:
            if self._retry_waiting is None:
                self._retry_waiting = {}
            self._retry_waiting[dlq_id] = self._retry_waiting.get(dlq_id, 0) + 1
            if env.event_id not in self._nodes:
                self._await(env.event_id, False)
            elif env.event_id == node_id:  # its own cause
                self._check_loop(node_id)
        self._touch(time if now is None else now)
        return True

    def _await(self, cause: str, is_event: bool) -> None:
        """A node was added whose cause `cause` is missing: it hangs under a placeholder for
        it, or is a root until an event with that id comes when it is the correlation id."""
        if cause == self.correlation_id:
            self._corr_waiting += 1
            return
        placeholders = self._placeholders
        if placeholders is None:
            placeholders = self._placeholders = {}
        placeholders[cause] = placeholders.get(cause, 0) + is_event
        self._orphans += is_event

    def _count_duplicate(self, node_id: str) -> None:
        dups = self._dups
        if dups is None:
            dups = self._dups = {}
        dups[node_id] = dups.get(node_id, 0) + 1

    def _touch(self, now: float) -> None:
        if now > self._last_update:
            self._last_update = now
        self._version += 1

    def _extend(self, time: float) -> None:
        if time < self._start:
            self._start = time
        if time > self._end:
            self._end = time

    # ------------------------------------------------------------------ links

    def _parent(self, node_id: str) -> str | None:
        """The id of a present node's parent (a node or a placeholder), None for a root."""
        stored = self._nodes[node_id]
        if isinstance(stored, _Special):
            dlq_id = stored.dlq_id
            if dlq_id is not None:  # a redriven copy
                if stored.under_dlq:
                    return dlq_id
                dlq = self._nodes.get(dlq_id)
                if isinstance(dlq, _Special) and dlq.kind == _DLQ:  # it came after the copy
                    return dlq_id
            cause = stored.cause
            if cause is None:
                return None
        else:
            cause = stored.causation_id
            if not cause or cause == node_id:
                return None
        if cause == self.correlation_id and cause not in self._nodes:
            return None  # a root until an event with that id shows up
        return cause

    def _check_loop(self, node_id: str) -> None:
        """Walk up from the node's parent: reaching the node again means a causation loop."""
        path = [node_id]
        nodes = self._nodes
        current = self._parent(node_id)
        for _ in range(len(nodes)):  # bounded even if another loop is met on the way
            if current is None or current == node_id or current not in nodes:
                break
            path.append(current)
            current = self._parent(current)
        if current != node_id:
            return
        path.reverse()  # cause before effect
        keys = [(nodes[n].time, n) for n in path]
        first = min(range(len(path)), key=keys.__getitem__)
        cycle = tuple(path[first:] + path[:first])
        if self._loops is None or self._loop_ids is None:
            self._loops, self._loop_ids = [], set()
        self._loops.append(cycle)
        self._loop_ids.update(cycle)

    # -------------------------------------------------------------- properties

    @property
    def event_count(self) -> int:
        """Records accepted by `add`: distinct events plus redriven copies (each redrive is a
        record of its own), not placeholders or dead letters."""
        return self._events

    @property
    def duplicates(self) -> int:
        """Duplicate deliveries seen (same event id, or the same redriven record, again)."""
        return self._duplicates

    @property
    def dead_letters(self) -> int:
        """Dead-letter records attached to this chain."""
        return self._dead_letters

    @property
    def orphans(self) -> int:
        """Events whose cause has not been seen (they hang under a placeholder)."""
        return self._orphans

    @property
    def has_loop(self) -> bool:
        """True once a causation loop has closed in this chain."""
        return self._loops is not None

    @property
    def loops(self) -> tuple[tuple[str, ...], ...]:
        """Each causation loop as node ids, cause before effect, earliest node first."""
        return tuple(self._loops or ())

    @property
    def start(self) -> float:
        """Earliest time of the chain's nodes (0.0 while empty)."""
        return self._start if self._nodes else 0.0

    @property
    def end(self) -> float:
        """Latest time of the chain's nodes (0.0 while empty)."""
        return self._end if self._nodes else 0.0

    @property
    def last_update(self) -> float:
        """Latest arrival time passed to `add`/`add_dead_letter` (default: event time)."""
        return self._last_update if self._nodes else 0.0

    @property
    def root_type(self) -> str:
        """Event type of the earliest root event; else of the earliest event; else ""."""
        roots = [
            stored
            for node_id, stored in self._nodes.items()
            if not isinstance(stored, _Special) and self._parent(node_id) is None
        ]
        env = min(roots, key=lambda e: (e.time, e.event_id)) if roots else self._first
        return env.event_type if env is not None else ""

    def envelopes(self) -> Iterator[Envelope]:
        """The envelopes of the real events in the chain (no dead-letter or retry nodes)."""
        return (stored for stored in self._nodes.values() if not isinstance(stored, _Special))

    def event_ids(self) -> Iterator[str]:
        """Ids of the real events in the chain."""
        return (env.event_id for env in self.envelopes())

    def envelope(self, event_id: str) -> Envelope | None:
        """The envelope of a real event in the chain, or None."""
        stored = self._nodes.get(event_id)
        return None if stored is None or isinstance(stored, _Special) else stored

    def is_special(self, node_id: str) -> bool:
        """Whether `node_id` is one of this chain's dead-letter or redriven-copy nodes."""
        return isinstance(self._nodes.get(node_id), _Special)

    @staticmethod
    def find(chains: Iterable[ChainStore], event_id: str) -> Envelope | None:
        """The envelope of a real event with that id in the first of `chains` that has one: a
        scan (there is no index by event id), about 0.1 µs per chain."""
        for chain in chains:
            stored = chain._nodes.get(event_id)
            if stored is not None and not isinstance(stored, _Special):
                return stored
        return None
