"""The edamon dashboard: a Textual app drawing the service's snapshots on a clock."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from edamon.client import ClientError
from edamon.config import Settings
from edamon.model.safetext import sanitize
from edamon.model.snapshot import Snapshot
from edamon.ui.alerts import UNDECODABLE, AlertTracker
from edamon.ui.commands import EdamonCommands
from edamon.ui.format import Times
from edamon.ui.messages import FocusTopic, GoBack, OpenChain, ShowDeadLetters, ShowScreen
from edamon.ui.screens.base import DashboardScreen
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.screens.sagas import SagasScreen
from edamon.ui.screens.search import FoundChainScreen, SearchScreen
from edamon.ui.screens.throughput import ThroughputScreen
from edamon.ui.screens.undecodable import UndecodableScreen
from edamon.ui.source import DataSource, Link
from edamon.ui.widgets.bars import SCREENS

WORKER_GROUP = "edamon"
ALERT_INTERVAL_S = 30.0
"""Growing counts (new dead letters, undecodable records) notify at most this often."""
ALERT_TIMEOUT_S = 3.0
"""How long a notification of new dead letters or undecodable records stays: a glance (the
status line keeps the latest one)."""
GC_THRESHOLD = (50_000, 20, 10)
"""The dashboard process's cyclic-GC thresholds with `tune_gc` (CPython's are 700, 10, 10)."""


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
    """The dashboard: a client of an edamon service, through `source` (edamon.ui.source),
    the only way it reaches data; every string it hands a screen is sanitized there
    (edamon.model.safetext): screens see only safe text.

    Every `1/settings.ui.refresh_hz` s it asks the service for the overview (one request at a
    time: the next waits for the answer) and the active screen redraws from it; with
    `refresh=False` it asks once on mount and then only on `refresh_now()` (tests). While the
    service does not answer, the last data stays, marked stale, and the polls go on until it
    answers again. `background` coroutines run as async workers for the app's lifetime; a
    crash shows a notification and the app keeps running. Retry (`r` on the dead letters)
    goes to the service's retry jobs; a viewer token or a read-only service shows it off.
    `waiting` is what the status line says before the first answer.
    """

    CSS_PATH = "app.tcss"
    TITLE = "edamon"
    # Each main screen is a mode with its own stack (drill-ins push onto it).
    SCREENS: ClassVar[dict[str, Callable[[], Screen[Any]]]] = {
        "overview": OverviewScreen,
        "chains": ChainsScreen,
        "deadletters": DeadLettersScreen,
        "sagas": SagasScreen,
        "lag": LagScreen,
        "throughput": ThroughputScreen,
    }
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {name: name for name in SCREENS}
    DEFAULT_MODE = "overview"
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
        # overview and chains only (check_action); listed by `?`, not in the footer
        Binding("f", "search", "Find in Kafka", show=False),
    ]

    def __init__(
        self,
        source: DataSource,
        settings: Settings,
        *,
        background: Sequence[Callable[[], Awaitable[None]]] = (),
        clock: Callable[[], float] = time.time,
        refresh: bool = True,
        waiting: str = "connecting to the edamon service…",
        tune_gc: bool = False,
    ) -> None:
        super().__init__()
        self._tune_gc = tune_gc
        self.source = source
        source.on_change = self._looked_up
        self.settings = settings
        self.waiting = waiting
        self.clock = clock
        self.times = Times(clock, settings.ui.absolute_times)
        self.alerts = AlertTracker(
            clock,
            notify_dead_letters=settings.alerts.notify_dead_letters,
            interval_s=ALERT_INTERVAL_S,
        )
        self.last_snapshot: Snapshot | None = None
        self._background = tuple(background)
        self._live = refresh
        self._tick_error: str | None = None
        self._tasks: list[Worker[None]] = []
        self._redraw_due = False
        self._link_error: str | None = None
        self._switching = False
        """True while `switch_to` switches the mode (see `delay_update`)."""
        self.history: list[str] = []
        """Main screens (modes) left by a switch, most recent last: Esc on a main screen goes
        back to the previous one, as down one stack."""

    @property
    def main_screens(self) -> dict[str, DashboardScreen]:
        """The base screen of each mode (made on first use, kept for the app's lifetime)."""
        screens = {}
        for name in self.MODES:
            screen = self.get_screen(name)
            assert isinstance(screen, DashboardScreen)
            screens[name] = screen
        return screens

    async def on_mount(self) -> None:
        for name in self.MODES:
            if name != self.DEFAULT_MODE:
                # Compose and mount it now, hidden, rather than on its first visit (~50 ms).
                await self.switch_mode(name)
        await self.switch_mode(self.DEFAULT_MODE)
        if self._tune_gc:
            # What is alive now (modules, Textual, every main screen composed) stays for
            # the process's life: out of the cyclic GC's full collections, which took 72 ms
            # (127 max) every 1.6 s at 20,000 events/s; a larger generation 0 spaces them
            # out (bench/ui.py; the dashboard process only, never a test runner's).
            gc.set_threshold(*GC_THRESHOLD)
            gc.freeze()
        self._apply_theme(self.settings.ui.theme)
        for index, work in enumerate(self._background):
            self._start(work, f"background-{index}")
        if self._live:
            self._start(self._poll, "poll")
        else:  # drawn on demand (tests): the first answer before anything else
            await self.refresh_now()

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

    def _start(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        async def runner() -> None:
            await work()

        self._tasks.append(
            self.run_worker(runner, name=name, group=WORKER_GROUP, exit_on_error=False)
        )

    async def _poll(self) -> None:
        """Ask for the overview on the clock: one request at a time (a slow answer delays the
        next ask, it never piles them up)."""
        interval = 1 / self.settings.ui.refresh_hz
        while True:
            started = asyncio.get_running_loop().time()
            await self.refresh_now()
            spent = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, interval - spent))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crashed background task: tell the operator, keep running."""
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

    async def on_unmount(self) -> None:
        """Cancel every worker we started and wait for them to finish."""
        for worker in self._tasks:
            worker.cancel()
        for worker in self._tasks:
            with suppress(WorkerCancelled, WorkerFailed):
                await worker.wait()
        await self.source.aclose()

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

    async def refresh_now(self) -> None:
        """Ask the service for the overview, raise alerts for what is new, and redraw the
        active screen (from the last answer when the service does not answer)."""
        source = self.source
        snap = await source.refresh()
        if not self.is_running:  # shutting down: screens are being removed
            return
        if source.link is Link.STALE and source.error and source.error != self._link_error:
            self.notify(source.error, title="edamon service", severity="error", timeout=10)
        self._link_error = source.error
        screen = self.screen
        if source.link is Link.LIVE and isinstance(screen, DashboardScreen) and screen.ready:
            await screen.fetch()
        try:
            self._draw(snap)
        except Exception as exc:  # a bug in a screen must not kill the UI: show it, go on
            message = f"{type(exc).__name__}: {exc}"
            if message != self._tick_error:  # once per distinct error, not 4 times a second
                self._tick_error = message
                self.log.error("refresh failed", exc_info=exc)
                self.notify(message, title="Refresh failed", severity="error", timeout=30)
        else:
            self._tick_error = None

    def _draw(self, snap: Snapshot | None) -> None:
        screen = self.screen
        if snap is None:
            if isinstance(screen, DashboardScreen) and screen.ready:
                screen.show_waiting(self.link_text())
            return
        fresh = snap is not self.last_snapshot
        first = self.last_snapshot is None
        self.last_snapshot = snap
        if first:  # the hidden main screens draw once now, rather than on their first visit
            for hidden in self.main_screens.values():
                if hidden is not screen and hidden.ready:
                    hidden.show_latest()
        if fresh:
            for alert in self.alerts.check(snap):
                if alert.about is None:
                    self.notify(alert.message, severity=alert.severity, timeout=8)
                elif not _shows(self.screen_stack, alert.about):  # listed on screen already
                    self.notify(alert.message, severity=alert.severity, timeout=ALERT_TIMEOUT_S)
        if isinstance(screen, DashboardScreen) and screen.ready:
            with self.batch_update():
                screen.draw(snap)

    def link_text(self) -> str | None:
        """What the status line says about the service: nothing while it answers."""
        source = self.source
        if source.link is Link.LIVE:
            return None
        if source.link is Link.CONNECTING:
            return self.waiting if source.error is None else f"{self.waiting} ({source.error})"
        stale = source.stale_for() or 0.0
        return (
            f"✖ service unreachable, data from {stale:.0f}s ago (stale), reattaching… "
            f"{source.error or ''}"
        ).rstrip()

    def _looked_up(self) -> None:
        """A lookup (chain, event, dead letter) answered: redraw the active screen soon (once
        for answers that come together)."""
        if self._redraw_due or not self.is_running:
            return
        self._redraw_due = True

        def redraw() -> None:
            self._redraw_due = False
            if self.is_running:
                self._redraw()

        self.call_later(redraw)

    # --- navigation ----------------------------------------------------------------------

    def go(self, name: str, *, select: str | None = None, filter_text: str | None = None) -> None:
        """Show the main screen `name` (its mode), itself: drill-ins left open on it close, as
        they did when every screen was on one stack. The screen left is remembered for Esc
        (going to a screen remembered drops what was remembered after it)."""
        current = self.current_mode
        with self.batch_update():  # one repaint: the new screen as drawn below
            if name != current:
                if name in self.history:
                    del self.history[self.history.index(name) :]
                else:
                    self.history.append(current)
                self.switch_to(name)
            while len(self.screen_stack) > 1:
                self.pop_screen()
            target = self.main_screens[name]
            target.show_latest()
            if select is not None:
                target.select(select)
            if filter_text is not None:
                target.apply_filter(filter_text)

    def action_go(self, name: str) -> None:
        """Number keys and the nav bar: switch to a main screen."""
        if name in self.MODES:
            self.go(name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Number keys switch screens from dashboard screens only: on a modal (help,
        confirmation, palette) they go to the modal, as if they were not priority bindings."""
        if action == "go":
            return isinstance(self.screen, DashboardScreen)
        if action == "search":
            return isinstance(self.screen, OverviewScreen | ChainsScreen)
        return True

    def go_back(self) -> None:
        """Esc: back to the previous screen in the mode's stack, else to the main screen
        left before this one (with its stack as it was)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.history:
            with self.batch_update():
                self.switch_to(self.history.pop())

    def switch_to(self, mode: str) -> None:
        """`switch_mode` without the repaint hold Textual adds to every mode switch (see
        `delay_update`): callers switch inside `batch_update`, and the screen they show is
        drawn (from the last answer) in the same turn."""
        self._switching = True
        try:
            self.switch_mode(mode)
        finally:
            self._switching = False

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual's `switch_mode` holds every repaint for 50 ms (`delay_update()`) to mask
        the switch: that alone would put key-to-screen above 50 ms. `switch_to` runs inside
        `batch_update` (the method's own docs prefer it) and draws the screen at once, so its
        switches skip the hold; other callers (the command palette) keep it. Upstream:
        https://github.com/Textualize/textual/blob/main/src/textual/app.py (`switch_mode`),
        a fixed 50 ms with no way to opt out."""
        if not self._switching:
            super().delay_update(delay)

    # --- what screens ask for (typed messages, see edamon.ui.messages) ---------------------

    def on_show_screen(self, message: ShowScreen) -> None:
        self.go(message.name, select=message.select)

    def on_open_chain(self, message: OpenChain) -> None:
        self.open_chain(message.correlation_id, message.event_id, dead_letter=message.dead_letter)

    def on_show_dead_letters(self, message: ShowDeadLetters) -> None:
        self.go("deadletters", filter_text=message.filter_text)
        if message.handler is not None:
            screen = self.main_screens["deadletters"]
            assert isinstance(screen, DeadLettersScreen)
            screen.show_failed_handler(message.handler)

    def on_focus_topic(self, message: FocusTopic) -> None:
        if message.timeline:
            self.go("overview")
            overview = self.main_screens["overview"]
            assert isinstance(overview, OverviewScreen)
            overview.focus_topic(message.topic)
        else:
            self.focus_topic(message.topic)

    def on_go_back(self, message: GoBack) -> None:
        self.go_back()

    def open_chain(
        self,
        correlation_id: str | None,
        event_id: str | None = None,
        *,
        dead_letter: str | None = None,
    ) -> None:
        """Push the chain of `correlation_id` once the service sent it, selecting `event_id`
        (or the node of the dead letter at `dead_letter`) when given."""
        if not correlation_id:
            self.notify("This event has no correlation id.", severity="warning")
            return
        self.run_worker(
            self._open_chain(correlation_id, event_id, dead_letter),
            group="open-chain",
            exclusive=True,
            exit_on_error=False,
        )

    async def _open_chain(
        self, correlation_id: str, event_id: str | None, dead_letter: str | None
    ) -> None:
        try:
            chain = await self.source.fetch_chain(correlation_id)
        except ClientError as exc:
            self.notify(str(exc), title="Chain", severity="error", timeout=8)
            return
        if chain is None:
            self.notify(f"Chain {correlation_id} is not retained.", severity="warning")
            return
        if dead_letter is not None:
            node = next((n for n in chain.nodes if n.dead_letter == dead_letter), None)
            event_id = node.event_id if node is not None else event_id
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

    # --- search of Kafka's history (issue 16) ----------------------------------------------

    def open_search(self) -> None:
        """Show the search screen (one for the app's lifetime: it keeps the last search)."""
        if not self.is_screen_installed("search"):
            self.install_screen(SearchScreen(), "search")
        screen = self.get_screen("search")
        if screen in self.screen_stack:
            while self.screen is not screen:
                self.pop_screen()
        else:
            self.push_screen(screen)

    def action_search(self) -> None:
        """f: search Kafka's history for a flow (by id, key, header or JSON path)."""
        self.open_search()

    def open_found(self, search_id: str, correlation_id: str, range_text: str) -> None:
        """Show a flow a search found, as the service keeps it with the search."""
        self.push_screen(FoundChainScreen(search_id, correlation_id, range_text))

    def on_search_screen_open_flow(self, message: SearchScreen.OpenFlow) -> None:
        self.open_found(message.search_id, message.correlation_id, message.range_text)

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
