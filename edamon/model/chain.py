"""Correlation chains: the events of one flow as a causation tree (conventions §4).

A `Chain` is mutable and owned by the collector (one per correlation id). Its ingest (arrival in
any order, placeholders and orphans, duplicates, dead-letter and redriven-copy nodes, loops) is
its base `ChainStore` in `edamon.model.chainstore` (what it stores per node is in
`edamon.model.chainnodes`); this module holds the views: a cached
summary, and `view()`, which builds the tree and turns it into immutable rows in waterfall order
with the critical path marked (the layout itself is `edamon.model.waterfall`).
"""

from __future__ import annotations

from edamon.model.chainnodes import (
    _EVENT,
    _PLACEHOLDER,
    _STATUS,
    DLQ_PREFIX,
    RETRY_HEADER,
    RETRY_PREFIX,
)
from edamon.model.chainstore import ChainStore
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.snapshot import ChainNode, ChainSummary, ChainView
from edamon.model.status import NodeStatus, SagaState
from edamon.model.waterfall import critical_path, layout, subtree_ends

__all__ = ["DLQ_PREFIX", "RETRY_HEADER", "RETRY_PREFIX", "Chain"]


class _Node:
    """A vertex of the tree built for a view. `parent` and `children` are node references."""

    __slots__ = ("children", "detail", "dl", "env", "id", "kind", "parent", "time")

    def __init__(self, node_id: str, kind: int, time: float, env: Envelope | None) -> None:
        self.id = node_id
        self.kind = kind
        self.time = time
        self.env = env
        self.parent: _Node | None = None
        self.children: list[_Node] = []
        self.dl: DeadLetter | None = None
        self.detail: str | None = None


def _sibling_key(node: _Node) -> tuple[float, str]:
    return (node.time, node.id)


def _children(node: _Node) -> list[_Node]:
    return node.children


class Chain(ChainStore):
    """All events sharing one correlation id, as a causation tree (parent = cause)."""

    __slots__ = ()

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

    def _tree(self) -> tuple[dict[str, _Node], list[_Node]]:
        """The nodes, placeholders included, linked to their parents; and the placeholders."""
        tree: dict[str, _Node] = {}
        for position, node_id in enumerate(self._ids):
            special = self._special(position)
            if special is not None:
                node = tree[node_id] = _Node(node_id, special.kind, special.time, special.env)
                node.dl, node.detail = special.dl, special.detail
            else:
                tree[node_id] = _Node(
                    node_id, _EVENT, self._time(position), self._envelope_at(position)
                )
        placeholders = [_Node(p, _PLACEHOLDER, 0.0, None) for p in self._placeholders or ()]
        tree.update((p.id, p) for p in placeholders)
        for position, node_id in enumerate(self._ids):
            parent_id = self._parent_at(position)
            if parent_id is not None:
                node, parent = tree[node_id], tree[parent_id]
                node.parent = parent
                parent.children.append(node)
        for placeholder in placeholders:  # it happened before its children
            placeholder.time = min((c.time for c in placeholder.children), default=0.0)
        return tree, placeholders

    def _build_rows(self) -> tuple[ChainNode, ...]:
        tree, placeholders = self._tree()
        tops = [
            *sorted(
                (n for n in tree.values() if n.parent is None and n.kind != _PLACEHOLDER),
                key=_sibling_key,
            ),
            *sorted(placeholders, key=_sibling_key),
            *(tree[loop[0]] for loop in self._loops or ()),
            *tree.values(),  # safety net: anything not reached yet
        ]
        laid = layout(tops, _children, _sibling_key)
        order, depth = laid.order, laid.depth
        starts = [n.time for n in order]
        ends = subtree_ends(starts, laid.parent)
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
            critical = critical_path(top, starts, ends, laid.parent, laid.children)
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
        parent, env, dl, detail = node.parent, node.env, node.dl, node.detail
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
        schema = env.schema if env is not None else None
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
            wire_format=schema.format.value if schema is not None else None,
            schema_id=schema.schema_id if schema is not None else None,
            schema_id_kind=schema.id_kind if schema is not None else None,
        )
