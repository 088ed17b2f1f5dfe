"""DLQ retry from the dashboard (Pilot): the modal, cancel, confirm, force, read-only, failures.

The dead letters are real records on an in-memory broker (the service's retry job re-reads them
there and sends to it); the dashboard sees them through the real service and client, over the
fake collector state, or over a real Collector on the same broker where the ledger and the
chain matter.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import uitools
from fakes import VIEWER, FakeView, make_app, make_snapshot
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Static

from builders import event_value, spring_dlt_headers
from edamon.actions.ledger import Ledger, RetryResult
from edamon.actions.plan import Outcome
from edamon.actions.scan import read_dead_letters
from edamon.actions.service import ReadOnlyError, RetryService
from edamon.broker.memory import MemoryBroker
from edamon.collector.collector import Collector
from edamon.collector.deadletters import dead_letter_row
from edamon.config import Settings
from edamon.model.api import RetryItemDoc, RetryJobDoc, RetryPlanDoc
from edamon.model.deadletter import DeadLetter
from edamon.model.records import TP, RawRecord
from edamon.model.snapshot import DeadLetterRow
from edamon.model.status import NodeStatus
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.deadletters import READ_ONLY, DeadLettersScreen
from edamon.ui.screens.deadletters import VIEWER as VIEWER_ONLY
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.retry import RetryModal, RetryProgress, outcome_cell, summary_messages
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SIZE = (120, 40)
TARGET = "orders.OrderPlaced"
DLQ = "orders.OrderPlaced.DLT"
ORPHAN_DLQ = "misc.DLT"
LEDGER = "edamon.retries"
TRACEPARENT = ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


# --- helpers --------------------------------------------------------------------------------


def text_of(widget: Static) -> str:
    return uitools.text_of(widget, width=200)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    await uitools.wait_for(pilot, condition, timeout)


record_notifications = uitools.record_notifications


def make_settings(**overrides: Any) -> Settings:
    return Settings.model_validate(overrides)


async def read_all(broker: MemoryBroker, topic: str) -> list[RawRecord]:
    from edamon.actions.scan import read_to_end

    if topic not in {t.name for t in await broker.list_topics()}:
        return []
    return await read_to_end(broker, [TP(topic, 0)], timeout_s=5)


def row_of(dl: DeadLetter) -> DeadLetterRow:
    return dead_letter_row(dl)


class BrokerView(FakeView):
    """The fake view, with the dead letters of the broker (decoded as the collector does)."""

    def __init__(self, dead: list[DeadLetter]) -> None:
        rows = tuple(row_of(dl) for dl in dead)
        super().__init__(dataclasses.replace(make_snapshot(), dead_letters=rows))
        self.dead = {dl.coords: dl for dl in dead}

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return self.dead.get(coords)


async def dlq_broker(count: int = 2, *, orphan: bool = False, untraced: int = 0) -> MemoryBroker:
    """A broker with `count` Spring dead letters of TARGET on DLQ, the last `untraced` of them
    without a traceparent (and one with no original topic on ORPHAN_DLQ)."""
    broker = MemoryBroker()
    await broker.create_topic(TARGET)
    await broker.create_topic(DLQ)
    for i in range(count):
        value = event_value(f"e-{i}", "OrderPlaced", f"c-{i}", aggregate_id=f"order-{i}")
        trace = [TRACEPARENT] if i < count - untraced else []
        headers = [
            ("event-type", b"OrderPlaced"),
            *trace,
            *spring_dlt_headers(TARGET, 0, 40 + i),
        ]
        await broker.produce(DLQ, f"order-{i}".encode(), value, headers)
    if orphan:
        await broker.create_topic(ORPHAN_DLQ)
        await broker.produce(ORPHAN_DLQ, b"x", b'{"eventId": "e-x"}', [("x-error", b"boom")])
    return broker


async def setup(
    count: int = 2, *, orphan: bool = False, untraced: int = 0, **settings: Any
) -> tuple[MemoryBroker, EdamonApp, list[tuple[str, str]]]:
    broker, app, _ = await setup_with_view(count, orphan=orphan, untraced=untraced, **settings)
    return broker, app, record_notifications(app)


async def setup_with_view(
    count: int = 2, *, orphan: bool = False, untraced: int = 0, **settings: Any
) -> tuple[MemoryBroker, EdamonApp, BrokerView]:
    """As `setup`, with the fake collector state the app's service serves."""
    broker = await dlq_broker(count, orphan=orphan, untraced=untraced)
    config = make_settings(**settings)
    topics = [DLQ, ORPHAN_DLQ] if orphan else [DLQ]
    view = BrokerView(await read_dead_letters(broker, config, topics))
    app = make_app(view, config, broker=broker)
    return broker, app, view


