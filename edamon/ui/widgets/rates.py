"""The overview's rates (events, dead letters): each a label over a sparkline of its recent
history, or beside it on a short terminal.

One widget on the Line API, drawn once per change of what it shows, in place of a container
of labels and Textual Sparklines: seven widgets that Textual restyled each time the overview
was shown again, and whose sparklines rendered through Rich on every frame they were dirty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from edamon.ui.widgets.snapshot_table import SegmentRun

BARS = "▁▂▃▄▅▆▇█"
"""Eighths of a cell, lowest first."""
LOW_ALPHA = 0.3
"""The lowest bar's colour: the highest's at this opacity (as Textual's Sparkline)."""


class Rate(NamedTuple):
    """One rate: its label (markup of edamon's own text, never record text), its recent
    history (oldest first) and the colours of its bars (`events` or `dead`)."""

    label: str
    history: tuple[float, ...]
    colors: str


def spark_bars(data: Sequence[float], width: int, height: int) -> list[list[tuple[str, float]]]:
    """A sparkline of `data` in `width` cells and `height` lines: the lines top first, each a
    (character, level) per cell, the level 0..1 (the lowest value to the highest) choosing the
    bar's colour. The data is cut into `width` buckets, each shown by its largest value; with
    fewer values than cells each value spans several cells. No data: one line of the lowest
    bar; a single value: full bars."""
    if width <= 0 or height <= 0:
        return [[] for _ in range(max(height, 0))]
    if not data:
        return [[(" ", 0.0)] * width for _ in range(height - 1)] + [[(BARS[0], 0.0)] * width]
    if len(data) == 1:
        return [[(BARS[-1], 1.0)] * width for _ in range(height)]
    count = len(data)
    buckets = [
        data[count * i // width : count * (i + 1) // width]
        for i in range(width)
        if count * (i + 1) // width > count * i // width
    ]
    peaks = [max(bucket) for bucket in buckets]
    low, high = min(data), max(data)
    extent = (high - low) or 1
    steps = len(BARS) * height - 1
    cells: list[tuple[int, float]] = []
    for i in range(width):
        level = (peaks[i * len(peaks) // width] - low) / extent
        cells.append((int(level * steps), level))
    lines: list[list[tuple[str, float]]] = []
    for row in reversed(range(height)):
        floor, top = row * len(BARS), (row + 1) * len(BARS)
        line = []
        for eighths, level in cells:
            if eighths < floor:
                line.append((" ", level))
            elif eighths >= top:
                line.append((BARS[-1], level))
            else:
                line.append((BARS[eighths % len(BARS)], level))
        lines.append(line)
    return lines


class Palette(NamedTuple):
    """What a RateBar's lines are drawn with besides the rates: the widget's style, the
    lowest and highest bar colour of each kind of rate, and the size."""

    base: Style
    events: tuple[Color, Color]
    dead: tuple[Color, Color]
    size: Size


class RateBar(Widget):
    """Rates side by side in equal shares of the width: three lines or more show each label
    over its sparkline; one line shows the label, then the sparkline in the rest."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"rate-bar--events", "rate-bar--dead"}
    """The colour of each kind's highest bar; the lowest is the same at LOW_ALPHA."""
    DEFAULT_CSS = """
    RateBar { height: 3; }
    RateBar > .rate-bar--events { color: $primary; }
    RateBar > .rate-bar--dead { color: $error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rates: tuple[Rate, ...] = ()
        self.lines: list[Strip] | None = None
        """The drawn lines; None when they must be drawn again."""
        self.palette: Palette | None = None
        """What the lines were drawn with; None once Textual restyles the widget."""

    def show(self, rates: tuple[Rate, ...]) -> None:
        """Show `rates` (redrawn only when they differ from those shown)."""
        if rates != self.rates:
            self.rates = rates
            self.lines = None
            self.refresh()

    def notify_style_update(self) -> None:
        # Called for every widget each time the screen is shown again: the lines are drawn
        # again only when a colour or the size changed (checked in `render_line`).
        super().notify_style_update()
        self.palette = None

    def line_text(self, y: int) -> str:
        """The text of line `y` as drawn (for tests and tools)."""
        return self.render_line(y).text

    def render_line(self, y: int) -> Strip:
        palette = self.palette
        if palette is None or palette.size != self.size:
            palette = self.current_palette()
            if palette != self.palette:
                self.lines = None
            self.palette = palette
        if self.lines is None:
            self.lines = self.draw(palette)
        if y < len(self.lines):
            return self.lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def current_palette(self) -> Palette:
        background = self.background_colors[1]

        def colors(kind: str) -> tuple[Color, Color]:
            high = self.get_component_styles(f"rate-bar--{kind}").color
            return background + high.multiply_alpha(LOW_ALPHA), background + high

        return Palette(self.rich_style, colors("events"), colors("dead"), self.size)

    def draw(self, palette: Palette) -> list[Strip]:
        width, height = palette.size
        base = palette.base
        console = self.app.console
        lines = [SegmentRun(base, console) for _ in range(height)]
        shares = len(self.rates)
        for i, rate in enumerate(self.rates):
            share = width * (i + 1) // shares - width * i // shares
            inner = max(share - 2, 0)
            label = Text.from_markup(rate.label)
            label.truncate(inner)
            low, high = palette.dead if rate.colors == "dead" else palette.events
            if height == 1:
                room = max(inner - label.cell_len - 1, 0)
                lines[0].add(" ")
                lines[0].add_text(label)
                lines[0].add(" " * (inner - label.cell_len - room))
                self.add_bars(lines[0], spark_bars(rate.history, room, 1)[0], low, high)
                lines[0].add(" ")
                continue
            label.pad_right(inner - label.cell_len)
            lines[0].add(" ")
            lines[0].add_text(label)
            lines[0].add(" ")
            sparkline = spark_bars(rate.history, inner, height - 1)
            for line, bars in zip(lines[1:], sparkline, strict=True):
                line.add(" ")
                self.add_bars(line, bars, low, high)
                line.add(" ")
        return [Strip(line.segments(), width) for line in lines]

    @staticmethod
    def add_bars(line: SegmentRun, bars: list[tuple[str, float]], low: Color, high: Color) -> None:
        styles: dict[float, Style] = {}
        for char, level in bars:
            if char == " ":
                line.add(char)
                continue
            style = styles.get(level)
            if style is None:
                style = styles[level] = line.base + Style(color=low.blend(high, level).rich_color)
            line.add(char, style)
