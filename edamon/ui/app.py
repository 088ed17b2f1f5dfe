"""The edamon dashboard: a Textual app drawing the collector's snapshots on a clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.errors import NoWidget
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from edamon.actions.service import RetryService
from edamon.collector.api import CollectorView
from edamon.config import Settings
from edamon.model.safetext import sanitize
from edamon.model.snapshot import Snapshot
from edamon.ui import stripfix
from edamon.ui.alerts import UNDECODABLE, AlertTracker
from edamon.ui.commands import EdamonCommands
from edamon.ui.format import Times
from edamon.ui.safe import SafeRetry, SafeView
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.screens.sagas import SagasScreen
from edamon.ui.screens.throughput import ThroughputScreen
from edamon.ui.screens.undecodable import UndecodableScreen
from edamon.ui.switch import SwitchInFlight
from edamon.ui.widgets.bars import SCREENS

stripfix.install()

WORKER_GROUP = "edamon"
ALERT_INTERVAL_S = 30.0
"""Growing counts (new dead letters, undecodable records) notify at most this often."""
ALERT_TIMEOUT_S = 5.0
"""How long a notification of new dead letters or undecodable records stays."""


_HELD_MOUSE_EVENTS = (
    events.MouseDown,
    events.MouseUp,  # Textual makes the Click of it
    events.MouseScrollDown,
    events.MouseScrollUp,
)
"""Mouse events held like keys until their frame (not moves: they come by the hundred)."""


def _shows(stack: Sequence[Screen[object]], about: str) -> bool:
    """Whether the screen on show lists what an alert `about` counts: the top screen, or the
    dashboard screen under a modal on top (help, the retry confirmation, the palette)."""
    for screen in reversed(stack):
        if isinstance(screen, DashboardScreen):
            return about == screen.LISTS
        if isinstance(screen, UndecodableScreen):
            return about == UNDECODABLE
        if not isinstance(screen, ModalScreen):
            return False
    return False


class EdamonApp(App[int]):
    """The dashboard. Reads only immutable snapshots through `CollectorView`, wrapped in a
    `SafeView` (and the retry service in a `SafeRetry`): screens see only sanitized text.

    `run` (the collector's loop) and every `background` coroutine run as async workers on the
    app's loop for its lifetime; a crash shows a notification and the app keeps running.
    Every `1/settings.ui.refresh_hz` s the active screen redraws from `view.snapshot()`; with
    `refresh=False` it draws once on mount and then only on `refresh_now()` (tests).
    `redrive` is the DLQ retry (`r` on the dead-letters screen); None hides it. With
    settings.read_only it is shown disabled and sends nothing.
    """

    CSS_PATH = "app.tcss"
    TITLE = "edamon"
    COMMANDS = App.COMMANDS | {EdamonCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("colon", "command_palette", "Palette", key_display=":"),
        Binding("q", "quit", "Quit"),
        # Priority: a switch starts when the key reaches the app, not after the key has
        # travelled to the focused widget and bubbled back (each hop lets the collector and
        # the redraw run first). Typing digits in an Input is still typing (Textual leaves
        # keys an Input consumes to it); see check_action for modals.
        Binding("1", "go('overview')", "Overview", show=False, priority=True),
        Binding("2", "go('chains')", "Chains", show=False, priority=True),
        Binding("3", "go('deadletters')", "Dead letters", show=False, priority=True),
        Binding("4", "go('sagas')", "Sagas", show=False, priority=True),
        Binding("5", "go('lag')", "Lag", show=False, priority=True),
        Binding("6", "go('throughput')", "Throughput", show=False, priority=True),
        Binding("t", "toggle_times", "Relative/absolute times", show=False),
        Binding("u", "show_undecodable", "Undecodable records", show=False),
    ]

    def __init__(
        self,
        view: CollectorView,
        settings: Settings,
        *,
        run: Callable[[], Awaitable[None]] | None = None,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
        clock: Callable[[], float] = time.time,
        refresh: bool = True,
        redrive: RetryService | None = None,
    ) -> None:
        super().__init__()
        # The one door data comes in by: every string is sanitized (edamon.ui.safe).
        self.view = SafeView(view)
        self.settings = settings
        self.redrive = None if redrive is None else SafeRetry(redrive, view, self.view)
        self.clock = clock
        self.times = Times(clock, settings.ui.absolute_times)
        self.alerts = AlertTracker(
            clock,
            notify_dead_letters=settings.alerts.notify_dead_letters,
            interval_s=ALERT_INTERVAL_S,
        )
        self.last_snapshot: Snapshot | None = None
        self._run = run
        self._background = tuple(background)
        self._live = refresh
        self._timer: Timer | None = None
        self._tick_error: str | None = None
        self._tasks: list[Worker[None]] = []
        self._switch = SwitchInFlight(self, view.ingest_gate)
        self.main_screens: dict[str, DashboardScreen] = {
            "overview": OverviewScreen(),
            "chains": ChainsScreen(),
            "deadletters": DeadLettersScreen(),
            "sagas": SagasScreen(),
            "lag": LagScreen(),
            "throughput": ThroughputScreen(),
        }

    def get_default_screen(self) -> Screen[None]:
        return self.main_screens["overview"]

    def on_mount(self) -> None:
        for name, screen in self.main_screens.items():
            if name != "overview":
                self.install_screen(screen, name)
                # Compose and mount it now, hidden, rather than on its first visit (~50 ms):
                # pushed and popped again before anything is drawn.
                self.push_screen(screen)
                self.pop_screen()
        self.theme_changed_signal.subscribe(self, self._theme_changed, immediate=True)
        self._apply_theme(self.settings.ui.theme)
        for index, work in enumerate(
            ([self._run] if self._run is not None else []) + list(self._background)
        ):
            self._start(work, "collector" if index == 0 and self._run else f"background-{index}")
        self.refresh_now()
        if self._live:
            self._timer = self.set_interval(1 / self.settings.ui.refresh_hz, self._tick)

    def _apply_theme(self, name: str) -> None:
        if name in self.available_themes:
            self.theme = name
        else:
            self.notify(
                f"Unknown theme {name!r}; using {self.theme}. "
                f"Available: {', '.join(sorted(self.available_themes))}",
                title="Settings",
                severity="warning",
            )

    def _theme_changed(self, _theme: Theme) -> None:
        # Published after Textual restyled the screens on the stack: the others restyle when
        # next shown (a screen switch otherwise keeps the styles a screen had).
        for screen in self.main_screens.values():
            screen.restyle_on_resume()

    def _start(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        async def runner() -> None:
            await work()

        self._tasks.append(
            self.run_worker(runner, name=name, group=WORKER_GROUP, exit_on_error=False)
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crashed collector or background task: tell the operator, keep running."""
        worker = event.worker
        if worker.group != WORKER_GROUP:
            return
        if event.state is WorkerState.ERROR:
            error = worker.error
            self.notify(
                f"{worker.name} stopped: {type(error).__name__}: {error}",
                title="Background task crashed",
                severity="error",
                timeout=30,
            )
        elif event.state is WorkerState.SUCCESS and worker.name == "collector":
            self.notify("The collector stopped.", severity="warning")

    async def on_unmount(self) -> None:
        """Cancel every worker we started and wait for them to finish."""
        self._switch.stop()
        for worker in self._tasks:
            worker.cancel()
        for worker in self._tasks:
            with suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()

    async def on_event(self, event: events.Event) -> None:
        """A key or click from the terminal: until the frame that shows its effect, the
        collector's ingest, the GC and the periodic redraw wait (edamon.ui.switch)."""
        fresh = isinstance(event, events.InputEvent) and not event.is_forwarded
        await super().on_event(event)
        if not self.is_running:
            return
        switch = self._switch
        if isinstance(event, events.Key):
            if not fresh:  # back from the focused widget: its binding has just run
                switch.returned(self.screen)
            elif event.is_forwarded:  # queued on the focused widget
                switch.start(self.focused or self.screen, returning=self._bound(event))
            else:  # handled here (a priority binding)
                switch.start(self.screen)
        elif fresh and isinstance(event, _HELD_MOUSE_EVENTS):
            try:  # queued behind the click or scroll on the widget under the mouse
                widget, _ = self.get_widget_at(event.x, event.y)
            except NoWidget:
                widget = None
            switch.start(widget or self.screen)

    def _bound(self, key: events.Key) -> bool:
        """Whether a binding of the focus chain takes `key` (Textual runs it when the key is
        back at the app, unless a widget on the way keeps it)."""
        bindings = self.screen.active_bindings
        return any(alias in bindings for alias in key.aliases)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Textual's notification with its text sanitized (an error's message can quote a
        record) and without markup unless asked (a `[` in an id is not a style)."""
        super().notify(
            sanitize(message, multiline=True),
            title=sanitize(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    # --- drawing -------------------------------------------------------------------------

    def _tick(self) -> None:
        if not self.is_running:  # shutting down: screens are being removed
            return
        if self._switch.defer(self._tick):
            return  # the screen switched to has just drawn the latest snapshot: after its frame
        try:
            self.refresh_now()
        except Exception as exc:  # a bug in the view must not kill the UI: show it, go on
            message = f"{type(exc).__name__}: {exc}"
            if message != self._tick_error:  # once per distinct error, not 4 times a second
                self._tick_error = message
                self.log.error("refresh failed", exc_info=exc)
                self.notify(message, title="Refresh failed", severity="error", timeout=30)
        else:
            self._tick_error = None

    def refresh_now(self) -> None:
        """Take a snapshot, raise alerts for what is new, and redraw the active screen."""
        snap = self.view.snapshot()
        self.last_snapshot = snap
        screen = self.screen
        for alert in self.alerts.check(snap):
            if alert.about is None:
                self.notify(alert.message, severity=alert.severity, timeout=8)
            elif not _shows(
                self.screen_stack, alert.about
            ):  # the screen on show lists them already
                self.notify(alert.message, severity=alert.severity, timeout=ALERT_TIMEOUT_S)
        if isinstance(screen, DashboardScreen) and screen.ready:
            with self.batch_update():
                screen.draw(snap)

    # --- navigation ----------------------------------------------------------------------

    def go(self, name: str, *, select: str | None = None, filter_text: str | None = None) -> None:
        """Show a main screen: back down the stack if it is there, else push it.

        Main screens live for the app's lifetime (hidden ones are not drawn); the one shown
        draws the latest snapshot right away, once, rather than when its resume arrives."""
        target = self.main_screens[name]
        if self.screen is not target:
            self._switch.start(target)
            if target in self.screen_stack:
                while self.screen is not target:
                    self.pop_screen()
            else:
                self.push_screen(target)
            target.show_latest()
        if select is not None:
            target.select(select)
        if filter_text is not None:
            target.apply_filter(filter_text)

    def action_go(self, name: str) -> None:
        """Number keys and the nav bar: switch to a main screen."""
        if name in self.main_screens:
            self.go(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Number keys switch screens from dashboard screens only: on a modal (help,
        confirmation, palette) they go to the modal, as if they were not priority bindings."""
        if action == "go":
            return isinstance(self.screen, DashboardScreen)
        return True

    def go_back(self) -> None:
        """Esc: back to the previous screen in the stack (the overview is the bottom)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def open_chain(self, correlation_id: str | None, event_id: str | None = None) -> None:
        """Push the chain of `correlation_id`, selecting `event_id` when given."""
        if not correlation_id:
            self.notify("This event has no correlation id.", severity="warning")
            return
        if self.view.chain(correlation_id) is None:
            self.notify(f"Chain {correlation_id} is not retained.", severity="warning")
            return
        self.push_screen(ChainScreen(correlation_id, select=event_id))

    def focus_topic(self, topic: str) -> None:
        """Jump to a topic: DLQ topics open the dead letters, others the overview's timeline."""
        snap = self.last_snapshot
        is_dlq = snap is not None and any(
            t.topic == topic and t.is_dlq for t in snap.throughput.topics
        )
        if is_dlq:
            self.go("deadletters", filter_text=topic)
        else:
            self.go("overview")
            overview = self.main_screens["overview"]
            assert isinstance(overview, OverviewScreen)
            overview.focus_topic(topic)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette's own commands: edamon's help instead of Textual's keys panel (a
        second, different help), theme, screenshot (SVG, for a ticket), quit."""
        yield SystemCommand("Help", "The keys of this screen (?)", self.action_help)
        for command in super().get_system_commands(screen):
            if command.title in ("Theme", "Screenshot", "Quit"):
                yield command

    # --- actions -------------------------------------------------------------------------

    def action_help(self) -> None:
        """Show the keys of the current screen, from its live bindings."""
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def action_toggle_times(self) -> None:
        """Switch between relative (12s ago) and absolute (10:00:01) times."""
        self.times.absolute = not self.times.absolute
        self.notify(f"{'Absolute' if self.times.absolute else 'Relative'} times", timeout=2)
        for screen in (*self.main_screens.values(), *self.screen_stack):
            if isinstance(screen, DashboardScreen):
                screen.invalidate()  # hidden screens redraw with the new format when shown
        self._redraw()

    def action_show_undecodable(self) -> None:
        """Samples of the records that could not be decoded."""
        if self.last_snapshot is not None and not isinstance(self.screen, UndecodableScreen):
            self.push_screen(UndecodableScreen(self.last_snapshot.undecodable, self.times))

    async def action_quit(self) -> None:
        """Quit with exit code 0."""
        self.exit(0)

    def _redraw(self) -> None:
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            screen.redraw()


__all__ = ["SCREENS", "EdamonApp"]
