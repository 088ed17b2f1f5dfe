"""What a screen switch defers until the new screen is on the terminal."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

SWITCH_HOLD_S = 0.5
"""A switch defers things until its first frame, at most this long."""


class SwitchInFlight:
    """From a screen switch until the new screen's first frame (or `timeout_s`):

    - the cyclic GC is held off: a collection that falls due meanwhile (tens of ms over a
      large young generation) runs right after the frame instead of delaying it;
    - work handed to `defer()` (the periodic redraw: the new screen has just drawn the latest
      snapshot) runs right after the frame instead of before it.

    Nothing is dropped: the GC is enabled again and deferred work runs when the frame is out."""

    def __init__(self, app: App[Any], timeout_s: float = SWITCH_HOLD_S) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.active = False
        self._gc_held = False
        self._deferred: list[Callable[[], None]] = []

    def start(self, screen: Screen[None]) -> None:
        """A switch to `screen` begins."""
        if self.active:
            return
        self.active = True
        if gc.isenabled():
            gc.disable()
            self._gc_held = True
        screen.call_after_refresh(self.end)
        self.app.set_timer(self.timeout_s, self.end)

    def defer(self, work: Callable[[], None]) -> bool:
        """Run `work` when the switch is on screen, if one is in flight (True); else False."""
        if not self.active:
            return False
        if work not in self._deferred:
            self._deferred.append(work)
        return True

    def end(self) -> None:
        """The new screen is out (or the wait timed out): let go, run what was deferred."""
        deferred = self._deferred if self.active else []
        self.stop()
        for work in deferred:
            work()

    def stop(self) -> None:
        """Let go without running deferred work (the app stops)."""
        self.active = False
        self._deferred = []
        if self._gc_held:
            self._gc_held = False
            gc.enable()
