"""Finding a flow from the past in the dashboard (issue 16), on the real broker and a real
`edamon serve`: a flow of 3 events and a dead letter written 3 hours ago among other records,
which the live window (started at the log end) never saw. The search screen sends the search
to the service, shows its progress and result, opens the flow on the chain screen marked
"from search", exports it, and dismisses it; bad input, cancel and the budget say so."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from dashboards import dashboard
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static, Tree
from textual.widgets.tree import TreeNode

from builders import envelope, spring_dlt_headers
from edamon.config import Settings, load_settings
from edamon.model.status import NodeStatus
from edamon.ui.app import EdamonApp
from edamon.ui.screens.retry import RetryModal
from edamon.ui.screens.search import FoundChainScreen, SearchScreen, found_commands
from edamon.ui.widgets.bars import Line
from kafka_helpers import KafkaTestClients, unique_name
from service_helpers import Service, start_service

pytestmark = pytest.mark.kafka

HOUR_MS = 3_600_000
PARTITIONS = 3
NOISE = 40_000
TOPICS = ("OrderPlaced", "PaymentProcessed", "OrderShipped")


@dataclass(frozen=True)
class World:
    prefix: str
    cid: str
    ids: dict[str, str]
    dlq: str
    dead_coords: str
    hostile: str
    """The event id of a flow with escape sequences in its type, correlation id and payload."""
    total: int


async def _seed(bootstrap: str, prefix: str) -> World:
    clients = KafkaTestClients(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    try:
        for name in TOPICS:
            await clients.make_topic(f"{prefix}.{name}", PARTITIONS)
        dlq = f"{prefix}.PaymentProcessed.DLT"
        await clients.make_topic(dlq, 1)
        await producer.start()
        now = int(time.time() * 1000)
        at = now - 3 * HOUR_MS
        cid = f"cid-{uuid.uuid4()}"
        ids = {name: f"{name}-{uuid.uuid4()}" for name in TOPICS}
        parents = {"OrderPlaced": None, "PaymentProcessed": "OrderPlaced", "OrderShipped": None}
        parents["OrderShipped"] = "PaymentProcessed"
        total = 0
        payment: tuple[bytes, int, int] | None = None
        for n, name in enumerate(TOPICS):
            parent = parents[name]
            value = json.dumps(
                envelope(
                    ids[name],
                    name,
                    cid,
                    ids[parent] if parent else None,
                    aggregate_id="order-8812",
                    at_ms=at + n * 100,
                    payload={"orderId": 8812, "marker": f"payload-of-{name}"},
                )
            ).encode()
            headers = [("event-type", name.encode()), ("correlation-id", cid.encode())]
            meta = await producer.send_and_wait(
                f"{prefix}.{name}",
                value,
                key=b"order-8812",
                timestamp_ms=at + n * 100,
                headers=headers,
            )
            total += 1
            if name == "PaymentProcessed":
                payment = (value, meta.partition, meta.offset)
        assert payment is not None
        value, partition, offset = payment
        dead = await producer.send_and_wait(
            dlq,
            value,
            key=b"order-8812",
            timestamp_ms=at + 500,
            headers=spring_dlt_headers(f"{prefix}.PaymentProcessed", partition, offset),
        )
        total += 1
        # a flow whose text would drive the terminal if shown as it is
        hostile = f"hostile-{uuid.uuid4()}"
        evil = envelope(
            hostile,
            "Evil\x1b]0;PWNED\x07Type",
            f"cid-\x1b[31mred-{uuid.uuid4()}",
            aggregate_id="order-666",
            at_ms=now - 2 * HOUR_MS,
            payload={"note": "\x1b[2J wiped"},
        )
        await producer.send_and_wait(
            f"{prefix}.OrderPlaced",
            json.dumps(evil).encode(),
            key=b"order-666",
            timestamp_ms=now - 2 * HOUR_MS,
        )
        total += 1
        step = 4 * HOUR_MS // NOISE
        for i in range(NOISE):
            name = TOPICS[i % len(TOPICS)]
            noise = envelope(
                f"n{i}-{prefix}",
                name,
                f"other-{i // 3}-{prefix}",
                aggregate_id=f"order-{100000 + i // 3}",
                at_ms=now - 4 * HOUR_MS + i * step,
            )
            await producer.send(
                f"{prefix}.{name}",
                json.dumps(noise).encode(),
                key=f"order-{100000 + i // 3}".encode(),
                timestamp_ms=now - 4 * HOUR_MS + i * step,
            )
            total += 1
        await producer.flush()
        return World(prefix, cid, ids, dlq, f"{dlq}/0/{dead.offset}", hostile, total)
    finally:
        await producer.stop()
        await clients.close()


@pytest.fixture(scope="module")
def world(kafka_bootstrap: str) -> World:
    return asyncio.run(_seed(kafka_bootstrap, unique_name("uisearch")))


@pytest.fixture(scope="module")
def service(
    kafka_bootstrap: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A real `edamon serve` whose live window starts at the log end: the flow is only found
    by searching."""
    tmp = tmp_path_factory.mktemp("serve-uisearch")
    running = start_service(
        kafka_bootstrap, world.prefix, tmp, env={"EDAMON_TOPICS__START_FROM": "latest"}
    )
    try:
        yield running
    finally:
        running.stop()


