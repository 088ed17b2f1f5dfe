"""Notifications of growing counts in the running app: not on the screen that lists them,
at most once per ALERT_INTERVAL_S."""

from __future__ import annotations

import dataclasses

import uitools
from fakes import FakeView, make_app
from uitools import wait_for

from edamon.ui.app import ALERT_INTERVAL_S
from edamon.ui.screens.deadletters import DeadLettersScreen

SIZE = (120, 40)


def _more_dead_letters(view: FakeView, more: int) -> None:
    totals = view.snap.totals
    view.snap = dataclasses.replace(
        view.snap, totals=dataclasses.replace(totals, dead_letters=totals.dead_letters + more)
    )


async def test_new_dead_letters_are_not_announced_on_the_dead_letters_screen() -> None:
    view = FakeView()
    app = make_app(view)
    shown = uitools.record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        assert isinstance(app.screen, DeadLettersScreen)
        _more_dead_letters(view, 2)
        await app.refresh_now()
        await pilot.pause()
        assert not [m for m, _ in shown if "new dead letter" in m]
        assert app.alerts.last is not None  # still in the status line
        assert app.alerts.last.message == "2 new dead letters (press 3)"
        await pilot.press("1")  # elsewhere, they are news
        _more_dead_letters(view, 3)
        app.alerts.clock = lambda: view.snap.taken_at + ALERT_INTERVAL_S
        await app.refresh_now()
        await pilot.pause()
        assert [m for m, _ in shown if "new dead letter" in m] == ["3 new dead letters (press 3)"]


async def test_growing_counts_are_announced_at_most_every_alert_interval() -> None:
    view = FakeView()
    app = make_app(view)
    shown = uitools.record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        start = view.snap.taken_at
        for seconds, more in ((0, 1), (10, 1), (20, 1), (ALERT_INTERVAL_S, 1)):
            app.alerts.clock = lambda s=seconds: start + s  # type: ignore[misc]
            _more_dead_letters(view, more)
            await app.refresh_now()
            await pilot.pause()
        assert [m for m, _ in shown if "new dead letter" in m] == [
            "1 new dead letter (press 3)",
            "3 new dead letters (press 3)",  # the two held back, with the one at 30 s
        ]


async def test_a_count_notification_is_one_short_line_above_the_status_line() -> None:
    """At 80x24 a toast covers one line of a corner for a few seconds, not a box of four
    lines over the chains (the status line keeps the news, and stays visible)."""
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        _more_dead_letters(view, 12)
        app.alerts.clock = lambda: view.snap.taken_at + ALERT_INTERVAL_S
        await app.refresh_now()
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        await pilot.pause()
        toasts = list(app.screen.query("Toast"))
        assert len(toasts) == 1
        toast = toasts[0].region
        assert toast.height == 1 and toast.width <= len("12 new dead letters (press 3)") + 4
        assert toast.bottom <= 22  # the status line (row 22) and the keys stay readable
