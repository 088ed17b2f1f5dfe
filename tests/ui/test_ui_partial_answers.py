"""A shard group's partial answers on the status line: while a page of dead letters, or the
overview's merged snapshot, says a member's part is missing, the status line says so; when
the notices go, so does the part.

The service's side (a real shard group with a member that does not answer) is
tests/kafka/test_dashboard_sees_partial_shard_answers.py; here the notices are added to the
real service's answers on their way to the client, for the rendering alone."""

from __future__ import annotations

import dataclasses
from typing import Any

from fakes import FakeView, make_app, make_snapshot
from textual.widgets import Static
from uitools import settle, text_of

from edamon.model.api import PARTIAL_ANSWER, DeadLetterPage
from edamon.ui.app import EdamonApp
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.source import OVERVIEW_ROWS

SIZE = (120, 40)
MISSING = f"{PARTIAL_ANSWER}no dead letters from http://b.test:8001 (ReadTimeout)"
SHARE = f"{PARTIAL_ANSWER}no share from http://b.test:8001 (ReadTimeout)"


def many_dead_letters(view: FakeView) -> None:
    """More dead letters than the overview carries: the screen reads them by pages."""
    template = view.snap.dead_letters[0]
    many = tuple(
        dataclasses.replace(template, coords=f"shipping.DLT/0/{5000 - i}", time=template.time - i)
        for i in range(OVERVIEW_ROWS + 50)
    )
    view.snap = dataclasses.replace(view.snap, dead_letters=many)


def with_page_notices(app: EdamonApp, notices: list[str]) -> None:
    """Every page of dead letters the service answers carries `notices` (as they are now)."""
    client = app.source.client
    served = client.dead_letters

    async def dead_letters(*args: Any, **kwargs: Any) -> DeadLetterPage:
        page = await served(*args, **kwargs)
        return dataclasses.replace(page, notices=tuple(notices))

    client.dead_letters = dead_letters  # type: ignore[method-assign]


def status(app: EdamonApp) -> str:
    return text_of(app.screen.query_one("StatusLine", Static), width=400)


class TestPagesOfDeadLetters:
    async def test_a_partial_page_shows_on_the_status_line_until_it_is_whole(self) -> None:
        view = FakeView()
        many_dead_letters(view)
        app = make_app(view)
        notices: list[str] = []
        with_page_notices(app, notices)
        async with app.run_test(size=SIZE) as pilot:
            await app.refresh_now()
            await pilot.press("3")
            assert isinstance(app.screen, DeadLettersScreen) and app.screen.paged()
            await app.refresh_now()
            await settle(pilot)
            assert "partial" not in status(app)

            notices.append(MISSING)
            await app.refresh_now()
            await settle(pilot)
            line = status(app)
            assert "◐ partial answer: no dead letters from http://b.test:8001 (ReadTimeout)" in line
            assert "more)" not in line

            notices.append(f"{PARTIAL_ANSWER}http://c.test:8002 is rebuilding its flows")
            await app.refresh_now()
            await settle(pilot)
            assert "(ReadTimeout) (+1 more)" in status(app)

            notices.clear()
            await app.refresh_now()
            await settle(pilot)
            assert "partial" not in status(app)

    async def test_the_notices_are_sanitized_on_their_way(self) -> None:
        view = FakeView()
        many_dead_letters(view)
        app = make_app(view)
        with_page_notices(app, [f"{PARTIAL_ANSWER}no dead letters from \x1b]0;pwned\x07x"])
        async with app.run_test(size=SIZE) as pilot:
            await app.refresh_now()
            await pilot.press("3")
            await app.refresh_now()
            await settle(pilot)
            assert app.source.dead_letter_pages.notices == (
                f"{PARTIAL_ANSWER}no dead letters from \\x1b]0;pwned\\x07x",
            )
            assert "from \\x1b]0;pwned\\x07x" in status(app)


class TestTheOverviewsSnapshot:
    async def test_a_partial_snapshot_shows_on_every_screen_until_it_is_whole(self) -> None:
        view = FakeView()
        app = make_app(view)
        async with app.run_test(size=SIZE) as pilot:
            await app.refresh_now()
            assert isinstance(app.screen, OverviewScreen)
            assert "partial" not in status(app)

            # the collector's own notices are news (told once), not a partial answer
            view.snap = dataclasses.replace(make_snapshot(), notices=("loop in x", SHARE))
            await app.refresh_now()
            line = status(app)
            assert "◐ partial answer: no share from http://b.test:8001 (ReadTimeout)" in line
            assert line.count("no share from") == 1  # not again as the last alert
            await pilot.press("3")  # the overview's rows: the snapshot's notices
            await app.refresh_now()
            await settle(pilot)
            assert isinstance(app.screen, DeadLettersScreen) and not app.screen.paged()
            assert "◐ partial answer: no share from" in status(app)

            view.snap = dataclasses.replace(make_snapshot(), notices=("loop in x",))
            await app.refresh_now()
            await settle(pilot)
            assert "partial" not in status(app)  # nor as the alert that told it
            await pilot.press("1")
            await app.refresh_now()
            assert "partial" not in status(app)
