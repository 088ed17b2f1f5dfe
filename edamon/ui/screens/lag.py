"""Consumer lag: groups (worst first), then the partitions of the selected group."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from edamon.model.snapshot import GroupLag, LagHealth, PartitionLag, Snapshot
from edamon.model.status import PartitionStatus
from edamon.ui.format import (
    DIM,
    YELLOW,
    duration,
    plural,
    shorten,
    spark,
    status_style,
    status_text,
    thousands,
)
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.widgets.snapshot_table import NARROW, Column, Row, SnapshotTable

TREND_WIDTH = 16
NARROW_TREND = 10
BURROW = (
    "[b]Burrow status[/]  "
    "[green3]OK[/] keeping up  "
    "[yellow3]WARN[/] lag growing  "
    "[red3]STALL[/] committing, offset not moving  "
    "[red3]STOP[/] no commits for longer than the window  "
    "[red3]REWIND[/] offset went back  "
    "[grey50]NO COMMIT[/] never committed  "
    "[grey50]sampling[/] too few samples yet   group [red3]ERR[/] = worst of STOP/STALL/REWIND"
)


def health_line(health: LagHealth) -> str:
    """The lag sampler's own health, one line of markup for the footer: samples taken, cycle
    p50/p99, requests per sample, groups and partitions tracked; in red when it can't keep
    up with its interval."""
    if not health.samples:
        return "[b]Sampler[/]  no sample yet"
    line = (
        f"[b]Sampler[/]  {plural(health.samples, 'sample')} every {duration(health.interval_s)}"
        f"  cycle p50 {duration(health.cycle_p50_s)} p99 {duration(health.cycle_p99_s)}"
        f"  {thousands(health.requests_per_sample)} requests/sample"
        f"  {plural(health.groups, 'group')}, {plural(health.partitions, 'partition')} tracked"
    )
    if not health.keeping_up:
        line += f"  [red3]can't keep up: {plural(health.late, 'sample')} late[/]"
    elif health.late:
        line += f"  {plural(health.late, 'sample')} late"
    return line


def _right(value: str, style: str = "") -> Text:
    return Text(value, style=style, justify="right")


GROUP_COLUMNS = (
    Column("group", "group"),
    Column("status", "status"),
    Column("lag", _right("lag")),
    Column("lag_s", _right("lag s")),
    Column("trend", "trend", TREND_WIDTH),
    Column("state", "state"),
    Column("members", _right("members")),
    Column("topics", "topics"),
)
GROUPS_NARROW = (
    (
        GROUP_COLUMNS[0],
        Column("status", "status", 8),  # "sampling"
        Column("lag", _right("lag"), 7),
        Column("lag_s", _right("lag s"), 6),
        Column("trend", "trend", NARROW_TREND),
        Column("state", "state", 8),
    ),
    "group",
)
PARTITION_COLUMNS = (
    Column("topic", "topic"),
    Column("partition", _right("part")),
    Column("committed", _right("committed")),
    Column("end", _right("end")),
    Column("lag", _right("lag")),
    Column("lag_s", _right("lag s")),
    Column("status", "status"),
    Column("trend", "trend", TREND_WIDTH),
    Column("member", "member"),
)
PARTITIONS_NARROW = (
    (
        Column("topic", "topic", trim="middle"),
        Column("partition", _right("part"), 4),
        Column("committed", _right("committed"), 9),
        Column("lag", _right("lag"), 7),
        Column("lag_s", _right("lag s"), 6),
        Column("status", "status", 9),
    ),
    "topic",
)


def group_row(group: GroupLag, warn_s: float, trend: int = TREND_WIDTH) -> Row:
    """One consumer group as table cells; lag seconds over `warn_s` highlighted; a trend
    sparkline `trend` cells wide."""
    slow = group.max_lag_seconds is not None and group.max_lag_seconds > warn_s
    return (
        Text(group.group, style="bold"),
        status_text(group.status),
        _right(thousands(group.total_lag)),
        _right(duration(group.max_lag_seconds), YELLOW if slow else ""),
        Text(spark(group.trend, trend), style=status_style(group.status)),
        Text(group.state, style=DIM),
        _right(str(group.members)),
        shorten(", ".join(group.topics), 40),
    )


def partition_row(part: PartitionLag) -> Row:
    """One partition of a group as table cells ("no commit" rather than 0 lag)."""
    no_commit = part.committed is None
    return (
        part.topic,
        _right(str(part.partition)),
        _right("no commit" if no_commit else thousands(part.committed), DIM if no_commit else ""),
        _right(thousands(part.end)),
        _right(thousands(part.lag)),
        _right(duration(part.lag_seconds)),
        status_text(part.status),
        Text(spark(part.trend, TREND_WIDTH), style=status_style(part.status)),
        part.member or Text("–", style=DIM),
    )


class LagScreen(DashboardScreen):
    """Groups table; the partitions table follows the group under the cursor."""

    NAME = "lag"

    def __init__(self) -> None:
        super().__init__()
        self._groups: dict[str, GroupLag] = {}
        self._shown: str | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield SnapshotTable(
            GROUP_COLUMNS,
            id="lag-groups",
            title="Consumer groups",
            follow_head=False,  # the partitions below show the chosen group: don't switch it
        )
        yield SnapshotTable(
            PARTITION_COLUMNS,
            id="lag-partitions",
            title="Partitions",
            opens=False,  # a partition has nothing to open: Enter is not offered
        )
        yield Static(BURROW, id="burrow")
        yield Static(id="lag-health")

    def on_resize(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.query_one("#lag-groups", SnapshotTable).focus()
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        warn_s = self.edamon.settings.alerts.lag_seconds_warn
        self._groups = {group.group: group for group in snap.lag}
        narrow = self.size.width < NARROW
        groups = self.query_one("#lag-groups", SnapshotTable)
        groups.show_columns(*(GROUPS_NARROW if narrow else (GROUP_COLUMNS, None)))
        partitions = self.query_one("#lag-partitions", SnapshotTable)
        partitions.show_columns(*(PARTITIONS_NARROW if narrow else (PARTITION_COLUMNS, None)))
        groups.set_title(f"Consumer groups [dim]({len(snap.lag)}, worst first)[/]")
        trend = NARROW_TREND if narrow else TREND_WIDTH
        groups.sync([(g.group, group_row(g, warn_s, trend)) for g in snap.lag])
        self._draw_partitions(groups.cursor_key)
        self.query_one("#lag-health", Static).update(health_line(snap.lag_health))

    def _draw_partitions(self, group_name: str | None) -> None:
        table = self.query_one("#lag-partitions", SnapshotTable)
        group = self._groups.get(group_name) if group_name else None
        if group is None:
            table.set_title("Partitions")
            table.sync([])
            return
        bad = sum(1 for p in group.partitions if p.status not in _FINE)
        table.set_title(
            Content.assemble(
                "Partitions of ",
                (group.group, "bold"),
                (f"  {bad} not OK" if bad else "", "red3"),
            )
        )
        table.sync([(f"{p.topic}/{p.partition}", partition_row(p)) for p in group.partitions])

    @on(SnapshotTable.RowHighlighted, "#lag-groups")
    def _group_highlighted(self, event: SnapshotTable.RowHighlighted) -> None:
        self._draw_partitions(event.row_key)

    @on(SnapshotTable.RowSelected, "#lag-groups")
    def _drill(self) -> None:
        self.query_one("#lag-partitions", SnapshotTable).focus()

    def action_back(self) -> None:
        """Esc: from the partitions (with no filter left to clear) back up to the groups,
        the way Enter came down; else as on every screen."""
        partitions = self.query_one("#lag-partitions", SnapshotTable)
        if self.focused is partitions and not partitions.filter_text:
            self.query_one("#lag-groups", SnapshotTable).focus()
            return
        super().action_back()


_FINE = {PartitionStatus.OK, PartitionStatus.UNKNOWN}