def settings_for(bootstrap: str, prefix: str) -> Settings:
    overrides: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": {"include": [rf"{prefix}\..*"]},
        "ui": {"refresh_hz": 10},
    }
    return load_settings(None, overrides, use_default_path=False)


def app_for(service: Service, world: World, bootstrap: str) -> EdamonApp:
    return dashboard(service.url, service.operator, settings_for(bootstrap, world.prefix))


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            screen = pilot.app.screen
            shown = outcome_text(screen) if isinstance(screen, SearchScreen) else ""
            errors = [(w.name, w.state, w.error) for w in pilot.app.workers]
            pytest.fail(f"timed out after {timeout}s waiting for {what} ({shown.strip()}) {errors}")
        await pilot.pause(0.05)


async def open_search(pilot: Pilot[Any]) -> SearchScreen:
    app = pilot.app
    await wait_for(pilot, lambda: app.last_snapshot is not None, "the first overview")  # type: ignore[attr-defined]
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen), "the search screen")
    screen = app.screen
    assert isinstance(screen, SearchScreen)
    return screen


def fill(screen: SearchScreen, **fields: str) -> None:
    """Set inputs by name (value, since, from, until, topics, budget-records, ...)."""
    for name, value in fields.items():
        screen.query_one(f"#search-{name.replace('_', '-')}", Input).value = value


def text_of(widget: Static, width: int = 100) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def exported(directory: Path) -> list[dict[str, Any]]:
    """The flows `e` wrote to `directory`."""
    return [json.loads(p.read_text()) for p in directory.glob("edamon-chain-*.json")]


async def submit(pilot: Pilot[Any], screen: SearchScreen) -> None:
    """Enter in the value's input (a second click on the button soon after the first would
    be a double click)."""
    screen.query_one("#search-value", Input).focus()
    await pilot.pause()
    await pilot.press("enter")


def outcome_text(screen: SearchScreen) -> str:
    return text_of(screen.query_one("#search-outcome", Line), width=200)


def report_text(screen: SearchScreen) -> str:
    return text_of(screen.query_one("#search-report", Static), width=300)


def all_nodes(tree: Tree[str]) -> list[TreeNode[str]]:
    nodes: list[TreeNode[str]] = []
    stack = list(tree.root.children)
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.children)
    return nodes


def tree_pairs(tree: Tree[str]) -> set[tuple[str, str | None]]:
    """(event id, parent event id) of every node under the hidden root."""
    pairs: set[tuple[str, str | None]] = set()
    stack = [(child, None) for child in tree.root.children]
    while stack:
        node, parent = stack.pop()
        assert node.data is not None
        pairs.add((node.data, parent))
        stack.extend((child, node.data) for child in node.children)
    return pairs