async def open_modal(pilot: Pilot[Any], marks: int) -> tuple[DeadLettersScreen, RetryModal]:
    """Go to the dead letters, mark the first `marks` rows with space, press r."""
    app = pilot.app
    await pilot.press("3")
    screen = app.screen
    assert isinstance(screen, DeadLettersScreen)
    await pilot.press(*(["space"] * marks), "r")
    await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
    modal = app.screen
    assert isinstance(modal, RetryModal)
    return screen, modal


def retried_cells(screen: DeadLettersScreen) -> dict[str, str]:
    table = screen.query_one(SnapshotTable)
    return {key: plain(table.get_cell(key, "retried")) for key in table.keys}


# --- tests ----------------------------------------------------------------------------------


async def test_the_modal_shows_count_targets_refusals_and_stripped_headers() -> None:
    broker, app, _ = await setup(3, orphan=True, untraced=1)
    async with app.run_test(size=SIZE) as pilot:
        screen, modal = await open_modal(pilot, 4)
        summary = text_of(modal.query_one("#retry-summary", Static))
        assert "4 dead letters selected" in summary
        assert f"Send      3  → {TARGET} (3)" in summary
        assert "Refused   1" in summary
        assert f"{ORPHAN_DLQ}/0/0" in summary and "no original topic" in summary
        assert "Stripped  DLQ headers kafka_dlt-*\n" in summary  # all lose them: no count
        assert "          other headers traceparent (2 of 3)\n" in summary  # one has none
        assert "edamon-retry-of, edamon-retry-at, edamon-retry-attempt" in summary
        for i in range(3):  # each record sent is named, with where it goes
            assert f"{DLQ}/0/{i}  → {TARGET}" in summary
        assert "Rate      at most 100/s\n" in summary  # 3 records: no time worth saying
        assert str(modal.query_one("#retry-confirm", Button).label) == "Retry 3"
        assert not modal.query("#retry-force")  # nothing was retried before
        assert app.focused is modal.query_one("#retry-cancel", Button)  # the safe default
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.retrying)
    assert await read_all(broker, TARGET) == []


async def test_the_modal_says_why_a_target_is_refused() -> None:
    """A header naming the ledger, an internal topic or a DLQ: refused, with the reason."""
    broker = await dlq_broker(1)
    for target in (LEDGER, "__consumer_offsets", "payments.DLT"):
        value = event_value(f"e-{target}", "OrderPlaced", "c-x")
        await broker.produce(DLQ, target.encode(), value, spring_dlt_headers(target, 0, 1))
    config = make_settings()
    dead = await read_dead_letters(broker, config, [DLQ])
    app = make_app(BrokerView(dead), config, broker=broker)
    async with app.run_test(size=SIZE) as pilot:
        screen, modal = await open_modal(pilot, 4)
        summary = text_of(modal.query_one("#retry-summary", Static))
        assert "Refused   3  (not sent)" in summary
        for offset, reason in (
            (1, f"target {LEDGER} is edamon's retry ledger (dlq.ledger_topic)"),
            (2, "target __consumer_offsets is an internal topic (__*): never a retry target"),
            (3, "target payments.DLT is a DLQ topic (topics.dlq); a dlq.routes entry"),
        ):
            assert f"{DLQ}/0/{offset}  {reason}" in summary
        assert str(modal.query_one("#retry-confirm", Button).label) == "Retry 1"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.retrying)
    assert await read_all(broker, LEDGER) == []


