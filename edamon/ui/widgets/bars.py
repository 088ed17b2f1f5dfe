"""One-line bars: the navigation bar, the status line, the `/` filter input and the footer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from rich.text import Text
from textual import events
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static

from edamon.model.api import PARTIAL_ANSWER
from edamon.model.snapshot import Snapshot
from edamon.model.status import ConnectionState
from edamon.ui.alerts import Alert
from edamon.ui.format import Times, status_style

SCREENS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("chains", "Chains"),
    ("deadletters", "Dead letters"),
    ("sagas", "Sagas"),
    ("lag", "Lag"),
    ("throughput", "Throughput"),
)
"""The main screens, in number-key order (1..6)."""


class Line(Static):
    """A Static that repaints only when its content changes (it is set on every tick)."""

    _shown: object = None

    def set(self, content: str | Content | Text, key: object = None) -> None:
        """Show `content` unless the same content (or the same `key`) is already shown."""
        if key is not None:
            marker = key
        elif isinstance(content, Content | Text):  # their __eq__ ignores styles; spans don't
            marker = (type(content), content.plain, tuple(content.spans))
        else:
            marker = content
        if marker != self._shown:
            self._shown = marker
            self.update(content)


class NavBar(Line):
    """`edamon  1 Overview  2 Chains ...` with the current screen highlighted; clickable."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, current: str, title: str | None = None) -> None:
        super().__init__()
        self.current = current
        self.title = title
        self._snap: Snapshot | None = None

    def on_mount(self) -> None:
        self.show(None)

    def on_resize(self) -> None:
        self.show(self._snap)

    def show(self, snap: Snapshot | None) -> None:
        """Redraw, with the connection state from `snap` on the right (the overview has it in
        its head line). In a narrow terminal the other screens' names shrink to their numbers
        first, then the cluster goes: the state itself always stays."""
        self._snap = snap
        room = self.size.width - 2
        states: tuple[Content, ...] = (Content(""),)
        if snap is not None and self.current != "overview":
            conn = snap.connection
            dot = ("● ", status_style(conn.state))
            states = (
                Content.assemble(dot, (f"{conn.state}  ", ""), (conn.cluster, "$text-muted")),
                Content.assemble(dot, str(conn.state)),
            )
        left = right = Content("")
        for compact in (False, True):
            left = self._screens(compact)
            right = next(
                (r for r in states if left.cell_length + 1 + r.cell_length <= room), Content("")
            )
            if right.cell_length or not states[-1].cell_length:
                break
        if not right.cell_length:
            right = states[-1]  # cut the title rather than the state
            left = left[: max(0, room - 1 - right.cell_length)]
        gap = max(1, room - left.cell_length - right.cell_length)
        self.set(Content.assemble(left, " " * gap, right))

    def _screens(self, compact: bool) -> Content:
        """` edamon  1 Overview  2 Chains …` (compact: ` edamon  1  2  3 Dead letters …`, only
        the current screen named)."""
        parts = [Content.styled(" edamon ", "bold $text-accent")]
        for index, (name, label) in enumerate(SCREENS, start=1):
            if name == self.current:
                parts.append(Content.styled(f" {index} {label} ", "bold reverse $text-primary"))
            else:
                text = f" {index} " if compact else f" {index} {label} "
                parts.append(Content.from_markup(f"[@click=app.go('{name}')]$text[/]", text=text))
        if self.title:
            parts.append(Content.styled(f" › {self.title}", "bold $text"))
        return Content("").join(parts)


