"""The search screen (issue 16) drawn from the service's answers: the form at both sizes, and a
refused search with the service's message. The search itself, on a real broker, is in
tests/kafka/test_ui_search.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fakes import make_app
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Select
from uitools import palette_run, settle, wait_for

from edamon.ui.screens.sagas import SagasScreen
from edamon.ui.screens.search import DEFAULT_SINCE, SearchScreen
from edamon.ui.widgets.bars import footer_keys

SnapCompare = Callable[..., bool]


def searching(
    *steps: Callable[[Pilot[Any]], Awaitable[None]],
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Open the search screen (f), then run `steps`, waiting for the service after each."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        for step in steps:
            await step(pilot)
            await settle(pilot)

    return run


async def malformed_path(pilot: Pilot[Any]) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    screen.query_one("#search-by", Select).value = "json_path"
    screen.query_one("#search-value", Input).value = "$.payload.order id=8812"
    await pilot.pause()
    await pilot.press("enter")


class TestSearchScreen:
    def test_the_form(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=searching(), terminal_size=(120, 40))

    def test_the_form_small_terminal(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(make_app(), run_before=searching(), terminal_size=(80, 24))

    def test_a_malformed_json_path_gets_the_services_message(
        self, snap_compare: SnapCompare
    ) -> None:
        run = searching(malformed_path)
        assert snap_compare(make_app(), run_before=run, terminal_size=(80, 24))


class TestOpeningTheSearch:
    async def test_the_palette_opens_it(self) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await palette_run(pilot, "search kafka", "search Kafka")
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))

    async def test_f_opens_it_from_the_overview_and_the_chains_only(self) -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("f")
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
            search = app.screen
            await pilot.press("escape", "escape")  # out of the field, then back
            await wait_for(pilot, lambda: not isinstance(app.screen, SearchScreen))
            await pilot.press("2", "f")
            await wait_for(pilot, lambda: app.screen is search)  # the same screen, kept
            await pilot.press("escape", "escape", "3")
            await settle(pilot)
            dead_letters = app.screen
            await pilot.press("f")
            await settle(pilot)
            assert app.screen is dead_letters


class TestKeysInTheForm:
    async def test_esc_leaves_a_field_and_the_footer_says_so(self) -> None:
        """In a field, 1-6 are text; Esc leaves the field (the footer says "esc Leave
        field"), then they switch screens again."""
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("f")
            await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
            screen = app.screen
            since = screen.query_one("#search-since", Input)
            since.focus()
            await pilot.press("end", "4")
            assert app.screen is screen and since.value == DEFAULT_SINCE + "4"
            assert footer_escape(screen) == "Leave field"
            await pilot.press("escape")
            assert app.screen is screen and screen.focused is None
            assert footer_escape(screen) == "Back"
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, SagasScreen))
            assert since.value == DEFAULT_SINCE + "4"  # nothing more typed


def footer_escape(screen: Screen[Any]) -> str:
    """What the footer says Esc does."""
    (key,) = [key for key in footer_keys(screen) if key.key == "escape"]
    return key.description
