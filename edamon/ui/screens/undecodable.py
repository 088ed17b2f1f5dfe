"""`u`: records that could not be decoded, by reason, with samples."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from edamon.model.snapshot import UndecodableView
from edamon.ui.format import DIM, Times, shorten, shorten_middle
from edamon.ui.widgets.widths import Want, allocate


def undecodable_report(view: UndecodableView, times: Times) -> RenderableType:
    """Counts by reason, then the retained samples (coordinates, reason, time, preview)."""
    if not view.count:
        return Text("Every record so far decoded.", style=DIM)
    reasons = Table.grid(padding=(0, 2))
    reasons.add_column(justify="right", style="bold")
    reasons.add_column()
    for reason, count in view.by_reason:
        reasons.add_row(f"{count:,}", Text(reason))  # Text: a str cell would be markup
    return Group(
        Text(f"{view.count:,} undecodable records", style="bold"),
        reasons,
        Text(""),
        Text("Samples", style="bold underline"),
        Samples(
            tuple(
                (sample.coords, sample.reason, times(sample.time), shorten(sample.preview, 80))
                for sample in view.samples
            )
        ),
    )


PREVIEW_LEAST = 24
"""The narrowest the preview column gets (it wraps: a narrow one only makes it taller);
with less room beside the rest, the preview goes under its record."""
SAMPLE_LABELS = ("record", "reason", "time", "preview")
PAD = 2
"""Cells around each column (a table's `padding=(0, 1)`)."""


class Samples:
    """The samples, laid out for the width they are drawn in: a table with the preview (which
    wraps) beside each record when the record, reason and time fit whole with PREVIEW_LEAST
    cells left; else the record, reason and time on a line (sharing the room,
    `widths.allocate`; a record cut in its middle keeps its topic's end and its
    partition/offset) and the preview under it."""

    def __init__(self, rows: tuple[tuple[str, str, str, str], ...]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        need = [
            max([len(label), *(cell_len(row[i]) for row in self.rows)])
            for i, label in enumerate(SAMPLE_LABELS)
        ]
        beside = options.max_width - PAD * len(SAMPLE_LABELS) - sum(need[:3])
        if beside >= PREVIEW_LEAST:
            table = Table(box=None, padding=(0, 1), header_style="bold")
            for label, width in zip(SAMPLE_LABELS[:3], need[:3], strict=True):
                table.add_column(label, width=width, no_wrap=True)
            table.add_column("preview", width=beside, style=DIM, overflow="fold")
            for coords, why, when, shown in self.rows:
                table.add_row(Text(coords), Text(why), when, Text(shown))
            yield table
            return
        record, reason, time = allocate(
            options.max_width - PAD * 3,
            (
                Want(need[0], share=1, least=min(need[0], 12)),
                Want(need[1], share=1, least=min(need[1], 8)),
                Want(need[2]),
            ),
        )
        widths = (record, reason, time)
        yield _line(SAMPLE_LABELS[:3], widths, "bold")
        for coords, why, when, shown in self.rows:
            yield _line((shorten_middle(coords, record), why, when), widths)
            yield Padding(Text(shown, style=DIM, overflow="fold"), (0, 0, 0, 4))


def _line(cells: tuple[str, ...], widths: tuple[int, ...], style: str = "") -> Text:
    """Cells on one line, each cut (with an ellipsis) or padded to its width."""
    line = Text(style=style)
    for cell, width in zip(cells, widths, strict=True):
        text = Text(cell)
        text.truncate(width, overflow="ellipsis", pad=True)
        line.append(" ")
        line.append_text(text)
        line.append(" ")
    return line


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
