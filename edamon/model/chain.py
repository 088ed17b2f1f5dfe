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
    """One vertex of the causation graph. `parent` and `children` are node references; a node
    without a parent that is not a placeholder is a root. Kept small: one per retained event."""

    __slots__ = ("children", "env", "id", "kind", "parent", "time")

    def __init__(self, node_id: str, kind: int, time: float, env: Envelope | None = None) -> None:
        self.id = node_id
        self.kind = kind
        self.time = time
        self.env = env
        self.parent: _Node | None = None
        self.children: _Node | list[_Node] | None = None
        """None, the only child (the usual case: no list for it), or a list of two or more."""


class _DlqNode(_Node):
    """A failed-handler node (with its dead letter) or a redriven copy (`dl` None)."""

    __slots__ = ("detail", "dl")

    def __init__(self, node_id: str, kind: int, time: float, env: Envelope | None) -> None:
        super().__init__(node_id, kind, time, env)
        self.dl: DeadLetter | None = None
        self.detail = ""


def _sibling_key(node: _Node) -> tuple[float, str]:
    return (node.time, node.id)


def _children(node: _Node) -> list[_Node]:
    children = node.children
    if children is None:
        return []
    return children if isinstance(children, list) else [children]


_INF = float("inf")
_NINF = float("-inf")


