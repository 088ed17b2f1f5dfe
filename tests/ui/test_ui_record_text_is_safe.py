"""Record text never reaches the terminal as control characters: every screen, every detail
pane, the retry modal and the chain export, with hostile records (tests/ui/hostile.py).

What is checked is what Textual draws (the screenshot of the screen), so that a widget reading
the data some other way would be caught too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fakes import MAIN_CHAIN, make_app
from hostile import HOSTILE, RAW, SHOWN, HostileView, svg_text
from textual.pilot import Pilot
from textual.widgets import Static
from uitools import text_of, wait_for

from builders import event_headers, event_value, spring_dlt_headers
from edamon.actions.service import RetryService
from edamon.broker.memory import MemoryBroker
from edamon.collector.collector import Collector
from edamon.config import Settings
from edamon.ui.app import EdamonApp
from edamon.ui.screens.chain import ChainScreen
from edamon.ui.screens.retry import RetryModal
from edamon.ui.screens.undecodable import UndecodableScreen

SnapCompare = Callable[..., bool]
WIDE = (120, 40)
SMALL = (80, 24)

SCREENS: dict[str, Sequence[str]] = {
    "overview": (),
    "chains": ("2",),
    "chain-event": ("2", "enter", "down", "down", "down", "down"),
    "dead-letters": ("3",),
    "sagas": ("4",),
    "lag": ("5", "down"),
    "throughput": ("6",),
    "undecodable": ("u",),
}
"""Keys from the overview to each screen (and to the detail panes: an event, a dead letter)."""


def screen_text(app: EdamonApp) -> str:
    """What the terminal shows (every cell of every widget), from Textual's SVG export."""
    return svg_text(app.export_screenshot())


async def visit(pilot: Pilot[Any], keys: Sequence[str]) -> None:
    app = pilot.app
    assert isinstance(app, EdamonApp)
    app.refresh_now()
    await pilot.pause()
    for key in keys:
        await pilot.press(key)
        if key == "enter":
            await wait_for(pilot, lambda: isinstance(app.screen, ChainScreen) and app.screen.ready)
        if key == "u":
            await wait_for(pilot, lambda: isinstance(app.screen, UndecodableScreen))
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


class TestHostileRecordsOnEveryScreen:
    @pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x40", "80x24"])
    @pytest.mark.parametrize("name", list(SCREENS))
    async def test_no_control_character_reaches_the_terminal(
        self, name: str, size: tuple[int, int]
    ) -> None:
        app = make_app(HostileView())
        async with app.run_test(size=size) as pilot:
            await visit(pilot, SCREENS[name])
            shown = screen_text(app)
        assert RAW.findall(shown) == []
        if size == WIDE:
            assert "\\x1b" in shown  # the hostile text is there, visible

    @pytest.mark.parametrize(
        ("name", "title", "cell"),
        [
            ("chain-event", "Event  ", "order-42[b]x[/b][link="),
            ("dead-letters", "Dead letter  ", " shipping[b]x"),
            ("lag", "Partitions of ", "analytics[b]x[/b][link="),
        ],
    )
    async def test_markup_in_record_text_is_shown_as_text(
        self, name: str, title: str, cell: str
    ) -> None:
        """Titles, table cells and detail fields that quote record text show it as written,
        not as styles, actions or links (Rich's `[link=…]` writes an OSC 8 hyperlink)."""
        markup = "[b]x[/b][link=https://e.example]L[/link][@click=app.quit]q[/]"
        app = make_app(HostileView(markup))
        async with app.run_test(size=WIDE) as pilot:
            await visit(pilot, SCREENS[name])
            assert app.is_running
            shown = screen_text(app)
        (line,) = [line for line in shown.splitlines() if title in line]
        assert "[b]x[/b][link=" in line
        assert cell in shown

    async def test_a_dead_letters_detail_shows_the_stack_trace_lines_escaped(self) -> None:
        app = make_app(HostileView())
        async with app.run_test(size=WIDE) as pilot:
            await visit(pilot, ("3",))
            text = text_of(app.screen.query_one("#dl-detail", Static), width=200)
        assert RAW.findall(text) == []
        assert re.search(r"\n\s+at com\.acme\.shipping\.CarrierClient", text)  # lines kept
        assert SHOWN in text

    async def test_notifications_quote_record_text_escaped(self) -> None:
        app = make_app(HostileView())
        async with app.run_test(size=WIDE) as pilot:
            app.notify(f"Chain {HOSTILE} is not retained.", title=HOSTILE)
            await pilot.pause()
            shown = screen_text(app)
        assert RAW.findall(shown) == []
        assert "Chain" in shown and "PWNED" in shown