async def test_a_search_through_the_dashboard_opens_the_flow_as_a_chain(
    kafka_bootstrap: str,
    world: World,
    service: Service,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where `e` writes
    app = app_for(service, world, kafka_bootstrap)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await app.source.fetch_chain(world.cid) is None  # not in the live window
        screen = await open_search(pilot)
        fill(screen, value=world.cid)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FoundChainScreen), "the chain", 60)
        chain = app.screen
        assert isinstance(chain, FoundChainScreen)
        assert chain.correlation_id == world.cid
        await wait_for(pilot, lambda: chain.ready, "the chain screen mounted")
        mark = text_of(chain.query_one("#found-mark", Line), width=200)
        assert "from search" in mark
        doc = app.source.searches[chain.search_id]
        assert doc.state == "done" and doc.scanned == world.total
        tree: Tree[str] = chain.query_one("#tree", Tree)
        await wait_for(pilot, lambda: len(tree_pairs(tree)) >= 4, "the tree")
        pairs = tree_pairs(tree)
        ids = world.ids
        assert (ids["OrderPlaced"], None) in pairs
        assert (ids["PaymentProcessed"], ids["OrderPlaced"]) in pairs
        assert (ids["OrderShipped"], ids["PaymentProcessed"]) in pairs
        flow = chain.chain
        assert flow is not None
        # the dead letter of the payment's handler is in the flow
        dead = [n for n in flow.nodes if n.dead_letter == world.dead_coords]
        assert [n.status for n in dead] == [NodeStatus.DEAD_LETTERED]
        # the detail of the root, which the live window never held: its record read from Kafka
        detail = chain.query_one("#detail", Static)
        await wait_for(
            pilot,
            lambda: "payload-of-OrderPlaced" in text_of(detail),
            "the event's payload in the detail",
        )
        # r on the dead letter: the service's plan, the confirmation, then sent to its topic
        dead_node = next(n for n in all_nodes(tree) if n.data == dead[0].event_id)
        tree.move_cursor(dead_node)
        await wait_for(pilot, lambda: chain.selected == dead[0].event_id, "the dead letter")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal), "the confirmation")
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: chain.retry_job is not None and chain.retry_job.state != "running",
            "the retry job",
        )
        assert chain.retry_job is not None
        assert [r.outcome for r in chain.retry_job.results] == ["sent"]
        assert chain.retry_job.results[0].target_coords.startswith(
            f"{world.prefix}.PaymentProcessed/"
        )
        # e: the flow written with its search and records
        await pilot.press("e")
        await wait_for(pilot, lambda: bool(exported(tmp_path)), "the export")
        (written,) = exported(tmp_path)
        assert written["search"]["query"]["value"] == world.cid
        assert {n["event_id"] for n in written["chain"]["nodes"]} >= set(ids.values())
        values = [e["value"]["text"] for e in written["events"].values() if e.get("value")]
        assert any("payload-of-PaymentProcessed" in v for v in values)
        # the palette offers the result while it is held
        assert f"found {world.cid}" in [text for text, _, _ in found_commands(app)]
        # d: dismissed here and on the service
        search_id = chain.search_id
        await pilot.press("d")
        await wait_for(pilot, lambda: search_id not in app.source.searches, "the dismissal")
        await wait_for(pilot, lambda: not isinstance(app.screen, FoundChainScreen), "going back")
        with service.client("viewer") as http:
            assert http.get(f"/v1/searches/{search_id}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"by": "json_path", "value": "$.a b=1"}, "malformed JSON path"),
        ({"value": "x", "from": "2099-01-01T00:00:00Z"}, "the range starts in the future"),
        ({"value": "x", "topics": "no.such.topic"}, "no such topic: no.such.topic"),
        ({"value": "x", "since": "8 hours"}, "since: '8 hours' is not a duration ago"),
        ({"value": ""}, "type the correlation id to find"),
    ],
)
async def test_bad_input_gets_the_services_clear_message(
    kafka_bootstrap: str, world: World, service: Service, fields: dict[str, str], said: str
) -> None:
    app = app_for(service, world, kafka_bootstrap)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_search(pilot)
        by = fields.pop("by", None)
        if by is not None:
            screen.query_one("#search-by", Select).value = by
        fill(screen, **fields)
        await pilot.click("#search-start")
        await wait_for(pilot, lambda: said in outcome_text(screen), f"{said!r} on the screen")
        assert app.screen is screen and screen.doc is None
        assert "Traceback" not in outcome_text(screen)
        # the screen goes on working: a good search after it runs
        screen.query_one("#search-by", Select).value = "correlation_id"
        fill(screen, value="nothing-has-this-id", since="8h", topics="", **{"from": ""})
        await submit(pilot, screen)
        await wait_for(pilot, lambda: "No flow found" in outcome_text(screen), "no flow", 60)