class Chain:
    """All events sharing one correlation id, as a causation tree (parent = cause).

    Memory matters (one chain per flow, hundreds of thousands retained): slots, and everything
    most flows never need (waiting lists, loops, duplicate counts, view caches) is created on
    first use.
    """

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
        self._nodes: dict[str, _Node] = {}
        self._corr_waiting: list[_Node] | None = None
        """Roots whose cause is the correlation id itself, until an event with that id comes."""
        self._retry_waiting: dict[str, list[_Node]] | None = None
        self._events = 0
        self._duplicates = 0
        self._dups: dict[str, int] | None = None
        """Duplicate deliveries per node id."""
        self._dead_letters = 0
        self._orphans = 0
        self._start = _INF
        self._end = _NINF
        self._last_update = _NINF
        self._first: _Node | None = None
        """The earliest event (time, then id)."""
        self._loops: list[tuple[str, ...]] | None = None
        self._loop_ids: set[str] | None = None
        self._version = 0
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
        node = nodes.get(event_id)
        if node is None:
            node = nodes[event_id] = _Node(event_id, _EVENT, time, env)
        elif node.kind != _PLACEHOLDER:
            self._duplicates += 1
            self._count_duplicate(node)
            self._touch(now)
            return False
        else:  # a placeholder: the awaited cause has arrived
            node.kind, node.env, node.time = _EVENT, env, time
            if node.children:
                self._orphans -= sum(1 for c in _children(node) if c.kind == _EVENT)
        self._events += 1
        first = self._first
        if first is None or time < first.time or (time == first.time and event_id < first.id):
            self._first = node
        if time < self._start:
            self._start = time
        if time > self._end:
            self._end = time
        cause = env.causation_id
        if cause and cause != event_id:
            parent = nodes.get(cause)
            if parent is not None:
                self._link(node, parent)
            else:
                self._attach(node, cause)
        if event_id == self.correlation_id and self._corr_waiting:
            waiting, self._corr_waiting = self._corr_waiting, None
            for child in waiting:
                self._relink(child, node)
        if now > self._last_update:
            self._last_update = now
        self._version += 1
        return True

    def _count_duplicate(self, node: _Node) -> None:
        dups = self._dups
        if dups is None:
            dups = self._dups = {}
        dups[node.id] = dups.get(node.id, 0) + 1

    def add_dead_letter(self, dl: DeadLetter, now: float | None = None) -> bool:
        """Add a failed-handler node `dlq:<coords>` (DEAD_LETTERED) under the original event
        (a placeholder when it is not present). Returns False for a record already added."""
        node_id = DLQ_PREFIX + dl.coords
        time = dl.record.timestamp_ms / 1000.0
        existing = self._nodes.get(node_id)
        if existing is not None:
            self._count_duplicate(existing)
            self._touch(time if now is None else now)
            return False
        node = _DlqNode(node_id, _DLQ, time, dl.envelope)
        node.dl = dl
        info = dl.info
        parts = [p for p in (info.exception_class, info.exception_message) if p]
        node.detail = ": ".join(parts) or dl.decode_error or "dead-lettered"
        self._nodes[node_id] = node
        self._dead_letters += 1
        self._extend(time)
        self._attach(node, dl.envelope.event_id if dl.envelope is not None else None)
        if self._retry_waiting is not None:
            for retry in self._retry_waiting.pop(node_id, ()):
                self._relink(retry, node)
        self._touch(time if now is None else now)
        return True

    def _add_retry(self, env: Envelope, retry_of: str, now: float | None) -> bool:
        node_id = RETRY_PREFIX + env.record.coords
        time = env.record.timestamp_ms / 1000.0
        existing = self._nodes.get(node_id)
        if existing is not None:
            self._count_duplicate(existing)
            self._duplicates += 1
            self._touch(time if now is None else now)
            return False
        node = _DlqNode(node_id, _RETRY, time, env)
        self._events += 1
        node.detail = f"redrive of {retry_of}"
        self._nodes[node_id] = node
        self._extend(time)
        dlq_id = DLQ_PREFIX + retry_of
        dlq = self._nodes.get(dlq_id)
        if dlq is not None:
            self._link(node, dlq)
        else:
            if self._retry_waiting is None:
                self._retry_waiting = {}
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
        if cause is None:
            return  # a root
        parent = self._nodes.get(cause)
        if parent is not None:
            self._link(node, parent)
        elif cause != self.correlation_id:
            parent = self._nodes[cause] = _Node(cause, _PLACEHOLDER, node.time)
            self._link(node, parent)
        elif self._corr_waiting is None:  # a root until an event with that id shows up
            self._corr_waiting = [node]
        else:
            self._corr_waiting.append(node)

    def _link(self, node: _Node, parent: _Node) -> None:
        node.parent = parent
        children = parent.children
        if children is None:
            parent.children = node
        elif isinstance(children, list):
            children.append(node)
        else:
            parent.children = [children, node]
        if node.kind == _EVENT and parent.kind == _PLACEHOLDER:
            self._orphans += 1
        if node.children:  # only a node with descendants can close a loop
            self._check_loop(node)

    def _relink(self, node: _Node, parent: _Node) -> None:
        old = node.parent
        if old is None:
            if self._corr_waiting is not None and node in self._corr_waiting:
                self._corr_waiting.remove(node)
        else:
            if old.children is node:
                old.children = None
            elif isinstance(old.children, list):
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
        if self._loops is None or self._loop_ids is None:
            self._loops, self._loop_ids = [], set()
        self._loops.append(cycle)
        self._loop_ids.update(cycle)

    def _roots(self) -> list[_Node]:
        return [n for n in self._nodes.values() if n.parent is None and n.kind != _PLACEHOLDER]

    def _placeholders(self) -> list[_Node]:
        return [n for n in self._nodes.values() if n.kind == _PLACEHOLDER]

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
        roots = [n for n in self._roots() if n.kind == _EVENT]
        env = min(roots, key=_sibling_key).env if roots else None
        if env is None and self._first is not None:
            env = self._first.env
        return env.event_type if env is not None else ""

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
        if self._summary is not None and self._summary[0] == key:
            return self._summary[1]
        summary = ChainSummary(
            correlation_id=self.correlation_id,
            root_type=self.root_type,
            events=self._events,
            start=self.start,
            end=self.end,
            duration_s=self.end - self.start,
            dead_letters=self._dead_letters,
            orphans=self._orphans,
            has_loop=self._loops is not None,
            saga=saga,
            saga_state=saga_state,
            last_update=self.last_update,
        )
        self._summary = (key, summary)
        return summary

    def view(self, saga: str | None = None, saga_state: SagaState | None = None) -> ChainView:
        """The tree as rows in waterfall order with depth, offsets and the critical path.

        Order: rooted trees (roots by time), then the subtrees waiting under placeholders, then
        what hangs only on causation loops; children after their parent, siblings by time then
        id. Cached until the chain changes.
        """
        view = self._view
        if view is None or view[0] != self._version:
            view = self._view = (self._version, self._build_rows(), self.loops)
        return ChainView(summary=self.summary(saga, saga_state), nodes=view[1], loops=view[2])

    def _build_rows(self) -> tuple[ChainNode, ...]:
        placeholders = self._placeholders()
        for placeholder in placeholders:  # it happened before its children
            placeholder.time = min((c.time for c in _children(placeholder)), default=0.0)
        tops = [
            *sorted(self._roots(), key=_sibling_key),
            *sorted(placeholders, key=_sibling_key),
            *(self._nodes[loop[0]] for loop in self._loops or ()),
            *self._nodes.values(),  # safety net: anything not reached yet
        ]
        tree = layout(tops, _children, _sibling_key)
        order, depth = tree.order, tree.depth
        starts = [n.time for n in order]
        ends = subtree_ends(starts, tree.parent)
        heads = [
            i
            for i, n in enumerate(order)
            if depth[i] == 0 and n.parent is None and n.kind != _PLACEHOLDER
        ]
        if not heads:
            heads = [i for i, n in enumerate(order) if depth[i] == 0 and n.kind == _PLACEHOLDER]
        critical: set[int] = set()
        if heads:
            top = max(heads, key=lambda i: (ends[i], -i))
            critical = critical_path(top, starts, ends, tree.parent, tree.children)
        start = self.start
        previous = self._rows or {}
        rows = tuple(
            self._row(node, depth[i], start, i in critical, previous.get(node.id))
            for i, node in enumerate(order)
        )
        self._rows = {row.event_id: row for row in rows}
        return rows

    def _row(
        self, node: _Node, depth: int, start: float, critical: bool, row: ChainNode | None
    ) -> ChainNode:
        """The row of `node`: `row` (the previous one) when nothing it shows has changed."""
        parent, env = node.parent, node.env
        dl, detail = (node.dl, node.detail) if isinstance(node, _DlqNode) else (None, None)
        status = _STATUS[node.kind]
        duplicates = self._dups.get(node.id, 0) if self._dups is not None else 0
        if self._loop_ids is not None and node.id in self._loop_ids:
            status, detail = NodeStatus.LOOP, "causation loop"
        elif node.kind == _EVENT and parent is not None and parent.kind == _PLACEHOLDER:
            status = NodeStatus.ORPHAN
        hop = None
        if parent is not None and parent.kind != _PLACEHOLDER and node.kind != _PLACEHOLDER:
            hop = node.time - parent.time
        offset = node.time - start
        if (
            row is not None
            and row.status is status
            and row.depth == depth
            and row.time == node.time
            and row.critical is critical
            and row.offset_s == offset
            and row.hop_s == hop
            and row.duplicates == duplicates
            and row.parent_id == (parent.id if parent is not None else None)
        ):
            return row
        record = dl.record if dl is not None else env.record if env is not None else None
        return ChainNode(
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
            duplicates=duplicates,
            critical=critical,
            dead_letter=dl.coords if dl is not None else None,
            detail=detail,
        )
