"""SVG snapshots of every screen, from fixed data and a fixed clock (no timers run).

Regenerate with `pytest --snapshot-update tests/ui` (one Python version) and review the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fakes import make_app
from textual.pilot import Pilot
from uitools import settle

SnapCompare = Callable[..., bool]
WIDE = (120, 40)


async def _settle(pilot: Pilot[Any]) -> None:
    await settle(pilot)


def pressing(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Press `keys`, then wait for what they asked of the service (a chain, an event)."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


def test_overview(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=_settle)


def test_overview_small_terminal(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_settle)


def test_chains(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), run_before=pressing("2"), terminal_size=WIDE)


def test_one_chain(snap_compare: SnapCompare) -> None:
    # Enter opens the first (most recent) flow: the one with a dead letter and an orphan.
    assert snap_compare(make_app(), run_before=pressing("2", "enter"), terminal_size=WIDE)


def test_one_chain_event_selected(snap_compare: SnapCompare) -> None:
    presses = ["2", "enter", "down", "down", "down", "down"]
    assert snap_compare(make_app(), run_before=pressing(*presses), terminal_size=WIDE)


def test_dead_letters(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), run_before=pressing("3", "space"), terminal_size=WIDE)


def test_sagas(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), run_before=pressing("4"), terminal_size=WIDE)


def test_lag(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), run_before=pressing("5", "down"), terminal_size=WIDE)


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(make_app(), run_before=pressing("3", "question_mark"), terminal_size=WIDE)