class StatusLine(Line):
    """The last alert, catch-up progress and counts worth a glance, on every screen."""

    DEFAULT_CSS = """
    StatusLine {
        dock: bottom; margin-bottom: 1;  /* above the KeyBar, whatever the body's height */
        height: 1; background: $panel; color: $text-muted; padding: 0 1;
    }
    """

    def show(
        self,
        snap: Snapshot,
        last: Alert | None,
        times: Times,
        listed: str | None = None,
        *,
        link: str | None = None,
        partial: Sequence[str] = (),
    ) -> None:
        """Redraw from the snapshot and the most recent alert (left out when it is about
        what the screen lists, `listed`: no "new dead letters (press 3)" on screen 3);
        `link`: what to say about the service first (it does not answer: the data is stale);
        `partial`: notices saying what the screen shows may miss a shard member's part, shown
        while there are some. The alert that told one of them (once, when it was new) is left
        out: the part shows the state as it is now, and goes when the answer is whole."""
        parts: list[Content | tuple[str, str] | str] = []
        if link:
            parts.append((link, "bold $text-error"))
        conn = snap.connection
        if conn.registry is ConnectionState.ERROR:
            message = conn.registry_message or "unreachable"
            parts.append((f"✖ schema registry: {message}", "bold $text-error"))
        if conn.state is ConnectionState.ERROR:
            parts.append((f"✖ {conn.message or 'connection error'}", "bold $text-error"))
        elif conn.state is ConnectionState.CONNECTING:
            parts.append((f"◌ {conn.message or 'connecting…'}", "$text-warning"))
        elif not snap.catchup.caught_up:
            parts.append(
                (
                    f"catching up {snap.catchup.percent:.0f}% "
                    f"({snap.catchup.records_behind:,} behind)",
                    "$text-warning",
                )
            )
        if partial:
            parts.append((partial_text(partial), "$text-warning"))
        if snap.undecodable.count:
            parts.append(
                Content.from_markup(
                    "[@click=app.show_undecodable]$n undecodable (u)[/]",
                    n=f"{snap.undecodable.count:,}",
                )
            )
        if (
            last is not None
            and (last.about is None or last.about != listed)
            and not last.message.startswith(PARTIAL_ANSWER)
        ):
            style = {"error": "$text-error", "warning": "$text-warning"}.get(last.severity, "")
            parts.append((f"{times(last.time)}: {last.message}", style))
        if not parts:
            parts.append(("all quiet", ""))
        joined: list[Content | tuple[str, str] | str] = []
        for part in parts:
            if joined:
                joined.append("  │  ")
            joined.append(part)
        self.set(Content.assemble(*joined))

    def waiting(self, text: str | None) -> None:
        """Before the service's first answer: what the dashboard waits for."""
        self.set(Content.styled(text or "", "$text-warning"))


def partial_text(notices: Sequence[str]) -> str:
    """`◐ partial answer: no dead letters from http://… (ReadTimeout) (+1 more)`: the first
    notice of a partial answer, and how many more there are."""
    first = notices[0]
    if first.startswith(PARTIAL_ANSWER):
        first = "partial answer: " + first.removeprefix(PARTIAL_ANSWER)
    more = f" (+{len(notices) - 1} more)" if len(notices) > 1 else ""
    return f"◐ {first}{more}"


class FilterBar(Input):
    """The `/` filter (mounted while open): typing filters the table live."""

    DEFAULT_CSS = """
    FilterBar {
        dock: bottom; margin-bottom: 2;  /* above the StatusLine and the KeyBar */
        height: 1; border: none; padding: 0 1; background: $boost;
    }
    FilterBar:focus { border: none; }
    """

    def __init__(self) -> None:
        super().__init__(placeholder="filter (Enter keeps it, Esc clears it)", id="filter")


class KeyBar(Widget, can_focus=False):
    """The footer: the screen's shown key bindings on one line, as Textual's Footer shows
    them (` key ` then `Description `, in the footer's theme colours, dim when disabled, a
    click presses the key), drawn as one widget.

    Textual's Footer makes a widget per key (8 on the overview) and restyles each one every
    time its screen is shown again: 6 of the 11 ms a screen switch spent restyling
    (bench/ui.py). This draws the same line from the same bindings and redraws only when the
    keys it shows change (a switch, a focus change). The command palette's own key is not
    shown (edamon's `:` binding is)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-bar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-bar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown: tuple[ShownKey, ...] = ()
        """The keys on the bar, in order."""
        self._spans: list[tuple[int, int, ShownKey]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """The screen's bindings changed (a switch, a focus change): redraw if the keys shown
        did (not while the terminal is unfocused, as Textual's Footer, once it shows keys)."""
        if not self.is_attached or screen is not self.screen:
            return
        if self.shown and not screen.app.app_focus:
            return
        shown = footer_keys(screen)
        if shown != self.shown:
            self.shown = shown
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")
        text = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, ShownKey]] = []
        for shown in self.shown:
            start = text.cell_len
            label = f" {shown.display} "
            if shown.description:
                text.append(label, key_style)
                text.append(f"{shown.description} ", description_style)
            else:
                text.append(label.strip(), key_style)
            if not shown.enabled:
                text.stylize("dim", start)
            spans.append((start, text.cell_len, shown))
        self._spans = spans
        return text

    def key_at(self, x: int) -> ShownKey | None:
        """The key drawn at column `x`, if any."""
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        shown = self.key_at(event.x)
        if shown is None:
            return
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()


class ShownKey(NamedTuple):
    """One key on the footer."""

    key: str
    display: str
    description: str
    enabled: bool


def footer_keys(screen: Screen[Any]) -> tuple[ShownKey, ...]:
    """What the footer shows for `screen`: its active bindings marked `show`, the first
    binding of each action, in order (as Textual's Footer picks them)."""
    app = screen.app
    actions: set[str] = set()
    shown: list[ShownKey] = []
    for _, binding, enabled, _ in screen.active_bindings.values():
        if not binding.show or binding.action in actions:
            continue
        actions.add(binding.action)
        shown.append(
            ShownKey(binding.key, app.get_key_display(binding), binding.description, enabled)
        )
    return tuple(shown)
