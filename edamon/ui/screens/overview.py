"""The home screen: connection, throughput, lag, failed handlers, sagas and the live timeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.widget import Widget

from edamon.model.snapshot import Snapshot, TimelineRow
from edamon.model.status import ConnectionState
from edamon.ui.format import (
    DIM,
    RED,
    UNKNOWN_NOTE,
    Times,
    compact,
    duration,
    or_unknown,
    rate,
    short_class,
    spark,
    status_style,
    status_text,
    thousands,
)
from edamon.ui.messages import OpenChain, ShowDeadLetters, ShowScreen
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.overview_panels import (
    COMPACT,
    FAILED_COLUMNS,
    GROUP_COLUMNS,
    NARROW,
    NARROW_LAYOUTS,
    SAGA_COLUMNS,
    TIMELINE_COLUMNS,
    TOPIC_COLUMNS,
    WIDE_LAYOUTS,
    absolute_column,
    failed_key,
    summary_line,
    timeline_cells,
)
from edamon.ui.widgets.bars import Line
from edamon.ui.widgets.rates import Rate, RateBar
from edamon.ui.widgets.snapshot_table import Column, Row, RowMemo, SnapshotTable

TIMELINE_ROWS = 100
"""Newest events in the timeline: a screenful and some scrollback (pause with p to read)."""


def _num(value: str, style: str = "") -> Text:
    return Text(value, style=style, justify="right")


def _width(table: SnapshotTable, key: str) -> int:
    """The width of a shown column of `table` (0 when hidden)."""
    return next((c.width or 0 for c in table.shown_columns if c.key == key), 0)


class OverviewScreen(DashboardScreen):
    """Everything at a glance; Enter on a panel's row drills into its screen."""

    NAME = "overview"
    HELP_NOTES = (UNKNOWN_NOTE,)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause"),
        Binding("c", "chain", "Chain"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self._paused_rows: tuple[TimelineRow, ...] = ()
        """The timeline's events when it was paused: it shows them (and no newer) until
        resumed; their times still move with the clock."""
        self._timeline_cells = RowMemo(timeline_cells)

    def compose_body(self) -> Iterable[Widget]:
        yield Line(id="head")
        yield RateBar(id="rates")
        with Horizontal(id="row1", classes="panels"):
            yield SnapshotTable(TOPIC_COLUMNS, id="topics", title="Topics")
            yield SnapshotTable(GROUP_COLUMNS, id="groups", title="Consumer lag")
        yield Line(id="summary")
        with Horizontal(id="row2", classes="panels"):
            yield SnapshotTable(FAILED_COLUMNS, id="failed", title="Failed handlers")
            yield SnapshotTable(
                [Column("saga", "saga", 16)]
                + [Column(str(state), label) for state, label in SAGA_COLUMNS],
                id="sagas",
                title="Sagas",
                cell_padding=0,
            )
        yield SnapshotTable(TIMELINE_COLUMNS, id="timeline", title="Live events")

    def on_mount(self) -> None:
        self.query_one("#timeline", SnapshotTable).focus()
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        self._draw_head(snap)
        # By arrival: live, whatever timestamps producers set (history read while catching up
        # counts when it was written, see Throughput.record_history).
        events = snap.throughput.events
        dead = snap.throughput.dead_letters
        dlq_style = "b red" if dead.rate > self.edamon.settings.alerts.dlq_rate_warn else "b"
        events_label = f"[b]events[/b] {rate(events.rate)}  [dim]total {thousands(events.total)}[/]"
        dead_label = (
            f"[{dlq_style}]dead letters[/] {rate(dead.rate)}  [dim]total {thousands(dead.total)}[/]"
        )
        self.query_one(RateBar).show(
            (
                Rate(events_label, tuple(events.history), "events"),
                Rate(dead_label, tuple(dead.history), "dead"),
            )
        )
        self._layout(times.absolute)
        topics = self.query_one("#topics", SnapshotTable)
        topics.sync(self._topic_rows(snap, times, _width(topics, "trend")))
        groups = self.query_one("#groups", SnapshotTable)
        groups.sync(self._group_rows(snap, _width(groups, "trend")))
        self.query_one("#failed", SnapshotTable).sync(self._failed_rows(snap, times))
        self.query_one("#sagas", SnapshotTable).sync(self._saga_rows(snap))
        summary = self.query_one("#summary", Line)
        summary.set(summary_line(snap, summary.content_region.width or 200))
        timeline = self.query_one("#timeline", SnapshotTable)
        if self.paused:
            timeline.set_title("Live events  [b $text-warning]PAUSED[/] [dim](p resumes)[/]")
            shown = self._paused_rows
        else:
            timeline.set_title("Live events")
            shown = snap.timeline[:TIMELINE_ROWS]
        timeline.sync(self._timeline_rows(shown, times))

    def _layout(self, absolute: bool) -> None:
        """The panels' columns for the terminal's width (and the time format); their widths
        follow what they show (SnapshotTable.show_columns)."""
        width = self.size.width
        self.set_class(width < COMPACT, "-compact")
        layouts = NARROW_LAYOUTS if width < NARROW else WIDE_LAYOUTS
        for name, (columns, grow) in layouts.items():
            table = self.query_one(f"#{name}", SnapshotTable)
            if absolute:
                columns = tuple(absolute_column(name, column) for column in columns)
            table.show_columns(columns, grow)

    def on_resize(self) -> None:
        self.redraw()

    def _draw_head(self, snap: Snapshot) -> None:
        conn = snap.connection
        style = status_style(conn.state)
        # The state first: a long bootstrap list must not push it off a narrow terminal.
        # Record and broker text (cluster, message) in Content, never in markup.
        parts = [Content.styled(f"● {conn.state}", style), Content.styled(conn.cluster, "bold")]
        if conn.state is ConnectionState.CONNECTED and conn.brokers:
            brokers = f" ({conn.brokers} broker{'s' if conn.brokers != 1 else ''})"
            parts[-1] = Content.assemble(parts[-1], (brokers, "dim"))
        message = conn.message if conn.state is not ConnectionState.CONNECTED else ""
        if message and message.lower() != str(conn.state).lower():  # not "stopped · stopped"
            parts.append(Content.styled(message, style))
        if conn.registry is not None:  # the schema registry, next to Kafka
            note = f" {conn.registry_message}" if conn.registry_message else ""
            parts.append(
                Content.styled(f"registry {conn.registry}{note}", status_style(conn.registry))
            )
        if snap.catchup.caught_up and conn.state is not ConnectionState.CONNECTED:
            # Caught up with what the cluster said before the outage, not with it now.
            parts.append(Content.styled("stale (not connected)", "$text-warning"))
        elif snap.catchup.caught_up:
            parts.append(Content.styled("caught up", "dim"))
        else:
            parts.append(
                Content.assemble(
                    (f"catching up {snap.catchup.percent:.0f}%", "yellow"),
                    (f" ({snap.catchup.records_behind:,} behind)", "dim"),
                )
            )
        if snap.collector_lag:
            parts.append(Content.styled(f"collector lag {snap.collector_lag:,}", "dim"))
        totals = snap.totals
        extra = Content.styled(
            f"{thousands(totals.chains)} flows · {thousands(totals.retained_events)} "
            f"events retained · {thousands(totals.duplicates)} duplicates",
            "dim",
        )
        line = Content("  ·  ").join(parts)
        if line.cell_length + 5 + extra.cell_length <= self.size.width - 2:
            line = Content("  ·  ").join([line, extra])
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
            key = failed_key(g)
            exception = short_class(g.exception_class)
            rows.append(
                (
                    key,
                    (
                        or_unknown(g.original_topic),
                        or_unknown(g.consumer_group),
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

    def _timeline_rows(self, events: Iterable[TimelineRow], times: Times) -> list[tuple[str, Row]]:
        # Only the time is formatted on every draw; the other cells are built once per event.
        memo = self._timeline_cells
        rows = [(event.coords, (times(event.time, millis=True), *memo(event))) for event in events]
        memo.sweep()
        return rows

    # --- actions -----------------------------------------------------------------------

    def action_pause(self) -> None:
        """Pause or resume the live timeline: paused, it keeps the events it shows (their
        times still move) and takes no new ones."""
        self.paused = not self.paused
        snap = self.drawn or self.edamon.last_snapshot
        self._paused_rows = snap.timeline[:TIMELINE_ROWS] if self.paused and snap else ()
        self.redraw()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`c` (chain) only while the live events have focus: no other panel's row is one
        flow (Textual refreshes the footer's keys on every focus change)."""
        if action == "chain":
            return self.focused is not None and self.focused.id == "timeline"
        return True

    def action_chain(self) -> None:
        """Open the chain of the event under the timeline's cursor."""
        timeline = self.query_one("#timeline", SnapshotTable)
        key = timeline.cursor_key
        snap = self.edamon.last_snapshot
        if key is None or snap is None:
            return
        for event in (*self._paused_rows, *snap.timeline):
            if event.coords == key:
                self.post_message(OpenChain(event.correlation_id, event.event_id))
                return

    @on(SnapshotTable.RowSelected)
    def _drill(self, event: SnapshotTable.RowSelected) -> None:
        table = event.table
        key = event.row_key
        if key is None:
            return
        if table.id == "timeline":
            self.action_chain()
        elif table.id == "groups":
            self.post_message(ShowScreen("lag", select=key))
        elif table.id == "failed":
            self._drill_failed(key)
        elif table.id == "sagas":
            self.post_message(ShowScreen("sagas", select=key))
        elif table.id == "topics":
            self.focus_topic(key)

    def _drill_failed(self, key: str) -> None:
        """The dead letters of one failed handler (source topic, group and exception)."""
        snap = self.drawn or self.edamon.last_snapshot
        groups = snap.dead_letter_groups if snap is not None else ()
        group = next((g for g in groups if failed_key(g) == key), None)
        if group is not None:
            handler = (group.original_topic, group.consumer_group, group.exception_class)
            self.post_message(ShowDeadLetters(handler=handler))

    def focus_topic(self, topic: str) -> None:
        """Select `topic` in the topics table, filter the timeline to it and focus the
        timeline (Esc clears the filter there, Enter opens a chain)."""
        topics = self.query_one("#topics", SnapshotTable)
        if topic in topics.keys:
            topics.select_key(topic)
        timeline = self.query_one("#timeline", SnapshotTable)
        timeline.set_filter(topic)
        timeline.focus()
