"""Throughput: events per second per topic and per event type, with sparklines of the window
and the schema versions of each event type.

Rates and sparklines count records by their timestamp (what the system produced: records read
while catching up fall in the seconds they were written); `read/s` is what edamon read (by
arrival), which differs only while it catches up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.widget import Widget

from edamon.model.ordering import OrderingExample, OrderingView, TopicOrdering
from edamon.model.snapshot import EventTypeThroughput, Snapshot, TopicThroughput
from edamon.ui.format import BLUE, DIM, RED, YELLOW, Times, rate, spark, thousands
from edamon.ui.messages import FocusTopic, OpenChain
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.ordering import OrderingScreen
from edamon.ui.widgets.bars import Line
from edamon.ui.widgets.snapshot_table import MIN_GROW_WIDTH, NARROW, Column, Row, SnapshotTable

NAME_MIN = 12
"""The narrowest a topic or event type column gets (when every name is shorter)."""
NAME_MAX = 40
"""The widest a topic or event type column gets in a wide terminal (longer names are cut)."""
VERSIONS_MAX = 40
"""The widest the schema versions column gets (24 in a narrow terminal)."""
NARROW_VERSIONS_MAX = 24
MIN_TREND = 10
"""The sparkline is at least this wide: a name longer than the room left is cut."""
UNVERSIONED = "unversioned"


def _right(value: str, style: str = "") -> Text:
    return Text(value, style=style, justify="right")


TOPIC_SPEC = (
    Column("topic", "topic", trim="middle"),
    Column("kind", "", 3),
    Column("partitions", _right("parts"), 5),
    Column("rate", _right("ev/s"), 8),
    Column("trend", "trend"),
    Column("read", _right("read/s"), 8),
    Column("total", _right("total"), 10),
    Column("written", "last written", 12),
)
TYPE_SPEC = (
    Column("type", "event type"),
    Column("rate", _right("ev/s"), 8),
    Column("trend", "trend"),
    Column("read", _right("read/s"), 8),
    Column("total", _right("total"), 10),
    Column("versions", "schema versions"),
)
ORDERING_SPEC = (
    Column("topic", "topic", NAME_MAX, trim="middle", share=1),
    Column("checked", _right("checked"), 9, fit=True),
    Column("mismatch", _right("key≠agg"), 8, fit=True),
    Column("nokey", _right("no key"), 7, fit=True),
    Column("split", _right("split"), 6, fit=True),
    Column("late", _right("out of order"), 12, fit=True),
    Column("partitions", _right("parts"), 5, fit=True),
)
"""The counts as wide as they need (their labels, mostly), the topic the rest (up to
NAME_MAX): see SnapshotTable.show_columns."""
_TOPIC_WIDE: tuple[str, ...] = (
    "topic",
    "kind",
    "partitions",
    "rate",
    "trend",
    "read",
    "total",
    "written",
)
_TOPIC_NARROW: tuple[str, ...] = ("topic", "kind", "rate", "trend", "read", "written")
_TYPE_WIDE: tuple[str, ...] = ("type", "rate", "trend", "read", "total", "versions")
_TYPE_NARROW: tuple[str, ...] = ("type", "rate", "trend", "versions")
_NARROW: dict[str, tuple[str | Text, int]] = {
    "rate": (_right("ev/s"), 7),
    "read": (_right("read/s"), 7),
    "written": ("written", 8),
    "versions": ("versions", 0),
}
"""Labels and widths in a narrow terminal (0: as computed for the data)."""


def window_text(seconds: int) -> str:
    """`5m`, `90s`, `1h`: the length of the throughput window."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def version_shares(versions: Sequence[tuple[int | None, int]]) -> list[tuple[str, str]]:
    """(`v2`, `88%`) per schema version in the given order; no version is `unversioned`; a
    share that rounds to 0 but is not 0 is `<1%`, one that rounds to 100 but is not all `>99%`."""
    total = sum(count for _, count in versions)
    shares: list[tuple[str, str]] = []
    for version, count in versions:
        if count <= 0:
            continue
        label = UNVERSIONED if version is None else f"v{version}"
        percent = 100 * count / total
        if percent < 0.5:
            share = "<1%"
        elif percent >= 99.5 and count != total:
            share = ">99%"
        else:
            share = f"{percent:.0f}%"
        shares.append((label, share))
    return shares


def versions_text(versions: Sequence[tuple[int | None, int]]) -> Text:
    """`v1 12% · v2 88%` (a dash when nothing was counted)."""
    shares = version_shares(versions)
    if not shares:
        return Text("–", style=DIM)
    text = Text()
    for index, (label, share) in enumerate(shares):
        if index:
            text.append(" · ", style=DIM)
        text.append(f"{label} {share}", style=DIM if label == UNVERSIONED else "")
    return text