async def test_the_cursor_stays_on_the_record_read_while_newer_ones_arrive() -> None:
    """A newer dead letter arriving above the cursor's row (the first) must not move the
    cursor, the detail or what `r` retries to the newcomer."""
    broker, app, view = await setup_with_view(2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        read = table.cursor_key
        assert read is not None and table.cursor_row == 0
        first = view.snap.dead_letters[0]
        newer = dataclasses.replace(first, coords=f"{DLQ}/0/99", time=first.time + 5)
        view.snap = dataclasses.replace(view.snap, dead_letters=(newer, *view.snap.dead_letters))
        await app.refresh_now()
        await pilot.pause()
        assert table.keys[0] == newer.coords  # it is shown, above
        assert table.cursor_key == read and table.cursor_row == 1
        assert "newer" not in str(table.border_title)  # in view: the title need not point up
        detail = screen.query_one("#dl-detail-scroll")
        assert read in str(detail.border_title)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        summary = text_of(app.screen.query_one("#retry-summary", Static))
        assert "1 dead letter selected" in summary
        assert f"{read}  → {TARGET}" in summary and newer.coords not in summary
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.retrying)
    assert await read_all(broker, TARGET) == []


async def test_cancel_sends_nothing() -> None:
    broker, app, shown = await setup(2)
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_modal(pilot, 2)
        await pilot.click("#retry-cancel")
        await wait_for(pilot, lambda: not screen.retrying)
        assert app.screen is screen
        await open_modal(pilot, 0)  # the marks are still there: r again, then n
        await pilot.press("n")
        await wait_for(pilot, lambda: not screen.retrying)
        assert screen.marked == set(screen.query_one(SnapshotTable).keys)
        assert set(retried_cells(screen).values()) == {"–"}
    assert await read_all(broker, TARGET) == []
    assert LEDGER not in {t.name for t in await broker.list_topics()}
    assert [m for m, _ in shown].count("Retry cancelled: nothing was sent.") == 2


async def test_confirm_sends_key_value_and_retry_headers_and_clears_the_marks() -> None:
    broker, app, shown = await setup(3)
    dlq_records = await read_all(broker, DLQ)
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_modal(pilot, 2)  # the first two rows
        marked = set(screen.marked)
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.retrying)
        cells = retried_cells(screen)
        assert {cells[c] for c in marked} == {"✓ retried"}
        assert [cells[c] for c in cells if c not in marked] == ["–"]
        assert screen.marked == set()
        assert not screen.query_one(RetryProgress).has_class("-shown")
    sent = await read_all(broker, TARGET)
    assert len(sent) == 2
    by_coords = {r.coords: r for r in dlq_records}
    for record in sent:
        headers = dict(record.headers)
        original = by_coords[headers["edamon-retry-of"].decode()]
        assert original.coords in marked
        assert (record.key, record.value) == (original.key, original.value)
        assert headers["edamon-retry-attempt"] == b"1"
        assert "traceparent" not in headers
        assert not any(name.startswith("kafka_dlt-") for name in headers)
        assert headers["event-type"] == b"OrderPlaced"
    ledger = Ledger(LEDGER)
    assert await ledger.load(broker) == 2
    assert all(ledger.get(c) is not None and ledger.get(c).sent for c in marked)  # type: ignore[union-attr]
    assert (f"✓ Retried 2 dead letters → {TARGET} (2) in", "information") in [
        (m.split(" in ")[0] + " in", s) for m, s in shown
    ]