@pytest.mark.parametrize("name", list(SCREENS))
def test_hostile_records_snapshot(name: str, snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await visit(pilot, SCREENS[name])

    assert snap_compare(make_app(HostileView()), terminal_size=WIDE, run_before=run_before)


async def test_the_chain_export_is_exact_and_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(HostileView())
    async with app.run_test(size=WIDE) as pilot:
        await visit(pilot, ("2", "enter"))
        await pilot.press("e")
        await wait_for(pilot, lambda: bool(written(tmp_path)))
    (path,) = written(tmp_path)
    raw = path.read_bytes()
    assert raw.isascii() and RAW.findall(raw.decode()) == []  # `cat` of it is harmless
    document = json.loads(raw)  # valid JSON
    summary = document["chain"]["summary"]
    assert summary["correlation_id"] == MAIN_CHAIN + HOSTILE  # exact, as the record has it
    assert "\\u001b]0;PWNED\\u0007" in raw.decode()  # written as JSON escapes


def written(directory: Path) -> list[Path]:
    return list(directory.glob("edamon-chain-*.json"))


# --- end to end: a real collector reading hostile records from a broker --------------------

ISSUE_TYPE = "OrderPlaced\x1b]0;PWNED\x07\x1b[2J\x1b[HPWNED"
"""The event type that set the title and cleared the screen (issue 19)."""


async def hostile_broker() -> MemoryBroker:
    broker = MemoryBroker()
    await broker.create_topic("orders.OrderPlaced")
    await broker.create_topic("orders.OrderPlaced.DLT")
    value = event_value("e-1\x1b[2J", ISSUE_TYPE, "c-1\x9b2J", aggregate_id="order\u202e-1")
    await broker.produce(
        "orders.OrderPlaced", b"order-1\x1b[H", value, event_headers(ISSUE_TYPE, "c-1\x9b2J")
    )
    bad_target = spring_dlt_headers(
        "orders\x1b]0;PWNED\x07", 0, 7, message="boom\x1b[1;1H\x1b[2KFAKE ROW", group="g\x1b[31m"
    )
    good_target = spring_dlt_headers(
        "orders.OrderPlaced",
        0,
        0,
        exception="com.acme.Bad\x1b]0;PWNED\x07Exception",
        message="timeout\r\n\x1b]52;c;cGF5bG9hZA==\x07",
    )
    for headers in (bad_target, good_target):
        await broker.produce("orders.OrderPlaced.DLT", b"order-1", value, headers)
    return broker


async def test_a_real_collector_with_hostile_records_draws_them_escaped() -> None:
    broker = await hostile_broker()
    config = Settings.model_validate({"topics": {"start_from": "earliest", "refresh_s": 0.2}})
    collector = Collector(broker, config)
    app = EdamonApp(collector, config, run=collector.run, redrive=RetryService(broker, config))
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: len(collector.snapshot().dead_letters) == 2, timeout=10)
        app.refresh_now()
        await pilot.pause()
        overview = screen_text(app)
        assert "OrderPlaced\\x1b]0;PWNED" in overview
        screens = [overview]
        for keys in (("2",), ("3",), ("5",), ("6",)):
            await pilot.press(*keys)
            app.refresh_now()
            await pilot.pause()
            screens.append(screen_text(app))
        await pilot.press("3", "space", "down", "space", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        await pilot.pause()
        modal = screen_text(app)
        screens.append(modal)
        await pilot.press("escape")
    for shown in screens:
        assert RAW.findall(shown) == []
    assert "PWNED" in modal and "\\x1b" in modal  # the refused target, named escaped


def test_nothing_in_the_ui_turns_record_bytes_into_text_itself() -> None:
    """Bytes become text only through edamon.model.safetext (bytes_text, payload_text): a
    `.decode(` or `header_text(` in edamon/ui would show record bytes unsanitized."""
    ui = Path(__file__).parents[2] / "edamon" / "ui"
    found = [
        f"{path.relative_to(ui)}:{number}"
        for path in sorted(ui.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\.decode\(|header_text\(|rich\.json|JSON\(", line)
    ]
    assert found == []


def test_a_java_serialized_value_is_named_and_shown_as_hex() -> None:
    from edamon.ui.widgets.detail import payload_view

    value = b"\xac\xed\x00\x05sr\x00\x13java.util.ArrayList"
    shown = text_of(payload_view(value), width=120)
    assert shown.startswith("Java serialized object: 0x ac ed 00 05 73 72")
