"""Keys and panes the user audit found wrong: Home/End on row tables and the causation tree,
Enter and Esc on the lag screen's partitions, the help's headings, and the chain screen's
panes for a retried dead letter and its redriven copy."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, ClassVar

from fake_chain import envelope_for
from fakes import MAIN_CHAIN, NOW, FakeView, make_app
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static, Tree
from uitools import text_of, wait_for

from edamon.actions.headers import RETRY_AT, RETRY_ATTEMPT, RETRY_OF, iso_utc
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.status import NodeStatus
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen, binding_rows
from edamon.ui.screens.lag import LagScreen
from edamon.ui.screens.overview import OverviewScreen
from edamon.ui.widgets.snapshot_table import Column, Row, SnapshotTable

SIZE = (120, 40)

# --- Home/End (and g/G) on row tables -----------------------------------------------------------


class RowsApp(App[None]):
    COLUMNS: ClassVar[list[Column]] = [Column("name", "name", 20), Column("n", "n", 6)]

    def compose(self) -> ComposeResult:
        yield SnapshotTable(self.COLUMNS, id="table", max_rows=300)


def _rows(n: int) -> list[tuple[str, Row]]:
    return [(f"k{i}", (f"row k{i}", str(i))) for i in range(n)]


async def test_home_and_end_go_to_the_first_and_last_row_of_a_long_table() -> None:
    app = RowsApp()
    async with app.run_test(size=(60, 22)) as pilot:
        table = app.query_one(SnapshotTable)
        table.focus()
        table.sync(_rows(400))
        await pilot.pause()
        assert table.row_count == 300
        for last, first in (("end", "home"), ("G", "g")):
            await pilot.press(last)
            await pilot.pause()
            assert table.cursor_key == "k299" and table.row_count == 300, last
            await pilot.press(first)
            await pilot.pause()
            assert table.cursor_row == 0 and table.cursor_key == "k0", first


async def test_home_and_end_move_through_the_waterfall_and_the_causation_tree() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        screen = app.screen
        assert isinstance(screen, ChainScreen)
        await wait_for(pilot, lambda: screen.selected == "e-root")
        first, last = "e-root", screen.query_one("#waterfall", SnapshotTable).keys[-1]
        assert last != first
        tree = screen.query_one("#tree", Tree)
        waterfall = screen.query_one("#waterfall", SnapshotTable)
        for widget in (tree, waterfall):
            widget.focus()
            for key, wanted in (("end", last), ("home", first), ("G", last), ("g", first)):
                await pilot.press(key)
                await _wait_selected(pilot, screen, wanted)
                assert waterfall.cursor_key == wanted, (widget.id, key)
                assert tree.cursor_node is not None and tree.cursor_node.data == wanted


async def _wait_selected(pilot: Pilot[Any], screen: ChainScreen, event_id: str) -> None:
    await wait_for(pilot, lambda: screen.selected == event_id)


def test_g_and_shift_g_clash_with_no_key_of_any_screen() -> None:
    """g/G are the tables' (and the tree's) keys: no screen, modal or the app uses them."""
    import edamon.ui

    found = 0
    for module in pkgutil.walk_packages(edamon.ui.__path__, "edamon.ui."):
        for owner in vars(importlib.import_module(module.name)).values():
            if not isinstance(owner, type) or not issubclass(owner, Screen | App):
                continue
            if not owner.__module__.startswith("edamon."):
                continue
            found += 1
            for binding in owner.BINDINGS:
                keys = binding.key if isinstance(binding, Binding) else binding[0]
                assert not {"g", "G"} & set(keys.split(",")), owner
    assert found >= 10  # the app, every screen and modal


# --- the lag screen's partitions: no Enter; Esc goes up to the groups first --------------------


async def test_lag_partitions_offer_no_enter_and_esc_goes_back_to_the_groups_first() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LagScreen)
        groups = screen.query_one("#lag-groups", SnapshotTable)
        partitions = screen.query_one("#lag-partitions", SnapshotTable)
        assert screen.focused is groups and "enter" in screen.active_bindings
        await pilot.press("enter")  # a group opens its partitions
        assert screen.focused is partitions
        assert "enter" not in screen.active_bindings  # nothing to open: no ⏎ in the footer
        assert not [row for row in binding_rows(screen) if row[1] == "⏎"]
        cursor = partitions.cursor_row
        await pilot.press("enter")  # and Enter does nothing
        assert app.screen is screen and screen.focused is partitions
        assert partitions.cursor_row == cursor
        await pilot.press("escape")  # up to the groups, still on the lag screen
        assert app.screen is screen and screen.focused is groups
        await pilot.press("escape")  # then back
        assert isinstance(app.screen, OverviewScreen)


async def test_esc_on_filtered_partitions_clears_the_filter_first() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "enter", "slash", "x", "enter")
        screen = app.screen
        partitions = screen.query_one("#lag-partitions", SnapshotTable)
        assert screen.focused is partitions and partitions.filter_text == "x"
        await pilot.press("escape")
        assert partitions.filter_text == "" and screen.focused is partitions
        await pilot.press("escape")
        assert screen.focused is screen.query_one("#lag-groups", SnapshotTable)


# --- the help names every widget that can have focus ------------------------------------------


async def test_the_help_names_every_focusable_widget_of_every_screen() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        headings: dict[str, set[str]] = {}
        for keys in (["1"], ["2"], ["2", "enter"], ["3"], ["4"], ["5"], ["u"]):
            await pilot.press(*keys)
            await pilot.pause()
            screen = app.screen
            chain = list(screen.focus_chain)
            assert chain, keys
            for widget in chain:
                widget.focus()
                await pilot.pause()
                sections = {row[0] for row in binding_rows(screen)}
                # the focused widget's own keys are listed under a heading of their own
                assert len(sections - {"This screen", "Everywhere"}) == 1, (keys, widget)
                assert type(widget).__name__ not in sections, (keys, widget)
                headings.setdefault(type(widget).__name__, set()).update(sections)
            await pilot.press("escape", "escape", "1")
        assert "Waterfall" in headings["WaterfallTable"]
        assert "Table" in headings["SnapshotTable"]
        assert "Pane" in headings["VerticalScroll"]


async def test_help_on_the_waterfall_lists_its_keys_under_a_human_heading() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen))
        app.screen.query_one("#waterfall", SnapshotTable).focus()
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = text_of(help_screen.table, width=110)
        assert "WaterfallTable" not in text and "Waterfall" in text
        ends = [row for row in help_screen.rows if row[2] == "First/last"]
        assert ends == [("Waterfall", "home end ^home ^end g G", "First/last")]


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
