"""The sagas screen's state filter covers every instance the collector follows, not only the
newest ones the overview carries (nor the newest the service lists); when the list shown is
cut to the newest, the title says so."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from fakes import NOW, FakeView, make_app, service_client, settings
from rich.text import Text
from textual.pilot import Pilot
from uitools import settle

from edamon.client import BadRequest
from edamon.model.snapshot import SagaInstance, SagaSummary
from edamon.model.status import SagaState
from edamon.ui.screens.sagas import STATES, SagasScreen
from edamon.ui.source import OVERVIEW_ROWS
from edamon.ui.widgets.snapshot_table import SnapshotTable

SnapCompare = Callable[..., bool]
SIZE = (120, 40)
LISTED = OVERVIEW_ROWS + 500
"""Instances the service's snapshot lists (the newest it follows)."""
STUCK_NEWEST = 2
"""Stuck instances among the newest OVERVIEW_ROWS (what the overview carries)."""
STUCK_OLDER = 40
NOT_LISTED = 9
"""Stuck instances the collector follows that are older than the snapshot's newest."""
STUCK_KEYS = STATES.index(SagaState.STUCK) + 1
"""Presses of `s` from all states to STUCK."""


def title_of(table: SnapshotTable) -> str:
    return Text.from_markup(str(table.border_title)).plain


def instance(i: int, state: SagaState) -> SagaInstance:
    return SagaInstance(
        correlation_id=f"saga-{i:04d}",
        saga="order-fulfilment",
        state=state,
        step=2,
        step_name="payment",
        started=NOW - 10 * i - 5,
        updated=NOW - 10 * i,
        duration_s=5.0,
    )


def many_instances(view: FakeView) -> list[str]:
    """LISTED + NOT_LISTED instances followed, latest first, the newest LISTED of them in the
    snapshot; the stuck ones' ids (most of them older than the first OVERVIEW_ROWS)."""
    stuck_at = {*range(0, OVERVIEW_ROWS, OVERVIEW_ROWS // STUCK_NEWEST)}
    stuck_at |= {OVERVIEW_ROWS + 10 * k for k in range(STUCK_OLDER)}
    stuck_at |= {LISTED + k for k in range(NOT_LISTED)}
    rows = tuple(
        instance(i, SagaState.STUCK if i in stuck_at else SagaState.COMPLETED)
        for i in range(LISTED + NOT_LISTED)
    )
    counts = {state: 0 for state in SagaState}
    for row in rows:
        counts[row.state] += 1
    summary = SagaSummary(
        saga="order-fulfilment",
        counts=tuple((state, counts[state]) for state in SagaState),
        p50_s=5.0,
        p95_s=5.0,
    )
    view.snap = dataclasses.replace(view.snap, sagas=(summary,), saga_instances=rows[:LISTED])
    view.sagas_followed = rows
    return [row.correlation_id for row in rows if row.state is SagaState.STUCK]


async def test_the_state_filter_finds_every_instance_in_that_state() -> None:
    view = FakeView()
    stuck = many_instances(view)
    assert len(stuck) == STUCK_NEWEST + STUCK_OLDER + NOT_LISTED
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SagasScreen)
        table = screen.query_one("#instances", SnapshotTable)
        await pilot.press(*"s" * STUCK_KEYS)
        assert screen.state_filter is SagaState.STUCK
        await app.refresh_now()
        await settle(pilot)
        assert table.row_count == len(stuck)
        await pilot.press("end")
        await settle(pilot)
        assert table.cursor_key == stuck[-1]
        assert f"Instances ({len(stuck)})  state STUCK" in title_of(table)


async def test_a_list_cut_to_the_newest_says_so() -> None:
    view = FakeView()
    many_instances(view)
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        await app.refresh_now()
        await settle(pilot)
        table = app.screen.query_one("#instances", SnapshotTable)
        assert table.row_count == LISTED
        total = LISTED + NOT_LISTED
        assert f"Instances ({LISTED} of {total}: newest {LISTED} only)" in title_of(table)


async def test_all_instances_listed_the_title_gives_the_count_alone() -> None:
    view = FakeView()
    rows = view.snap.saga_instances
    stuck = [row for row in rows if row.state is SagaState.STUCK]
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await app.refresh_now()
        await pilot.press("4")
        table = app.screen.query_one("#instances", SnapshotTable)
        assert f"Instances ({len(rows)})" in title_of(table)
        await pilot.press(*"s" * STUCK_KEYS)
        await app.refresh_now()
        title = title_of(table)
        assert f"Instances ({len(stuck)})  state STUCK" in title and "of" not in title


async def test_the_service_selects_instances_by_state_and_saga_exactly() -> None:
    view = FakeView()
    stuck = many_instances(view)
    async with service_client(view, settings()) as client:
        page = await client.sagas(limit=1000, state="STUCK")
        assert [i.correlation_id for i in page.items] == stuck and page.total == len(stuck)
        page = await client.sagas(limit=5, state="STUCK", saga="order-fulfilment", offset=48)
        assert [i.correlation_id for i in page.items] == stuck[48:]
        assert (await client.sagas(saga="order")).total == 0  # a name, not a part of one
        # unselected, the newest the snapshot lists; a text filter is a substring of any
        # field (a saga named "stuck-x" would match too)
        assert (await client.sagas(limit=1)).total == LISTED
        assert (await client.sagas(filter="stuck")).total == STUCK_NEWEST + STUCK_OLDER
        with pytest.raises(BadRequest, match="state"):
            await client.sagas(state="STALLED")


def test_the_title_of_a_list_cut_to_the_newest(snap_compare: SnapCompare) -> None:
    view = FakeView()
    many_instances(view)
    app = make_app(view)

    async def run(pilot: Pilot[Any]) -> None:
        await app.refresh_now()
        await pilot.press("4")
        await app.refresh_now()
        await settle(pilot)

    assert snap_compare(app, run_before=run, terminal_size=(80, 24))
