"""One-line bars: the navigation bar, the status line, the `/` filter input and the footer."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

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
    StatusLine { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def show(
        self, snap: Snapshot, last: Alert | None, times: Times, listed: str | None = None
    ) -> None:
        """Redraw from the snapshot and the most recent alert (left out when it is about
        what the screen lists, `listed`: no "new dead letters (press 3)" on screen 3)."""
        parts: list[Content | tuple[str, str] | str] = []
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
        if snap.undecodable.count:
            parts.append(
                Content.from_markup(
                    "[@click=app.show_undecodable]$n undecodable (u)[/]",
                    n=f"{snap.undecodable.count:,}",
                )
            )
        if last is not None and (last.about is None or last.about != listed):
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


class FilterBar(Input):
    """The `/` filter: hidden until asked for; typing filters the table live."""

    DEFAULT_CSS = """
    FilterBar { dock: bottom; display: none; height: 1; border: none; padding: 0 1;
                background: $boost; }
    FilterBar.-shown { display: block; }
    FilterBar:focus { border: none; }
    """

    def __init__(self) -> None:
        super().__init__(placeholder="filter (Enter keeps it, Esc clears it)", id="filter")


class StableFooter(Footer):
    """Textual's Footer, rebuilt only when the keys it shows change.

    Footer recomposes (new FooterKey widgets) whenever its screen refreshes its bindings: on
    every screen switch and every focus change, mostly to show the same keys again. Each time
    costs a few ms of mounting and styling, and the discarded widgets are cyclic garbage that
    only the GC frees (a collection sooner, and a longer one)."""

    _composed_for: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = footer_keys(screen)
            if shown == self._composed_for:
                return
            self._composed_for = shown
        super().bindings_changed(screen)


def footer_keys(screen: Screen[Any]) -> tuple[object, ...]:
    """What a Footer shows for `screen`: its active bindings that are shown, as compared."""
    app = screen.app
    return tuple(
        (key, b.action, b.description, app.get_key_display(b), enabled, tooltip, b.group)
        for key, (_, b, enabled, tooltip) in screen.active_bindings.items()
        if b.show or key == app.COMMAND_PALETTE_BINDING
    )
