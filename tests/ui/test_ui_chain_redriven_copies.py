"""The chain screen's panes for a retried dead letter and its redriven copy: when, which
attempt, where, and the copy itself (also when it cannot be read)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fake_chain import envelope_for
from fakes import MAIN_CHAIN, NOW, FakeView, make_app
from textual.pilot import Pilot
from textual.widgets import Static
from uitools import text_of, wait_for

from edamon.actions.headers import RETRY_AT, RETRY_ATTEMPT, RETRY_OF, iso_utc
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.status import NodeStatus
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.widgets.snapshot_table import SnapshotTable

SIZE = (120, 40)


# --- the chain screen: a retried dead letter and its redriven copy ----------------------------

RETRIED_DLQ = "shipping.ShipmentScheduled.DLT/0/15"
"""The fake snapshot's dead letter that the ledger says was sent again (by alice, 20s ago)."""
COPY_COORDS = "shipping.ShipmentScheduled/0/900"
COPY_TIME = NOW - 18.0
RETRY_TIME = NOW - 20.0


class RedriveView(FakeView):
    """The main chain with a failed handler (a `dlq:` node, no event of its own) and the
    redriven copy of its dead letter under it; the copy's record is read by coordinates."""

    def __init__(self) -> None:
        super().__init__()
        ship = next(n for n in self.main.nodes if n.event_id == "e-ship")
        failed = dataclasses.replace(
            ship,
            event_id="dlq:" + RETRIED_DLQ,
            parent_id="e-ship",
            depth=ship.depth + 1,
            coords=RETRIED_DLQ,
            dead_letter=RETRIED_DLQ,
        )
        copy = dataclasses.replace(
            ship,
            event_id="retry:" + COPY_COORDS,
            parent_id=failed.event_id,
            depth=ship.depth + 2,
            status=NodeStatus.RETRIED,
            time=COPY_TIME,
            offset_s=COPY_TIME - self.main.summary.start,
            hop_s=COPY_TIME - failed.time,
            coords=COPY_COORDS,
            dead_letter=None,
            detail="redrive of " + RETRIED_DLQ,
        )
        nodes = list(self.main.nodes)
        at = nodes.index(ship) + 1
        nodes[at:at] = [failed, copy]
        self.main = dataclasses.replace(self.main, nodes=tuple(nodes))
        self.ship = ship

    def event(self, event_id: str) -> Envelope | None:
        if event_id.startswith(("dlq:", "retry:")):  # as the collector: no event of its own
            return None
        return super().event(event_id)

    async def read_record(self, coords: str) -> RawRecord | None:
        self.records_read.append(coords)
        if coords != COPY_COORDS:
            return None  # not in Kafka (any more)
        record = envelope_for(self.ship, MAIN_CHAIN).record
        return dataclasses.replace(
            record,
            topic="shipping.ShipmentScheduled",
            offset=900,
            timestamp_ms=round(COPY_TIME * 1000),
            headers=(
                *record.headers,
                (RETRY_OF, RETRIED_DLQ.encode()),
                (RETRY_AT, iso_utc(RETRY_TIME).encode()),
                (RETRY_ATTEMPT, b"2"),
            ),
        )


async def _chain_screen(pilot: Pilot[Any], selected: str) -> ChainScreen:
    """The chain screen just opened, once drawn with `selected` selected."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
    screen = app.screen
    assert isinstance(screen, ChainScreen)
    await wait_for(pilot, lambda: screen.selected == selected and screen.chain is not None)
    await pilot.pause()
    return screen


def _detail(screen: ChainScreen) -> str:
    return text_of(screen.query_one("#detail", Static))


def _field(detail: str, name: str) -> str:
    """The value of field `name` in a rendered detail pane (its first line)."""
    line = next(line for line in detail.splitlines() if line.startswith(name + "  "))
    return line[len(name) :].strip()


async def test_a_retried_dead_letter_in_a_chain_shows_the_ledger_as_the_dead_letters_do() -> None:
    view = RedriveView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        dead_letters = app.screen
        assert isinstance(dead_letters, DeadLettersScreen)
        assert dead_letters.query_one(SnapshotTable).select_key(RETRIED_DLQ)
        await pilot.pause()
        on_screen_3 = _field(text_of(dead_letters.query_one("#dl-detail", Static)), "retried")
        assert on_screen_3 == "sent 20s ago by alice"

        app.open_chain(MAIN_CHAIN, "dlq:" + RETRIED_DLQ)
        screen = await _chain_screen(pilot, "dlq:" + RETRIED_DLQ)
        scroll = screen.query_one("#detail-scroll")
        await wait_for(pilot, lambda: "Dead letter" in str(scroll.border_title))
        detail = _detail(screen)
        assert _field(detail, "retried") == on_screen_3


async def test_a_redriven_copy_shows_when_which_attempt_where_and_the_copy_itself() -> None:
    view = RedriveView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        app.open_chain(MAIN_CHAIN, "retry:" + COPY_COORDS)
        screen = await _chain_screen(pilot, "retry:" + COPY_COORDS)
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: "edamon-retry-attempt" in _detail(screen))
        assert view.records_read == [COPY_COORDS]  # the copy, read by its coordinates
        detail = _detail(screen)
        assert detail.startswith("↻ redriven copy of ShipmentScheduled")
        assert _field(detail, "sent") == "18s ago"  # the copy's own timestamp
        assert _field(detail, "attempt") == "2"
        assert _field(detail, "sent to") == COPY_COORDS
        assert _field(detail, "redrive of") == RETRIED_DLQ
        assert _field(detail, "retried") == "sent 20s ago by alice"  # the ledger: by whom
        assert _field(detail, "original") == "shipping.ShipmentScheduled/0/880"
        assert "TimeoutException" in _field(detail, "failure")
        assert '"orderId": "order-42"' in detail  # the copy's payload
        title = str(screen.query_one("#detail-scroll").border_title)
        assert "Redriven copy" in title and COPY_COORDS in title


async def test_a_redriven_copy_that_cannot_be_read_still_shows_what_is_known() -> None:
    view = RedriveView()
    view.main = dataclasses.replace(
        view.main,
        nodes=tuple(
            dataclasses.replace(n, coords="shipping.ShipmentScheduled/0/901")
            if n.event_id.startswith("retry:")
            else n
            for n in view.main.nodes
        ),
    )
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        app.open_chain(MAIN_CHAIN, "retry:" + COPY_COORDS)
        screen = await _chain_screen(pilot, "retry:" + COPY_COORDS)
        await wait_for(pilot, lambda: "no longer in Kafka" in _detail(screen))
        detail = _detail(screen)
        assert _field(detail, "attempt") == "–"  # only the copy's headers say
        assert _field(detail, "redrive of") == RETRIED_DLQ
        assert _field(detail, "retried") == "sent 20s ago by alice"
