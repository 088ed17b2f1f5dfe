"""Find a flow from the past (issue 16): the search screen, and the chain screen of a flow a
search found.

`SearchScreen` (`f` on the overview and chains, `:` search): what to find by (correlation id,
event id, aggregate id, record key, header `name=value`, JSON path `= value`), a time range
(since 8h, or from/until), topics (default: every tailed topic and DLQ), a full scan for key
searches, and budgets. The search runs in the service (`/v1/searches`); the screen polls its
progress (records scanned of the estimate, per topic) and Esc cancels it. The result lists the
flows found (Enter opens one; a single flow opens at once), says what was not scanned and when
a budget stopped the search, and for a key search names the default-partitioner caveat with a
full scan offered.

`FoundChainScreen`: the usual chain screen over a flow kept with its search by the service
(outside the live window's eviction), marked "from search, <range>"; its events come from the
live window when it still holds them, else their records are read from Kafka; `e` exports it
with the search; `r` retries the selected dead letter (the service's plan and the confirmation
first, as on the dead letters screen); `d` dismisses the search's result.

Everything shown comes through the DataSource (sanitized there); messages of errors pass
`sanitize` too (they can quote what was typed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static, Tree

from edamon.client import ClientError, NotFound
from edamon.model.api import RetryJobDoc
from edamon.model.envelope import Envelope
from edamon.model.safetext import sanitize
from edamon.model.search import SearchDoc, SearchField, SearchPass, SearchQuery, id_prefix
from edamon.model.snapshot import ChainNode, ChainView, Snapshot
from edamon.model.timespec import MOMENT_HINT, resolve_moment
from edamon.model.waterfall import human_duration
from edamon.ui.format import BLUE, DIM, GREEN, ORANGE, RED, YELLOW, plural, short_id
from edamon.ui.messages import GoBack
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.retry import RetryModal, prepare_retry, summary_messages
from edamon.ui.source import Lookup
from edamon.ui.widgets.bars import Line
from edamon.ui.widgets.snapshot_table import SnapshotTable

if TYPE_CHECKING:
    from edamon.ui.app import EdamonApp

POLL_S = 0.25
"""How often a running search's progress is asked for."""
BAR_WIDTH = 16
DEFAULT_SINCE = "8h"
DEFAULT_BUDGET_RECORDS = 5_000_000
DEFAULT_BUDGET_SECONDS = 120.0

FIELDS: tuple[tuple[str, SearchField, str], ...] = (
    ("correlation id", "correlation_id", "the flow's correlation id"),
    ("event id", "event_id", "an event's id: its whole flow is found"),
    ("aggregate id", "aggregate_id", "order-8812: its events (or records with this key)"),
    ("record key", "key", "reads the partition the key hashes to (or a full scan)"),
    ("header", "header", "name=value, e.g. x-ticket=T-42"),
    ("JSON path", "json_path", "$.payload.orderId=8812"),
)
"""(label, field, placeholder of the value) for each way to search."""


@dataclass(frozen=True, slots=True)
class SearchForm:
    """What the user typed, as text (the screen's inputs)."""

    by: SearchField
    value: str
    since: str = DEFAULT_SINCE
    start: str = ""
    until: str = ""
    topics: str = ""
    full_scan: bool = False
    budget_records: str = str(DEFAULT_BUDGET_RECORDS)
    budget_seconds: str = f"{DEFAULT_BUDGET_SECONDS:g}"
    rate: str = ""


class FormError(ValueError):
    """What the user typed cannot make a query; the message says what to type."""


def _moment(spec: str, now: float, name: str) -> int:
    if spec.lower() == "earliest":  # the start of every partition
        return 0
    moment = resolve_moment(spec, now)
    if moment is None:
        raise FormError(f"{name}: {spec!r} is not {MOMENT_HINT}")
    return moment


