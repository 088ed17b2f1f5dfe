"""Correlation chains: the events of one flow as a causation tree (conventions §4).

A `Chain` is mutable and owned by the collector (one per correlation id). It is built
incrementally: `add` is O(1) amortised, events may arrive in any order (a child before its
parent hangs under a PLACEHOLDER until the parent shows up), duplicate deliveries are counted,
and causation loops are detected when they close. Every traversal is iterative with visited
sets, so neither loops nor chains of many thousands of events can hang or overflow the stack.
`view()` turns the tree into immutable rows in waterfall order with the critical path marked.
"""

from __future__ import annotations

from collections.abc import Iterator

from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.snapshot import ChainNode, ChainSummary, ChainView
from edamon.model.status import NodeStatus, SagaState
from edamon.model.waterfall import critical_path, layout, subtree_ends

RETRY_HEADER = "edamon-retry-of"
"""Header on a redriven copy of a dead letter: `<dlq topic>/<partition>/<offset>`."""
DLQ_PREFIX = "dlq:"
"""Id prefix of a failed-handler node: `dlq:<dlq record coords>`."""
RETRY_PREFIX = "retry:"
"""Id prefix of a redriven copy: `retry:<coords of the redriven record>`."""

_EVENT, _PLACEHOLDER, _DLQ, _RETRY = 0, 1, 2, 3
_STATUS = (NodeStatus.OK, NodeStatus.PLACEHOLDER, NodeStatus.DEAD_LETTERED, NodeStatus.RETRIED)


class _Node:
    """One vertex of the causation graph. `parent` and `children` are node references."""

    __slots__ = (
        "children",
        "detail",
        "dl",
        "duplicates",
        "env",
        "id",
        "kind",
        "parent",
        "row",
        "time",
    )

    def __init__(self, node_id: str, kind: int, time: float, env: Envelope | None = None) -> None:
        self.id = node_id
        self.kind = kind
        self.time = time
        self.env = env
        self.parent: _Node | None = None
        self.children: list[_Node] | None = None
        self.duplicates = 0
        self.dl: DeadLetter | None = None
        self.detail: str | None = None
        self.row: ChainNode | None = None


def _sibling_key(node: _Node) -> tuple[float, str]:
    return (node.time, node.id)


def _children(node: _Node) -> list[_Node]:
    return node.children or []


