"""The chains screen: its issues column, saga columns only with sagas, counts under a filter."""

from __future__ import annotations

import dataclasses

from fakes import MAIN_CHAIN, NOW, FakeView, make_app
from uitools import wait_for

from edamon.model.snapshot import SagaInstance
from edamon.model.status import SagaState
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SIZE = (120, 40)


async def test_a_flow_without_problems_shows_no_green_ok_next_to_its_saga_state() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        table = app.screen.query_one(SnapshotTable)
        issues = {key: plain(table.get_cell(key, "issues")) for key in table.keys}
        clean = [c for c in view.snap.chains if not (c.dead_letters or c.orphans or c.has_loop)]
        assert clean and all(issues[c.correlation_id] == "–" for c in clean)
        assert "ok" not in issues.values()
        troubled = next(c for c in view.snap.chains if c.dead_letters)
        assert issues[troubled.correlation_id].startswith(f"{troubled.dead_letters} DLQ")
        shown = [str(c.label) for c in table.shown_columns]
        assert "saga" in shown and "saga state" in shown  # the fake flows have sagas


async def test_without_sagas_the_saga_columns_are_left_out() -> None:
    view = FakeView()
    chains = tuple(dataclasses.replace(c, saga=None, saga_state=None) for c in view.snap.chains)
    view.snap = dataclasses.replace(view.snap, chains=chains)
    app = make_app(view)  # default settings: no saga definitions
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        table = app.screen.query_one(SnapshotTable)
        shown = [str(c.label) for c in table.shown_columns]
        assert "saga" not in shown and "saga state" not in shown
        assert "issues" in shown and "updated" in shown


async def test_a_filtered_list_says_how_many_flows_match() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        table = app.screen.query_one(SnapshotTable)
        retained = f"{view.snap.totals.chains:,} retained"
        assert retained in plain(table.border_title or "")
        troubled = next(c for c in view.snap.chains if c.dead_letters)
        await pilot.press("slash", *troubled.correlation_id[:12], "enter")
        await app.refresh_now()
        await pilot.pause()
        assert table.keys == [troubled.correlation_id]
        assert f"1 match · {retained}" in plain(table.border_title or "")


async def test_a_stuck_sagas_chain_says_where_it_stopped_and_for_how_long() -> None:

    view = FakeView()
    stuck = SagaInstance(
        MAIN_CHAIN, "order-fulfilment", SagaState.STUCK, 2, "payment", NOW - 200, NOW - 120, 80.0
    )
    view.snap = dataclasses.replace(view.snap, saga_instances=(stuck, *view.snap.saga_instances))
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        app.open_chain(MAIN_CHAIN)
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        head = str(app.screen.query_one("#chain-head").render())
        assert "at step 2: payment, no progress for 2m" in head


async def test_o_orders_the_flows_by_duration_then_events_then_last_update() -> None:
    view = FakeView()
    app = make_app(view)
    chains = view.snap.chains
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        table = app.screen.query_one(SnapshotTable)
        assert table.keys == [c.correlation_id for c in chains]
        await pilot.press("o")
        longest = sorted(chains, key=lambda c: -c.duration_s)
        assert table.keys == [c.correlation_id for c in longest]
        assert "by duration (o)" in str(table.border_title)
        await pilot.press("o")
        biggest = sorted(chains, key=lambda c: -c.events)
        assert table.keys == [c.correlation_id for c in biggest]
        await pilot.press("o")
        assert table.keys == [c.correlation_id for c in chains]
        assert "by last update (o)" in str(table.border_title)