def _number(text: str, name: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(text.replace(",", "").replace("_", "").strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise FormError(f"{name}: {text.strip()!r} is not {what}") from None
    if value <= 0:
        raise FormError(f"{name} must be more than 0")
    return value


def query_from_form(form: SearchForm, now: float) -> SearchQuery:
    """The query the form asks for. FormError for what only the dashboard can tell (an
    empty value, a range or a number it cannot read); the service judges the rest (a
    malformed JSON path, a range in the future, an unknown topic) and says so."""
    value = form.value.strip()
    if not value:
        label = next(label for label, by, _ in FIELDS if by == form.by)
        raise FormError(f"type the {label} to find")
    if form.start.strip():
        from_ms = _moment(form.start.strip(), now, "from")
    elif form.since.strip():
        from_ms = _moment(form.since.strip(), now, "since")
    else:
        raise FormError("a time range is needed: since 8h, or from (and until)")
    until_ms = _moment(form.until.strip(), now, "until") if form.until.strip() else None
    topics = tuple(t for t in form.topics.replace(",", " ").split() if t)
    rate = _number(form.rate, "rate", float) if form.rate.strip() else None
    return SearchQuery(
        by=form.by,
        value=value,
        from_ms=from_ms,
        until_ms=until_ms,
        topics=topics,
        full_scan=form.full_scan,
        budget_records=_number(form.budget_records, "budget records", int),
        budget_seconds=_number(form.budget_seconds, "budget seconds", float),
        rate=rate,
    )


def range_text(from_ms: int, until_ms: int) -> str:
    """`2026-12-07 04:23:21–12:23:21 UTC` (both dates when they differ)."""
    start = datetime.fromtimestamp(from_ms / 1000, UTC)
    end = datetime.fromtimestamp(until_ms / 1000, UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M:%S}–{end:%H:%M:%S} UTC"
    return f"{start:%Y-%m-%d %H:%M:%S} – {end:%Y-%m-%d %H:%M:%S} UTC"


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`█████▌          ` for done of total (full when total is 0)."""
    fraction = 1.0 if total <= 0 else min(1.0, done / total)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return text.ljust(width)


def _pass_lines(doc: SearchDoc, scan: SearchPass, first: bool) -> list[Text]:
    by = scan.by.replace("_", " ")
    title = "search" if first else f"widened to the whole flow (by {by})"
    state = "" if scan.complete else "  (incomplete)" if doc.state != "running" else ""
    lines = [
        Text.assemble(
            (title, "bold"),
            f"  {scan.scanned:,} of ~{scan.estimate:,} records, {scan.matched} matched{state}",
        )
    ]
    width = max((len(t.topic) for t in scan.topics), default=0)
    for topic in scan.topics:
        parts = (
            ""
            if len(topic.partitions) == topic.partitions_total
            else f"  partition {', '.join(map(str, topic.partitions))} of {topic.partitions_total}"
        )
        mark = ("✓", GREEN) if topic.done else ("…", DIM) if doc.state == "running" else ("✗", RED)
        lines.append(
            Text.assemble(
                "  ",
                mark,
                f" {topic.topic.ljust(width)}  ",
                (progress_bar(topic.scanned, topic.estimate), BLUE),
                f"  {topic.scanned:,} of {topic.estimate:,}",
                (parts, DIM),
            )
        )
    return lines


def outcome(doc: SearchDoc, now: float) -> Text:
    """One or two sentences: what the search is doing, or what came of it."""
    took = human_duration(max(0.0, (doc.finished or now) - doc.started))
    found = plural(len(doc.flows), "flow")
    read = f"{doc.scanned:,} of ~{doc.estimate:,} records read"
    if doc.state == "running":
        return Text.assemble(
            ("Searching… ", BLUE), f"{read}, {doc.matched} matched, {took}  ", ("esc cancels", DIM)
        )
    if doc.state == "failed":
        return Text.assemble(("The search failed: ", RED), doc.error or "no reason given")
    if doc.state == "cancelled":
        return Text.assemble(
            ("Cancelled. ", YELLOW), f"{read} in {took}; what was found so far: {found}."
        )
    if doc.state == "budget":
        return Text.assemble(
            ("Stopped by its budget: ", ORANGE),
            f"{read} in {took}; what was found: {found}. Records in range were not read "
            "(below): the flow may be incomplete, or elsewhere.",
        )
    if not doc.flows:
        found_none = Text.assemble(("No flow found ", YELLOW), f"({read} in {took}).")
        if doc.query.by in ("correlation_id", "event_id") and not id_prefix(
            doc.query.by, doc.query.value
        ):
            found_none.append(f" {ID_HINT}", DIM)
        return found_none
    return Text.assemble((f"Found {found} ", GREEN), f"({read} in {took}).")


ID_HINT = (
    "An id is matched whole, or by its first 6 or more hex characters (5a402706); "
    "`:` jumps to a flow the dashboard lists by any part of its id."
)
"""Said when an id search found nothing (and the id was not a short one)."""


def offers_full_scan(doc: SearchDoc) -> bool:
    """A key search that read only the partitions its key hashes to."""
    return doc.query.by == "key" and not doc.query.full_scan and doc.state != "running"


class SearchScreen(DashboardScreen):
    """Search Kafka's history through the service and open what it found (module doc)."""

    DEFAULT_CSS = """
    #search-form { height: auto; padding: 0 1; }
    .search-row { height: 1; }
    .search-label { width: 8; color: $text-muted; }
    .search-word { width: auto; color: $text-muted; padding: 0 1; }
    #search-by { width: 18; }
    #search-value { width: 1fr; }
    #search-topics { width: 1fr; }
    .search-time { width: 1fr; }
    #search-since { width: 10; }
    .search-number { width: 10; }
    #search-full-scan { width: auto; }
    #search-start { margin-right: 2; }
    #search-outcome { height: auto; padding: 0 1; }
    #search-progress { height: 1fr; padding: 0 1; }
    #search-flows {
        height: auto; max-height: 10;
        border: round $surface-lighten-2; border-title-color: $text-muted;
    }
    #search-flows:focus { border: round $primary; }
    """

    HELP_NOTES: ClassVar[tuple[str, ...]] = (
        "Enter in a field starts the search; esc cancels a running one (it keeps what it "
        "found), else leaves the field (keys such as 1-6 type into a field: esc first), "
        "and then goes back.",
        "The range: since (8h, 30m) or from/until (a time like 2026-12-07T03:00Z, or a "
        "duration ago). Topics: names separated by commas; empty: every tailed topic and DLQ.",
        "A key search reads only the partition the key hashes to (Kafka's default murmur2 "
        "partitioner): tick full scan if the producer partitions otherwise.",
        "A result stays until dismissed (d), also after the live window forgot the flow.",
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "dismiss_result", "Dismiss result"),
        # Esc leaves a field first (the footer says so): in a field, 1-6, / and d are text.
        Binding("escape", "leave_field", "Leave field", key_display="esc"),
        Binding("escape", "back", "Back", key_display="esc"),
    ]

    class OpenFlow(Message):
        """Show a flow a search found (the app pushes its chain screen)."""

        def __init__(self, search_id: str, correlation_id: str, range_text: str) -> None:
            super().__init__()
            self.search_id = search_id
            self.correlation_id = correlation_id
            self.range_text = range_text

    def __init__(self) -> None:
        super().__init__(title="search Kafka")
        self.doc: SearchDoc | None = None
        """The search shown (running, or its result)."""
        self.error: str | None = None
        """Why the last search did not start (the service's word, or the form's)."""
        self._flows_key: object = None
        self._shown: object = ()
        self._cancelled: str | None = None
        """The search Esc asked the service to cancel."""

    def compose_body(self) -> Iterable[Widget]:
        with Vertical(id="search-form"):
            with Horizontal(classes="search-row"):
                yield Label("find by", classes="search-label")
                yield Select(
                    [(label, by) for label, by, _ in FIELDS],
                    value="correlation_id",
                    allow_blank=False,
                    compact=True,
                    id="search-by",
                )
                yield Input(placeholder=FIELDS[0][2], compact=True, id="search-value")
            with Horizontal(classes="search-row"):
                yield Label("since", classes="search-label")
                yield Input(DEFAULT_SINCE, compact=True, id="search-since", classes="search-time")
                yield Label("or from", classes="search-word")
                yield Input(
                    placeholder="time or 8h", compact=True, id="search-from", classes="search-time"
                )
                yield Label("until", classes="search-word")
                yield Input(
                    placeholder="now", compact=True, id="search-until", classes="search-time"
                )
            with Horizontal(classes="search-row"):
                yield Label("topics", classes="search-label")
                yield Input(
                    placeholder="all tailed topics and DLQs (names, comma-separated)",
                    compact=True,
                    id="search-topics",
                )
            with Horizontal(classes="search-row"):
                yield Label("budget", classes="search-label")
                yield Input(
                    str(DEFAULT_BUDGET_RECORDS),
                    compact=True,
                    id="search-budget-records",
                    classes="search-number",
                )
                yield Label("records", classes="search-word")
                yield Input(
                    f"{DEFAULT_BUDGET_SECONDS:g}",
                    compact=True,
                    id="search-budget-seconds",
                    classes="search-number",
                )
                yield Label("s   rate", classes="search-word")
                yield Input(
                    placeholder="no limit",
                    compact=True,
                    id="search-rate",
                    classes="search-number",
                )
                yield Label("/s", classes="search-word")
                yield Checkbox("full scan", compact=True, id="search-full-scan")
            with Horizontal(classes="search-row"):
                yield Button("Search", compact=True, id="search-start", variant="primary")
                yield Button("Search again with a full scan", compact=True, id="search-full-again")
        yield Line(id="search-outcome")
        with VerticalScroll(id="search-progress"):
            yield Static(id="search-report")
        flows: DataTable[str | Text] = DataTable(
            id="search-flows", cursor_type="row", zebra_stripes=False
        )
        flows.border_title = "Flows found  [dim](enter opens)[/]"
        yield flows

    def on_mount(self) -> None:
        flows: DataTable[str | Text] = self.query_one("#search-flows", DataTable)
        flows.add_columns("flow", "root event", "events", "dead letters", "lasted", "at")
        self.query_one("#search-value", Input).focus()
        self._show()
        super().on_mount()

    # --- the form -----------------------------------------------------------------------

    @on(Select.Changed, "#search-by")
    def _by_changed(self, event: Select.Changed) -> None:
        placeholder = next((hint for _, by, hint in FIELDS if by == event.value), "")
        self.query_one("#search-value", Input).placeholder = placeholder

    def form(self) -> SearchForm:
        """What the inputs hold."""

        def text(name: str) -> str:
            return self.query_one(f"#search-{name}", Input).value

        by = self.query_one("#search-by", Select).value
        assert isinstance(by, str)
        return SearchForm(
            by=by,  # type: ignore[arg-type]  # the Select offers SearchFields only
            value=text("value"),
            since=text("since"),
            start=text("from"),
            until=text("until"),
            topics=text("topics"),
            full_scan=self.query_one("#search-full-scan", Checkbox).value,
            budget_records=text("budget-records"),
            budget_seconds=text("budget-seconds"),
            rate=text("rate"),
        )

    @on(Input.Submitted, "#search-form Input")
    @on(Button.Pressed, "#search-start")
    def _submit(self) -> None:
        self.start(self.form())

    @on(Button.Pressed, "#search-full-again")
    def _full_again(self) -> None:
        """Search again as the result shown did, reading every partition."""
        doc = self.doc
        if doc is None or self.running:
            return
        self.query_one("#search-full-scan", Checkbox).value = True
        query = doc.query
        self._begin(
            SearchQuery(
                by=query.by,
                value=query.value,
                from_ms=doc.from_ms,
                until_ms=doc.until_ms,
                topics=query.topics,
                full_scan=True,
                widen=query.widen,
                budget_records=query.budget_records,
                budget_seconds=query.budget_seconds,
                max_flows=query.max_flows,
                rate=query.rate,
            )
        )

    @property
    def running(self) -> bool:
        return self.doc is not None and self.doc.state == "running"

    def start(self, form: SearchForm) -> None:
        """Start the search the form asks for (one at a time from this screen)."""
        if self.running:
            self.notify("A search is running: esc cancels it first.", severity="warning")
            return
        try:
            query = query_from_form(form, self.edamon.clock())
        except FormError as exc:
            self._refused(str(exc))
            return
        self._begin(query)

    def _begin(self, query: SearchQuery) -> None:
        self.error = None
        self.query_one("#search-outcome", Line).set(Text("Starting the search…", style=BLUE))
        self._run(query)

    def _refused(self, message: str) -> None:
        self.error = message
        self._show()

    # --- running --------------------------------------------------------------------------

    @work(exclusive=True, group="search", exit_on_error=False)
    async def _run(self, query: SearchQuery) -> None:
        """Start the search on the service and follow it until it ends."""
        source = self.edamon.source
        try:
            doc = await source.start_search(query)
        except ClientError as exc:
            self._refused(str(exc))
            return
        self.doc = doc
        self._show()
        while doc.state == "running":
            await asyncio.sleep(POLL_S)
            try:
                doc = await source.search_status(doc.id)
            except NotFound:
                self.doc = None
                self._refused("The search was dismissed on the service.")
                return
            except ClientError as exc:  # the service may come back: go on asking
                self.query_one("#search-outcome", Line).set(
                    Text(f"Asking for the search's progress failed: {sanitize(str(exc))}", RED)
                )
                continue
            self.doc = doc
            self._show()
        if doc.state == "done" and len(doc.flows) == 1:
            self.open_flow(doc.flows[0].summary.correlation_id)
        elif doc.flows:
            self.query_one("#search-flows", DataTable).focus()

    def in_field(self) -> bool:
        """Focus is in the form (a field, the choice of what to find by, a button) and Esc
        has no running search to cancel: Esc leaves the field."""
        focused = self.focused
        if focused is None or self.query_one("#search-form") not in focused.ancestors:
            return False
        doc = self.doc
        return not (self.running and doc is not None and doc.id != self._cancelled)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc is "Leave field" while focus is in the form, else "Back"; a result shown can
        be dismissed once its search ended."""
        if action == "dismiss_result":
            return self.doc is not None and not self.running
        if action == "leave_field":
            return self.in_field()
        if action == "back":
            return not self.in_field()
        return True

    def action_leave_field(self) -> None:
        """Esc in the form: no widget has focus then, so every key is the screen's again."""
        self.set_focus(None)

    def action_back(self) -> None:
        """Esc: cancel the running search, else as everywhere (close the filter, go back). A
        second Esc while it is being cancelled goes back (the result stays held)."""
        doc = self.doc
        if self.running and doc is not None and doc.id != self._cancelled:
            self._cancelled = doc.id
            self._cancel(doc.id)
            return
        super().action_back()

    @work(group="search-cancel", exit_on_error=False)
    async def _cancel(self, search_id: str) -> None:
        self.query_one("#search-outcome", Line).set(Text("Cancelling…", style=YELLOW))
        try:
            await self.edamon.source.cancel_search(search_id)
        except ClientError as exc:
            self.notify(f"Could not cancel the search: {exc}", severity="error", timeout=8)

    def action_dismiss_result(self) -> None:
        """Forget the result shown (here and on the service)."""
        doc = self.doc
        if doc is None:
            return
        self.doc = None
        self._dismiss(doc.id)
        self._show()

    @work(group="search-dismiss", exit_on_error=False)
    async def _dismiss(self, search_id: str) -> None:
        try:
            await self.edamon.source.dismiss_search(search_id)
        except ClientError as exc:
            self.notify(f"Could not dismiss the search: {exc}", severity="error", timeout=8)
            return
        self.notify("Search result dismissed.", timeout=3)

    # --- the result -----------------------------------------------------------------------

    def open_flow(self, correlation_id: str) -> None:
        doc = self.doc
        if doc is not None:
            self.post_message(
                self.OpenFlow(doc.id, correlation_id, range_text(doc.from_ms, doc.until_ms))
            )

    @on(DataTable.RowSelected, "#search-flows")
    def _flow_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_flow(event.row_key.value)

    def draw_body(self, snap: Snapshot) -> None:
        self._show()

    def _show(self) -> None:
        """Draw the search's state: its outcome line, progress and notes, the flows."""
        self.refresh_bindings()  # what Esc does depends on whether a search runs
        doc = self.doc
        outcome_line = self.query_one("#search-outcome", Line)
        report = self.query_one("#search-report", Static)
        again = self.query_one("#search-full-again", Button)
        if self.error is not None:
            outcome_line.set(Text(sanitize(self.error), style=RED))
        elif doc is None:
            outcome_line.set(
                Text("Type what to find and press enter. The search reads Kafka in the service.")
            )
        else:
            outcome_line.set(outcome(doc, self.edamon.clock()))
        if (doc, self.error) == self._shown:  # drawn on every tick: only the clock moved
            return
        self._shown = (doc, self.error)
        again.display = doc is not None and offers_full_scan(doc) and self.error is None
        self.refresh_bindings()
        if doc is None:
            report.update("")
            self._draw_flows(())
            return
        lines: list[Text] = [
            Text.assemble(
                ("from search, ", DIM),
                range_text(doc.from_ms, doc.until_ms),
                (f"  ({doc.query.by.replace('_', ' ')} {doc.query.value})", DIM),
            )
        ]
        for index, scan in enumerate(doc.passes):
            lines.extend(_pass_lines(doc, scan, index == 0))
        for sentence in doc.not_scanned:
            lines.append(Text.assemble(("not scanned: ", ORANGE), sentence))
        for sentence in doc.notes:
            lines.append(Text.assemble(("note: ", DIM), sentence))
        if offers_full_scan(doc):
            lines.append(
                Text(
                    "Key search: only the partition the key hashes to was read, as Kafka's "
                    "default murmur2 partitioner places it. A producer with another "
                    "partitioner puts keys elsewhere: search again with a full scan.",
                    style=YELLOW,
                )
            )
        if doc.undecodable:
            reasons = ", ".join(f"{reason}: {n}" for reason, n in doc.undecodable_by_reason)
            lines.append(Text(f"undecodable among the matches: {doc.undecodable} ({reasons})", DIM))
        report.update(Text("\n").join(lines))
        self._draw_flows(doc.flows)

    def _draw_flows(self, flows: Iterable[ChainView]) -> None:
        table: DataTable[str | Text] = self.query_one("#search-flows", DataTable)
        flows = tuple(flows)
        key = tuple(f.summary for f in flows)
        table.display = bool(flows)
        if key == self._flows_key:
            return
        self._flows_key = key
        table.clear()
        for flow in flows:
            s = flow.summary
            at = datetime.fromtimestamp(s.start, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(
                short_id(s.correlation_id, 20),
                s.root_type,
                str(s.events),
                Text(str(s.dead_letters), style=RED if s.dead_letters else ""),
                human_duration(s.duration_s),
                at,
                key=s.correlation_id,
            )


class FoundChainScreen(ChainScreen):
    """The chain of a flow a search found (module doc)."""

    DEFAULT_CSS = """
    #found-mark { height: 1; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "dismiss_result", "Dismiss result"),
        Binding("r", "retry", "Retry dead letter"),
    ]

    def __init__(
        self, search_id: str, correlation_id: str, range_text: str, *, select: str | None = None
    ) -> None:
        super().__init__(correlation_id, select=select)
        self.search_id = search_id
        self.range_text = range_text
        self.retry_job: RetryJobDoc | None = None
        """The last retry started here, as last answered (done when not running)."""

    def _selected_dead_letter(self) -> str | None:
        """The coordinates of the dead letter of the selected node, if it has one."""
        chain = self.chain
        if chain is None:
            return None
        node = next((n for n in chain.nodes if n.event_id == self.selected), None)
        return None if node is None else node.dead_letter

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self._selected_dead_letter() is not None and self.edamon.source.may_retry
        return True

    @on(Tree.NodeHighlighted, "#tree")
    @on(SnapshotTable.RowHighlighted, "#waterfall")
    def _offer_retry(self) -> None:
        """The footer offers `r` on a dead letter only."""
        self.call_after_refresh(self.refresh_bindings)

    def action_retry(self) -> None:
        """Retry the selected dead letter (the service's plan and a confirmation first), as
        on the dead letters screen: a flow found by a search is mostly not listed there."""
        coords = self._selected_dead_letter()
        if coords is None or not self.edamon.source.may_retry:
            return
        self._retry(coords)

    @work(exclusive=True, group="redrive", exit_on_error=False)
    async def _retry(self, coords: str) -> None:
        source = self.edamon.source
        try:
            request = await prepare_retry(source, [coords], {})
        except ClientError as exc:
            self.notify(str(exc), title="Retry failed", severity="error", timeout=20)
            return
        choice = await self.app.push_screen_wait(RetryModal(request, self.edamon.times))
        if choice is None:
            self.notify("Retry cancelled: nothing was sent.", timeout=4)
            return
        try:
            job = await source.retry(
                [coords], force=choice.force, stop_on_failure=choice.stop_on_failure
            )
            self.retry_job = job
            while job.state == "running":
                await asyncio.sleep(POLL_S)
                job = self.retry_job = await source.retry_job(job.id)
        except ClientError as exc:
            self.notify(str(exc), title="Retry failed", severity="error", timeout=20)
            return
        for message, severity in summary_messages(job):
            self.notify(message, title="Retry", severity=severity, timeout=8)

    def compose_body(self) -> Iterable[Widget]:
        yield Line(
            Content.assemble(
                ("from search", "bold $warning"),
                f", {self.range_text}  ",
                ("kept until dismissed (d); not the live window", "dim"),
            ),
            id="found-mark",
        )
        yield from super().compose_body()

    async def fetch(self) -> None:
        """Nothing to refresh: the search's result does not change."""

    def chain_lookup(self) -> Lookup[ChainView]:
        return self.edamon.source.search_chain(self.search_id, self.correlation_id)

    def event_lookup(self, event_id: str, node: ChainNode | None) -> Lookup[Envelope]:
        if node is None:
            return super().event_lookup(event_id, node)
        return self.edamon.source.found_event(node, self.correlation_id)

    async def export_data(self, chain: ChainView) -> dict[str, Any]:
        return await self.edamon.source.export_found(self.search_id, chain)

    def action_dismiss_result(self) -> None:
        """Forget the search's result (here and on the service) and go back."""
        self._dismiss()

    @work(group="search-dismiss", exit_on_error=False)
    async def _dismiss(self) -> None:
        try:
            await self.edamon.source.dismiss_search(self.search_id)
        except ClientError as exc:
            self.notify(f"Could not dismiss the search: {exc}", severity="error", timeout=8)
            return
        self.notify("Search result dismissed.", timeout=3)
        self.post_message(GoBack())


def found_commands(app: EdamonApp) -> list[tuple[str, Callable[[], None], str]]:
    """The palette's commands for the flows of the searches held (until dismissed)."""
    commands: list[tuple[str, Callable[[], None], str]] = []
    for doc in app.source.searches.values():
        span = range_text(doc.from_ms, doc.until_ms)
        for flow in doc.flows:
            s = flow.summary
            commands.append(
                (
                    f"found {s.correlation_id}",
                    partial(app.open_found, doc.id, s.correlation_id, span),
                    f"{s.root_type}, {plural(s.events, 'event')}, from search, {span}",
                )
            )
    return commands
