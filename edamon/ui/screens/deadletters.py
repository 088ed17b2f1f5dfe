"""Dead letters: every DLQ record, newest first, with its detail; Space marks rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from edamon.model.snapshot import DeadLetterRow, Snapshot
from edamon.ui.format import BLUE, DASH, DIM, RED, YELLOW, shorten, shorten_middle
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.widgets.detail import dead_letter_detail, detail_epoch
from edamon.ui.widgets.table import Column, LiveTable, Row, RowMemo

MAX_ROWS = 2000
MARK = "●"


def retry_text(row: DeadLetterRow) -> Text:
    """The ledger status of a dead letter: never retried, sent, or failed."""
    if row.retry is None:
        return Text(DASH, style=DIM)
    if row.retry.startswith("failed"):
        return Text(shorten(row.retry, 20), style=RED)
    return Text(row.retry, style=BLUE)


MARKED = Text(MARK, style="bold " + YELLOW)
UNMARKED = Text(" ")


def dead_letter_cells(row: DeadLetterRow) -> Row:
    """The cells of a dead letter that do not depend on the clock or the marks."""
    exception = (row.exception_class or "?").rsplit(".", 1)[-1]
    return (
        shorten_middle(row.dlq_topic, 24),
        Text(shorten_middle(row.original_topic, 24)) if row.original_topic else Text("?", DIM),
        Text(shorten(row.consumer_group, 12)) if row.consumer_group else Text("?", DIM),
        Text(shorten(exception, 20), style=RED),
        Text(DASH if row.attempts is None else str(row.attempts), justify="right"),
        retry_text(row),
        shorten(row.message, 60),
    )


class DeadLettersScreen(DashboardScreen):
    """The DLQ records the collector retains, newest first.

    `marked` is the set of record coordinates the operator marked with Space; `targets()` is
    what a bulk action acts on (the marked rows, else the row under the cursor).
    """

    NAME = "deadletters"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", key_display="space"),
        Binding("c", "chain", "Chain"),
        # DLQ retry (a later issue) adds `r` here: it acts on targets(), asks for a
        # confirmation, and is disabled by --read-only. Keep it off the scrolling keys.
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: set[str] = set()
        self._rows: dict[str, DeadLetterRow] = {}
        self._cells = RowMemo(dead_letter_cells)
        self._detail_key: object = None

    def compose_body(self) -> Iterable[Widget]:
        yield LiveTable(
            [
                Column("mark", " ", 1),
                Column("time", "time"),
                Column("dlq", "DLQ topic"),
                Column("original", "original topic"),
                Column("group", "group"),
                Column("exception", "exception"),
                Column("attempts", "tries"),
                Column("retried", "retried"),
                Column("message", "message"),
            ],
            id="dead-letters",
            title="Dead letters",
        )
        with VerticalScroll(id="dl-detail-scroll"):
            yield Static(id="dl-detail")

    def on_mount(self) -> None:
        self.query_one(LiveTable).focus()
        self.query_one("#dl-detail-scroll").border_title = "Dead letter"
        super().on_mount()

    def draw_body(self, snap: Snapshot) -> None:
        times = self.edamon.times
        self._rows = {row.coords: row for row in snap.dead_letters[:MAX_ROWS]}
        self.marked &= self._rows.keys()
        table = self.query_one(LiveTable)
        title = f"Dead letters [dim]({len(snap.dead_letters):,})[/]"
        if self.marked:
            title += f"  [b {YELLOW}]{len(self.marked)} marked[/]"
        table.set_title(title)
        memo, marked = self._cells, self.marked
        table.sync(
            [
                (coords, (MARKED if coords in marked else UNMARKED, times(row.time), *memo(row)))
                for coords, row in self._rows.items()
            ],
            search=self._search_text,
        )
        memo.sweep()
        self._show_detail(table.cursor_key)

    def _show_detail(self, coords: str | None) -> None:
        row = self._rows.get(coords) if coords else None
        dead = self.edamon.view.dead_letter(coords) if coords else None
        times = self.edamon.times
        key = (coords, row, dead is None, times.absolute, detail_epoch(times))
        if key == self._detail_key:
            return
        self._detail_key = key
        self.query_one("#dl-detail", Static).update(dead_letter_detail(dead, row, times))
        scroll = self.query_one("#dl-detail-scroll", VerticalScroll)
        scroll.border_title = f"Dead letter  [dim]{coords}[/]" if coords else "Dead letter"

    def _search_text(self, coords: str) -> str:
        row = self._rows.get(coords)
        if row is None:
            return ""
        parts = (row.original_topic, row.consumer_group, row.exception_class, row.message)
        return " ".join(part for part in parts if part)

    def targets(self) -> list[str]:
        """Coordinates a bulk action should act on: the marked rows (in table order), else
        the row under the cursor."""
        table = self.query_one(LiveTable)
        if self.marked:
            return [key for key in table.keys if key in self.marked] + sorted(
                self.marked - set(table.keys)
            )
        key = table.cursor_key
        return [key] if key is not None else []

    def action_mark(self) -> None:
        """Mark or unmark the row under the cursor, then move down."""
        table = self.query_one(LiveTable)
        key = table.cursor_key
        if key is None:
            return
        self.marked ^= {key}
        self.redraw()
        table.action_cursor_down()

    def action_chain(self) -> None:
        """Open the chain of the dead letter under the cursor."""
        key = self.query_one(LiveTable).cursor_key
        row = self._rows.get(key) if key else None
        if row is None:
            return
        # Select the chain's node for this dead letter (else the original event).
        chain = self.edamon.view.chain(row.correlation_id) if row.correlation_id else None
        node = next((n for n in chain.nodes if n.dead_letter == key), None) if chain else None
        self.edamon.open_chain(row.correlation_id, node.event_id if node else row.event_id)

    @on(DataTable.RowHighlighted, "#dead-letters")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.row_key.value)

    @on(DataTable.RowSelected, "#dead-letters")
    def _selected(self) -> None:
        self.action_chain()
