"""Driving the dashboard with Textual's Pilot over the fake CollectorView."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

from fakes import MAIN_CHAIN, NOW, FakeView, make_app, make_snapshot, settings
from textual.widgets import Static, Tree
from uitools import palette_run, record_notifications, text_of, wait_for

from edamon.client import EdamonClient
from edamon.model.snapshot import ConnectionView
from edamon.model.status import ConnectionState, SagaState
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.chains import ChainsScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.screens.sagas import SagasScreen
from edamon.ui.screens.undecodable import UndecodableScreen
from edamon.ui.source import DataSource, Link
from edamon.ui.widgets.snapshot_table import SnapshotTable, plain

SIZE = (120, 40)


def column(table: SnapshotTable, key: str) -> list[str]:
    """The plain text of one column, in display order."""
    return [plain(table.get_cell(row, key)) for row in table.keys]


async def test_navigate_to_a_chain_select_an_event_and_back() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("2")
        assert isinstance(app.screen, ChainsScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        assert screen.correlation_id == MAIN_CHAIN
        await wait_for(pilot, lambda: screen.selected == "e-root")
        detail = text_of(screen.query_one("#detail", Static))
        assert "OrderPlaced" in detail and "order-service" in detail

        await pilot.press("down")  # the tree has focus: next event is StockReserved
        await wait_for(pilot, lambda: screen.selected == "e-stock")
        detail = text_of(screen.query_one("#detail", Static))
        assert "StockReserved" in detail
        # every header, in order, repeated keys kept, binary shown as hex
        headers = re.findall(r"^(event-type|correlation-id|retry|schema-id)\b", detail, re.M)
        assert headers == ["event-type", "correlation-id", "retry", "retry", "schema-id"]
        assert "0x 00 00 00 07" in detail
        assert '"currency": "EUR"' in detail  # the payload, parsed and pretty-printed
        waterfall = screen.query_one("#waterfall", SnapshotTable)
        assert waterfall.cursor_key == "e-stock"  # the waterfall follows the tree

        await pilot.press("escape")
        assert isinstance(app.screen, ChainsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("escape")  # the overview is the bottom of the stack
        assert isinstance(app.screen, OverviewScreen)


async def test_filter_narrows_the_table_and_esc_clears_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        table = app.screen.query_one(SnapshotTable)
        assert table.row_count == 9
        await pilot.press("slash", *"00000003-aaaa")
        await wait_for(pilot, lambda: table.row_count == 1)
        assert table.keys[0].startswith("00000003-aaaa")
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.screen.focused is table and table.filter_text == "00000003-aaaa"
        await app.refresh_now()  # a new snapshot keeps the filter
        assert table.row_count == 1
        await pilot.press("escape")  # clears the filter first
        assert table.row_count == 9 and isinstance(app.screen, ChainsScreen)


async def test_command_palette_jumps_to_a_chain() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await palette_run(pilot, "chain c0ffee", f"chain {MAIN_CHAIN}")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        assert isinstance(app.screen, ChainScreen)
        assert app.screen.correlation_id == MAIN_CHAIN


async def test_command_palette_jumps_to_a_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await palette_run(pilot, "screen lag", "screen Lag")
        await wait_for(pilot, lambda: isinstance(app.screen, LagScreen))


async def test_help_lists_the_current_screens_bindings() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        on_overview = {(section, key, text) for section, key, text in help_screen.rows}
        assert ("This screen", "p", "Pause") in on_overview
        assert ("Everywhere", "q", "Quit") in {(s, k.split()[-1], t) for s, k, t in on_overview}
        await pilot.press("escape")
        await pilot.press("3")
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        descriptions = {text for _, _, text in help_screen.rows}
        assert "Mark" in descriptions and "Pause" not in descriptions
        assert "Mark" in text_of(help_screen.query_one("#help-body", Static))


async def test_pause_freezes_the_timeline() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        before = timeline.keys
        await pilot.press("p")
        assert "PAUSED" in str(timeline.border_title)
        newer = make_snapshot(NOW)
        extra = dataclasses.replace(newer.timeline[0], coords="orders.OrderPlaced/0/9999")
        view.snap = dataclasses.replace(newer, timeline=(extra, *newer.timeline))
        await app.refresh_now()
        assert timeline.keys == before
        await pilot.press("p")
        assert timeline.keys[0] == "orders.OrderPlaced/0/9999"
        assert "PAUSED" not in str(timeline.border_title)


async def test_a_new_snapshot_keeps_the_cursor_on_its_row() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "down", "down")
        table = app.screen.query_one(SnapshotTable)
        chosen = table.cursor_key
        assert chosen is not None and table.cursor_row == 2
        kept_cell = plain(table.get_cell(chosen, "correlation"))
        view.snap = make_snapshot(extra_chain="fresh-flow-0001")
        await app.refresh_now()
        assert table.keys[0] == "fresh-flow-0001"
        assert table.cursor_key == chosen and table.cursor_row == 3
        assert plain(table.get_cell(chosen, "correlation")) == kept_cell

        view.snap = make_snapshot()  # the fresh flow is gone again
        await app.refresh_now()
        assert "fresh-flow-0001" not in table.keys
        assert table.cursor_key == chosen and table.cursor_row == 2


async def test_c_jumps_from_a_dead_letter_and_from_the_timeline_to_the_chain() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")  # timeline row 0 belongs to the main chain
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        await pilot.press("escape", "3")
        assert isinstance(app.screen, DeadLettersScreen)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        await wait_for(pilot, lambda: screen.selected == "e-ship")
        tree = screen.query_one("#tree", Tree)
        await wait_for(pilot, lambda: tree.cursor_node is not None)
        await pilot.pause()  # let queued highlight messages arrive: they must not move it
        assert tree.cursor_node is not None and tree.cursor_node.data == "e-ship"
        assert screen.selected == "e-ship"
        assert screen.query_one("#waterfall", SnapshotTable).cursor_key == "e-ship"
        detail = text_of(screen.query_one("#detail", Static))
        assert "dead-lettered" in detail and "shipping.ShipmentScheduled.DLT/0/17" in detail


async def test_space_marks_dead_letters() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one(SnapshotTable)
        first = table.cursor_key
        assert first is not None and screen.targets() == [first]
        await pilot.press("space")
        assert screen.marked == {first}
        assert table.cursor_row == 1  # moved on, like k9s
        assert plain(table.get_cell(first, "mark")) == "●"
        assert "1 marked" in str(table.border_title)
        second = table.cursor_key
        assert second is not None
        await pilot.press("space", "up", "up", "space")  # mark the second, unmark the first
        assert screen.targets() == [second]


async def test_dead_letter_detail_shows_message_stack_trace_and_headers() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "down")
        detail = text_of(app.screen.query_one("#dl-detail", Static))
        assert "AddressInvalidException" in detail
        assert "postcode 'XX1'" in detail
        assert "CarrierClient.java:88" in detail
        assert "kafka_dlt-original-partition" in detail and "0x 00 00 00 00" in detail


async def test_enter_on_overview_panels_drills_in() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        groups = app.screen.query_one("#groups", SnapshotTable)
        groups.focus()
        await pilot.press("down", "enter")  # the second-worst group: shipping
        await wait_for(pilot, lambda: isinstance(app.screen, LagScreen))
        screen = app.screen
        assert isinstance(screen, LagScreen)
        await wait_for(
            pilot, lambda: screen.query_one("#lag-groups", SnapshotTable).cursor_key == "shipping"
        )
        partitions = screen.query_one("#lag-partitions", SnapshotTable)
        assert column(partitions, "committed")[-1] == "no commit"
        assert "shipping" in str(partitions.border_title)


async def test_sagas_state_filter_shows_only_that_state() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, SagasScreen)
        instances = screen.query_one("#instances", SnapshotTable)
        while screen.state_filter is not SagaState.STUCK:
            await pilot.press("s")
        assert set(column(instances, "state")) == {"STUCK"}
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))


async def test_time_toggle_switches_to_clock_times() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert column(timeline, "time")[0] == "now"
        await pilot.press("t")
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", column(timeline, "time")[0])
        await pilot.press("t")
        assert column(timeline, "time")[0] == "now"


async def test_undecodable_samples_modal() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert isinstance(app.screen, UndecodableScreen)
        report = text_of(app.screen.report)
        assert "3 undecodable records" in report and "orders.OrderPlaced/1/3021" in report
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_errors_notify_once_and_show_in_the_status_line() -> None:
    view = FakeView()
    app = make_app(view)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE):
        assert shown == []  # the first snapshot is all well
        broken = ConnectionView(ConnectionState.ERROR, "localhost:9092", "broker unreachable")
        view.snap = dataclasses.replace(make_snapshot(), connection=broken, notices=("loop in x",))
        for _ in range(3):
            await app.refresh_now()
        assert shown == [
            ("Kafka localhost:9092: broker unreachable", "error"),
            ("loop in x", "warning"),
        ]
        status = text_of(app.screen.query_one("StatusLine", Static))
        assert "broker unreachable" in status and "loop in x" in status


async def test_the_schema_registry_state_shows_next_to_kafka_s() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE):
        down = ConnectionView(
            ConnectionState.CONNECTED,
            "localhost:9092",
            registry=ConnectionState.ERROR,
            registry_message="registry unreachable (ConnectError)",
        )
        view.snap = dataclasses.replace(make_snapshot(), connection=down)
        await app.refresh_now()
        status = text_of(app.screen.query_one("StatusLine", Static))
        assert "schema registry: registry unreachable (ConnectError)" in status
        head = text_of(app.screen.query_one("#head"))
        assert "registry error registry unreachable (ConnectError)" in head
        up = dataclasses.replace(down, registry=ConnectionState.CONNECTED, registry_message="")
        view.snap = dataclasses.replace(make_snapshot(), connection=up)
        await app.refresh_now()
        assert "schema registry" not in text_of(app.screen.query_one("StatusLine", Static))
        assert "registry connected" in text_of(app.screen.query_one("#head"))


async def test_a_crashing_background_task_notifies_and_the_app_keeps_running() -> None:
    cancelled = asyncio.Event()

    async def crash() -> None:
        raise RuntimeError("simulation exploded")

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    app = make_app(background=[crash, forever])
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("simulation exploded" in m for m, _ in shown))
        assert [s for m, s in shown if "simulation exploded" in m] == ["error"]
        await pilot.press("2")
        assert isinstance(app.screen, ChainsScreen)
        await pilot.press("q")
    assert app.return_code == 0
    assert cancelled.is_set()


async def test_refreshes_on_a_clock() -> None:
    view = FakeView()
    config = settings()
    config.ui.refresh_hz = 20
    app = make_app(view, config, clock=lambda: NOW, refresh=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: view.snapshots_taken >= 4)


async def test_an_unknown_theme_falls_back_with_a_notification() -> None:
    config = settings()
    config.ui.theme = "no-such-theme"
    app = make_app(config=config)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        assert [s for m, s in shown if "no-such-theme" in m] == ["warning"]


async def test_the_nav_bar_and_status_line_are_clickable() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        nav = app.screen.query_one("NavBar")
        # " edamon " + " 1 Overview " after one cell of padding: "2 Chains" starts at 22
        await pilot.click(nav, offset=(23, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, ChainsScreen))
        await pilot.click(app.screen.query_one("StatusLine"), offset=(3, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, UndecodableScreen))


async def test_a_growing_chain_updates_the_tree_in_place_and_relinks_orphans() -> None:
    view = FakeView()
    app = make_app(view)
    async with app.run_test(size=SIZE) as pilot:
        app.open_chain(MAIN_CHAIN)
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        await wait_for(pilot, lambda: "e-orphan" in screen._tree_nodes)
        tree_nodes = dict(screen._tree_nodes)
        assert tree_nodes["e-orphan"].parent is screen.query_one("#tree").root  # type: ignore[attr-defined]

        # a new event arrives under StockReserved: added, nothing rebuilt
        stock = next(n for n in view.main.nodes if n.event_id == "e-stock")
        late = dataclasses.replace(
            stock,
            event_id="e-late",
            event_type="LateEvent",
            parent_id="e-stock",
            depth=2,
            offset_s=1.2,
            hop_s=1.08,
        )
        nodes = list(view.main.nodes)
        nodes.insert(nodes.index(stock) + 2, late)
        view.main = dataclasses.replace(view.main, nodes=tuple(nodes))
        await app.refresh_now()
        assert screen._tree_nodes["e-late"].parent is tree_nodes["e-stock"]
        assert [c.data for c in tree_nodes["e-stock"].children] == ["e-notify", "e-late"]
        assert all(screen._tree_nodes[k] is v for k, v in tree_nodes.items())
        assert "e-late" in screen.query_one("#waterfall", SnapshotTable).keys

        # the orphan's cause turns up: the tree is rebuilt with it under PaymentAuthorized
        relinked = tuple(
            dataclasses.replace(n, parent_id="e-pay", depth=2) if n.event_id == "e-orphan" else n
            for n in view.main.nodes
        )
        view.main = dataclasses.replace(view.main, nodes=relinked)
        await app.refresh_now()
        assert screen._tree_nodes["e-orphan"].parent is screen._tree_nodes["e-pay"]


async def test_a_failing_service_is_shown_once_and_the_clock_goes_on() -> None:
    class Flaky(FakeView):
        failing = False

        def snapshot(self):  # type: ignore[no-untyped-def]
            if self.failing:
                self.snapshots_taken += 1
                raise KeyError("chain index out of sync")
            return super().snapshot()

    view = Flaky()
    config = settings()
    config.ui.refresh_hz = 20
    app = make_app(view, config, clock=lambda: NOW, refresh=True)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        view.failing = True
        start = view.snapshots_taken
        await wait_for(pilot, lambda: view.snapshots_taken >= start + 4)
        # The service's 500 (its log has the KeyError), once; the last data stays, stale.
        assert [m for m, _ in shown] == [
            "edamon service: internal error (the service log has details) (HTTP 500)"
        ]
        status = text_of(app.screen.query_one("StatusLine", Static))
        assert "(stale)" in status
        view.failing = False
        await wait_for(pilot, lambda: app.source.link is Link.LIVE)
        assert "(stale)" not in text_of(app.screen.query_one("StatusLine", Static))
        await pilot.press("2")
        assert isinstance(app.screen, ChainsScreen)


async def test_jumping_to_a_topic_filters_the_right_table() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        app.focus_topic("shipping.ShipmentScheduled.DLT")  # what the palette's hit calls
        screen = app.main_screens["deadletters"]
        await wait_for(pilot, lambda: app.screen is screen and screen.ready)
        dead = screen.query_one(SnapshotTable)
        assert dead.filter_text == "shipping.ShipmentScheduled.DLT"
        assert dead.row_count == 4
        app.focus_topic("inventory.StockReserved")
        await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen))
        timeline = app.screen.query_one("#timeline", SnapshotTable)
        assert timeline.filter_text == "inventory.StockReserved"
        assert set(column(timeline, "topic")) == {"inventory.StockReserved"}
        assert (
            app.screen.query_one("#topics", SnapshotTable).cursor_key == "inventory.StockReserved"
        )


async def test_a_failed_handler_node_shows_its_dead_letter() -> None:
    class DlqNodes(FakeView):
        """As the collector does it: the failed handler's node is the DLQ record, not an event."""

        def event(self, event_id: str):  # type: ignore[no-untyped-def]
            return None if event_id == "e-ship" else super().event(event_id)

    app = make_app(DlqNodes())
    async with app.run_test(size=SIZE) as pilot:
        app.open_chain(MAIN_CHAIN, "e-ship")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)

        def detail_text() -> str:
            return text_of(app.screen.query_one("#detail", Static))

        # the dead letter is a lookup of the service: "Loading…" until it answers
        await wait_for(pilot, lambda: "Loading" not in detail_text())
        detail = detail_text()
        assert "java.util.concurrent.TimeoutException" in detail
        assert "CarrierClient.java:88" in detail and "kafka_dlt-original-topic" in detail
        title = str(app.screen.query_one("#detail-scroll").border_title)
        assert "shipping.ShipmentScheduled.DLT/0/17" in title


async def test_the_palette_offers_edamons_help_not_textuals_keys_panel() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles == ["Help", "Theme", "Quit", "Screenshot"]
        await palette_run(pilot, "help", "Help")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_before_the_service_answers_the_status_line_says_what_it_waits_for(
    tmp_path: Path,
) -> None:
    nowhere = EdamonClient(f"unix:{tmp_path / 'no.sock'}", "token")
    config = settings()
    config.ui.refresh_hz = 20
    app = EdamonApp(DataSource(nowhere), config, clock=lambda: NOW, waiting="starting collector…")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.source.polls >= 2)
        status = text_of(app.screen.query_one("StatusLine", Static))
        assert status.startswith("starting collector…") and "cannot reach" in status
        assert app.source.link is Link.CONNECTING and app.last_snapshot is None
        await pilot.press("2")  # the screens work, empty
        assert isinstance(app.screen, ChainsScreen)
        assert "starting collector…" in text_of(app.screen.query_one("StatusLine", Static))
