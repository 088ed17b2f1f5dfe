"""The sagas screen without saga definitions: says how to define one instead of two empty
tables."""

from __future__ import annotations

import dataclasses

from fakes import FakeView, make_app
from uitools import text_of

from edamon.ui.screens.sagas import SagasScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable

SIZE = (120, 40)


async def test_no_definitions_shows_how_to_define_a_saga() -> None:
    view = FakeView()
    view.snap = dataclasses.replace(view.snap, sagas=(), saga_instances=())
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SagasScreen)
        hint = screen.query_one("#saga-empty")
        assert hint.display and all(not t.display for t in screen.query(SnapshotTable))
        text = text_of(hint, width=110)
        assert "No sagas are defined." in text and "[[sagas.definitions]]" in text
        assert "config/demo.toml" in text


async def test_with_definitions_the_tables_are_shown() -> None:
    app = make_app(FakeView())
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        screen = app.screen
        assert not screen.query_one("#saga-empty").display
        assert all(t.display for t in screen.query(SnapshotTable))
