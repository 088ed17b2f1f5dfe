"""Dead letters: every DLQ record, newest first, with its detail; Space marks rows, `r` retries
the marked ones (or the one under the cursor) after a confirmation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from contextlib import suppress
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from edamon.client import ClientError, Forbidden
from edamon.model.api import RetryJobDoc
from edamon.model.snapshot import DeadLetterRow, Snapshot
from edamon.ui.alerts import DEAD_LETTERS
from edamon.ui.format import (
    BLUE,
    DASH,
    DIM,
    RED,
    UNKNOWN_NOTE,
    YELLOW,
    or_unknown,
    short_class,
    shorten,
)
from edamon.ui.messages import Handler, OpenChain
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.retry import (
    RetryModal,
    RetryProgress,
    outcome_cell,
    prepare_retry,
    summary_messages,
)
from edamon.ui.widgets.detail import dead_letter_detail, detail_epoch
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

MARK = "●"
RETRY_WIDTH = 22
"""Longest text of a retried cell (the table cuts it to the column's width)."""
RETRY_COLUMN = 5
"""Index of the retried cell in `dead_letter_cells`."""
READ_ONLY = "Read-only mode (--read-only / read_only = true): retry is disabled. Nothing was sent."
VIEWER = "This dashboard's token is a viewer's: retry needs an operator token. Nothing was sent."
JOB_POLL_S = 0.2
"""How often a running retry job's progress is asked for."""


def retry_text(row: DeadLetterRow) -> Text:
    """The ledger status of a dead letter: never retried, ✓ retried, or ✗ failed with why."""
    if row.retry is None:
        return Text(DASH, style=DIM)
    if row.retry.startswith("failed"):
        reason = row.retry.partition(": ")[2] or "failed"
        return Text(shorten(f"✗ {reason}", RETRY_WIDTH), style=RED)
    return Text("✓ retried", style=BLUE)


MARKED = Text(MARK, style="bold " + YELLOW)
UNMARKED = Text(" ")


def dead_letter_cells(row: DeadLetterRow) -> Row:
    """The cells of a dead letter that do not depend on the clock or the marks."""
    exception = short_class(row.failure_class)
    return (  # cut to each column's width by the table (see COLUMNS and the layouts)
        row.dlq_topic,
        Text(or_unknown(row.original_topic), "" if row.original_topic else DIM),
        Text(or_unknown(row.consumer_group), "" if row.consumer_group else DIM),
        Text(exception, style=RED),
        Text(DASH if row.attempts is None else str(row.attempts), justify="right"),
        retry_text(row),
        " ".join((row.message or "").split()),
    )


COLUMNS = (
    Column("mark", " ", 1),
    Column("time", "time", 8),
    Column("dlq", "DLQ topic", 24, trim="middle"),
    Column("original", "original topic", 24, trim="middle"),
    Column("group", "group", 14),
    Column("exception", "exception", 28),
    Column("attempts", Text("tries", justify="right"), 5),
    Column("retried", "retried", RETRY_WIDTH),
    Column("message", "message", 100),
)
WIDE_AT = 170
"""From this many columns on, the DLQ topic and the message have columns (else they are in
the detail only)."""
_COLUMN = {column.key: column for column in COLUMNS}
WIDE_LAYOUT = (COLUMNS, "message")
MEDIUM_LAYOUT = (
    (
        _COLUMN["mark"],
        Column("time", "time", 8, fit=True),
        Column("original", "original topic", trim="middle", share=1),
        Column("group", "group", trim="middle", share=3),
        Column("exception", "exception", share=2),
        Column("attempts", Text("tries", justify="right"), 5, fit=True),
        Column("retried", "retried", RETRY_WIDTH, fit=True),
    ),
    "exception",
)
"""From NARROW to WIDE_AT columns: the time, tries and retried cells as wide as they need, the
names sharing the rest; the exception gets what is left over (the message of the row under
the cursor is in the detail below)."""
NARROW_LAYOUT = (
    (
        _COLUMN["mark"],
        Column("time", "time", 8, fit=True),
        Column("original", "original topic", trim="middle", share=1),
        Column("exception", "exception", 40, share=2),
        Column("retried", "retried", 11, fit=True),
    ),
    "exception",
)
"""Under NARROW columns: what failed where, and whether it was retried."""


def handler_of(row: DeadLetterRow) -> Handler:
    """The failed handler a dead letter belongs to (as `DeadLetterGroup`s are keyed)."""
    return (row.original_topic, row.consumer_group, row.failure_class)


def _glob_exact(name: str) -> str:
    """A name as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def handler_selection(handler: Handler | None) -> tuple[str, ...]:
    """The service's `key=value` selection for a failed handler's dead letters (parts the
    dead letters do not name are left out: the selection is then wider than the handler)."""
    if handler is None:
        return ()
    topic, group, exception = handler
    parts = []
    if topic:
        parts.append(f"original-topic={_glob_exact(topic)}")
    if group:
        parts.append(f"group={_glob_exact(group)}")
    if exception:
        parts.append(f"exception=/^{re.escape(exception)}$/")
    return tuple(parts)


def dead_letter_key(row: DeadLetterRow) -> str:
    """A dead letter's row key: its coordinates (topic/partition/offset)."""
    return row.coords


class DeadLettersScreen(DashboardScreen):
    """The DLQ records the collector retains, newest first.

    `marked` is the set of record coordinates the operator marked with Space; `targets()` is
    what a bulk action acts on (the marked rows, else the row under the cursor). `r` retries
    the targets through `RetryModal` in an async worker; `outcomes` holds this session's
    results per dead letter until the ledger (read live by the collector) says something new.

    Retry is a job on the service. When the service is read-only, or this dashboard's token
    is a viewer's, `r` shows as disabled ("Retry (off: read-only)", "Retry (off: viewer)")
    and only explains why.
    """

    NAME = "deadletters"
    LISTS = DEAD_LETTERS
    HELP_NOTES = (UNKNOWN_NOTE,)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Mark", key_display="space"),
        Binding("c", "chain", "Chain"),
        # Retry: never on a scrolling key; nothing is sent without the modal's confirmation.
        Binding("r", "retry", "Retry"),
        Binding("r", "retry_read_only", "Retry (off: read-only)"),
        Binding("r", "retry_viewer", "Retry (off: viewer)"),
        Binding("x", "stop_retry", "Stop retry"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: set[str] = set()
        self.outcomes: dict[str, tuple[str | None, Text]] = {}
        """coords -> (the row's ledger status when the result came, the cell to show)."""
        self._rows: dict[str, DeadLetterRow] = {}
        self._cells = RowMemo(dead_letter_cells)
        self._detail_key: object = None
        """Dead letters whose body the collector let go, read again (made on first use)."""
        self._count = "0"
        """The title's count: all dead letters, or how many match of them."""
        self._arrived = 0
        """Rows the list's syncs put above the cursor's record (newer dead letters) since the
        top of the list was last in view (see `newer_above`)."""
        self._listed: tuple[str, Handler | None] = ("", None)
        """The filter and narrowing `_arrived` counts under."""
        self._retry_busy = False
        self._retry_cancel: asyncio.Event | None = None
        self._retry_allowed: tuple[bool, str | None] | None = None
        self.handler: Handler | None = None
        """One failed handler (source topic, consumer group, exception) the list is narrowed
        to: the overview's drill-in. Esc clears it."""

    def compose_body(self) -> Iterable[Widget]:
        yield SnapshotTable(
            COLUMNS,
            id="dead-letters",
            title="Dead letters",
            # The cursor stays on the record the operator is reading (and may retry), also on
            # the first row when newer dead letters arrive above it (the title counts those
            # out of view).
            follow_head=False,
        )
        with VerticalScroll(id="dl-detail-scroll"):
            yield Static(id="dl-detail")
        yield RetryProgress(id="retry-progress")

    def on_resize(self) -> None:
        self.redraw()

    def on_mount(self) -> None:
        self.query_one(SnapshotTable).focus()
        self.query_one("#dl-detail-scroll").border_title = "Dead letter"
        super().on_mount()

    def apply_filter(self, text: str) -> None:
        """A filter from elsewhere (a topic jump, a drill-in) is about all dead letters: it
        ends a failed-handler narrowing."""
        self.handler = None
        super().apply_filter(text)

    def select(self, key: str) -> None:
        """Select the dead letter `key`, which may be outside a failed-handler narrowing."""
        self.handler = None
        super().select(key)

    def show_failed_handler(self, handler: Handler | None) -> None:
        """Narrow the list to the dead letters of `handler` (None: all of them)."""
        self.handler = handler
        self.redraw()

    def action_back(self) -> None:
        """Esc: the filter first (as on every screen), then the failed-handler narrowing, then
        back to the previous screen."""
        table = self.query_one(SnapshotTable)
        if self.handler is not None and not table.filter_text and not self.filter_open:
            self.show_failed_handler(None)
            return
        super().action_back()

    def paged(self) -> bool:
        """More dead letters than the overview carries: the list is read by pages from the
        service (only the pages in view), else drawn from the overview's rows."""
        source = self.edamon.source
        counts = source.counts
        return counts is not None and counts.dead_letters > source.rows

    def draw_body(self, snap: Snapshot) -> None:
        table = self.query_one(SnapshotTable)
        width = self.size.width
        table.show_columns(
            *(
                NARROW_LAYOUT
                if width < NARROW
                else MEDIUM_LAYOUT
                if width < WIDE_AT
                else WIDE_LAYOUT
            )
        )
        handler = self.handler
        rows: RowSource
        if self.paged():
            pages = self.edamon.source.dead_letter_pages
            pages.set_query(table.filter_text, handler_selection(handler))
            self._rows = {row.coords: row for _, row in pages.held()}
            rows = PagedRows(pages, key=dead_letter_key, cells=self._row_cells)
            total = self.edamon.source.counts.dead_letters if self.edamon.source.counts else 0
        else:
            self._rows = {row.coords: row for row in snap.dead_letters}
            self.marked &= self._rows.keys()
            shown = list(self._rows.values())
            if handler is not None:
                shown = [row for row in shown if handler_of(row) == handler]
            rows = ListRows(
                shown, key=dead_letter_key, cells=self._row_cells, search=self._search_text
            )
            total = len(snap.dead_letters)
        if self.outcomes:
            self._expire_outcomes()
        key, row, listed = table.cursor_key, table.cursor_row, (table.filter_text, handler)
        table.sync(rows)
        if key != table.cursor_key or listed != self._listed:
            self._arrived = 0  # another record, or another list: nothing to count from
        else:
            self._arrived += max(0, table.cursor_row - row)
        self._listed = listed
        count = f"{total:,}"
        if table.filter_text or handler is not None:
            count = f"{table.row_count:,} match · {count}"
        self._count = count
        self._set_title()
        self._cells.sweep()
        self._show_detail(table.cursor_key)
        allowed = (self.edamon.source.read_only, self.edamon.source.role)
        if allowed != self._retry_allowed:
            self._retry_allowed = allowed
            self.refresh_bindings()

    def partial_answers(self, snap: Snapshot) -> tuple[str, ...]:
        """Read by pages: what the service said may be missing from them (a shard group's
        member that did not answer in time); else the snapshot's (the overview's rows)."""
        if self.paged():
            return self.edamon.source.dead_letter_pages.notices
        return super().partial_answers(snap)

    async def fetch(self) -> None:
        """The pages of dead letters in view, when there are more than the overview carries."""
        if self.paged():
            table = self.query_one(SnapshotTable)
            pages = self.edamon.source.dead_letter_pages
            pages.set_query(table.filter_text, handler_selection(self.handler))
            await pages.refresh()

    def _set_title(self) -> None:
        """Count, failed-handler narrowing, marks, and how many newer rows arrived above the
        view (the cursor stays on its record as new ones arrive)."""
        table = self.query_one(SnapshotTable)
        parts: list[str | tuple[str, str]] = ["Dead letters ", (f"({self._count})", "dim")]
        handler = self.handler
        if handler is not None:
            topic, group, exception = handler
            where = " · ".join((or_unknown(topic), or_unknown(group), short_class(exception)))
            parts += ["  failed handler ", (where, "bold"), " ", ("(esc: all)", "dim")]
        if self.marked:
            parts += ["  ", (f"{len(self.marked)} marked", f"bold {YELLOW}")]
        newer = self.newer_above()
        if newer:
            parts += ["  ", (f"↑ {newer:,} newer (home)", "dim")]
        table.set_title(Content.assemble(*parts))

    def newer_above(self) -> int:
        """Dead letters that arrived above the cursor's record since the top of the list was
        last in view and are out of view now (scrolled off above)."""
        table = self.query_one(SnapshotTable)
        top = round(table.scroll_y)
        if top == 0:
            self._arrived = 0
        return min(self._arrived, top)

    def _row_cells(self, row: DeadLetterRow) -> Row:
        cells = self._cells(row)
        outcome = self.outcomes.get(row.coords)
        if outcome is not None:
            cells = (*cells[:RETRY_COLUMN], outcome[1], *cells[RETRY_COLUMN + 1 :])
        mark = MARKED if row.coords in self.marked else UNMARKED
        return (mark, self.edamon.times(row.time), *cells)

    def _show_detail(self, coords: str | None) -> None:
        row = self._rows.get(coords) if coords else None
        app = self.edamon
        lookup = app.source.dead_letter(coords) if coords else None
        dead = lookup.value if lookup is not None else None
        loading = lookup is not None and dead is None and not lookup.fetched
        times = self.edamon.times
        error = lookup.error if lookup is not None else None
        key = (coords, row, dead, loading, error, times.absolute, detail_epoch(times))
        if key == self._detail_key:
            return
        self._detail_key = key
        if loading and row is not None:
            note = f"Could not load it: {error}" if error else "Loading…"
            shown: RenderableType = Text.assemble((row.coords, "bold"), "\n", (note, DIM))
        else:
            shown = dead_letter_detail(dead, row, times)
        self.query_one("#dl-detail", Static).update(shown)
        scroll = self.query_one("#dl-detail-scroll", VerticalScroll)
        scroll.border_title = (
            Content.assemble("Dead letter  ", (coords, "dim")) if coords else "Dead letter"
        )

    def _search_text(self, coords: str) -> str:
        row = self._rows.get(coords)
        if row is None:
            return ""
        # In the order of a failed-handler group (topic, group, exception) so that the
        # overview's drill-in filter matches its rows; then the wrapper, when there is a cause.
        parts = (
            row.original_topic,
            row.consumer_group,
            row.failure_class,
            row.exception_class if row.cause_class else None,
            row.message,
        )
        return " ".join(part for part in parts if part)

    def targets(self) -> list[str]:
        """Coordinates a bulk action should act on: the marked rows (in table order), else
        the row under the cursor."""
        table = self.query_one(SnapshotTable)
        if self.marked:
            shown = table.all_keys  # held by the table or not (it is lazy)
            return [key for key in shown if key in self.marked] + sorted(self.marked - set(shown))
        key = table.cursor_key
        return [key] if key is not None else []

    def action_mark(self) -> None:
        """Mark or unmark the row under the cursor, then move down."""
        table = self.query_one(SnapshotTable)
        key = table.cursor_key
        if key is None:
            return
        self.marked ^= {key}
        self.redraw()
        table.action_cursor_down()

    # --- retry ---------------------------------------------------------------------------

    @property
    def retrying(self) -> bool:
        """True from `r` until the run (or the cancelled confirmation) is over."""
        return self._retry_busy

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`r` is hidden without a retry service, shown disabled when read-only; `x` only
        while a retry sends."""
        if action in ("retry", "retry_read_only", "retry_viewer"):
            source = self.edamon.source
            read_only = source.read_only
            viewer = source.role == "viewer" and not read_only
            if action == "retry":
                return not (read_only or viewer)
            if action == "retry_read_only":
                return None if read_only else False
            return None if viewer else False
        if action == "stop_retry":
            return self._retry_cancel is not None
        return True

    def on_key(self, event: events.Key) -> None:
        """`r` when retry is off: the binding is disabled, so explain instead."""
        if event.key != "r":
            return
        source = self.edamon.source
        if source.read_only:
            event.stop()
            self.action_retry_read_only()
        elif source.role == "viewer":
            event.stop()
            self.action_retry_viewer()

    def action_retry_read_only(self) -> None:
        """Explain why retry is off."""
        self.notify(READ_ONLY, title="Retry disabled", severity="warning", timeout=6)

    def action_retry_viewer(self) -> None:
        """Explain why retry is off."""
        self.notify(VIEWER, title="Retry disabled", severity="warning", timeout=6)

    def action_retry(self) -> None:
        """Retry the marked dead letters (else the one under the cursor), after confirmation."""
        source = self.edamon.source
        if source.read_only:
            self.action_retry_read_only()
            return
        if source.role == "viewer":
            self.action_retry_viewer()
            return
        if self._retry_busy:
            self.notify("A retry is already in progress (x stops it).", severity="warning")
            return
        coords = self.targets()
        if not coords:
            self.notify("No dead letter selected.", severity="warning", timeout=4)
            return
        self._retry_busy = True
        self._retry(coords)

    def action_stop_retry(self) -> None:
        """Stop the running retry after the record being sent."""
        if self._retry_cancel is not None and not self._retry_cancel.is_set():
            self._retry_cancel.set()
            self.notify("Stopping the retry after the current record…", timeout=4)

    @work(exclusive=True, group="redrive", exit_on_error=False)
    async def _retry(self, coords: list[str]) -> None:
        source = self.edamon.source
        progress = self.query_one(RetryProgress)
        try:
            progress.waiting("Reading the retry ledger…")
            try:
                request = await prepare_retry(source, coords, self._rows)
            except ClientError as exc:
                self.notify(str(exc), title="Retry failed", severity="error", timeout=20)
                return
            finally:
                progress.hide()
            choice = await self.app.push_screen_wait(RetryModal(request, self.edamon.times))
            if choice is None:
                self.notify("Retry cancelled: nothing was sent.", timeout=4)
                return
            try:
                job = await source.retry(
                    coords, force=choice.force, stop_on_failure=choice.stop_on_failure
                )
            except Forbidden as exc:
                self.notify(str(exc), title="Retry disabled", severity="error")
                return
            except ClientError as exc:
                self.notify(str(exc), title="Retry failed", severity="error", timeout=20)
                return
            self._retry_cancel = cancel = asyncio.Event()
            self.refresh_bindings()
            progress.start(job.total, ", ".join(topic for topic, _ in choice.plan.targets))
            try:
                job = await self._follow(job, cancel, progress)
            except asyncio.CancelledError:
                # The screen goes away (quit): the job stops after the record in flight, so
                # that what was sent is also in the ledger.
                with suppress(ClientError, asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(source.retry_cancel(job.id), 2.0)
                raise
            self._show_results(job)
        finally:
            self._retry_busy = False
            self._retry_cancel = None
            progress.hide()
            self.refresh_bindings()

    async def _follow(
        self, job: RetryJobDoc, cancel: asyncio.Event, progress: RetryProgress
    ) -> RetryJobDoc:
        """Ask for the job's progress until it ends; `cancel` set: ask the service to stop it."""
        source = self.edamon.source
        asked_to_stop = False
        while job.state == "running":
            if cancel.is_set() and not asked_to_stop:
                asked_to_stop = True
                with suppress(ClientError):
                    job = await source.retry_cancel(job.id)
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(cancel.wait(), JOB_POLL_S)
            try:
                job = await source.retry_job(job.id)
            except ClientError as exc:
                progress.waiting(f"Retry running on the service; no answer: {exc}")
                continue
            progress.advance(job.done, job.total)
        return job

    def _show_results(self, job: RetryJobDoc) -> None:
        rows = self._rows
        for result in job.results:
            cell = outcome_cell(result, RETRY_WIDTH)
            row = rows.get(result.coords)
            seen = row.retry if row is not None else None
            if cell is None or (result.outcome == "sent" and seen == "sent"):
                self.outcomes.pop(result.coords, None)  # the ledger already says it
            else:
                self.outcomes[result.coords] = (seen, cell)
        self.marked -= {result.coords for result in job.results if result.outcome == "sent"}
        for message, severity in summary_messages(job):
            timeout = 6 if severity == "information" else 20
            self.notify(message, title="Retry", severity=severity, timeout=timeout)
        self.redraw()

    def _expire_outcomes(self) -> None:
        """Forget results the ledger has caught up with (or whose row is gone)."""
        rows = self._rows
        for coords, (seen, _) in list(self.outcomes.items()):
            row = rows.get(coords)
            if row is None or row.retry != seen:
                del self.outcomes[coords]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A retry that crashed: say so (the run itself never raises for broker problems)."""
        worker = event.worker
        if worker.group == "redrive" and event.state is WorkerState.ERROR:
            error = worker.error
            self.notify(
                f"{type(error).__name__}: {error}",
                title="Retry failed",
                severity="error",
                timeout=30,
            )

    def action_chain(self) -> None:
        """Open the chain of the dead letter under the cursor."""
        key = self.query_one(SnapshotTable).cursor_key
        row = self._rows.get(key) if key else None
        if row is None:
            return
        # Select the chain's node for this dead letter (else the original event).
        self.post_message(OpenChain(row.correlation_id, row.event_id, dead_letter=key))

    @on(SnapshotTable.RowHighlighted, "#dead-letters")
    def _highlighted(self, event: SnapshotTable.RowHighlighted) -> None:
        self._show_detail(event.row_key)
        self._set_title()

    @on(SnapshotTable.RowSelected, "#dead-letters")
    def _selected(self) -> None:
        self.action_chain()
