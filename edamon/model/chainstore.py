"""How a correlation chain stores its events and links them (conventions §4): ingest.

`ChainStore` is the base of `Chain` (`edamon.model.chain`, which adds the views). It is built
incrementally: `add` is O(1) amortised, events may arrive in any order (a child before its
parent hangs under a PLACEHOLDER until the parent shows up), duplicate deliveries are counted,
failed-handler (dead-letter) and redriven-copy nodes join the flow, and causation loops are
detected when they close. Every traversal is iterative with visited sets, so neither loops nor
chains of many thousands of events can hang or overflow the stack.

Memory matters (the collector retains up to a million events), so a chain keeps its nodes in
columns rather than one object per event: per node, in arrival order, its id, cause, aggregate
id, *shape* and held envelope in one flat list (searched directly while the chain is small,
through a dict index from id to position once it grows); its time and its record's offset and
timestamp in one array of doubles, after the chain's start, end and last update (a double holds
every integer below 2**53 exactly: an offset always, a timestamp of the next 285,000 years).
The shape is the tuple of what many events share (type, version, source, format, topic,
partition...), one object for all events that share it. While the record memory budget holds
an event's record (key, value, headers) its envelope is kept whole; once the budget drops it
(`drop_data`), an envelope is built from the columns only when asked for (`envelope`,
`envelopes`, views), with `dropped` set, and an id written as a lowercase UUID (the usual
kind) is packed into 16 bytes in the array (`_pack`), as is a missing cause: the text of the
ids of the million events retained costs far more than anything else kept per event. A cause
that is in the chain is kept as its position. A dead-letter or redriven-copy node stores its
`_Special` in the shape column.

Tree links are not stored but derived: a node's parent is the node its cause names (the
event's causation id; for a dead letter the original event; for a redriven copy its dead
letter, else the original event), or the placeholder standing for that cause while it is
missing, or none (a root) when the cause is the flow's correlation id itself and no event has
that id yet. The tree is built from that only for a view.

What is stored per special node is in `edamon.model.chainnodes`. The underscored names are
internal to the chain's modules, which import them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from typing import Any

from edamon.model.chainnodes import (
    _DLQ,
    _RETRY,
    DLQ_PREFIX,
    RETRY_HEADER,
    RETRY_PREFIX,
    _Special,
)
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope, build_envelope, dropped_copy
from edamon.model.records import build_record
from edamon.model.snapshot import ChainNode, ChainSummary
from edamon.model.status import SagaState

__all__ = ["ChainStore"]

_INF = float("inf")
_NINF = float("-inf")

_STRIDE = 5
"""Columns per node in `_cols`: id, cause, aggregate id, shape (or `_Special`), held envelope."""
_ID, _CAUSE, _AGG, _SHAPE, _HELD = 0, 1, 2, 3, 4
_START, _END, _LAST = 0, 1, 2
"""The chain's own numbers at the head of `_nums`; then per node `_NUMS` doubles: time,
offset, timestamp, and the 16 bytes of the id's `_key` once packed (zeros until then, and for
an id without one)."""
_HEAD = 3
_NUMS = 5
_KEY_AT = 8 * _HEAD + 24
_NODE_BYTES = 8 * _NUMS
"""The byte offset of node 0's key in `_nums`; a node's is `_KEY_AT + 8 * _NUMS * position`."""
_INDEX_FROM = 16
"""Nodes from which a chain keeps a dict from node id to position (below, a list search)."""

_SHAPES: dict[tuple[object, ...], tuple[object, ...]] = {}
"""One object per distinct shape, shared by every event that has it (bounded: cleared when
full, which only loses sharing)."""
_SHAPES_MAX = 1 << 16


def _key(node_id: str) -> bytes | None:
    """The 16 bytes of a UUID written the usual way (lowercase, hyphens at 8-4-4-4-12), whose
    text the bytes give back exactly; None for any other id.

    Once per event whose record is dropped, so the cheapest tests first: the length and the four
    hyphens (8, 13, 18, 23: every fifth character), then exactly 32 other characters, all hex
    digits (`fromhex` skips whitespace, so 16 bytes out means 32 digits in), none uppercase."""
    if len(node_id) != 36 or node_id[8:24:5] != "----":
        return None
    digits = node_id.replace("-", "")
    if len(digits) != 32 or digits.lower() != digits:
        return None
    try:
        key = _fromhex(digits)
    except ValueError:
        return None
    return key if len(key) == 16 else None


_fromhex = bytes.fromhex


def _aligned(blob: bytes, key: bytes) -> int:
    """The position of the node whose key is `key` in `blob` (a chain's `_nums` as bytes), or
    -1: a match counts only where a node's key starts."""
    at = blob.find(key, _KEY_AT)
    while at >= 0:
        position, off = divmod(at - _KEY_AT, _NODE_BYTES)
        if not off:
            return position
        at = blob.find(key, at + 1)
    return -1


def _shape_of(env: Envelope, correlation_id: str) -> tuple[object, ...]:
    corr = env.correlation_id
    record = env.record
    shape = (
        env.event_type,
        True if corr == correlation_id else corr,
        env.version,
        env.source,
        env.trace_id,
        env.format,
        record.topic,
        record.partition,
        env.truncated,
        env.schema,
        env.occurred_at is not None,
    )
    shared = _SHAPES.get(shape)
    if shared is not None:
        return shared
    if len(_SHAPES) >= _SHAPES_MAX:
        _SHAPES.clear()
    _SHAPES[shape] = shape
    return shape


class ChainStore:
    """A chain's nodes and counters, linked by causation; `Chain` adds the views."""

    __slots__ = (
        "_cols",
        "_corr_waiting",
        "_dead_letters",
        "_duplicates",
        "_dups",
        "_events",
        "_first",
        "_index",
        "_loop_ids",
        "_loops",
        "_nums",
        "_orphans",
        "_packed",
        "_placeholders",
        "_retry_waiting",
        "_rows",
        "_summary",
        "_version",
        "_view",
        "correlation_id",
    )

    def __init__(self, correlation_id: str) -> None:
        self.correlation_id = correlation_id
        self._cols: list[Any] = []
        """Per node, in arrival order, `_STRIDE` columns: id, cause, aggregate id, shape or
        `_Special`, envelope while its record data is held (else None)."""
        self._index: dict[str, int] | None = None
        """Node id -> position, once the chain has `_INDEX_FROM` nodes."""
        self._nums = array("d", (_INF, _NINF, _NINF))
        """Start, end and last update; then per node its time (the event's: occurredAt, else
        the record timestamp), its record's offset and timestamp (0, 0 for a special node), and
        its id's `_key` as raw bytes (never read as numbers)."""
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
        self._packed = 0
        """Nodes whose id is packed (`_pack`): while none is, a search by text is complete."""
        self._first = -1
        """The position of the earliest event (time, then id)."""
        self._loops: list[tuple[str, ...]] | None = None
        self._loop_ids: set[str] | None = None
        self._version = 0
        # The views' caches (kept here so that one __init__ sets every slot; `Chain` uses them):
        self._summary: tuple[tuple[int, str | None, SagaState | None], ChainSummary] | None = None
        self._view: tuple[int, tuple[ChainNode, ...], tuple[tuple[str, ...], ...]] | None = None
        self._rows: dict[str, ChainNode] | None = None
        """The rows of the last view by node id, reused while nothing they show changes."""

    # ------------------------------------------------------------------ nodes

    @property
    def _ids(self) -> list[str]:
        """The node ids in arrival order (a new list)."""
        return [self._id_at(p) for p in range(len(self._cols) // _STRIDE)]

    def _size(self) -> int:
        return len(self._cols) // _STRIDE

    def _time(self, position: int) -> float:
        return self._nums[_HEAD + _NUMS * position]

    def _id_at(self, position: int) -> str:
        node_id: str | None = self._cols[position * _STRIDE + _ID]
        if node_id is not None:
            return node_id
        at = _HEAD + _NUMS * position + 3
        text = self._nums[at : at + 2].tobytes().hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _cause_at(self, position: int) -> str | None:
        cause = self._cols[position * _STRIDE + _CAUSE]
        if type(cause) is int:
            return self._id_at(cause)
        if type(cause) is bytes:
            text = cause.hex()
            return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
        return cause  # type: ignore[no-any-return]

    def _find(self, node_id: str) -> int:
        """The position of node `node_id`, or -1: among the ids kept as text, then (when
        there are packed ones) among the packed keys."""
        index = self._index
        if index is not None:
            return index.get(node_id, -1)
        ids = self._cols[_ID::_STRIDE]
        if node_id in ids:
            return ids.index(node_id)
        if self._packed:
            key = _key(node_id)
            if key is not None:
                return _aligned(self._nums.tobytes(), key)
        return -1

    def _has(self, node_id: str) -> bool:
        return self._find(node_id) >= 0

    def _pack(self, position: int) -> None:
        """Keep the node's id (and a missing cause's) as the 16 bytes of its `_key` rather
        than as text, when it is a UUID: done once its envelope is no longer held (while held,
        the envelope holds the text anyway)."""
        cols = self._cols
        at = position * _STRIDE
        node_id = cols[at + _ID]
        if type(node_id) is str:
            key = _key(node_id)
            if key is not None:
                self._packed += 1
                cols[at + _ID] = None
                start = _HEAD + _NUMS * position + 3
                self._nums[start : start + 2] = array("d", key)
        cause = cols[at + _CAUSE]
        if type(cause) is str:
            key = _key(cause)
            if key is not None:
                cols[at + _CAUSE] = key

    def _append(
        self,
        node_id: str,
        cause: object,
        aggregate: str | None,
        shape: object,
        held: Envelope | None,
        time: float,
        offset: int,
        timestamp_ms: int,
    ) -> None:
        cols = self._cols
        position = len(cols) // _STRIDE
        cols += (node_id, cause, aggregate, shape, held)
        self._nums.fromlist([time, offset, timestamp_ms, 0.0, 0.0])
        index = self._index
        if index is not None:
            index[node_id] = position
        elif position + 1 >= _INDEX_FROM:
            self._index = {self._id_at(i): i for i in range(position + 1)}

    def _link_children(self, cause: str, position: int) -> None:
        """Events that named `cause` while it was missing name its position now (a small
        chain only: the columns stay right either way, this only saves their memory)."""
        if self._index is not None:
            return
        cols = self._cols
        key: bytes | bool | None = False
        for at in range(_CAUSE, position * _STRIDE, _STRIDE):  # not itself (its own cause)
            named = cols[at]
            if type(named) is str:
                if named == cause:
                    cols[at] = position
            elif type(named) is bytes:  # packed
                if key is False:
                    key = _key(cause)
                if named == key:
                    cols[at] = position

    def _special(self, position: int) -> _Special | None:
        stored = self._cols[position * _STRIDE + _SHAPE]
        return stored if type(stored) is _Special else None

    def _envelope_at(self, position: int) -> Envelope:
        """The envelope of the event at `position`: the one held, else one built from the
        columns with its record's key, value and headers dropped."""
        cols = self._cols
        at = position * _STRIDE
        held: Envelope | None = cols[at + _HELD]
        if held is not None:
            return held
        shape: Any = cols[at + _SHAPE]
        etype, corr, version, source, trace, fmt, topic, partition, cut, schema, timed = shape
        nums = self._nums
        at = _HEAD + _NUMS * position
        time = nums[at]
        return build_envelope(
            self._id_at(position),
            etype,
            self.correlation_id if corr is True else corr,
            self._cause_at(position),
            cols[position * _STRIDE + _AGG],
            time if timed else None,
            version,
            source,
            trace,
            fmt,
            build_record(topic, partition, int(nums[at + 1]), int(nums[at + 2]), None, None, ()),
            cut,
            True,
            schema,
        )

    # ------------------------------------------------------------------ ingest

    def add(self, env: Envelope, now: float | None = None) -> bool:
        """Add an event; False (and counted) when its event id is already in the chain.

        `now` is the arrival time used for `last_update` (default: the event's time). A record
        carrying the `edamon-retry-of` header is a redriven copy of a dead letter: it becomes a
        RETRIED node `retry:<its coords>` under `dlq:<that coords>` (else under the original).

        The hot path of ingest: `_find`, `_append` and `_shape_of` are written out here.
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
        timed = time is not None
        if time is None:
            time = record.timestamp_ms / 1000.0
        if now is None:
            now = time
        cols = self._cols
        nums = self._nums
        index = self._index
        ids: list[str | None] | None = None
        packed = False
        if cols:
            if index is not None:
                seen = event_id in index
            else:
                ids = cols[_ID::_STRIDE]
                seen = event_id in ids
                if not seen and self._packed:  # some ids are packed
                    packed = True
                    key = _key(event_id)
                    seen = key is not None and _aligned(nums.tobytes(), key) >= 0
            if seen:
                self._duplicates += 1
                self._count_duplicate(event_id)
                self._touch(now)
                return False
        cause = env.causation_id
        named: object = cause
        missing = False
        if cause and cause != event_id:
            if index is not None:
                found = index.get(cause, -1)
            elif ids is None:
                found = -1
            elif cause in ids:
                found = ids.index(cause)
            elif packed:
                cause_key = _key(cause)
                found = -1 if cause_key is None else _aligned(nums.tobytes(), cause_key)
            else:
                found = -1
            if found >= 0:
                named = found
            else:
                missing = True
        position = len(cols) // _STRIDE
        corr = env.correlation_id
        shape: tuple[object, ...] = (
            env.event_type,
            True if corr == self.correlation_id else corr,
            env.version,
            env.source,
            env.trace_id,
            env.format,
            record.topic,
            record.partition,
            env.truncated,
            env.schema,
            timed,
        )
        shared = _SHAPES.get(shape)
        if shared is None:
            if len(_SHAPES) >= _SHAPES_MAX:
                _SHAPES.clear()
            _SHAPES[shape] = shape
        else:
            shape = shared
        cols += (event_id, named, env.aggregate_id, shape, env)
        nums.fromlist([time, record.offset, record.timestamp_ms, 0.0, 0.0])
        if index is not None:
            index[event_id] = position
        elif position + 1 >= _INDEX_FROM:
            self._index = {self._id_at(i): i for i in range(position + 1)}
        had_children = False
        placeholders = self._placeholders
        if placeholders is not None and event_id in placeholders:  # the awaited cause
            self._orphans -= placeholders.pop(event_id)
            if not placeholders:
                self._placeholders = None
            had_children = True
            self._link_children(event_id, position)
        self._events += 1
        first = self._first
        if first < 0:
            self._first = position
        else:
            first_time = nums[_HEAD + _NUMS * first]
            if time < first_time or (time == first_time and event_id < self._id_at(first)):
                self._first = position
        if time < nums[_START]:
            nums[_START] = time
        if time > nums[_END]:
            nums[_END] = time
        if missing:
            self._await(cause, True)  # type: ignore[arg-type]
        if event_id == self.correlation_id and self._corr_waiting:
            self._corr_waiting = 0
            had_children = True
        if had_children:
            self._check_loop(event_id, position)
        if now > nums[_LAST]:
            nums[_LAST] = now
        self._version += 1
        return True

    def add_dead_letter(self, dl: DeadLetter, now: float | None = None) -> bool:
        """Add a failed-handler node `dlq:<coords>` (DEAD_LETTERED) under the original event
        (a placeholder when it is not present). Returns False for a record already added."""
        node_id = DLQ_PREFIX + dl.coords
        time = dl.record.timestamp_ms / 1000.0
        if self._has(node_id) or (self._placeholders and node_id in self._placeholders):
            self._count_duplicate(node_id)
            self._touch(time if now is None else now)
            return False
        cause = dl.envelope.event_id if dl.envelope is not None else None
        node = _Special(node_id, _DLQ, time, dl.envelope, cause)
        node.dl = dl
        info = dl.info
        parts = [p for p in (info.exception_class, info.exception_message) if p]
        node.detail = ": ".join(parts) or dl.decode_error or "dead-lettered"
        self._append(node_id, None, None, node, None, time, 0, 0)
        self._dead_letters += 1
        self._extend(time)
        if cause is not None and not self._has(cause):
            self._await(cause, False)
        waiting = self._retry_waiting.pop(node_id, 0) if self._retry_waiting is not None else 0
        if waiting or cause == node_id:  # redriven copies now hang under it; or itself does
            self._check_loop(node_id)
        self._touch(time if now is None else now)
        return True

    def _add_retry(self, env: Envelope, retry_of: str, now: float | None) -> bool:
        node_id = RETRY_PREFIX + env.record.coords
        time = env.record.timestamp_ms / 1000.0
        if self._has(node_id) or (self._placeholders and node_id in self._placeholders):
            self._count_duplicate(node_id)
            self._duplicates += 1
            self._touch(time if now is None else now)
            return False
        node = _Special(node_id, _RETRY, time, env, env.event_id)
        node.dlq_id = dlq_id = DLQ_PREFIX + retry_of
        node.detail = f"redrive of {retry_of}"
        self._events += 1
        self._append(node_id, None, None, node, env, time, 0, 0)
        self._extend(time)
        if self._has(dlq_id) or (self._placeholders and dlq_id in self._placeholders):
            node.under_dlq = True
        else:
            if self._retry_waiting is None:
                self._retry_waiting = {}
            self._retry_waiting[dlq_id] = self._retry_waiting.get(dlq_id, 0) + 1
            if not self._has(env.event_id):
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
        nums = self._nums
        if now > nums[_LAST]:
            nums[_LAST] = now
        self._version += 1

    def _extend(self, time: float) -> None:
        nums = self._nums
        if time < nums[_START]:
            nums[_START] = time
        if time > nums[_END]:
            nums[_END] = time

    # ------------------------------------------------------------ record memory

    @property
    def last_position(self) -> int:
        """The position of the node added last (what `add` returned True for), for
        `held_envelope` and `drop_data`."""
        return len(self._cols) // _STRIDE - 1

    def held_envelope(self, position: int) -> Envelope | None:
        """The envelope of the node at `position` while its record data is held, else None."""
        held: Envelope | None = self._cols[position * _STRIDE + _HELD]
        return held

    def held(self) -> Iterator[tuple[int, Envelope]]:
        """The positions and envelopes of the nodes whose record data is held."""
        cols = self._cols
        for position in range(len(cols) // _STRIDE):
            held = cols[position * _STRIDE + _HELD]
            if held is not None:
                yield position, held

    def drop_data(self, position: int) -> Envelope | None:
        """Let go of the record data (key, value, headers) of the node at `position`: its
        envelope is built from the columns from now on, with `dropped` set. Returns the
        envelope that was held, None when there was none."""
        cols = self._cols
        at = position * _STRIDE + _HELD
        held: Envelope | None = cols[at]
        if held is None:
            return None
        cols[at] = None
        self._pack(position)
        special = cols[at - _HELD + _SHAPE]
        if type(special) is _Special and special.env is not None:  # a redriven copy
            special.env = dropped_copy(special.env)
        if at + 1 == len(cols) and self._index is None:
            # the newest node of a small chain: the chain is likely complete; give back what
            # its list and array hold in reserve for growth
            self._cols = cols[:]
            self._nums = self._nums[:]
        return held

    # ------------------------------------------------------------------ links

    def _parent(self, node_id: str) -> str | None:
        """The id of a present node's parent (a node or a placeholder), None for a root."""
        return self._parent_at(self._find(node_id))

    def _parent_at(self, position: int) -> str | None:
        stored = self._cols[position * _STRIDE + _SHAPE]
        if type(stored) is _Special:
            dlq_id = stored.dlq_id
            if dlq_id is not None:  # a redriven copy
                if stored.under_dlq:
                    return dlq_id
                found = self._find(dlq_id)
                if found >= 0:
                    dlq = self._special(found)
                    if dlq is not None and dlq.kind == _DLQ:  # it came after the copy
                        return dlq_id
            cause: str | None = stored.cause
            if cause is None:
                return None
        else:
            named = self._cols[position * _STRIDE + _CAUSE]
            if type(named) is int:  # present: its position
                return self._id_at(named)
            cause = self._cause_at(position)
            if not cause or cause == self._id_at(position):
                return None
        if cause == self.correlation_id and not self._has(cause):
            return None  # a root until an event with that id shows up
        return cause

    def _parent_position(self, position: int) -> int:
        """The position of a node's parent, -1 for a root or a missing (placeholder) one."""
        named = self._cols[position * _STRIDE + _CAUSE]
        if type(named) is int:  # an event whose cause is present (a special node has None)
            return named
        parent = self._parent_at(position)
        return -1 if parent is None else self._find(parent)

    def _check_loop(self, node_id: str, position: int = -1) -> None:
        """Walk up from the node's parent: reaching the node again means a causation loop."""
        start = self._find(node_id) if position < 0 else position
        path = [start]
        current = self._parent_position(start)
        for _ in range(self._size()):  # bounded even if another loop is met on the way
            if current < 0 or current == start:
                break
            path.append(current)
            current = self._parent_position(current)
        if current != start:
            return
        path.reverse()  # cause before effect
        ids = [self._id_at(p) for p in path]
        keys = [(self._time(p), i) for p, i in zip(path, ids, strict=True)]
        first = min(range(len(path)), key=keys.__getitem__)
        cycle = tuple(ids[first:] + ids[:first])
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
        return self._nums[_START] if self._cols else 0.0

    @property
    def end(self) -> float:
        """Latest time of the chain's nodes (0.0 while empty)."""
        return self._nums[_END] if self._cols else 0.0

    @property
    def last_update(self) -> float:
        """Latest arrival time passed to `add`/`add_dead_letter` (default: event time)."""
        return self._nums[_LAST] if self._cols else 0.0

    def _event_positions(self) -> Iterator[int]:
        """The positions of the real events (no dead-letter or retry nodes), in arrival order."""
        cols = self._cols
        for position in range(len(cols) // _STRIDE):
            if type(cols[position * _STRIDE + _SHAPE]) is not _Special:
                yield position

    @property
    def root_type(self) -> str:
        """Event type of the earliest root event; else of the earliest event; else ""."""
        roots = [p for p in self._event_positions() if self._parent_at(p) is None]
        if roots:
            chosen = min(roots, key=lambda p: (self._time(p), self._id_at(p)))
        elif self._first >= 0:
            chosen = self._first
        else:
            return ""
        event_type: str = self._cols[chosen * _STRIDE + _SHAPE][0]
        return event_type

    def envelopes(self) -> Iterator[Envelope]:
        """The envelopes of the real events in the chain (no dead-letter or retry nodes)."""
        return (self._envelope_at(p) for p in self._event_positions())

    def event_ids(self) -> Iterator[str]:
        """Ids of the real events in the chain."""
        return (self._id_at(p) for p in self._event_positions())

    def event_steps(self) -> list[tuple[float, str, str]]:
        """(time, event type, event id) of each real event, in arrival order: what a saga
        replay needs, without building envelopes."""
        cols, nums = self._cols, self._nums
        return [
            (nums[_HEAD + _NUMS * p], cols[p * _STRIDE + _SHAPE][0], self._id_at(p))
            for p in self._event_positions()
        ]

    def caused_by(self, node_id: str) -> bool:
        """Whether a real event of the chain names `node_id` as its cause."""
        cols = self._cols
        key = _key(node_id)
        position = self._find(node_id)
        for p in self._event_positions():
            named = cols[p * _STRIDE + _CAUSE]
            if type(named) is int:
                if named == position:
                    return True
            elif named == node_id or (key is not None and named == key):
                return True
        return False

    def envelope(self, event_id: str) -> Envelope | None:
        """The envelope of a real event in the chain, or None."""
        position = self._find(event_id)
        if position < 0 or self._special(position) is not None:
            return None
        return self._envelope_at(position)

    def is_special(self, node_id: str) -> bool:
        """Whether `node_id` is one of this chain's dead-letter or redriven-copy nodes."""
        position = self._find(node_id)
        return position >= 0 and self._special(position) is not None

    @staticmethod
    def find(chains: Iterable[ChainStore], event_id: str) -> Envelope | None:
        """The envelope of a real event with that id in the first of `chains` that has one: a
        scan (there is no index by event id), under a microsecond per chain."""
        for chain in chains:
            position = chain._find(event_id)
            if position >= 0 and chain._special(position) is None:
                return chain._envelope_at(position)
        return None
