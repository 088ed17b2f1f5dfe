"""Recent flows (correlation chains); Enter opens one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget

from edamon.model.snapshot import ChainSummary, Snapshot
from edamon.ui.format import (
    DASH,
    DIM,
    MAGENTA,
    ORANGE,
    RED,
    duration,
    status_text,
)
from edamon.ui.messages import OpenChain
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.widgets.snapshot_table import NARROW, Column, ListRows, Row, RowMemo, SnapshotTable

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
    Column("issues", "issues", 14),
    Column("saga", "saga", 16),
    Column("state", "saga state", 13),
    Column("updated", "updated", 8),
)
WIDE_LAYOUT = (COLUMNS, "correlation")
SAGA_COLUMNS = ("saga", "state")
"""Shown only when sagas are defined (`[sagas]` in the config) or a flow has one."""
NARROW_LAYOUT = (
    (
        COLUMNS[0],
        Column("root", "root event", 15),
        Column("events", Text("ev", justify="right"), 4),
        Column("duration", Text("dur", justify="right"), 6),
        Column("issues", "issues", 7),
        COLUMNS[6],
        Column("updated", "updated", 7),
    ),
    "correlation",
)


def chain_issues(chain: ChainSummary) -> Text:
    """What is wrong with the flow's events: dead letters, orphans, a loop; else a dim dash.
    (Not "ok": the flow's saga may still have failed or be stuck, see the saga state.)"""
    text = Text()
    if chain.dead_letters:
        text.append(f"{chain.dead_letters} DLQ ", style=RED)
    if chain.orphans:
        text.append(f"{chain.orphans} orphan{'s' if chain.orphans != 1 else ''} ", style=ORANGE)
    if chain.has_loop:
        text.append("loop ", style=MAGENTA)
    if not text:
        return Text(DASH, style=DIM)
    text.rstrip()
    return text


def chain_cells(chain: ChainSummary) -> Row:
    """A flow's cells except the (clock-dependent) last update."""
    return (
        chain.correlation_id,
        Text(chain.root_type, style="bold"),
        Text(str(chain.events), justify="right"),
        Text(duration(chain.duration_s), justify="right"),
        chain_issues(chain),
        chain.saga or Text(DASH, style=DIM),
        status_text(chain.saga_state),
    )


def chain_key(chain: ChainSummary) -> str:
    """A flow's row key: its correlation id."""
    return chain.correlation_id


ORDERS: tuple[tuple[str, Callable[[ChainSummary], float] | None], ...] = (
    ("last update", None),  # the snapshot's own order
    ("duration", lambda chain: -chain.duration_s),
    ("events", lambda chain: -chain.events),
)
"""The orders `o` cycles through: the slowest and the biggest flows come first with the
latter two."""


class ChainsScreen(DashboardScreen):
    """A table of recent flows, most recently updated first (`o`: longest or biggest first)."""

    NAME = "chains"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("o", "cycle_order", "Order")]

    def __init__(self) -> None:
        super().__init__()
        self._cells = RowMemo(chain_cells)
        self.order = 0
        """Index in ORDERS."""

    def action_cycle_order(self) -> None:
        """Order the flows by the next of ORDERS."""
        self.order = (self.order + 1) % len(ORDERS)
        self.redraw()

    def compose_body(self) -> Iterable[Widget]:
        yield SnapshotTable(COLUMNS, id="chains", title="Recent flows", max_rows=MAX_ROWS)

    def on_resize(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.query_one(SnapshotTable).focus()
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        table = self.query_one(SnapshotTable)
        layout, grow = NARROW_LAYOUT if self.size.width < NARROW else WIDE_LAYOUT
        columns: tuple[Column, ...] = layout
        if not (self.edamon.settings.sagas.definitions or any(c.saga for c in snap.chains)):
            columns = tuple(c for c in layout if c.key not in SAGA_COLUMNS)
        table.show_columns(columns, grow)
        memo = self._cells
        # Cells are built for the rows the table holds (a filter searches them all).
        chains = snap.chains
        name, order = ORDERS[self.order]
        if order is not None:
            chains = tuple(sorted(chains, key=order))
        rows = ListRows(
            chains if table.filter_text else chains[:MAX_ROWS],
            key=chain_key,
            cells=lambda chain: (*memo(chain), times(chain.last_update)),
        )
        table.sync(rows)
        retained = f"{snap.totals.chains:,} retained"
        if table.filter_text:
            retained = f"{len(table.all_keys):,} match · {retained}"
        table.set_title(f"Recent flows [dim]({retained}) · by {name} (o)[/]")
        memo.sweep()

    @on(SnapshotTable.RowSelected)
    def _selected(self, event: SnapshotTable.RowSelected) -> None:
        if event.row_key is not None:
            self.post_message(OpenChain(event.row_key))