async def test_already_retried_needs_force() -> None:
    broker = await dlq_broker(2)
    config = make_settings()
    dead = await read_dead_letters(broker, config, [DLQ])
    view = BrokerView(dead)
    app = make_app(view, config, broker=broker)
    shown = record_notifications(app)
    # Retried meanwhile by someone else (the CLI): the dashboard learns it from the ledger topic.
    other = Ledger(LEDGER)
    await other.load(broker)
    entry = other.new_entry(dead[0].record, RetryResult.SENT, target_topic=TARGET, by="alice")
    await other.record(entry)
    # The service's retry plan reads the ledger topic; its collector tails it (here: told).
    view.state.ledger[dead[0].coords] = entry
    async with app.run_test(size=SIZE) as pilot:
        screen, modal = await open_modal(pilot, 1)
        summary = text_of(modal.query_one("#retry-summary", Static))
        assert "Already retried 1" in summary and "attempt 1 by alice" in summary
        assert "Send      0" in summary
        assert modal.query_one("#retry-confirm", Button).disabled
        force = modal.query_one("#retry-force", Button)
        assert str(force.label) == "Retry again (force): 1"
        await pilot.press("y")  # y only sends what needs no force: nothing here
        assert ("Nothing to send without force.", "warning") in shown
        assert app.screen is modal
        await pilot.click("#retry-force")
        await wait_for(pilot, lambda: not screen.retrying)
        assert retried_cells(screen)[dead[0].coords] == "✓ retried"
    sent = await read_all(broker, TARGET)
    assert len(sent) == 1
    headers = dict(sent[0].headers)
    assert headers["edamon-retry-of"] == dead[0].coords.encode()
    assert headers["edamon-retry-attempt"] == b"2"


async def test_read_only_refuses_and_shows_retry_disabled() -> None:
    broker, app, shown = await setup(2, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "space", "r")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        await pilot.pause()
        assert not screen.retrying and app.screen is screen
        assert (READ_ONLY, "warning") in shown
        active = screen.active_bindings["r"]
        assert active.binding.description == "Retry (off: read-only)" and not active.enabled
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert ("This screen", "r", "Retry (off: read-only)") in help_screen.rows
        await pilot.press("escape", "slash", "r")  # typing r in the filter is just typing
        assert screen.query_one(SnapshotTable).filter_text == "r"
        assert [m for m, _ in shown].count(READ_ONLY) == 1
    assert await read_all(broker, TARGET) == []
    assert LEDGER not in {t.name for t in await broker.list_topics()}


async def test_a_viewer_token_shows_retry_unavailable_not_failing() -> None:
    broker = await dlq_broker(2)
    config = make_settings()
    view = BrokerView(await read_dead_letters(broker, config, [DLQ]))
    app = make_app(view, config, broker=broker, token=VIEWER)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "space", "r")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        await pilot.pause()
        assert not screen.retrying and app.screen is screen
        assert (VIEWER_ONLY, "warning") in shown
        assert not [m for m, s in shown if s == "error"]
        active = screen.active_bindings["r"]
        assert active.binding.description == "Retry (off: viewer)" and not active.enabled
    assert await read_all(broker, TARGET) == []
    assert LEDGER not in {t.name for t in await broker.list_topics()}


async def test_retry_is_offered_in_the_footer_and_help_when_writable() -> None:
    _, app, _ = await setup(1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = app.screen
        active = screen.active_bindings["r"]
        assert active.binding.description == "Retry" and active.enabled
        assert "x" not in screen.active_bindings  # stop is offered only while sending


async def test_a_send_failure_is_reported_and_nothing_is_lost() -> None:
    broker, app, shown = await setup(2)
    broker.fail_produce(TARGET)
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_modal(pilot, 2)
        first, second = screen.targets()
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.retrying)
        cells = retried_cells(screen)
        assert cells[first].startswith("✗ produce to orders")  # shortened to the column
        assert cells[second] == "✗ not sent (stopped)"  # stops at the first failure
        assert screen.marked == {first, second}  # nothing was sent: the marks stay
        errors = [m for m, s in shown if s == "error"]
        assert any("1 failed" in m and "injected fault" in m for m in errors)
        assert any(m.startswith("Retry stopped (1 not sent)") for m in errors)

        # Continue on errors: both are attempted and both fail.
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        await pilot.click("#retry-continue")
        assert app.screen.query_one("#retry-continue", Checkbox).value
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.retrying)
        assert all(c.startswith("✗ produce to") for c in retried_cells(screen).values())
    assert await read_all(broker, TARGET) == []
    assert len(await read_all(broker, DLQ)) == 2  # nothing is ever removed from the DLQ
    ledger = Ledger(LEDGER)
    await ledger.load(broker)
    assert {e.result for e in ledger} == {RetryResult.FAILED} and len(ledger) == 2


