"""The home screen: connection, throughput, lag, failed handlers, sagas and the live timeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import DataTable, Sparkline

from edamon.model.snapshot import Snapshot, TimelineRow
from edamon.model.status import ConnectionState, SagaState
from edamon.ui.format import (
    DIM,
    RED,
    Times,
    compact,
    duration,
    rate,
    short_id,
    spark,
    status_style,
    status_text,
    thousands,
)
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.widgets.bars import Line
from edamon.ui.widgets.table import Column, LiveTable, Row, RowMemo

TIMELINE_ROWS = 100
"""Newest events in the timeline: a screenful and some scrollback (pause with p to read)."""
TREND_WIDTH = 10

SAGA_COLUMNS: tuple[tuple[SagaState, Text], ...] = tuple(
    (state, Text(label, justify="right"))
    for state, label in (
        (SagaState.RUNNING, " run"),
        (SagaState.COMPLETED, " done"),
        (SagaState.COMPENSATED, " comp"),
        (SagaState.FAILED, " fail"),
        (SagaState.STUCK, " stuck"),
        (SagaState.DEAD_LETTERED, " dlq"),
    )
)
"""The overview's saga columns (the sagas screen has all states and percentiles)."""

TOPIC_COLUMNS = (
    Column("topic", "topic", trim="middle"),
    Column("rate", Text("ev/s", justify="right"), 7),
    Column("trend", "trend", TREND_WIDTH),
    Column("last", "last", 7),
)
GROUP_COLUMNS = (
    Column("group", "group"),
    Column("lag", Text("lag", justify="right"), 7),
    Column("lag_s", Text("lag s", justify="right"), 6),
    Column("status", "status", 6),
    Column("trend", "trend", TREND_WIDTH),
)
FAILED_COLUMNS = (
    Column("topic", "source topic", trim="middle"),
    Column("group", "group", 10),
    Column("exception", "exception", 16),
    Column("count", Text("count", justify="right"), 5),
    Column("last", "last seen", 9),
)
TIMELINE_COLUMNS = (
    Column("time", "time", 7),
    Column("type", "event type", 26),
    Column("topic", "topic", trim="middle"),
    Column("correlation", "correlation", 11),
    Column("coords", "partition/offset", 16),
)
NARROW_TREND = 6


NARROW_LAYOUTS: dict[str, tuple[tuple[Column, ...], str]] = {
    "topics": ((*TOPIC_COLUMNS[:2], Column("trend", "trend", NARROW_TREND)), "topic"),
    "groups": ((*GROUP_COLUMNS[:3], Column("status", "status", 4)), "group"),
    "failed": (FAILED_COLUMNS, "topic"),
    "timeline": (
        (
            TIMELINE_COLUMNS[0],
            Column("type", "event type", 18),
            TIMELINE_COLUMNS[2],
            Column("correlation", "corr id", 8),
            Column("coords", "part/off", 9),
        ),
        "topic",
    ),
}
"""Per table: the columns shown in a narrow terminal, and the one that grows."""
WIDE_LAYOUTS: dict[str, tuple[tuple[Column, ...], str]] = {
    "topics": (TOPIC_COLUMNS, "topic"),
    "groups": (GROUP_COLUMNS, "group"),
    "failed": (FAILED_COLUMNS, "topic"),
    "timeline": (TIMELINE_COLUMNS, "topic"),
}
NARROW = 100
"""Below this many columns the panels show fewer columns (the `-narrow` class of the CSS)."""
COMPACT = 120
"""Below this many columns the sagas panel gives way to a summary line (class `-compact`)."""
ABSOLUTE_TIME_WIDTH = 12
"""`10:00:01.123`"""


def _num(value: str, style: str = "") -> Text:
    return Text(value, style=style, justify="right")


def timeline_cells(event: TimelineRow) -> Row:
    """A timeline row's cells except its (clock-dependent) time."""
    style = RED if event.dead_letter else ""
    topic, _, position = event.coords.rpartition("/")
    partition = topic.rpartition("/")[2]
    return (
        Text(event.event_type, style=style or "bold"),
        Text(event.topic, style=style),
        Text(short_id(event.correlation_id), style=DIM),
        Text(f"{partition}/{position}", style=DIM),
    )


def _width(table: LiveTable, key: str) -> int:
    """The width of a shown column of `table` (0 when hidden)."""
    return next((c.width or 0 for c in table.shown_columns if c.key == key), 0)


