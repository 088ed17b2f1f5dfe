"""`?`: the keys of the current screen, built from its live bindings (never hard-coded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Static, Tree

from edamon.ui.format import DIM

SECTION_ORDER = {"This screen": 0, "Everywhere": 2}
"""Sections in the help: the screen's keys, then the focused widget's, then the app's."""

FAMILIES: dict[str, tuple[str, str]] = {
    "cursor_up": ("move", "Move"),
    "cursor_down": ("move", "Move"),
    "cursor_left": ("move", "Move"),
    "cursor_right": ("move", "Move"),
    "page_up": ("page", "Page up/down"),
    "page_down": ("page", "Page up/down"),
    "page_left": ("page-side", "Page left/right"),
    "page_right": ("page-side", "Page left/right"),
    "scroll_home": ("ends", "First/last"),
    "scroll_end": ("ends", "First/last"),
    "scroll_top": ("ends", "First/last"),
    "scroll_bottom": ("ends", "First/last"),
    "first_row": ("ends", "First/last"),
    "last_row": ("ends", "First/last"),
    "app.focus_next": ("focus", "Next/previous panel"),
    "app.focus_previous": ("focus", "Next/previous panel"),
}
"""Actions that read best as one line: (family, description of the family)."""


WIDGET_NAMES: tuple[tuple[type[Widget], str], ...] = (
    (DataTable, "Table"),
    (Tree, "Tree"),
    (Input, "Filter"),
    (Checkbox, "Checkbox"),
    (Button, "Button"),
    (ScrollableContainer, "Pane"),
)
"""Headings for the keys of a focused Textual widget (first match); edamon's own widgets
may name themselves with a `HELP_NAME` class attribute."""


def _section(node: object) -> str:
    """The heading of a node's keys: never a class name, which means nothing to a user."""
    if isinstance(node, App):
        return "Everywhere"
    if isinstance(node, Screen):
        return "This screen"
    name = getattr(node, "HELP_NAME", None)
    if isinstance(name, str):
        return name
    return next((name for kind, name in WIDGET_NAMES if isinstance(node, kind)), "Focused panel")


def binding_rows(screen: Screen[Any]) -> list[tuple[str, str, str]]:
    """(section, keys, description) for every active binding of `screen` with a description,
    one row per action (keys that do the same are joined; moves, pages and the like share a
    row), in the order Textual resolves them (focused widget first), then sorted by section."""
    app = screen.app
    merged: dict[tuple[str, str], tuple[list[str], str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description:
            continue
        family, description = FAMILIES.get(binding.action, (binding.action, binding.description))
        ident = (_section(active.node), family)
        display = app.get_key_display(binding) or key
        keys, _ = merged.setdefault(ident, ([], description))
        if display not in keys:
            keys.append(display)
    rows = [(section, _join(keys), text) for (section, _), (keys, text) in merged.items()]
    rows.sort(key=lambda row: SECTION_ORDER.get(row[0], 1))
    return rows


def _join(keys: list[str]) -> str:
    """Single-character keys (arrows) side by side, others with spaces."""
    if all(len(key) == 1 for key in keys):
        return "".join(keys)
    return " ".join(keys)


def _section_table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    section = None
    for name, key, description in rows:
        if name != section:
            if section is not None:
                table.add_row("", "")
            table.add_row(Text(name, style="bold underline"), "")
            section = name
        table.add_row(key, description)
    return table


def help_table(rows: list[tuple[str, str, str]], notes: Sequence[str] = ()) -> Table:
    """The rows in two columns: this screen's and the focused widget's keys on the left,
    the app's keys on the right; then the screen's `notes` (what its words mean)."""
    left = [row for row in rows if row[0] != "Everywhere"]
    right = [row for row in rows if row[0] == "Everywhere"]
    outer = Table.grid(padding=(0, 3))
    caption = "\n".join(["", *notes, "Click the nav bar or a row with the mouse."])
    outer.caption = Text(caption, style=DIM)
    outer.caption_justify = "left"
    outer.add_column(vertical="top")
    outer.add_column(vertical="top")
    outer.add_row(_section_table(left), _section_table(right))
    return outer


class HelpScreen(ModalScreen[None]):
    """A modal listing the bindings that are live on the screen it was opened from."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", key_display="esc"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.rows = binding_rows(screen)
        notes: Sequence[str] = getattr(screen, "HELP_NOTES", ())
        self.table = help_table(self.rows, notes)
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.table, id="help-body")

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "Keys"
        box.border_subtitle = "esc closes"
        # As wide as the keys need (border, padding and a scrollbar around them), at most the
        # terminal: the rows wrap in a small one.
        needed = self.app.console.measure(self.table).maximum + 5
        box.styles.width = min(needed, self.app.size.width)

    async def action_dismiss(self, result: None = None) -> None:
        """Close the help."""
        self.dismiss(result)
