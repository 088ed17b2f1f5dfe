"""Partition-key ordering: the findings of one topic (Enter on the throughput screen's Ordering
panel), each with its record, aggregate and what was wrong; `c` or Enter opens its chain."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from edamon.model.ordering import Finding, OrderingExample, TopicOrdering
from edamon.ui.format import DIM, RED, YELLOW

KIND_TEXT: dict[Finding, tuple[str, str]] = {
    Finding.KEY_MISMATCH: ("key ≠ aggregate", YELLOW),
    Finding.MISSING_KEY: ("no key", YELLOW),
    Finding.SPLIT: ("split", RED),
    Finding.OUT_OF_ORDER: ("out of order", RED),
}


def ordering_summary(topic: TopicOrdering) -> Text:
    """`1,200 checked · 3 key ≠ aggregate · 0 without key · 2 split · 1 out of order`."""
    text = Text(f"{topic.checked:,} checked", style="bold")
    parts = (
        (topic.key_mismatches, "key ≠ aggregate"),
        (topic.missing_keys, "without key"),
        (topic.split_aggregates, "split aggregates"),
        (topic.out_of_order, "out of order"),
    )
    for count, label in parts:
        text.append("  ·  ", style=DIM)
        text.append(f"{count:,} {label}", style=RED if count else DIM)
    if topic.partitions is not None:
        text.append(f"  ·  {topic.partitions} partitions", style=DIM)
    return text


def partition_offset(example: OrderingExample) -> str:
    """`2/118` of an example's `topic/2/118`."""
    topic, _, offset = example.coords.rpartition("/")
    return f"{topic.rpartition('/')[2]}/{offset}"


class OrderingScreen(ModalScreen[OrderingExample | None]):
    """The examples of one topic's ordering findings (newest first within each kind). It
    dismisses with the example whose chain to open, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", key_display="esc"),
        Binding("c", "chain", "Chain"),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, topic: TopicOrdering) -> None:
        super().__init__()
        self.topic = topic
        self.examples: dict[str, OrderingExample] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="ordering-box"):
            yield Static(ordering_summary(self.topic), id="ordering-summary")
            yield DataTable(id="ordering-examples", cursor_type="row", zebra_stripes=True)
            yield Static(id="ordering-what")

    def on_mount(self) -> None:
        box = self.query_one("#ordering-box")
        box.border_title = Text(f"Ordering of {self.topic.topic}")
        box.border_subtitle = "enter/c opens the chain · esc closes"
        table = self.query_one("#ordering-examples", DataTable)
        # The topic is in the title: a record is its partition and offset, which leaves the
        # room to what was wrong (in full under the table for the row under the cursor).
        table.add_columns("finding", "partition/offset", "aggregate", "event type", "what")
        for index, example in enumerate(self.topic.examples):
            label, style = KIND_TEXT[example.kind]
            key = f"{index}"
            self.examples[key] = example
            table.add_row(
                Text(label, style=style),
                Text(partition_offset(example)),
                Text(example.aggregate_id),
                Text(example.event_type),
                Text(example.detail, style=DIM),
                key=key,
            )
        if not self.topic.examples:
            self.query_one("#ordering-summary", Static).update(
                Text.assemble(ordering_summary(self.topic), ("\nNo findings.", DIM))
            )
        table.focus()

    @on(DataTable.RowHighlighted)
    def _show_what(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        example = self.examples.get(key) if key is not None else None
        what = self.query_one("#ordering-what", Static)
        if example is None:
            what.update("")
            return
        what.update(
            Text.assemble(
                (KIND_TEXT[example.kind][0], "bold"), f"  {example.coords}  ", (example.detail, "")
            )
        )

    def _selected(self) -> OrderingExample | None:
        table = self.query_one("#ordering-examples", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.examples.get(key) if key is not None else None

    def action_chain(self) -> None:
        """Close, asking for the chain of the example under the cursor."""
        example = self._selected()
        if example is not None:
            self.dismiss(example)

    @on(DataTable.RowSelected)
    def _enter(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_chain()

    async def action_dismiss(self, result: OrderingExample | None = None) -> None:
        """Close the list."""
        self.dismiss(result)
