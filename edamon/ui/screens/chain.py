"""One chain: the causation tree, a waterfall on a shared time axis, and the selected event."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode

from edamon.client import ClientError
from edamon.model.chainnodes import DLQ_PREFIX, RETRY_HEADER, RETRY_PREFIX
from edamon.model.envelope import Envelope, EnvelopeFormat
from edamon.model.records import RawRecord, parse_coords
from edamon.model.safetext import bytes_text
from edamon.model.snapshot import ChainNode, ChainView, DeadLetterRow, Snapshot
from edamon.model.status import NodeStatus, SagaState
from edamon.model.waterfall import bar, frac, human_duration, time_axis
from edamon.ui.export import export_chain
from edamon.ui.format import DASH, DIM, ORANGE, RED, short_id, status_style, status_text
from edamon.ui.rereads import GONE, READING, Rereads
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chains import chain_issues
from edamon.ui.screens.sagas import step_text
from edamon.ui.source import Lookup
from edamon.ui.widgets.bars import Line
from edamon.ui.widgets.detail import (
    dead_letter_detail,
    detail_epoch,
    event_detail,
    redrive_detail,
)
from edamon.ui.widgets.table import Column, LiveTable, Row

MARKS: dict[NodeStatus, str] = {
    NodeStatus.OK: "",
    NodeStatus.PLACEHOLDER: "◌ ",
    NodeStatus.ORPHAN: "⚠ ",
    NodeStatus.DEAD_LETTERED: "✖ ",
    NodeStatus.RETRIED: "↻ ",
    NodeStatus.LOOP: "⟲ ",
}
REDRIVE_READING = "Reading the redriven copy from Kafka…"
LOADING = "Loading the event (its record is read again from Kafka when not kept in memory)…"
CRITICAL = "bold " + ORANGE
BAR = "steel_blue"
LABEL_WIDTH = 28
OFFSET_WIDTH = 8


def node_label(node: ChainNode) -> Text:
    """A tree label: mark, event type, +Δ from the root, status, then topic · source."""
    style = status_style(node.status) if node.status is not NodeStatus.OK else "bold"
    label = Text()
    label.append(MARKS.get(node.status, ""), style=status_style(node.status))
    label.append(node.event_type, style=style)
    label.append(f" +{human_duration(node.offset_s)}")
    if node.status is not NodeStatus.OK:
        label.append(" ")
        label.append_text(status_text(node.status))
    if node.duplicates:
        label.append(f" ×{node.duplicates + 1}", style=DIM)
    if node.hop_s is not None and node.hop_s < 0:  # occurred before the event that caused it
        label.append(f" ⇠ {human_duration(-node.hop_s)} before its cause", style=RED)
    where = " · ".join(part for part in (node.topic, node.source) if part)
    if where:
        label.append(f"  {where}", style=DIM)
    return label


def waterfall_row(node: ChainNode, duration_s: float, width: int) -> Row:
    """A waterfall row: the event (indented by depth), +Δ and a bar from its cause to it."""
    start = node.offset_s - (node.hop_s or 0.0)
    cells = bar(frac(start, 0.0, duration_s), frac(node.offset_s, 0.0, duration_s), width)
    name_style = status_style(node.status) if node.status is not NodeStatus.OK else ""
    name = Text("  " * node.depth)
    name.append(MARKS.get(node.status, "") + node.event_type, style=name_style)
    name.truncate(LABEL_WIDTH, overflow="ellipsis")
    return (
        name,
        Text(f"+{human_duration(node.offset_s)}", justify="right"),
        Text(cells, style=CRITICAL if node.critical else BAR),
    )


class WaterfallTable(LiveTable):
    """The waterfall: its bar column follows the table's width."""

    HELP_NAME = "Waterfall"

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, ChainScreen):
            screen.redraw_waterfall()