def topic_cells(topic: TopicThroughput, times: Times, trend: int, catching_up: bool = False) -> Row:
    """A topic's cells for every column of TOPIC_SPEC; the sparkline `trend` cells wide."""
    dlq = topic.is_dlq
    return (
        Text(topic.topic, style=RED if dlq else "bold"),
        Text("DLQ", style=f"bold {RED}") if dlq else "",
        _right(str(topic.partitions) if topic.partitions else "–", DIM),
        _right(rate(topic.by_timestamp.rate), RED if dlq and topic.by_timestamp.rate else ""),
        Text(spark(topic.by_timestamp.history, trend), style=RED if dlq else BLUE),
        _right(rate(topic.by_arrival.rate), YELLOW if catching_up else DIM),
        _right(thousands(topic.by_timestamp.total)),
        times(topic.last_record),
    )


def type_cells(kind: EventTypeThroughput, trend: int, catching_up: bool = False) -> Row:
    """An event type's cells for every column of TYPE_SPEC; the sparkline `trend` cells wide."""
    return (
        Text(kind.event_type, style="bold"),
        _right(rate(kind.by_timestamp.rate)),
        Text(spark(kind.by_timestamp.history, trend), style=BLUE),
        _right(rate(kind.series.rate), YELLOW if catching_up else DIM),
        _right(thousands(kind.by_timestamp.total)),
        versions_text(kind.versions),
    )


def ordering_cells(topic: TopicOrdering) -> Row:
    """A topic's ordering findings for every column of ORDERING_SPEC (counts in red when
    there are some)."""

    def count(value: int) -> Text:
        return _right(thousands(value), RED if value else DIM)

    return (
        Text(topic.topic, style="bold" if topic.findings else ""),
        _right(thousands(topic.checked), DIM),
        count(topic.key_mismatches),
        count(topic.missing_keys),
        count(topic.split_aggregates),
        count(topic.out_of_order),
        _right(str(topic.partitions) if topic.partitions is not None else "–", DIM),
    )


def ordering_title(view: OrderingView) -> str:
    """`Ordering (2 of 14 topics with findings; 1,200/100,000 aggregates tracked)`."""
    found = sum(1 for t in view.topics if t.findings)
    forgotten = f", {view.forgotten:,} forgotten" if view.forgotten else ""
    changes = len(view.partition_changes)
    resized = f"; {changes} partition count change{'s' * (changes != 1)}" if changes else ""
    return (
        f"Ordering [dim]({found} of {len(view.topics)} topics with findings; "
        f"{view.tracked:,}/{view.max_aggregates:,} aggregates tracked{forgotten}{resized}; "
        "Enter lists them)[/]"
    )


def layout(
    spec: Sequence[Column],
    keys: Sequence[str],
    room: int,
    fixed: dict[str, int],
    *,
    narrow: bool = False,
    pad: int = 2,
) -> tuple[Column, ...]:
    """The columns `keys` of `spec`, each with `pad` cells of padding, in `room` cells: those
    in `fixed` as wide as given there (the name, the first one, cut to leave the trend at
    least MIN_TREND cells), the trend taking what is left. `narrow`: the labels and widths of
    a narrow terminal."""
    by_key = {c.key: c for c in spec}
    labels = {k: by_key[k].label for k in keys}
    widths = {k: fixed.get(k, by_key[k].width or 0) for k in keys}
    if narrow:
        for key, (label, width) in _NARROW.items():
            if key in widths:
                labels[key] = label
                widths[key] = width or widths[key]
    name = keys[0]
    others = sum(w + pad for k, w in widths.items() if k not in (name, "trend"))
    widths[name] = max(MIN_GROW_WIDTH, min(widths[name], room - others - 2 * pad - MIN_TREND))
    widths["trend"] = max(MIN_GROW_WIDTH, room - others - widths[name] - 2 * pad)
    return tuple(Column(k, labels[k], widths[k], by_key[k].trim) for k in keys)


def _name_width(names: Iterable[str], label: str) -> int:
    return min(NAME_MAX, max([NAME_MIN, cell_len(label), *(cell_len(n) for n in names)]))


def _versions_width(kinds: Iterable[EventTypeThroughput], cap: int) -> int:
    widths = [versions_text(kind.versions).cell_len for kind in kinds]
    return min(cap, max([8, *widths]))


