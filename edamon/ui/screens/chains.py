"""Recent flows (correlation chains); Enter opens one."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.widget import Widget
from textual.widgets import DataTable

from edamon.model.snapshot import ChainSummary, Snapshot
from edamon.ui.format import (
    DIM,
    GREEN,
    MAGENTA,
    ORANGE,
    RED,
    duration,
    status_text,
)
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.widgets.table import NARROW, Column, LazyRows, LiveTable, Row, RowMemo

MAX_ROWS = 300
"""Flows in the table (the filter searches every flow of the snapshot). A screenful and more
of scrollback; more rows cost redraw time when thousands of flows a second arrive."""
ID_WIDTH = 36
"""Correlation ids are cut to fit (at most this wide; the chain screen shows them whole)."""
COLUMNS = (
    Column("correlation", "correlation id", ID_WIDTH),
    Column("root", "root event", 18),
    Column("events", Text("events", justify="right"), 6),
    Column("duration", Text("duration", justify="right"), 8),
    Column("status", "status", 14),
    Column("saga", "saga", 16),
    Column("state", "saga state", 13),
    Column("updated", "updated", 8),
)
WIDE_LAYOUT = (COLUMNS, "correlation")
NARROW_LAYOUT = (
    (
        COLUMNS[0],
        Column("root", "root event", 15),
        Column("events", Text("ev", justify="right"), 4),
        Column("duration", Text("dur", justify="right"), 6),
        Column("status", "status", 7),
        COLUMNS[6],
        Column("updated", "updated", 7),
    ),
    "correlation",
)


def chain_status(chain: ChainSummary) -> Text:
    """`ok`, or what is wrong with the flow: dead letters, orphans, a loop."""
    text = Text()
    if chain.dead_letters:
        text.append(f"{chain.dead_letters} DLQ ", style=RED)
    if chain.orphans:
        text.append(f"{chain.orphans} orphan{'s' if chain.orphans != 1 else ''} ", style=ORANGE)
    if chain.has_loop:
        text.append("loop ", style=MAGENTA)
    if not text:
        text.append("ok", style=GREEN)
    text.rstrip()
    return text


def chain_cells(chain: ChainSummary) -> Row:
    """A flow's cells except the (clock-dependent) last update."""
    return (
        chain.correlation_id,
        Text(chain.root_type, style="bold"),
        Text(str(chain.events), justify="right"),
        Text(duration(chain.duration_s), justify="right"),
        chain_status(chain),
        chain.saga or Text("–", style=DIM),
        status_text(chain.saga_state),
    )


def chain_key(chain: ChainSummary) -> str:
    """A flow's row key: its correlation id."""
    return chain.correlation_id


class ChainsScreen(DashboardScreen):
    """A table of recent flows, most recently updated first."""

    NAME = "chains"

    def __init__(self) -> None:
        super().__init__()
        self._cells = RowMemo(chain_cells)

    def compose_body(self) -> Iterable[Widget]:
        yield LiveTable(COLUMNS, id="chains", title="Recent flows", max_rows=MAX_ROWS, lazy=True)

    def on_resize(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.query_one(LiveTable).focus()
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        table = self.query_one(LiveTable)
        table.show_columns(*(NARROW_LAYOUT if self.size.width < NARROW else WIDE_LAYOUT))
        memo = self._cells
        # Cells are built for the rows the table holds (a filter searches them all).
        rows = LazyRows(
            snap.chains if table.filter_text else snap.chains[:MAX_ROWS],
            key=chain_key,
            cells=lambda chain: (*memo(chain), times(chain.last_update)),
        )
        table.set_title(f"Recent flows [dim]({snap.totals.chains:,} retained)[/]")
        table.sync(rows)
        memo.sweep()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.edamon.open_chain(event.row_key.value)
