"""The dead-letters list under a filter: the title says how many match."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import FakeView, make_app

from edamon.ui.screens.deadletters import PIN_ROWS, DeadLettersScreen
from edamon.ui.source import OVERVIEW_ROWS
from edamon.ui.widgets.table import LiveTable, plain

SIZE = (120, 40)


async def test_a_filtered_list_says_how_many_dead_letters_match() -> None:
    view = FakeView()
    rows = view.snap.dead_letters
    word = "TimeoutException"
    matching = [r.coords for r in rows if word in (r.exception_class or "")]
    assert 0 < len(matching) < len(rows)
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(LiveTable)
        assert f"({len(rows):,})" in plain(table.border_title or "")
        await pilot.press("slash", *word, "enter")
        await app.refresh_now()
        await pilot.pause()
        assert table.all_keys == matching
        title = plain(table.border_title or "")
        assert f"({len(matching):,} match · {len(rows):,})" in title


@pytest.mark.parametrize(
    ("size", "shown", "left_out"),
    [
        ((80, 24), ["time", "original topic", "exception", "retried"], ["group", "message"]),
        ((120, 40), ["original topic", "group", "exception", "tries"], ["DLQ topic", "message"]),
        ((200, 50), ["DLQ topic", "original topic", "group", "exception", "message"], []),
    ],
)
async def test_the_exception_is_shown_whole_at_every_size(
    size: tuple[int, int], shown: list[str], left_out: list[str]
) -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=size) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        table = app.screen.query_one(LiveTable)
        labels = [plain(column.label).strip() for column in table.columns.values()]
        assert all(label in labels for label in shown) and not set(left_out) & set(labels)
        exceptions = [plain(table.get_cell(key, "exception")) for key in table.keys]
        assert "AddressInvalidException" in exceptions  # not cut


async def test_a_storm_of_newer_dead_letters_sends_the_cursor_back_to_the_newest() -> None:
    """The cursor stays on its record while newer ones arrive above, up to PIN_ROWS of them
    since it last moved (each row above it is held and redrawn); then back to the newest."""
    view = FakeView()
    first = view.snap.dead_letters[0]

    def arrive(count: int, start: int) -> None:
        newer = tuple(
            dataclasses.replace(first, coords=f"storm.DLT/0/{start + i}", time=first.time + i)
            for i in range(count)
        )
        view.snap = dataclasses.replace(
            view.snap, dead_letters=(*reversed(newer), *view.snap.dead_letters)
        )

    app = make_app(view)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        table = app.screen.query_one(LiveTable)
        read = table.cursor_key
        arrive(60, 0)
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_key == read and table.cursor_row == 60  # pinned
        arrive(PIN_ROWS - 60 + 1, 100)  # pushed by PIN_ROWS + 1 in all
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_row == 0 and table.cursor_key == table.keys[0]
        await pilot.press("down")  # the operator moves: pinned again, the count starts over
        moved_to = table.cursor_key
        arrive(PIN_ROWS - 1, 1000)
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_key == moved_to and table.cursor_row == PIN_ROWS


async def test_more_dead_letters_than_the_overview_carries_come_as_a_page() -> None:
    view = FakeView()
    template = view.snap.dead_letters[0]
    many = tuple(
        dataclasses.replace(template, coords=f"shipping.DLT/0/{5000 - i}", time=template.time - i)
        for i in range(OVERVIEW_ROWS + 100)
    )
    view.snap = dataclasses.replace(view.snap, dead_letters=many)
    app = make_app(view)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(LiveTable)
        assert len(table.all_keys) == OVERVIEW_ROWS  # the overview's rows, at once
        await app.refresh_now()  # the screen asks for its page
        await pilot.pause()
        assert len(table.all_keys) == len(many)
        assert table.all_keys[-1] == many[-1].coords