class ThroughputScreen(DashboardScreen):
    """Topics and event types, busiest first, by record time; Enter shows the live events of
    the topic or event type under the cursor."""

    NAME = "throughput"

    def compose_body(self) -> Iterable[Widget]:
        self._ordering: dict[str, TopicOrdering] = {}
        """The ordering findings drawn last, by topic (what Enter opens)."""
        yield Line(id="tp-head")
        # Sorted by rate, rows move: the cursor stays on its row rather than on the first.
        yield SnapshotTable(TOPIC_SPEC, id="tp-topics", title="Topics", follow_head=False)
        yield SnapshotTable(TYPE_SPEC, id="tp-types", title="Event types", follow_head=False)
        yield SnapshotTable(ORDERING_SPEC, id="tp-ordering", title="Ordering", follow_head=False)

    def on_mount(self) -> None:
        self.query_one("#tp-topics", SnapshotTable).focus()
        super().on_mount()

    def on_resize(self) -> None:
        self.redraw()

    def draw_body(self, snap: Snapshot) -> None:
        tp = snap.throughput
        catching_up = not snap.catchup.caught_up
        self._draw_head(snap)
        narrow = self.size.width < NARROW
        window = window_text(tp.window_s)

        topics = self.query_one("#tp-topics", SnapshotTable)
        fixed = {"topic": _name_width((t.topic for t in tp.topics), "topic")}
        keys = _TOPIC_NARROW if narrow else _TOPIC_WIDE
        columns = layout(TOPIC_SPEC, keys, self._room(topics), fixed, narrow=narrow)
        topics.show_columns(columns)
        trend = _width(columns, "trend")
        ordered = sorted(tp.topics, key=lambda t: (-t.by_timestamp.rate, t.topic))
        topics.set_title(f"Topics [dim]({len(ordered)}, busiest first, trend over {window})[/]")
        times = self.edamon.times
        topics.sync([(t.topic, topic_cells(t, times, trend, catching_up)) for t in ordered])

        types = self.query_one("#tp-types", SnapshotTable)
        cap = NARROW_VERSIONS_MAX if narrow else VERSIONS_MAX
        fixed = {
            "type": _name_width((k.event_type for k in tp.event_types), "event type"),
            "versions": _versions_width(tp.event_types, cap),
        }
        keys = _TYPE_NARROW if narrow else _TYPE_WIDE
        columns = layout(TYPE_SPEC, keys, self._room(types), fixed, narrow=narrow)
        types.show_columns(columns)
        trend = _width(columns, "trend")
        kinds = sorted(tp.event_types, key=lambda k: (-k.by_timestamp.rate, k.event_type))
        types.set_title(
            f"Event types [dim]({len(kinds)}, busiest first; schema versions since start)[/]"
        )
        types.sync([(k.event_type, type_cells(k, trend, catching_up)) for k in kinds])

        ordering = self.query_one("#tp-ordering", SnapshotTable)
        view = snap.ordering
        ordering.display = view is not None
        if view is not None:
            self._ordering = {t.topic: t for t in view.topics}
            ordering.show_columns(ORDERING_SPEC, "topic")
            ordering.set_title(ordering_title(view))
            ordering.sync([(t.topic, ordering_cells(t)) for t in view.topics])

    def _room(self, table: SnapshotTable) -> int:
        """The cells `table` has for its columns: inside its border, less one kept for the
        vertical scrollbar (as SnapshotTable.show_columns counts)."""
        width = table.content_region.width or max(0, self.size.width - 2)
        return width - 1

    def _draw_head(self, snap: Snapshot) -> None:
        tp = snap.throughput
        events, dead = tp.events_by_timestamp, tp.dead_letters_by_timestamp
        warn = self.edamon.settings.alerts.dlq_rate_warn
        dlq_style = "b red" if dead.rate > warn else "b"
        parts = [
            f"[b]events[/b] {rate(events.rate)} [dim]total {thousands(events.total)}[/]",
            f"[{dlq_style}]dead letters[/] {rate(dead.rate)} [dim]total {thousands(dead.total)}[/]",
        ]
        if not snap.catchup.caught_up:
            behind = thousands(snap.catchup.records_behind)
            parts.append(f"[yellow]catching up {snap.catchup.percent:.0f}%[/], {behind} to go")
        extra = f"[dim]by record time · window {window_text(tp.window_s)}[/]"
        line = "  ·  ".join(parts)
        if Text.from_markup(f"{line}  ·  {extra}").cell_len <= self.size.width - 2:
            line = f"{line}  ·  {extra}"
        self.query_one("#tp-head", Line).set(line)

    @on(SnapshotTable.RowSelected)
    def _drill(self, event: SnapshotTable.RowSelected) -> None:
        key = event.row_key
        if key is None:
            return
        if event.table.id == "tp-ordering":
            found = self._ordering.get(key)
            if found is not None:
                self.app.push_screen(OrderingScreen(found), self._open_example)
        elif event.table.id == "tp-topics":
            self.post_message(FocusTopic(key))  # as the palette's jump: DLQ topics list there
        elif event.table.id == "tp-types":
            # The live events filtered by any text: the type.
            self.post_message(FocusTopic(key, timeline=True))

    def _open_example(self, example: OrderingExample | None) -> None:
        if example is not None:
            self.post_message(OpenChain(example.correlation_id, example.event_id))


def _width(columns: Sequence[Column], key: str) -> int:
    return next((c.width or 0 for c in columns if c.key == key), 0)
