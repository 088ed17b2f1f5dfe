"""The chain screen shows a record the collector had dropped from memory: the service reads it
again from Kafka for the event's request, and the screen keeps the answer."""

from __future__ import annotations

import asyncio

from fakes import MAIN_CHAIN, FakeView, make_app
from textual.pilot import Pilot
from textual.widgets import Static
from uitools import text_of, wait_for

from edamon.broker.base import BrokerUnavailable
from edamon.model.records import RawRecord
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen

SIZE = (120, 40)


async def open_event(app: EdamonApp, pilot: Pilot[None], event_id: str) -> ChainScreen:
    """Open the main chain on `event_id`; the chain screen once it has drawn."""
    app.open_chain(MAIN_CHAIN, event_id)
    await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
    screen = app.screen
    assert isinstance(screen, ChainScreen)
    return screen


def detail(screen: ChainScreen) -> str:
    return text_of(screen.query_one("#detail", Static))


async def reselect(pilot: Pilot[None], screen: ChainScreen, event_id: str) -> None:
    """Move the selection away from `event_id` and back."""
    await pilot.press("down")
    await wait_for(pilot, lambda: screen.selected != event_id)
    await pilot.press("up")
    await wait_for(pilot, lambda: screen.selected == event_id)


async def test_dropped_record_is_read_again_and_shown() -> None:
    view = FakeView()
    view.dropped = {"e-stock"}
    release = asyncio.Event()

    async def gate() -> None:
        await release.wait()

    view.read_gate = gate
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_event(app, pilot, "e-stock")
        await wait_for(pilot, lambda: len(view.records_read) == 1)
        shown = detail(screen)
        assert "Loading the event" in shown and "read again from Kafka" in shown
        assert "StockReserved" in shown  # the node's type, while it loads
        assert '"currency"' not in shown

        release.set()
        await wait_for(pilot, lambda: '"currency": "EUR"' in detail(screen))
        shown = detail(screen)
        assert "schema-id" in shown and "0x 00 00 00 07" in shown  # headers came back too
        assert "Loading the event" not in shown
        node = next(n for n in view.main.nodes if n.event_id == "e-stock")
        assert view.records_read == [node.coords]

        await reselect(pilot, screen, "e-stock")  # read once, then kept by the screen
        await pilot.pause()
        assert '"currency": "EUR"' in detail(screen)
        assert len(view.records_read) == 1


async def test_a_failed_read_says_why_and_is_tried_again_on_reselect() -> None:
    class Down(FakeView):
        fail = True

        async def read_record(self, coords: str) -> RawRecord | None:
            self.records_read.append(coords)
            if self.fail:
                raise BrokerUnavailable("broker 127.0.0.1:9 unreachable")
            return await super().read_record(coords)

    view = Down()
    view.dropped = {"e-stock"}
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_event(app, pilot, "e-stock")
        await wait_for(pilot, lambda: "Could not load the event" in detail(screen))
        assert "unreachable" in detail(screen)

        view.fail = False
        reads = len(view.records_read)
        await reselect(pilot, screen, "e-stock")
        await wait_for(pilot, lambda: '"currency": "EUR"' in detail(screen))
        assert len(view.records_read) > reads  # asked again, this time with an answer


async def test_a_record_gone_from_kafka_is_said_so() -> None:
    class Gone(FakeView):
        async def read_record(self, coords: str) -> RawRecord | None:
            self.records_read.append(coords)
            return None

    view = Gone()
    view.dropped = {"e-root"}
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_event(app, pilot, "e-root")
        await wait_for(pilot, lambda: "no longer in Kafka" in detail(screen))
        assert view.records_read == [
            next(n.coords for n in view.main.nodes if n.event_id == "e-root")
        ]