async def test_broker_down_is_reported_with_the_reason() -> None:
    broker, app, shown = await setup(1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await broker.close()
        screen, modal = await open_modal(pilot, 0)
        summary = text_of(modal.query_one("#retry-summary", Static))
        assert "retry ledger not read" in summary and "closed" in summary
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.retrying)
        (cell,) = retried_cells(screen).values()
        assert cell.startswith("✗ in-memory broker is")  # shortened to the column
        assert any(
            s == "error" and "nothing sent: in-memory broker is closed" in m for m, s in shown
        )
    await broker.start()
    assert await read_all(broker, TARGET) == []


async def test_x_stops_a_running_retry() -> None:
    broker, app, shown = await setup(4, dlq={"rate": 2})
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await open_modal(pilot, 4)
        await pilot.press("y")
        progress = screen.query_one(RetryProgress)
        await wait_for(pilot, lambda: progress.has_class("-shown"))
        assert screen.active_bindings["x"].enabled
        await pilot.press("x")
        await wait_for(pilot, lambda: not screen.retrying)
        assert not progress.has_class("-shown")
    sent = await read_all(broker, TARGET)
    assert 1 <= len(sent) < 4
    assert any(m.startswith(f"Retry stopped ({4 - len(sent)} not sent)") for m, _ in shown)


async def test_quitting_during_a_run_keeps_the_ledger_in_step() -> None:
    broker, app, _ = await setup(4, dlq={"rate": 2})
    async with app.run_test(size=SIZE) as pilot:
        await open_modal(pilot, 4)
        await pilot.press("y")
        end = TP(TARGET, 0)
        async with asyncio.timeout(10):
            while (await broker.end_offsets([end]))[end] < 1:
                await pilot.pause(0.02)
        await pilot.press("q")
    sent = await read_all(broker, TARGET)
    assert 1 <= len(sent) < 4
    ledger = Ledger(LEDGER)
    await ledger.load(broker)
    recorded = {e.dead_letter for e in ledger if e.sent}
    assert recorded == {dict(r.headers)["edamon-retry-of"].decode() for r in sent}


async def test_the_ledger_status_and_the_chain_come_from_the_collector() -> None:
    """With a real Collector on the broker: after the retry the table shows the ledger's
    status, and the chain shows the retried copy as a node under the dead letter."""
    broker = await dlq_broker(1)
    config = make_settings(topics={"start_from": "earliest", "refresh_s": 0.2})
    collector = Collector(broker, config)
    app = make_app(collector, config, broker=broker, background=[collector.run], refresh=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(collector.snapshot().dead_letters) == 1)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        await wait_for(pilot, lambda: len(screen.query_one(SnapshotTable).keys) == 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.retrying)
        (coords,) = screen.query_one(SnapshotTable).keys
        await wait_for(pilot, lambda: collector.snapshot().dead_letters[0].retry == "sent")
        await wait_for(pilot, lambda: not screen.outcomes)  # the ledger's word replaces ours
        assert retried_cells(screen)[coords] == "✓ retried"

        def retried_node() -> bool:
            chain = collector.chain("c-0")
            return chain is not None and any(n.status is NodeStatus.RETRIED for n in chain.nodes)

        await wait_for(pilot, retried_node)
        chain = collector.chain("c-0")
        assert chain is not None
        node = next(n for n in chain.nodes if n.status is NodeStatus.RETRIED)
        assert node.parent_id == f"dlq:{coords}" and node.coords == f"{TARGET}/0/0"
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        chain_screen = app.screen
        assert isinstance(chain_screen, ChainScreen)
        assert chain_screen.chain is not None
        assert node.event_id in {n.event_id for n in chain_screen.chain.nodes}


# --- the pieces: results as cells and notifications, the service ------------------------------


def item(
    coords: str,
    outcome: Outcome,
    target: str | None = None,
    reason: str | None = None,
    ledger_error: str | None = None,
) -> RetryItemDoc:
    """A job's result for one dead letter, as the service reports it."""
    return RetryItemDoc(coords, outcome.value, target, reason, None, ledger_error)


def job(results: list[RetryItemDoc], aborted: str | None, state: str = "done") -> RetryJobDoc:
    plan = RetryPlanDoc((), (), False, (), (), 100.0, False, None)
    return RetryJobDoc(
        "r1", state, len(results), len(results), 0.0, 0.5, plan, aborted, (), tuple(results)
    )


