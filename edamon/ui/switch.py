"""What a key press (a screen switch among them) defers until its effect is on the terminal."""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App
from textual.message_pump import MessagePump

from edamon.collector.gate import IngestGate

SWITCH_HOLD_S = 0.5
"""A key defers things until its frame, at most this long (from the first key of a run)."""
RETURN_WAIT_S = 0.1
"""A key expected back at the app (for its binding) that a widget kept ends this much later."""


class SwitchInFlight:
    """From a key press or a screen switch until the frame that shows it (or `timeout_s`):

    - the cyclic GC is held off: a collection that falls due meanwhile (tens of ms over a
      large young generation) runs right after the frame instead of delaying it;
    - `gate` is held: the collector ingests its next batch after the frame, not between the
      key and the frame (edamon.collector.gate);
    - work handed to `defer()` (the periodic redraw: a switched-to screen has just drawn the
      latest snapshot) runs right after the frame instead of before it.

    Nothing is dropped: the GC is enabled again, the gate opens and deferred work runs when
    the frame is out. A key pressed while one is in flight moves the end to its own frame,
    but never past `timeout_s` from the first."""

    def __init__(self, app: App[Any], gate: IngestGate, timeout_s: float = SWITCH_HOLD_S) -> None:
        self.app = app
        self.gate = gate
        self.timeout_s = timeout_s
        self.active = False
        self._gc_held = False
        self._deferred: list[Callable[[], None]] = []
        self._token = 0
        self._episode = 0

    def start(self, pump: MessagePump, *, returning: bool = False) -> None:
        """A key or switch begins: it ends after the screen refresh that follows the messages
        now queued on `pump` (the widget a key went to, or the screen switched to). With
        `returning`, the key is on its way back to the app, where Textual runs its binding:
        `returned()` then arms the end (or RETURN_WAIT_S does, if a widget kept the key)."""
        self._token += 1
        if returning:
            self.app.set_timer(RETURN_WAIT_S, partial(self._end_if, self._token))
        else:
            pump.call_after_refresh(self._end_if, self._token)
        if self.active:
            return
        self.active = True
        if gc.isenabled():
            gc.disable()
            self._gc_held = True
        self.gate.hold()
        self._episode += 1
        self.app.set_timer(self.timeout_s, partial(self._time_out, self._episode))

    def returned(self, pump: MessagePump) -> None:
        """The key came back to the app and its binding (if any) ran: end after the refresh
        that follows the messages now queued on `pump`."""
        if self.active:
            self._token += 1
            pump.call_after_refresh(self._end_if, self._token)

    def _end_if(self, token: int) -> None:
        if token == self._token:  # a later key's frame ends it, not this one's
            self.end()

    def _time_out(self, episode: int) -> None:
        if episode == self._episode:  # not a timer left from an earlier key
            self.end()

    def defer(self, work: Callable[[], None]) -> bool:
        """Run `work` when the switch is on screen, if one is in flight (True); else False."""
        if not self.active:
            return False
        if work not in self._deferred:
            self._deferred.append(work)
        return True

    def end(self) -> None:
        """The frame is out (or the wait timed out): let go, run what was deferred."""
        deferred = self._deferred if self.active else []
        self.stop()
        for work in deferred:
            work()

    def stop(self) -> None:
        """Let go without running deferred work (the app stops)."""
        self.active = False
        self._deferred = []
        self.gate.release()
        if self._gc_held:
            self._gc_held = False
            gc.enable()