async def test_esc_cancels_a_running_search_and_keeps_what_it_found(
    kafka_bootstrap: str, world: World, service: Service
) -> None:
    app = app_for(service, world, kafka_bootstrap)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_search(pilot)
        # every noise record holds "other-" (their correlation ids): each is decoded, and the
        # search of the 40,000 takes a second or more
        fill(screen, value="other-")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: screen.doc is not None and screen.doc.state == "running" and screen.doc.scanned,
            "progress",
            30,
        )
        # the service is held still while esc goes out: on an idle machine the search ends in
        # under a second, and could otherwise end before the cancel reaches it
        os.kill(service.process.pid, signal.SIGSTOP)
        try:
            assert "Searching" in outcome_text(screen)
            report = report_text(screen)
            assert f"{world.prefix}.OrderPlaced" in report and " of " in report
            await pilot.press("escape")
            await pilot.pause(0.3)  # the cancel is on its way
        finally:
            os.kill(service.process.pid, signal.SIGCONT)
        await wait_for(
            pilot,
            lambda: screen.doc is not None and screen.doc.state == "cancelled",
            "the search cancelled",
            20,
        )
        assert app.screen is screen  # esc cancelled, it did not go back
        assert "Cancelled" in outcome_text(screen)
        assert screen.doc.scanned < world.total
        assert "not scanned: stopped by cancelled" in report_text(screen)
        cancelled = screen.doc.id
        await pilot.press("escape")  # out of the value field (the footer says so)
        assert screen.focused is None and app.screen is screen
        await pilot.press("escape")  # now esc goes back
        await wait_for(pilot, lambda: app.screen is not screen, "going back")
    # the dashboard that quit left nothing held on the service (it holds at most 20)
    with service.client("viewer") as http:
        assert http.get(f"/v1/searches/{cancelled}").status_code == 404


async def test_budget_hit_says_what_was_found_and_not_scanned_and_offers_a_full_scan(
    kafka_bootstrap: str, world: World, service: Service
) -> None:
    app = app_for(service, world, kafka_bootstrap)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_search(pilot)
        screen.query_one("#search-by", Select).value = "key"
        fill(screen, value="order-8812", budget_records="40")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: screen.doc is not None and screen.doc.state == "budget",
            "the budget to stop the search",
            30,
        )
        assert "Stopped by its budget" in outcome_text(screen)
        assert "what was found" in outcome_text(screen)
        report = report_text(screen)
        assert "not scanned: stopped by the record budget (40 records)" in report
        assert "not scanned: other partitions of" in report
        assert "murmur2" in report
        again = screen.query_one("#search-full-again", Button)
        assert again.display
        first = screen.doc
        await pilot.click("#search-full-again")
        await wait_for(
            pilot,
            lambda: (
                screen.doc is not None
                and screen.doc.id != first.id
                and screen.doc.state != "running"
            ),
            "the full scan",
            30,
        )
        assert screen.doc is not None and screen.doc.query.full_scan
        assert "other partitions of" not in report_text(screen)
        assert not again.display


async def test_record_text_of_a_found_flow_is_shown_escaped(
    kafka_bootstrap: str, world: World, service: Service
) -> None:
    app = app_for(service, world, kafka_bootstrap)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_search(pilot)
        screen.query_one("#search-by", Select).value = "event_id"
        fill(screen, value=world.hostile)
        await submit(pilot, screen)
        await wait_for(pilot, lambda: isinstance(app.screen, FoundChainScreen), "the chain", 60)
        chain = app.screen
        assert isinstance(chain, FoundChainScreen)
        await wait_for(pilot, lambda: chain.ready and chain.chain is not None, "the flow")
        # the id shown is escaped, and the service is still asked about the real one
        assert "\x1b" not in chain.correlation_id and "\\x1b" in chain.correlation_id
        tree: Tree[str] = chain.query_one("#tree", Tree)
        await wait_for(pilot, lambda: bool(all_nodes(tree)), "the tree")
        labels = [str(node.label) for node in all_nodes(tree)]
        assert labels and all("\x1b" not in label and "\x07" not in label for label in labels)
        assert any("\\x1b]0;PWNED" in label for label in labels)
        detail = chain.query_one("#detail", Static)
        await wait_for(pilot, lambda: "wiped" in text_of(detail), "the payload in the detail")
        shown = text_of(detail)
        assert "\x1b" not in shown
        assert "u001b[2J wiped" in shown  # the payload as JSON, its escape written out
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, "back on the search")
        report = report_text(screen) + outcome_text(screen)
        assert "\x1b" not in report
