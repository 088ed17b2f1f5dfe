"""The base of every dashboard screen: nav bar, body, `/` filter, status line and footer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from edamon.model.api import partial_answers
from edamon.model.snapshot import Snapshot
from edamon.ui.messages import GoBack
from edamon.ui.widgets.bars import FilterBar, KeyBar, NavBar, StatusLine
from edamon.ui.widgets.snapshot_table import SnapshotTable

if TYPE_CHECKING:
    from edamon.ui.app import EdamonApp


class DashboardScreen(Screen[None]):
    """A screen drawn from snapshots: the app calls `draw()` on the active screen each tick."""

    NAME: ClassVar[str] = ""
    """The screen's name in the nav bar (one of bars.SCREENS), or empty for drill-in screens."""
    HELP_NOTES: ClassVar[tuple[str, ...]] = ()
    """Lines the help (`?`) adds under the keys: what the screen's words mean."""
    LISTS: ClassVar[str | None] = None
    """What the screen lists that an alert counts (alerts.DEAD_LETTERS): news of it is left
    out of the notifications and the status line while the screen is shown."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("escape", "back", "Back", key_display="esc"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 - Textual API
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # noqa: RUF012 - Textual API

    def __init__(self, title: str | None = None) -> None:
        super().__init__()
        self._nav_title = title
        self._filter_target: SnapshotTable | None = None
        self._pending_select: str | None = None
        self._pending_filter: str | None = None
        self.ready = False
        """True once composed and mounted: only then can it draw."""
        self._drawn: Snapshot | None = None
        """The snapshot of the last draw; None when the screen must draw again (`invalidate`)."""
        self._hidden_with: tuple[object, ...] | None = None
        """What the screen's styles depend on besides the CSS, when it was last hidden."""

    @property
    def edamon(self) -> EdamonApp:
        """The app, typed."""
        return cast("EdamonApp", self.app)

    def compose(self) -> ComposeResult:
        yield NavBar(self.NAME, self._nav_title)
        yield from self.compose_body()
        yield StatusLine()
        yield KeyBar()

    def compose_body(self) -> Iterable[Widget]:
        """The screen's own widgets (between the nav bar and the status line)."""
        return ()

    def draw(self, snap: Snapshot) -> None:
        """Redraw everything from `snap` (called inside app.batch_update())."""
        self.query_one(NavBar).show(snap)
        app = self.edamon
        self.query_one(StatusLine).show(
            snap,
            app.alerts.last,
            app.times,
            self.LISTS,
            link=app.link_text(),
            partial=self.partial_answers(snap),
        )
        self.draw_body(snap)
        self._apply_pending()
        self._drawn = snap

    def draw_body(self, snap: Snapshot) -> None:
        """Redraw the screen's own widgets from `snap`."""

    def partial_answers(self, snap: Snapshot) -> tuple[str, ...]:
        """Why what the screen shows may miss a part (a shard group's member that did not
        answer, or one rebuilding its flows): the snapshot's notices that say so."""
        return partial_answers(snap.notices)

    async def fetch(self) -> None:
        """Ask the service for what this screen shows besides the overview (the app awaits it
        on each tick, before drawing, while the screen is shown)."""

    def show_waiting(self, text: str | None) -> None:
        """No data yet: say what the dashboard waits for (the service starting)."""
        self.query_one(StatusLine).waiting(text)

    @property
    def drawn(self) -> Snapshot | None:
        """The snapshot the screen shows (None before its first draw, or once invalidated)."""
        return self._drawn

    def redraw(self) -> None:
        """Redraw from the app's latest snapshot, if there is one."""
        snap = self.edamon.last_snapshot
        if snap is not None and self.ready:
            with self.app.batch_update():
                self.draw(snap)

    def show_latest(self) -> None:
        """Draw the app's latest snapshot unless this screen has drawn it already (a screen
        kept alive while hidden draws once when it becomes visible, not on every resume)."""
        snap = self.edamon.last_snapshot
        if snap is not None and snap is not self._drawn:
            self.redraw()

    def invalidate(self) -> None:
        """Something besides the snapshot changed (e.g. the time format): draw again when
        next shown."""
        self._drawn = None

    def on_mount(self) -> None:
        self.ready = True
        if self.edamon.last_snapshot is None:
            self.show_waiting(self.edamon.link_text())
        self.show_latest()

    def style_inputs(self) -> tuple[object, ...]:
        """What the screen's styles depend on that Textual does not restyle a hidden screen
        for: the terminal's focus (`:blur` styles; Textual restyles the current screen
        only) and the size; also the theme."""
        app = self.app
        return (app.theme, app.app_focus, app.size)

    def post_message(self, message: Message) -> bool:
        # Textual's switch_mode restyles every widget of the screen it shows again (it posts
        # ScreenResume with refresh_styles left True): a few ms of each switch, for nothing
        # when no style input changed while the screen was hidden. The flag is the poster's
        # to set (https://github.com/Textualize/textual/pull/6314) and switch_mode does not;
        # this sets it on the way in. CSS and theme changes still reach the screen:
        # switch_mode calls refresh_css for a screen that missed one. Tested by
        # test_a_screen_shown_again_is_restyled_only_when_its_style_inputs_changed.
        if isinstance(message, events.ScreenSuspend):
            self._hidden_with = self.style_inputs()
        elif isinstance(message, events.ScreenResume) and self._hidden_with == self.style_inputs():
            message.refresh_styles = False
        return super().post_message(message)

    def on_screen_resume(self) -> None:
        # Going back down the stack resumes every screen on the way: only the one left
        # visible draws.
        if self.is_current:
            self.show_latest()

    # --- selection and filter from elsewhere (drill-in, command palette) ------------------

    def select(self, key: str) -> None:
        """Move the cursor of the screen's main table to the row `key` (at the next draw)."""
        self._pending_select = key
        self._pending_changed()

    def apply_filter(self, text: str) -> None:
        """Filter the screen's main table by `text` (at the next draw)."""
        self._pending_filter = text
        self._pending_changed()

    def _pending_changed(self) -> None:
        # Drawn from the latest snapshot already (e.g. just shown by `go`): only the cursor or
        # the filter moves; a full draw would build the same rows again.
        if self.ready and self._drawn is not None and self._drawn is self.edamon.last_snapshot:
            with self.app.batch_update():
                self._apply_pending()
        else:
            self.redraw()

    def main_table(self) -> SnapshotTable | None:
        """The table that `select()` and `apply_filter()` act on: the first one."""
        tables = self.query(SnapshotTable)
        return tables.first() if tables else None

    def _apply_pending(self) -> None:
        table = self.main_table()
        if table is None:
            return
        if self._pending_filter is not None:
            table.set_filter(self._pending_filter)
            self._pending_filter = None
        if self._pending_select is not None:
            key, self._pending_select = self._pending_select, None
            table.select_key(key)
            table.focus()

    # --- the `/` filter -------------------------------------------------------------------

    def filter_target(self) -> SnapshotTable | None:
        """The table `/` filters: the focused one, else the screen's first table."""
        focused = self.focused
        if isinstance(focused, SnapshotTable):
            return focused
        return self.main_table()

    @property
    def filter_open(self) -> bool:
        """Whether the `/` filter bar is shown."""
        return bool(self.query(FilterBar))

    async def action_filter(self) -> None:
        """Open the filter bar for the focused table. The bar is mounted only while it is
        open: Textual restyles every widget of a screen each time it is shown again, a
        hidden input included."""
        target = self.filter_target()
        if target is None:
            return
        self._filter_target = target
        bars = self.query(FilterBar)
        if bars:
            bar = bars.first()
        else:
            bar = FilterBar()
            await self.mount(bar, before=self.query_one(StatusLine))
        bar.value = target.filter_text
        bar.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_target is not None:
            self._filter_target.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._close_filter(clear=False)

    def _close_filter(self, *, clear: bool) -> None:
        for bar in self.query(FilterBar):
            bar.remove()
        target = self._filter_target
        if target is not None:
            if clear:
                target.set_filter("")
            target.focus()

    def action_back(self) -> None:
        """Esc: close the filter (clearing it), else clear the focused table's filter,
        else go back to the previous screen."""
        if self.filter_open:
            self._close_filter(clear=True)
            return
        focused = self.focused
        if isinstance(focused, SnapshotTable) and focused.filter_text:
            focused.set_filter("")
            return
        self.post_message(GoBack())