def test_outcome_cells() -> None:
    def cell(outcome: Outcome, reason: str | None = None) -> str | None:
        text = outcome_cell(item("t.DLT/0/1", outcome, reason=reason), 22)
        return None if text is None else text.plain

    assert cell(Outcome.SENT) == "✓ retried"
    assert cell(Outcome.FAILED, "target topic orders does not exist") == "✗ target topic orders…"
    assert cell(Outcome.REFUSED, "gone") == "✗ refused: gone"
    assert cell(Outcome.NOT_ATTEMPTED, "nothing sent: broker down") == "✗ broker down"
    assert cell(Outcome.NOT_ATTEMPTED, "cancelled") == "✗ not sent (stopped)"
    assert cell(Outcome.SKIPPED, "already retried") is None


def test_summary_messages_say_what_happened_worst_last() -> None:
    aborted = "stopped after a failure on b.DLT/0/1: boom"
    results = [
        item("a.DLT/0/1", Outcome.SENT, "a/0/7"),
        item("a.DLT/0/2", Outcome.SENT, "a/0/8"),
        item("a.DLT/0/3", Outcome.SKIPPED, reason="already retried"),
        item("b.DLT/0/1", Outcome.FAILED, reason="boom", ledger_error="ledger down"),
        item("b.DLT/0/2", Outcome.NOT_ATTEMPTED, reason="stopped"),
        item("c.DLT/0/9", Outcome.REFUSED, reason="not held"),
    ]
    messages = summary_messages(job(results, aborted))
    texts = [m for m, _ in messages]
    assert texts[0].startswith("✓ Retried 2 dead letters → a (2)")
    assert texts[1] == "1 skipped: already retried (use force)"
    assert texts[2] == "✗ 1 refused: c.DLT/0/9: not held"
    assert texts[3] == "✗ 1 failed: b.DLT/0/1: boom"
    assert texts[4] == "✗ 1 not recorded in the retry ledger: ledger down"
    assert texts[5] == f"Retry stopped (1 not sent): {aborted}"
    assert [s for _, s in messages] == [
        "information",
        "warning",
        "warning",
        "error",
        "error",
        "error",
    ]
    cancelled = summary_messages(job([], "cancelled", state="cancelled"))
    assert cancelled == [("Retry stopped (0 not sent): cancelled", "warning")]
    assert summary_messages(job([], None)) == [("Nothing was sent.", "warning")]


async def test_the_service_rereads_the_ledger_before_each_plan() -> None:
    broker = await dlq_broker(1)
    config = make_settings()
    service = RetryService(broker, config)
    dead = await read_dead_letters(broker, config, [DLQ])
    assert not service.ledger_loaded
    assert await service.refresh_ledger() == 0 and service.ledger_loaded
    assert len(service.plan(dead).to_send) == 1
    other = Ledger(LEDGER)  # e.g. `edamon dlq retry` in another terminal
    await other.load(broker)
    await other.record(other.new_entry(dead[0].record, RetryResult.SENT, target_topic=TARGET))
    assert len(service.plan(dead).to_send) == 1  # not known until the ledger is read again
    assert await service.refresh_ledger() == 1
    plan = service.plan(dead)
    assert plan.to_send == () and len(plan.skipped) == 1
    assert len(service.plan(dead, force=True).to_send) == 1


async def test_the_service_sends_at_the_configured_rate_and_refuses_when_read_only() -> None:
    broker = await dlq_broker(1)
    dead = await read_dead_letters(broker, make_settings(), [DLQ])
    read_only = RetryService(broker, make_settings(read_only=True))
    with pytest.raises(ReadOnlyError):
        await read_only.execute(read_only.plan(dead))
    assert await read_all(broker, TARGET) == []

    service = RetryService(broker, make_settings(dlq={"rate": 7}))
    assert service.rate == 7
    seen: list[bool] = []
    summary = await service.execute(
        service.plan(dead), progress=lambda done, total: seen.append(service.running)
    )
    assert [r.outcome for r in summary.results] == [Outcome.SENT]
    assert seen == [True] and not service.running
    assert len(await read_all(broker, TARGET)) == 1