class Chain:
    """All events sharing one correlation id, as a causation tree (parent = cause)."""

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self._nodes: dict[str, _Node] = {}
        self._roots: dict[str, _Node] = {}
        self._placeholders: dict[str, _Node] = {}
        self._corr_waiting: list[_Node] = []
        self._retry_waiting: dict[str, list[_Node]] = {}
        self._events = 0
        self._duplicates = 0
        self._dead_letters = 0
        self._orphans = 0
        self._start = float("inf")
        self._end = float("-inf")
        self._last_update = float("-inf")
        self._first: tuple[float, str, str] | None = None
        self._loops: list[tuple[str, ...]] = []
        self._loop_ids: set[str] = set()
        self._version = 0
        self._summary_key: tuple[int, str | None, SagaState | None] | None = None
        self._summary: ChainSummary | None = None
        self._view_version = -1
        self._view: tuple[tuple[ChainNode, ...], tuple[tuple[str, ...], ...]] = ((), ())

    # ------------------------------------------------------------------ ingest

    def add(self, env: Envelope, now: float | None = None) -> bool:
        """Add an event; False (and counted) when its event id is already in the chain.

        `now` is the arrival time used for `last_update` (default: the event's time). A record
        carrying the `edamon-retry-of` header is a redriven copy of a dead letter: it becomes a
        RETRIED node `retry:<its coords>` under `dlq:<that coords>` (else under the original).
        """
        record = env.record
        if record.headers:
            retry_of = record.header_text(RETRY_HEADER)
            if retry_of:
                return self._add_retry(env, retry_of, now)
        event_id = env.event_id
        time = env.time
        node = self._nodes.get(event_id)
        if node is not None and node.kind != _PLACEHOLDER:
            node.duplicates += 1
            self._duplicates += 1
            self._touch(time if now is None else now)
            return False
        if node is None:
            node = _Node(event_id, _EVENT, time, env)
            self._nodes[event_id] = node
        else:  # a placeholder: the awaited cause has arrived
            del self._placeholders[event_id]
            node.kind, node.env, node.time = _EVENT, env, time
            if node.children:
                self._orphans -= sum(1 for c in node.children if c.kind == _EVENT)
        self._events += 1
        first = self._first
        if first is None or time < first[0] or (time == first[0] and event_id < first[1]):
            self._first = (time, event_id, env.event_type)
        self._extend(time)
        cause = env.causation_id
        self._attach(node, None if not cause or cause == event_id else cause)
        if event_id == self.correlation_id and self._corr_waiting:
            waiting, self._corr_waiting = self._corr_waiting, []
            for child in waiting:
                self._relink(child, node)
        self._touch(time if now is None else now)
        return True

    def add_dead_letter(self, dl: DeadLetter, now: float | None = None) -> bool:
        """Add a failed-handler node `dlq:<coords>` (DEAD_LETTERED) under the original event
        (a placeholder when it is not present). Returns False for a record already added."""
        node_id = DLQ_PREFIX + dl.coords
        time = dl.record.timestamp_ms / 1000.0
        existing = self._nodes.get(node_id)
        if existing is not None:
            existing.duplicates += 1
            self._touch(time if now is None else now)
            return False
        node = _Node(node_id, _DLQ, time, dl.envelope)
        node.dl = dl
        info = dl.info
        parts = [p for p in (info.exception_class, info.exception_message) if p]
        node.detail = ": ".join(parts) or dl.decode_error or "dead-lettered"
        self._nodes[node_id] = node
        self._dead_letters += 1
        self._extend(time)
        self._attach(node, dl.envelope.event_id if dl.envelope is not None else None)
        for retry in self._retry_waiting.pop(node_id, ()):
            self._relink(retry, node)
        self._touch(time if now is None else now)
        return True

    def _add_retry(self, env: Envelope, retry_of: str, now: float | None) -> bool:
        node_id = RETRY_PREFIX + env.record.coords
        time = env.record.timestamp_ms / 1000.0
        existing = self._nodes.get(node_id)
        if existing is not None:
            existing.duplicates += 1
            self._duplicates += 1
            self._touch(time if now is None else now)
            return False
        node = _Node(node_id, _RETRY, time, env)
        self._events += 1
        node.detail = f"redrive of {retry_of}"
        self._nodes[node_id] = node
        self._extend(time)
        dlq_id = DLQ_PREFIX + retry_of
        dlq = self._nodes.get(dlq_id)
        if dlq is not None:
            self._link(node, dlq)
        else:
            self._retry_waiting.setdefault(dlq_id, []).append(node)
            self._attach(node, env.event_id)
        self._touch(time if now is None else now)
        return True

    def _touch(self, now: float) -> None:
        if now > self._last_update:
            self._last_update = now
        self._version += 1

    def _extend(self, time: float) -> None:
        if time < self._start:
            self._start = time
        if time > self._end:
            self._end = time

    def _attach(self, node: _Node, cause: str | None) -> None:
        """Link `node` under its cause: present node, new placeholder, or none (a root)."""
        if cause is not None:
            parent = self._nodes.get(cause)
            if parent is not None:
                self._link(node, parent)
                return
            if cause != self.correlation_id:
                parent = _Node(cause, _PLACEHOLDER, node.time)
                self._nodes[cause] = parent
                self._placeholders[cause] = parent
                self._link(node, parent)
                return
            self._corr_waiting.append(node)  # a root until an event with that id shows up
        self._roots[node.id] = node

    def _link(self, node: _Node, parent: _Node) -> None:
        node.parent = parent
        if parent.children is None:
            parent.children = [node]
        else:
            parent.children.append(node)
        if node.kind == _EVENT and parent.kind == _PLACEHOLDER:
            self._orphans += 1
        if node.children:  # only a node with descendants can close a loop
            self._check_loop(node)

    def _relink(self, node: _Node, parent: _Node) -> None:
        old = node.parent
        if old is None:
            self._roots.pop(node.id, None)
            if node in self._corr_waiting:
                self._corr_waiting.remove(node)
        else:
            if old.children is not None:
                old.children.remove(node)
            if node.kind == _EVENT and old.kind == _PLACEHOLDER:
                self._orphans -= 1
        self._link(node, parent)

    def _check_loop(self, node: _Node) -> None:
        """Walk up from `node`'s parent: reaching `node` again means a causation loop."""
        path = [node]
        current = node.parent
        for _ in range(len(self._nodes)):  # bounded even if another loop is met on the way
            if current is None or current is node:
                break
            path.append(current)
            current = current.parent
        if current is not node:
            return
        path.reverse()  # cause before effect
        first = min(range(len(path)), key=lambda i: _sibling_key(path[i]))
        cycle = tuple(n.id for n in path[first:] + path[:first])
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
        return bool(self._loops)

    @property
    def loops(self) -> tuple[tuple[str, ...], ...]:
        """Each causation loop as node ids, cause before effect, earliest node first."""
        return tuple(self._loops)

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
        roots = [n for n in self._roots.values() if n.kind == _EVENT]
        env = min(roots, key=_sibling_key).env if roots else None
        if env is not None:
            return env.event_type
        return self._first[2] if self._first is not None else ""

    def event_ids(self) -> Iterator[str]:
        """Ids of the real events in the chain (for the collector's index and eviction)."""
        return (n.id for n in self._nodes.values() if n.kind == _EVENT)

    def envelope(self, event_id: str) -> Envelope | None:
        """The envelope of a real event in the chain, or None."""
        node = self._nodes.get(event_id)
        return node.env if node is not None and node.kind == _EVENT else None

    # ------------------------------------------------------------------- views

    def summary(self, saga: str | None = None, saga_state: SagaState | None = None) -> ChainSummary:
        """A one-row summary; cached until the chain changes."""
        key = (self._version, saga, saga_state)
        if self._summary is not None and self._summary_key == key:
            return self._summary
        summary = ChainSummary(
            correlation_id=self.correlation_id,
            root_type=self.root_type,
            events=self._events,
            start=self.start,
            end=self.end,
            duration_s=self.end - self.start,
            dead_letters=self._dead_letters,
            orphans=self._orphans,
            has_loop=bool(self._loops),
            saga=saga,
            saga_state=saga_state,
            last_update=self.last_update,
        )
        self._summary, self._summary_key = summary, key
        return summary

    def view(self, saga: str | None = None, saga_state: SagaState | None = None) -> ChainView:
        """The tree as rows in waterfall order with depth, offsets and the critical path.

        Order: rooted trees (roots by time), then the subtrees waiting under placeholders, then
        what hangs only on causation loops; children after their parent, siblings by time then
        id. Cached until the chain changes.
        """
        if self._view_version != self._version:
            self._view = (self._build_rows(), tuple(self._loops))
            self._view_version = self._version
        nodes, loops = self._view
        return ChainView(summary=self.summary(saga, saga_state), nodes=nodes, loops=loops)

    def _build_rows(self) -> tuple[ChainNode, ...]:
        for placeholder in self._placeholders.values():  # it happened before its children
            placeholder.time = min((c.time for c in placeholder.children or ()), default=0.0)
        tops = [
            *sorted(self._roots.values(), key=_sibling_key),
            *sorted(self._placeholders.values(), key=_sibling_key),
            *(self._nodes[loop[0]] for loop in self._loops),
            *self._nodes.values(),  # safety net: anything not reached yet
        ]
        tree = layout(tops, _children, _sibling_key)
        order, depth = tree.order, tree.depth
        starts = [n.time for n in order]
        ends = subtree_ends(starts, tree.parent)
        heads = [i for i, n in enumerate(order) if depth[i] == 0 and n.id in self._roots]
        if not heads:
            heads = [i for i, n in enumerate(order) if depth[i] == 0 and n.kind == _PLACEHOLDER]
        critical: set[int] = set()
        if heads:
            top = max(heads, key=lambda i: (ends[i], -i))
            critical = critical_path(top, starts, ends, tree.parent, tree.children)
        start = self.start
        return tuple(
            self._row(node, depth[i], start, i in critical) for i, node in enumerate(order)
        )

    def _row(self, node: _Node, depth: int, start: float, critical: bool) -> ChainNode:
        parent, env, dl = node.parent, node.env, node.dl
        status, detail = _STATUS[node.kind], node.detail
        if node.id in self._loop_ids:
            status, detail = NodeStatus.LOOP, "causation loop"
        elif node.kind == _EVENT and parent is not None and parent.kind == _PLACEHOLDER:
            status = NodeStatus.ORPHAN
        hop = None
        if parent is not None and parent.kind != _PLACEHOLDER and node.kind != _PLACEHOLDER:
            hop = node.time - parent.time
        offset = node.time - start
        row = node.row  # reuse the previous row when nothing it shows has changed
        if (
            row is not None
            and row.status is status
            and row.depth == depth
            and row.time == node.time
            and row.critical is critical
            and row.offset_s == offset
            and row.hop_s == hop
            and row.duplicates == node.duplicates
            and row.parent_id == (parent.id if parent is not None else None)
        ):
            return row
        record = dl.record if dl is not None else env.record if env is not None else None
        row = node.row = ChainNode(
            event_id=node.id,
            event_type=env.event_type if env is not None else "",
            parent_id=parent.id if parent is not None else None,
            depth=depth,
            status=status,
            time=node.time,
            offset_s=offset,
            hop_s=hop,
            topic=record.topic if record is not None else None,
            coords=record.coords if record is not None else None,
            source=env.source if env is not None else None,
            duplicates=node.duplicates,
            critical=critical,
            dead_letter=dl.coords if dl is not None else None,
            detail=detail,
        )
        return row
