"""The overview's panels: their columns for each terminal width, and the pure helpers that fill
and size them."""

from __future__ import annotations

from rich.text import Text

from edamon.model.snapshot import DeadLetterGroup, Snapshot, TimelineRow
from edamon.model.status import SagaState
from edamon.ui.format import (
    DIM,
    RED,
    compact,
    short_id,
    status_style,
)
from edamon.ui.widgets.snapshot_table import Column, Row

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

# Numbers and short words (`fit`) are as wide as they need, up to their widths; the names
# take the rest (see SnapshotTable.show_columns).
TOPIC_COLUMNS = (
    Column("topic", "topic", trim="middle"),
    Column("rate", Text("ev/s", justify="right"), 7, fit=True),
    Column("trend", "trend", TREND_WIDTH),
    Column("last", "last", 7, fit=True),
)
GROUP_COLUMNS = (
    Column("group", "group", trim="middle"),  # names share a prefix (demo.*)
    Column("lag", Text("lag", justify="right"), 7, fit=True),
    Column("lag_s", Text("lag s", justify="right"), 6, fit=True),
    Column("status", "status", 8, fit=True),  # "sampling"
    Column("trend", "trend", TREND_WIDTH),
)
FAILED_COLUMNS = (
    Column("topic", "source topic", trim="middle", share=1),
    Column("group", "group", trim="middle", share=3),
    Column("exception", "exception", share=2),
    Column("count", Text("count", justify="right"), 5, fit=True),
    Column("last", "last seen", 9, fit=True),
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
    "groups": (GROUP_COLUMNS[:4], "group"),
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
COMPACT = 150
"""Below this many columns the sagas panel gives way to a summary line (class `-compact`): the
failed handlers need its room for a source topic, a group and an exception class side by side
(`demo.payments.PaymentProcessed  demo.orchestrator  SocketTimeoutException`: ~70 cells)."""
ABSOLUTE_TIME_WIDTH = 12
"""`10:00:01.123`"""
ABSOLUTE_LAST_WIDTH = 8
"""`10:00:01` (relative times, `12s ago`, fit the topics' `last` column as it is)."""


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


def failed_key(group: DeadLetterGroup) -> str:
    """A failed-handlers row's key."""
    return f"{group.original_topic}|{group.consumer_group}|{group.exception_class}"


def absolute_column(table: str, column: Column) -> Column:
    """`column` of the overview's `table` wide enough for absolute times."""
    if column.key == "time" and table == "timeline":
        return Column("time", column.label, ABSOLUTE_TIME_WIDTH)
    if column.key == "last" and table == "topics":
        return Column("last", column.label, ABSOLUTE_LAST_WIDTH)
    return column


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
