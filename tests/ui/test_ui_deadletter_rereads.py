"""A dead letter whose body the collector let go (retention.dead_letter_memory_mb): the detail
pane says it is reading, then shows the whole dead letter read again from Kafka."""

from __future__ import annotations

import asyncio
import dataclasses

from fakes import FakeView, make_app, make_snapshot
from uitools import text_of, wait_for

from builders import event_value, spring_dlt_headers
from edamon.collector.deadletters import dead_letter_row
from edamon.config import Settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.deadletter import DeadLetter, drop_dead_letter_body
from edamon.model.records import RawRecord
from edamon.ui.rereads import DEAD_READING
from edamon.ui.screens.deadletters import DeadLettersScreen

SIZE = (120, 40)
TRACE = "java.lang.IllegalStateException: out of stock\n\tat shop.Stock.reserve(Stock.java:42)"


class DroppedView(FakeView):
    """One dead letter, held without its body; reading it again waits for `gate`."""

    def __init__(self) -> None:
        headers = [
            (k, TRACE.encode() if k == "kafka_dlt-exception-stacktrace" else v)
            for k, v in spring_dlt_headers("orders", 0, 7)
        ]
        value = event_value("e7", "OrderPlaced", "c7")
        record = RawRecord("orders.DLT", 0, 7, 1_795_000_000_000, b"k", value, tuple(headers))
        decoder = DeadLetterDecoder(EnvelopeDecoder(Settings().envelope))
        self.held, self.whole = decoder.decode(record), decoder.decode(record)
        drop_dead_letter_body(self.held)
        rows = (dead_letter_row(self.held),)
        super().__init__(dataclasses.replace(make_snapshot(), dead_letters=rows))
        self.gate = asyncio.Event()
        self.asked: list[str] = []

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return self.held if coords == self.held.coords else None

    async def read_dead_letter(self, coords: str) -> DeadLetter | None:
        self.asked.append(coords)
        await self.gate.wait()
        return self.whole


async def test_the_detail_reads_a_dropped_dead_letter_again() -> None:
    view = DroppedView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        detail = screen.query_one("#dl-detail")

        def shown() -> str:
            return text_of(detail, width=200)

        await wait_for(pilot, lambda: DEAD_READING in shown())
        assert "out of stock" not in shown() and view.asked == [view.held.coords]
        view.gate.set()
        await wait_for(pilot, lambda: "Stock.java:42" in shown())
        assert DEAD_READING not in shown() and '"eventId": "e7"' in shown()
        assert view.asked == [view.held.coords]  # read once
