"""The dead-letters list under a filter: the title says how many match."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import FakeView, make_app
from uitools import settle

from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.source import OVERVIEW_ROWS, PAGE_ROWS
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

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
        table = screen.query_one(SnapshotTable)
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
        table = app.screen.query_one(SnapshotTable)
        labels = [plain(column.label).strip() for column in table.shown_columns]
        assert all(label in labels for label in shown) and not set(left_out) & set(labels)
        exceptions = [plain(table.get_cell(key, "exception")) for key in table.keys]
        assert "AddressInvalidException" in exceptions  # not cut


async def test_the_cursor_stays_on_its_dead_letter_however_many_newer_arrive() -> None:
    """The record the operator reads (and may retry) stays under the cursor, also on the first
    row, while newer dead letters arrive above it; the title counts the newer ones out of
    view, until Home shows them."""
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
        table = app.screen.query_one(SnapshotTable)
        read = table.cursor_key
        arrive(60, 0)
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_key == read and table.cursor_row == 60
        top = round(table.scroll_y)
        assert 0 < top < 60  # the cursor's record in view, the newest rows above it
        assert f"↑ {top} newer (home)" in plain(table.border_title or "")
        arrive(150, 100)
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_key == read and table.cursor_row == 210
        assert f"↑ {round(table.scroll_y)} newer (home)" in plain(table.border_title or "")
        await pilot.press("home")
        assert table.cursor_row == 0 and table.cursor_key == "storm.DLT/0/249"
        assert "newer" not in plain(table.border_title or "")
        await app.refresh_now()
        await pilot.pause()
        assert "newer" not in plain(table.border_title or "")


async def test_rows_in_view_are_not_counted_as_newer() -> None:
    """Newer dead letters that arrive in view, and rows the operator moved the cursor past,
    are on screen: the title does not point up at them."""
    view = FakeView()
    rows = view.snap.dead_letters
    word = "TimeoutException"
    matching = [r for r in rows if word in (r.exception_class or "")]
    assert len(matching) >= 2
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        table = app.screen.query_one(SnapshotTable)
        await pilot.press("slash", *word, "enter")
        await app.refresh_now()
        await pilot.pause()
        await pilot.press("down")
        await app.refresh_now()
        assert table.cursor_row == 1 and "newer" not in plain(table.border_title or "")
        newer = dataclasses.replace(matching[0], coords="storm.DLT/0/1", time=rows[0].time + 1)
        view.snap = dataclasses.replace(view.snap, dead_letters=(newer, *rows))
        await app.refresh_now()
        await pilot.pause()
        assert table.cursor_row == 2 and round(table.scroll_y) == 0
        assert "newer" not in plain(table.border_title or "")


async def test_more_dead_letters_than_the_overview_carries_are_read_by_pages() -> None:
    """Only the pages in view are asked of the service and held; End reaches the last one,
    and a filter is the service's query."""
    view = FakeView()
    template = view.snap.dead_letters[0]
    many = tuple(
        dataclasses.replace(template, coords=f"shipping.DLT/0/{5000 - i}", time=template.time - i)
        for i in range(OVERVIEW_ROWS + 1000)
    )
    view.snap = dataclasses.replace(view.snap, dead_letters=many)
    app = make_app(view)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        await app.refresh_now()  # the screen asks for the pages in view
        await settle(pilot)
        assert table.row_count == len(many)
        assert table.keys == [row.coords for row in many[:PAGE_ROWS]]  # one page held
        assert f"({len(many):,})" in plain(table.border_title or "")
        await pilot.press("end")
        await settle(pilot)  # its page comes in the background
        assert table.cursor_key == many[-1].coords
        assert len(table.keys) <= 3 * PAGE_ROWS  # the first page, the last, no more
        await pilot.press("slash", *"dlt/0/4321", "enter")
        await app.refresh_now()
        await settle(pilot)
        assert table.keys == ["shipping.DLT/0/4321"]
        assert f"(1 match · {len(many):,})" in plain(table.border_title or "")


async def test_marks_on_pages_no_longer_held_are_still_retry_targets() -> None:
    view = FakeView()
    template = view.snap.dead_letters[0]
    many = tuple(
        dataclasses.replace(template, coords=f"shipping.DLT/0/{5000 - i}", time=template.time - i)
        for i in range(OVERVIEW_ROWS + 1000)
    )
    view.snap = dataclasses.replace(view.snap, dead_letters=many)
    app = make_app(view)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_now()
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        await app.refresh_now()
        await settle(pilot)
        await pilot.press("space", "end")
        await settle(pilot)
        await pilot.press("space", "home")
        for _ in range(2):  # the pages asked for since the last tick, then those in view
            await app.refresh_now()
            await settle(pilot)
        last = many[-1].coords
        assert last not in table.keys  # not held any more, still marked
        assert screen.targets() == [many[0].coords, last]
        assert "2 marked" in plain(table.border_title or "")
