"""Sagas: counts by state and duration percentiles per saga, and the instances."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from edamon.model.snapshot import SagaInstance, Snapshot
from edamon.model.status import SagaState
from edamon.ui.format import DIM, Times, duration, status_style, status_text
from edamon.ui.messages import OpenChain
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chains import ID_WIDTH
from edamon.ui.widgets.snapshot_table import (
    NARROW,
    Column,
    ListRows,
    PagedRows,
    Row,
    RowMemo,
    RowSource,
    SnapshotTable,
)

NO_SAGAS = Text.assemble(
    ("No sagas are defined.", "bold"),
    " Describe a business flow in the config and edamon follows every instance of it: running "
    "step i, completed, compensating, compensated, failed, stuck, dead-lettered.\n",
    (
        "[[sagas.definitions]] name, start (the event types that start it), steps (each with "
        "success, failure and compensation event types), timeout_s. Examples: config/demo.toml. "
        "Every flow is listed under 2 Chains either way.",
        DIM,
    ),
)

MAX_ROWS = 300
"""Instances in the table when they come from the overview (the `/` filter searches all of
its rows); when the service lists more, the table reads them by pages (`paged`)."""
STATES: tuple[SagaState, ...] = tuple(SagaState)
STATE_LABELS: dict[SagaState, str] = {
    SagaState.RUNNING: "running",
    SagaState.COMPENSATING: "compensating",
    SagaState.COMPLETED: "completed",
    SagaState.COMPENSATED: "compensated",
    SagaState.FAILED: "failed",
    SagaState.STUCK: "stuck",
    SagaState.DEAD_LETTERED: "dead-lettered",
}
SHORT_LABELS: dict[SagaState, str] = {
    SagaState.RUNNING: "run",
    SagaState.COMPENSATING: "cmpng",
    SagaState.COMPLETED: "done",
    SagaState.COMPENSATED: "comp",
    SagaState.FAILED: "fail",
    SagaState.STUCK: "stuck",
    SagaState.DEAD_LETTERED: "dlq",
}
"""Column labels of the summary in a narrow terminal."""


def _right(label: str) -> Text:
    return Text(label, justify="right")


SUMMARY_COLUMNS = (
    Column("saga", "saga"),
    *(Column(str(state), _right(STATE_LABELS[state])) for state in STATES),
    Column("p50", _right("p50")),
    Column("p95", _right("p95")),
)
SUMMARY_NARROW = (
    (
        Column("saga", "saga", 24),
        *(Column(str(state), _right(SHORT_LABELS[state]), 5) for state in STATES),
        Column("p50", _right("p50"), 6),
        Column("p95", _right("p95"), 6),
    ),
    "saga",
)
INSTANCE_COLUMNS = (
    Column("correlation", "correlation id", ID_WIDTH),
    Column("saga", "saga", 16),
    Column("state", "state", 13),
    Column("step", "step", 20),
    Column("started", "started", 8),
    Column("updated", "updated", 8),
    Column("duration", _right("duration"), 8),
)
INSTANCES_WIDE = (INSTANCE_COLUMNS, "correlation")
INSTANCES_NARROW = (
    (
        INSTANCE_COLUMNS[0],
        Column("saga", "saga", 10),
        INSTANCE_COLUMNS[2],
        Column("step", "step", 14),
        Column("updated", "updated", 7),
        Column("duration", _right("dur"), 6),
    ),
    "correlation",
)


def step_text(instance: SagaInstance) -> str:
    """`2: payment` for a running saga; the number of steps once it is over."""
    if instance.state is SagaState.COMPLETED:
        return f"{instance.step} steps"
    return f"{instance.step}: {instance.step_name}" if instance.step_name else str(instance.step)


def instance_cells(instance: SagaInstance) -> Row:
    """A saga instance's cells that do not depend on the clock."""
    return (
        instance.correlation_id,
        instance.saga,
        status_text(instance.state),
        step_text(instance),
        Text(duration(instance.duration_s), justify="right"),
    )


def instance_row(instance: SagaInstance, cells: Row, times: Times) -> Row:
    """All of an instance's cells: the fixed ones with started/updated times inserted."""
    return (*cells[:4], times(instance.started), times(instance.updated), cells[4])