def redriven_copy(node: ChainNode) -> Envelope | None:
    """A redriven copy's record as a `dropped` envelope: only its coordinates and timestamp,
    to read the rest from Kafka by (None without coordinates)."""
    try:
        topic, partition, offset = parse_coords(node.coords or "")
    except ValueError:
        return None
    record = RawRecord(topic, partition, offset, round(node.time * 1000), None, None)
    return Envelope(
        node.event_id,
        node.event_type,
        None,
        None,
        None,
        None,
        None,
        node.source,
        None,
        EnvelopeFormat.SEED,
        record,
        dropped=True,
    )


def _retry_of(node: ChainNode, copy: Envelope | None) -> str | None:
    """The dead letter a redriven copy redrove: its parent node, else its `edamon-retry-of`
    header (once read)."""
    if node.parent_id is not None and node.parent_id.startswith(DLQ_PREFIX):
        return node.parent_id.removeprefix(DLQ_PREFIX)
    if copy is not None and not copy.dropped:
        value = copy.record.header(RETRY_HEADER)
        return None if value is None else bytes_text(value)
    return None


_IN_PROGRESS = (SagaState.RUNNING, SagaState.COMPENSATING, SagaState.STUCK)


class CausationTree(Tree[str]):
    """The causation tree: home/end (and g/G) move the cursor to the first/last event (a
    Tree's own only scroll)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "scroll_home", "First event", show=False),
        Binding("G", "scroll_end", "Last event", show=False),
    ]
    HELP_NAME = "Causation"

    def action_scroll_home(self) -> None:
        """home: the first event."""
        if self.last_line >= 0:
            self.cursor_line = 0
            self.scroll_to_line(0, animate=False)

    def action_scroll_end(self) -> None:
        """end: the last event."""
        if self.last_line >= 0:
            self.cursor_line = self.last_line
            self.scroll_to_line(self.last_line, animate=False)


class ChainScreen(DashboardScreen):
    """Pushed for one correlation id; redraws as the chain grows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export JSON"),
    ]

    def action_export(self) -> None:
        """Write the flow (tree, envelopes, records held) to a JSON file in the working
        directory, for an incident ticket."""
        if self.chain is None:
            self.notify("This flow is not retained any more.", severity="warning")
            return
        self._export(self.chain)

    @work(exclusive=True, group="export", exit_on_error=False)
    async def _export(self, chain: ChainView) -> None:
        try:
            data = await self.export_data(chain)
            path = export_chain(data, chain.summary.correlation_id, Path.cwd())
        except ClientError as exc:
            self.notify(f"Could not export the flow: {exc}", severity="error", timeout=10)
            return
        except OSError as exc:
            self.notify(f"Could not write the flow: {exc}", severity="error", timeout=10)
            return
        self.notify(f"Flow written to {path}", title="Export", timeout=8)

    def __init__(self, correlation_id: str, *, select: str | None = None) -> None:
        super().__init__(title=f"chain {short_id(correlation_id)}")
        self.correlation_id = correlation_id
        self.selected: str | None = select
        self.chain: ChainView | None = None
        self._tree_nodes: dict[str, TreeNode[str]] = {}
        self._parents: dict[str, str | None] = {}
        self._bar_width = 0
        self._detail_key: object = None
        self._axis = ""
        self._rereads_made: Rereads | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Line(id="chain-head")
        with Horizontal(id="chain-main"):
            with Vertical(id="chain-left"):
                tree = CausationTree("chain", id="tree")
                tree.show_root = False
                tree.guide_depth = 3
                tree.border_title = "Causation"
                yield tree
                yield WaterfallTable(
                    [
                        Column("event", "event", LABEL_WIDTH),
                        Column("offset", "+Δ", OFFSET_WIDTH),
                        Column("bar", "", 10),
                    ],
                    id="waterfall",
                    title="Waterfall  [dim](critical path in orange)[/]",
                    follow_head=False,  # rows are in waterfall order; the selection leads
                )
            with VerticalScroll(id="detail-scroll"):
                yield Static(id="detail")

    def on_mount(self) -> None:
        self.query_one("#tree", Tree).focus()
        super().on_mount()

    def main_table(self) -> LiveTable | None:
        return self.query_one("#waterfall", LiveTable)

    async def fetch(self) -> None:
        """The flow as it is now (it grows while shown)."""
        await self.edamon.source.refresh_chain(self.correlation_id)

    # Where the flow, its events and its export come from: the live window here; a search's
    # result on the screen of a flow found by a search (edamon.ui.screens.search).

    def chain_lookup(self) -> Lookup[ChainView]:
        return self.edamon.source.chain(self.correlation_id)

    def event_lookup(self, event_id: str, node: ChainNode | None) -> Lookup[Envelope]:
        return self.edamon.source.event(event_id)

    async def export_data(self, chain: ChainView) -> dict[str, Any]:
        return await self.edamon.source.export_chain(chain)

    def draw_body(self, snap: Snapshot) -> None:
        lookup = self.chain_lookup()
        chain = lookup.value
        head = self.query_one("#chain-head", Line)
        if chain is None:
            if lookup.error is not None and not lookup.fetched:
                why: tuple[str, str] = (lookup.error, "red")
            elif not lookup.fetched:
                why = ("loading…", "dim")
            else:
                why = ("no longer retained", "dim")
            head.set(Content.assemble((self.correlation_id, "bold"), "  ", why))
            return
        changed = chain != self.chain
        self.chain = chain
        s = chain.summary
        where = self._saga_progress(snap) if s.saga else ""
        room = (head.size.width or self.app.size.width) - 2  # before layout: the terminal
        # In a narrow terminal the id shrinks to its first 8 characters (the nav bar names the
        # chain so), then the saga's name goes, then the counts (the waterfall has them): the
        # saga's state and step stay.
        for level in range(4):
            text = self._head_text(chain, where, level)
            if text.cell_len <= room:
                break
        head.set(text, key=(s, len(chain.loops), where, room))
        if changed:
            self._draw_tree(chain)
        self._draw_waterfall(chain)
        if self.selected is None and chain.nodes:
            self._select(chain.nodes[0].event_id)
        else:
            self._show_detail()

    @staticmethod
    def _head_text(chain: ChainView, where: str, level: int) -> Text:
        """The head line, shorter for each `level` (0: all)."""
        s = chain.summary
        text = Text.assemble(
            (s.correlation_id if level == 0 else short_id(s.correlation_id), "bold"),
            "  ",
            (s.root_type, "bold"),
        )
        if level < 3:
            text.append(f"  {s.events} events  {human_duration(s.duration_s)}")
        issues = chain_issues(s)
        if issues.plain != DASH:
            text.append("  ")
            text.append_text(issues)
        if s.saga:
            text.append(f"  saga {s.saga} " if level < 2 else "  saga ")
            text.append_text(status_text(s.saga_state))
            text.append(where)
        if chain.loops:
            text.append(f"  {len(chain.loops)} causation loop(s)", style=RED)
        return text

    def _saga_progress(self, snap: Snapshot) -> str:
        """Where a saga in progress is (` at step 2: payment`), and for a stuck one how long
        it has made no progress."""
        cid = self.correlation_id
        instance = next((i for i in snap.saga_instances if i.correlation_id == cid), None)
        if instance is None or instance.state not in _IN_PROGRESS:
            return ""  # over: the tree shows where it ended
        where = f" at step {step_text(instance)}"
        if instance.state is SagaState.STUCK:
            idle = max(0.0, self.edamon.clock() - instance.updated)
            where += f", no progress for {human_duration(idle)}"
        return where

    def _draw_tree(self, chain: ChainView) -> None:
        tree: Tree[str] = self.query_one("#tree", Tree)
        parent_of = {node.event_id: node.parent_id for node in chain.nodes}
        if any(parent_of.get(eid, "\0gone") != pid for eid, pid in self._parents.items()):
            # A node was re-parented or dropped (e.g. an orphan found its cause): rebuild.
            tree.clear()
            self._tree_nodes = {}
        fresh = not self._tree_nodes
        has_children = {node.parent_id for node in chain.nodes}
        last_child: dict[int, TreeNode[str]] = {}
        for node in chain.nodes:
            existing = self._tree_nodes.get(node.event_id)
            if existing is not None:
                label = node_label(node)
                if existing.label != label:
                    existing.set_label(label)
                if node.event_id in has_children and not existing.allow_expand:
                    existing.allow_expand = True
                if existing.parent is not None:
                    last_child[existing.parent.id] = existing
                continue
            parent = self._tree_nodes.get(node.parent_id or "", tree.root)
            previous = last_child.get(parent.id)
            # Keep waterfall order among siblings: after the previous sibling, else first.
            first = previous is None and bool(parent.children)
            added = parent.add(
                node_label(node),
                data=node.event_id,
                before=0 if first else None,
                after=previous,
                expand=True,
                allow_expand=node.event_id in has_children,
            )
            self._tree_nodes[node.event_id] = last_child[parent.id] = added
        self._parents = parent_of
        if fresh and self.selected in self._tree_nodes:
            self.call_after_refresh(tree.move_cursor, self._tree_nodes[self.selected])

    def _draw_waterfall(self, chain: ChainView) -> None:
        table = self.query_one("#waterfall", LiveTable)
        width = max(10, table.size.width - LABEL_WIDTH - OFFSET_WIDTH - 8)
        axis = time_axis(0.0, chain.summary.duration_s, width)
        if (width, axis) != (self._bar_width, self._axis):
            table.replace_last_column(Text(axis, style=DIM), width)
            self._bar_width, self._axis = width, axis
        duration_s = chain.summary.duration_s
        table.sync([(n.event_id, waterfall_row(n, duration_s, width)) for n in chain.nodes])
        selected = self.selected
        if selected is not None and selected in table.keys and table.cursor_key != selected:
            table.move_cursor(row=table.get_row_index(selected))

    def redraw_waterfall(self) -> None:
        """Redraw the bars for the waterfall's current width."""
        if self.chain is not None:
            self._draw_waterfall(self.chain)

    # --- selection: tree and waterfall follow each other; the detail shows the event ------

    def _select(self, event_id: str) -> None:
        self.selected = event_id
        self._rereads.forget_failures()
        self.edamon.source.forget_failures()
        tree: Tree[str] = self.query_one("#tree", Tree)
        node = self._tree_nodes.get(event_id)
        if node is not None and tree.cursor_node is not node:
            self.call_after_refresh(tree.move_cursor, node)
        table = self.query_one("#waterfall", LiveTable)
        if event_id in table.keys and table.cursor_key != event_id:
            table.move_cursor(row=table.get_row_index(event_id))
        self._show_detail()

    def _show_detail(self) -> None:
        source = self.edamon.source
        node = None
        if self.chain is not None:
            node = next((n for n in self.chain.nodes if n.event_id == self.selected), None)
        # A redriven copy (↻) is no event the view hands out: its record is read from Kafka.
        redrive = node is not None and node.event_id.startswith(RETRY_PREFIX)
        note = None
        loading = False
        if node is not None and redrive:
            envelope = redriven_copy(node)
        elif self.selected and (
            node is None
            or (
                node.status is not NodeStatus.PLACEHOLDER
                and not node.event_id.startswith(DLQ_PREFIX)
            )
        ):
            lookup = self.event_lookup(self.selected, node)
            envelope = lookup.value
            if envelope is None and not lookup.fetched:
                loading = True
                note = (
                    f"Could not load the event: {lookup.error}"
                    if lookup.error and not lookup.loading
                    else LOADING
                )
            elif envelope is not None and envelope.dropped:
                note = GONE  # the service read it again from Kafka: gone
        else:
            envelope = None
        if redrive and envelope is not None and envelope.dropped:
            wanted = envelope
            envelope, note, start = self._rereads.lookup(envelope)
            if start:  # one read at a time: a newer selection cancels the last one
                self.run_worker(
                    self._reread(wanted), group="reread", exclusive=True, exit_on_error=False
                )
        # A failed handler's node is the DLQ record itself: show what its headers say, and
        # the ledger's word on it (as the dead letters screen does); a redriven copy's, too.
        dead_coords = None
        if redrive and node is not None:
            dead_coords = _retry_of(node, envelope)
        elif envelope is None and not loading and node is not None and node.dead_letter:
            dead_coords = node.dead_letter
        dead = source.dead_letter(dead_coords).value if dead_coords else None
        row = self._ledger_row(dead_coords)
        times = self.edamon.times
        # Re-render (and re-parse the payload) only when something shown changed; relative
        # times in the pane are refreshed every few seconds.
        epoch = detail_epoch(times)
        key = (
            self.selected,
            node,
            envelope is None,
            dead is None,
            row,
            times.absolute,
            epoch,
            note,
            envelope is not None and envelope.dropped,
            loading,
        )
        if key == self._detail_key:
            return
        self._detail_key = key
        detail = self.query_one("#detail", Static)
        scroll = self.query_one("#detail-scroll", VerticalScroll)
        if redrive and node is not None:
            note = REDRIVE_READING if note == READING else note
            detail.update(redrive_detail(node, dead, row, envelope, times, note))
            scroll.border_title = Content.assemble("Redriven copy  ", (node.coords or "", "dim"))
            return
        if dead is not None:
            detail.update(dead_letter_detail(dead, row, times))
            scroll.border_title = Content.assemble("Dead letter  ", (dead.coords, "dim"))
            return
        if loading and node is not None:
            detail.update(
                Group(Text(f"{node.event_type}  {node.event_id}", style="bold"), Text(note or ""))
            )
        else:
            detail.update(event_detail(envelope, node, times, note))
        scroll.border_title = (
            "Event" if node is None else Content.assemble("Event  ", (node.event_id, "dim"))
        )

    def _ledger_row(self, coords: str | None) -> DeadLetterRow | None:
        """The snapshot's row of the dead letter at `coords` (its retry status in the ledger),
        if the snapshot still lists it."""
        snap = self.edamon.last_snapshot
        if coords is None or snap is None:
            return None
        return next((row for row in snap.dead_letters if row.coords == coords), None)

    @property
    def _rereads(self) -> Rereads:
        """Records read again from Kafka for this screen (made once the app is known)."""
        if self._rereads_made is None:
            app = self.edamon
            self._rereads_made = Rereads(
                app.source.read_record, app.settings.envelope.keep_value_bytes
            )
        return self._rereads_made

    async def _reread(self, envelope: Envelope) -> None:
        await self._rereads.read(envelope)
        self._show_detail()

    # Highlight messages are queued: one that no longer matches its widget's cursor is stale
    # (e.g. the table's first row, highlighted as rows arrived, before the wanted selection).

    @on(Tree.NodeHighlighted, "#tree")
    def _tree_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        tree: Tree[str] = self.query_one("#tree", Tree)
        if event.node is not tree.cursor_node:
            return
        if event.node.data is not None and event.node.data != self.selected:
            self._select(event.node.data)

    @on(DataTable.RowHighlighted, "#waterfall")
    def _waterfall_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if event.cursor_row != event.data_table.cursor_row:
            return
        if key is not None and key != self.selected:
            self._select(key)

    @on(DataTable.RowSelected, "#waterfall")
    @on(Tree.NodeSelected, "#tree")
    def _focus_detail(self) -> None:
        self.query_one("#detail-scroll", VerticalScroll).focus()
