"""`u`: records that could not be decoded, by reason, with samples."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from edamon.model.snapshot import UndecodableView
from edamon.ui.format import DIM, Times, shorten


def undecodable_report(view: UndecodableView, times: Times) -> RenderableType:
    """Counts by reason, then the retained samples (coordinates, reason, time, preview)."""
    if not view.count:
        return Text("Every record so far decoded.", style=DIM)
    reasons = Table.grid(padding=(0, 2))
    reasons.add_column(justify="right", style="bold")
    reasons.add_column()
    for reason, count in view.by_reason:
        reasons.add_row(f"{count:,}", Text(reason))  # Text: a str cell would be markup
    samples = Table(box=None, padding=(0, 1), header_style="bold", expand=True)
    samples.add_column("record", no_wrap=True)
    samples.add_column("reason")
    samples.add_column("time", no_wrap=True)
    samples.add_column("preview", style=DIM, overflow="fold")
    for sample in view.samples:
        samples.add_row(
            Text(sample.coords),
            Text(sample.reason),
            times(sample.time),
            Text(shorten(sample.preview, 80)),
        )
    return Group(
        Text(f"{view.count:,} undecodable records", style="bold"),
        reasons,
        Text(""),
        Text("Samples", style="bold underline"),
        samples,
    )


class UndecodableScreen(ModalScreen[None]):
    """A modal with the undecodable-record report of one snapshot."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", key_display="esc"),
        Binding("u", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, view: UndecodableView, times: Times) -> None:
        super().__init__()
        self.report = undecodable_report(view, times)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="undecodable-box"):
            yield Static(self.report)

    def on_mount(self) -> None:
        box = self.query_one("#undecodable-box")
        box.border_title = "Undecodable records"
        box.border_subtitle = "esc closes"

    async def action_dismiss(self, result: None = None) -> None:
        """Close the report."""
        self.dismiss(result)