class SagasScreen(DashboardScreen):
    """Per saga definition: counts by state, p50/p95; below, the instances (filter by state
    with `s`, by saga with Enter on the summary); Enter on an instance opens its chain."""

    NAME = "sagas"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "cycle_state", "State filter"),
        Binding("c", "chain", "Chain"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state_filter: SagaState | None = None
        self.saga_filter: str | None = None
        self._cells = RowMemo(instance_cells)

    def compose_body(self) -> Iterable[Widget]:
        yield Static(NO_SAGAS, id="saga-empty")
        yield SnapshotTable(SUMMARY_COLUMNS, id="saga-summary", title="Sagas")
        yield SnapshotTable(INSTANCE_COLUMNS, id="instances", title="Instances", max_rows=MAX_ROWS)

    def on_resize(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.query_one("#instances", SnapshotTable).focus()
        super().on_mount()

    def select(self, key: str) -> None:
        """Show the instances of saga `key`."""
        self.saga_filter = key
        super().select(key)

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        self.set_class(not snap.sagas, "-no-sagas")
        summary_rows: list[tuple[str, Row]] = []
        for saga in snap.sagas:
            counts = dict(saga.counts)
            cells: list[Text | str] = [Text(saga.saga, style="bold")]
            for state in STATES:
                n = counts.get(state, 0)
                cells.append(Text(str(n), style=status_style(state) if n else DIM, justify="right"))
            cells.append(Text(duration(saga.p50_s), justify="right"))
            cells.append(Text(duration(saga.p95_s), justify="right"))
            summary_rows.append((saga.saga, tuple(cells)))
        narrow = self.size.width < NARROW
        summary = self.query_one("#saga-summary", SnapshotTable)
        summary.show_columns(*(SUMMARY_NARROW if narrow else (SUMMARY_COLUMNS, None)))
        summary.sync(summary_rows)

        table = self.query_one("#instances", SnapshotTable)
        table.show_columns(*(INSTANCES_NARROW if narrow else INSTANCES_WIDE))
        memo = self._cells
        rows: RowSource
        listed: int | None
        if self.paged():
            pages = self.edamon.source.saga_pages
            pages.set_query(table.filter_text, self.selection())
            if pages.total is None:
                pages.item(0)  # the first page now, not at the next tick
            listed = pages.total
            rows = PagedRows(
                pages,
                key=lambda i: i.correlation_id,
                cells=lambda i: instance_row(i, memo(i), times),
            )
        else:
            instances = [
                i
                for i in snap.saga_instances
                if (self.state_filter is None or i.state is self.state_filter)
                and (self.saga_filter is None or i.saga == self.saga_filter)
            ]
            listed = len(instances)
            rows = ListRows(
                instances if table.filter_text else instances[:MAX_ROWS],
                key=lambda i: i.correlation_id,
                cells=lambda i: instance_row(i, memo(i), times),
            )
        table.sync(rows)
        memo.sweep()
        table.set_title(self.instances_title(snap, table, listed))

    def paged(self) -> bool:
        """The service lists more instances than the overview carries: the list is read by
        pages from the service (state and saga selected there, among every instance the
        collector follows), else from the overview's rows."""
        source = self.edamon.source
        counts = source.counts
        return counts is not None and counts.saga_instances > source.rows

    def selection(self) -> tuple[str, ...]:
        """The service's selection for the state and saga filters."""
        parts = []
        if self.state_filter is not None:
            parts.append(f"state={self.state_filter.value}")
        if self.saga_filter is not None:
            parts.append(f"saga={self.saga_filter}")
        return tuple(parts)

    def instances_title(self, snap: Snapshot, table: SnapshotTable, listed: int | None) -> str:
        """How many instances are listed; when the list has fewer than the sagas' counts say
        there are, both and why: `1,000 of 1,407: newest 1,000 only` (the service's list
        without a state or saga filter is its newest 1,000; in a shard group every list is)."""
        if listed is None:
            count = "…"
        elif table.filter_text:
            count = f"{table.row_count:,} match"
        else:
            count = f"{listed:,}"
            counts = self.edamon.source.counts
            held = counts.saga_instances if counts is not None else len(snap.saga_instances)
            tracked = sum(n for saga in snap.sagas for _, n in saga.counts)
            expected = sum(
                n
                for saga in snap.sagas
                if self.saga_filter is None or saga.saga == self.saga_filter
                for state, n in saga.counts
                if self.state_filter is None or state is self.state_filter
            )
            # (not a count a page and the overview took a moment apart disagree on)
            if expected > listed and tracked > held:
                count += f" of {expected:,}: newest {held:,} only"
        title = f"Instances [dim]({count})[/]"
        if self.saga_filter:
            title += f"  saga [b]{escape(self.saga_filter)}[/]"
        wanted = self.state_filter
        if wanted is not None:
            title += f"  state [b {status_style(wanted)}]{wanted}[/]"
        return title + "  [dim](s: state filter)[/]"

    async def fetch(self) -> None:
        """The pages of instances in view, when the service lists more than the overview."""
        if self.paged():
            table = self.query_one("#instances", SnapshotTable)
            pages = self.edamon.source.saga_pages
            pages.set_query(table.filter_text, self.selection())
            await pages.refresh()

    def action_cycle_state(self) -> None:
        """Cycle the instances' state filter: all, RUNNING, COMPENSATING, ... , all."""
        if self.state_filter is None:
            self.state_filter = STATES[0]
        else:
            index = STATES.index(self.state_filter) + 1
            self.state_filter = STATES[index] if index < len(STATES) else None
        self.redraw()

    def action_chain(self) -> None:
        """Open the chain of the instance under the cursor."""
        key = self.query_one("#instances", SnapshotTable).cursor_key
        if key is not None:
            self.post_message(OpenChain(key))

    @on(SnapshotTable.RowSelected, "#instances")
    def _open(self) -> None:
        self.action_chain()

    @on(SnapshotTable.RowSelected, "#saga-summary")
    def _filter_saga(self, event: SnapshotTable.RowSelected) -> None:
        key = event.row_key
        self.saga_filter = None if key == self.saga_filter else key
        self.redraw()
        self.query_one("#instances", SnapshotTable).focus()