def summary_line(snap: Snapshot, width: int = 200) -> Text:
    """Sagas by state and failed handlers on one line of at most `width` cells when it can (for
    terminals too small for their panels)."""
    text = Text()
    totals: dict[SagaState, int] = {}
    for saga in snap.sagas:
        for state, n in saga.counts:
            totals[state] = totals.get(state, 0) + n
    text.append("sagas", style="bold")
    for state, column in SAGA_COLUMNS:
        n = totals.get(state, 0)
        text.append(f" {compact(n)}", style=status_style(state) if n else DIM)
        text.append(column.plain, style=DIM)
    failing = len(snap.dead_letter_groups)
    plural = "s" if failing != 1 else ""
    for label in (f" failed handler{plural}", " failed"):
        line = text.copy()
        line.append("  │  ", style=DIM)
        line.append(str(failing), style=RED if failing else DIM)
        line.append(label, style="bold")
        if line.cell_len <= width:
            break
    return line


class OverviewScreen(DashboardScreen):
    """Everything at a glance; Enter on a panel's row drills into its screen."""

    NAME = "overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("c", "chain", "Chain"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self._timeline_cells = RowMemo(timeline_cells)

    def compose_body(self) -> Iterable[Widget]:
        yield Line(id="head")
        with Horizontal(id="rates"):
            with Vertical(classes="rate"):
                yield Line(id="events-label", classes="rate-label")
                yield Sparkline([], id="events-spark")
            with Vertical(classes="rate"):
                yield Line(id="dlq-label", classes="rate-label")
                yield Sparkline([], id="dlq-spark")
        with Horizontal(id="row1", classes="panels"):
            yield LiveTable(TOPIC_COLUMNS, id="topics", title="Topics")
            yield LiveTable(GROUP_COLUMNS, id="groups", title="Consumer lag")
        yield Line(id="summary")
        with Horizontal(id="row2", classes="panels"):
            yield LiveTable(FAILED_COLUMNS, id="failed", title="Failed handlers")
            yield LiveTable(
                [Column("saga", "saga", 16)]
                + [Column(str(state), label) for state, label in SAGA_COLUMNS],
                id="sagas",
                title="Sagas",
                cell_padding=0,
            )
        yield LiveTable(TIMELINE_COLUMNS, id="timeline", title="Live events")

    def on_mount(self) -> None:
        self.query_one("#timeline", LiveTable).focus()
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        self._draw_head(snap)
        tp = snap.throughput
        self.query_one("#events-label", Line).set(
            f"[b]events[/b] {rate(tp.events.rate)}  [dim]total {thousands(tp.events.total)}[/]"
        )
        dlq_style = (
            "b red" if tp.dead_letters.rate > self.edamon.settings.alerts.dlq_rate_warn else "b"
        )
        self.query_one("#dlq-label", Line).set(
            f"[{dlq_style}]dead letters[/] {rate(tp.dead_letters.rate)}"
            f"  [dim]total {thousands(tp.dead_letters.total)}[/]"
        )
        self.query_one("#events-spark", Sparkline).data = list(tp.events.history)
        self.query_one("#dlq-spark", Sparkline).data = list(tp.dead_letters.history)
        self._layout(times.absolute)
        topics = self.query_one("#topics", LiveTable)
        topics.sync(self._topic_rows(snap, times, _width(topics, "trend")))
        groups = self.query_one("#groups", LiveTable)
        groups.sync(self._group_rows(snap, _width(groups, "trend")))
        self.query_one("#failed", LiveTable).sync(self._failed_rows(snap, times))
        self.query_one("#sagas", LiveTable).sync(self._saga_rows(snap))
        summary = self.query_one("#summary", Line)
        summary.set(summary_line(snap, summary.content_region.width or 200))
        timeline = self.query_one("#timeline", LiveTable)
        if self.paused:
            timeline.set_title("Live events  [b $text-warning]PAUSED[/] [dim](p resumes)[/]")
        else:
            timeline.set_title("Live events")
            timeline.sync(self._timeline_rows(snap, times))

    def _layout(self, absolute: bool) -> None:
        """The panels' columns for the terminal's width (and the time format)."""
        width = self.size.width
        self.set_class(width < COMPACT, "-compact")
        layouts = NARROW_LAYOUTS if width < NARROW else WIDE_LAYOUTS
        for name, (columns, grow) in layouts.items():
            if name == "timeline" and absolute:
                columns = (Column("time", "time", ABSOLUTE_TIME_WIDTH), *columns[1:])
            self.query_one(f"#{name}", LiveTable).show_columns(columns, grow)

    def on_resize(self) -> None:
        self.redraw()

    def _draw_head(self, snap: Snapshot) -> None:
        conn = snap.connection
        style = status_style(conn.state)
        parts = [f"[b]{escape(conn.cluster)}[/b]", f"[{style}]● {conn.state}[/]"]
        if conn.state is ConnectionState.CONNECTED and conn.brokers:
            parts[-1] += f" [dim]({conn.brokers} broker{'s' if conn.brokers != 1 else ''})[/]"
        message = conn.message if conn.state is not ConnectionState.CONNECTED else ""
        if message and message.lower() != str(conn.state).lower():  # not "stopped · stopped"
            parts.append(f"[{style}]{escape(message)}[/]")
        if snap.catchup.caught_up:
            parts.append("[dim]caught up[/]")
        else:
            parts.append(
                f"[yellow]catching up {snap.catchup.percent:.0f}%[/] "
                f"[dim]({snap.catchup.records_behind:,} behind)[/]"
            )
        if snap.collector_lag:
            parts.append(f"[dim]collector lag {snap.collector_lag:,}[/]")
        totals = snap.totals
        extra = (
            f"[dim]{thousands(totals.chains)} flows · {thousands(totals.retained_events)} "
            f"events retained · {thousands(totals.duplicates)} duplicates[/]"
        )
        line = "  ·  ".join(parts)
        room = self.size.width - 2
        if Text.from_markup(f"{line}  ·  {extra}").cell_len <= room:
            line = f"{line}  ·  {extra}"
        self.query_one("#head", Line).set(line)

    @staticmethod
    def _topic_rows(snap: Snapshot, times: Times, trend: int) -> list[tuple[str, Row]]:
        rows: list[tuple[str, Row]] = []
        topics = sorted(snap.throughput.topics, key=lambda t: (-t.by_arrival.rate, t.topic))
        for topic in topics:
            rows.append(
                (
                    topic.topic,
                    (
                        Text(topic.topic, style=RED if topic.is_dlq else ""),
                        _num(rate(topic.by_arrival.rate)),
                        Text(spark(topic.by_arrival.history, trend), style=DIM),
                        times(topic.last_seen),
                    ),
                )
            )
        return rows

    @staticmethod
    def _group_rows(snap: Snapshot, trend: int) -> list[tuple[str, Row]]:
        return [
            (
                group.group,
                (
                    group.group,
                    _num(thousands(group.total_lag)),
                    _num(duration(group.max_lag_seconds)),
                    status_text(group.status),
                    Text(spark(group.trend, trend), style=status_style(group.status)),
                ),
            )
            for group in snap.lag
        ]

    @staticmethod
    def _failed_rows(snap: Snapshot, times: Times) -> list[tuple[str, Row]]:
        rows: list[tuple[str, Row]] = []
        for g in sorted(snap.dead_letter_groups, key=lambda g: -g.last_seen):
            key = f"{g.original_topic}|{g.consumer_group}|{g.exception_class}"
            exception = (g.exception_class or "?").rsplit(".", 1)[-1]
            rows.append(
                (
                    key,
                    (
                        g.original_topic or "?",
                        g.consumer_group or "?",
                        Text(exception, style=RED),
                        _num(thousands(g.count)),
                        times(g.last_seen),
                    ),
                )
            )
        return rows

    @staticmethod
    def _saga_rows(snap: Snapshot) -> list[tuple[str, Row]]:
        rows: list[tuple[str, Row]] = []
        for saga in snap.sagas:
            counts = dict(saga.counts)
            cells: list[Text | str] = [Text(saga.saga, style="bold")]
            for state, _label in SAGA_COLUMNS:
                n = counts.get(state, 0)
                cells.append(_num(compact(n), status_style(state) if n else DIM))
            rows.append((saga.saga, tuple(cells)))
        return rows

    def _timeline_rows(self, snap: Snapshot, times: Times) -> list[tuple[str, Row]]:
        # Only the time is formatted on every draw; the other cells are built once per event.
        memo = self._timeline_cells
        rows = [
            (event.coords, (times(event.time, millis=True), *memo(event)))
            for event in snap.timeline[:TIMELINE_ROWS]
        ]
        memo.sweep()
        return rows

    # --- actions -----------------------------------------------------------------------

    def action_pause(self) -> None:
        """Pause or resume the live timeline."""
        self.paused = not self.paused
        self.redraw()

    def action_chain(self) -> None:
        """Open the chain of the event under the timeline's cursor."""
        timeline = self.query_one("#timeline", LiveTable)
        key = timeline.cursor_key
        snap = self.edamon.last_snapshot
        if key is None or snap is None:
            return
        for event in snap.timeline:
            if event.coords == key:
                self.edamon.open_chain(event.correlation_id, event.event_id)
                return

    @on(DataTable.RowSelected)
    def _drill(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        key = event.row_key.value
        if key is None:
            return
        if table.id == "timeline":
            self.action_chain()
        elif table.id == "groups":
            self.edamon.go("lag", select=key)
        elif table.id == "failed":
            exception = key.rsplit("|", 1)[-1]
            self.edamon.go("deadletters", filter_text="" if exception == "None" else exception)
        elif table.id == "sagas":
            self.edamon.go("sagas", select=key)
        elif table.id == "topics":
            self.focus_topic(key)

    def focus_topic(self, topic: str) -> None:
        """Select `topic` in the topics table and filter the timeline to it."""
        topics = self.query_one("#topics", LiveTable)
        if topic in topics.keys:
            topics.move_cursor(row=topics.get_row_index(topic))
        timeline = self.query_one("#timeline", LiveTable)
        timeline.set_filter(topic)
