"""What the screens say in a small terminal and in words: the connection state on every
screen, one word for an unknown consumer group, "sampling" for a lag status not known yet,
no news of dead letters on the screen that lists them, one notification per refusal."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
import uitools
from fakes import FakeView, make_app, make_snapshot
from hostile import svg_text
from uitools import settle

from edamon.model.snapshot import ConnectionView, Snapshot
from edamon.model.status import ConnectionState, GroupStatus, PartitionStatus, SagaState
from edamon.ui.alerts import AlertTracker
from edamon.ui.app import EdamonApp
from edamon.ui.screens.deadletters import DeadLettersScreen
from edamon.ui.screens.help import HelpScreen

WIDE = (120, 40)
SMALL = (80, 24)
CLUSTER = "broker-1.kafka.internal:9092,broker-2.kafka.internal:9092,broker-3.kafka.internal:9092"
DOWN = "Kafka unreachable: connection refused (retrying in 2s)"
SCREENS: dict[str, Sequence[str]] = {
    "overview": (),
    "chains": ("2",),
    "chain": ("2", "enter"),
    "dead-letters": ("3",),
    "sagas": ("4",),
    "lag": ("5",),
    "throughput": ("6",),
}


async def shown(app: EdamonApp, size: tuple[int, int], keys: Sequence[str]) -> str:
    async with app.run_test(size=size) as pilot:
        await app.refresh_now()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await settle(pilot)  # what the key asked of the service (a chain) has come
        return svg_text(app.export_screenshot())


def broker_down(snap: Snapshot) -> Snapshot:
    return dataclasses.replace(
        snap, connection=ConnectionView(ConnectionState.CONNECTING, CLUSTER, DOWN)
    )


class TestConnectionStateOnEveryScreen:
    @pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
    @pytest.mark.parametrize("name", list(SCREENS))
    async def test_a_broker_down_is_said_on_every_screen(
        self, name: str, size: tuple[int, int]
    ) -> None:
        text = await shown(make_app(FakeView(broker_down(make_snapshot()))), size, SCREENS[name])
        lines = text.splitlines()
        assert "● connecting" in lines[0] or "● connecting" in lines[2]  # nav bar or head
        assert DOWN in text  # and why, in words (status line, or the overview's head)

    async def test_caught_up_is_not_claimed_while_not_connected(self) -> None:
        snap = make_snapshot()
        assert snap.catchup.caught_up
        assert "caught up" in await shown(make_app(FakeView(snap)), WIDE, ())
        down = ConnectionView(ConnectionState.CONNECTING, "k:9092", "no answer from k:9092 for 5s")
        text = await shown(make_app(FakeView(dataclasses.replace(snap, connection=down))), WIDE, ())
        assert "caught up" not in text
        assert "stale (not connected)" in text.splitlines()[2]  # the overview's head


class TestWords:
    async def test_an_unknown_consumer_group_is_one_word_everywhere(self) -> None:
        snap = make_snapshot()
        rows = tuple(dataclasses.replace(r, consumer_group=None) for r in snap.dead_letters)
        groups = tuple(dataclasses.replace(g, consumer_group=None) for g in snap.dead_letter_groups)
        view = FakeView(dataclasses.replace(snap, dead_letters=rows, dead_letter_groups=groups))
        overview = await shown(make_app(view), WIDE, ())
        dead_letters = await shown(make_app(view), WIDE, ("3",))
        for text in (overview, dead_letters):
            assert " unknown " in text
            assert text.count(" ? ") == 1  # the footer's "? Help" only
        helped = await shown(make_app(view), WIDE, ("3", "question_mark"))
        assert "unknown: the dead letter's headers name no consumer group" in helped

    @pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
    @pytest.mark.parametrize("keys", [(), ("5",)], ids=["overview", "lag"])
    async def test_a_lag_status_not_known_yet_says_sampling(
        self, size: tuple[int, int], keys: Sequence[str]
    ) -> None:
        snap = make_snapshot()
        lag = tuple(
            dataclasses.replace(
                g,
                status=GroupStatus.UNKNOWN,
                worst=PartitionStatus.UNKNOWN,
                partitions=tuple(
                    dataclasses.replace(p, status=PartitionStatus.UNKNOWN) for p in g.partitions
                ),
            )
            for g in snap.lag
        )
        text = await shown(make_app(FakeView(dataclasses.replace(snap, lag=lag))), size, keys)
        assert "sampling" in text and "UNKNO" not in text


class TestNews:
    async def test_no_news_of_dead_letters_on_their_screen_even_under_a_modal(self) -> None:
        view = FakeView()
        app = make_app(view)
        notes = uitools.record_notifications(app)
        async with app.run_test(size=WIDE) as pilot:
            await app.refresh_now()
            await pilot.press("3")
            assert isinstance(app.screen, DeadLettersScreen)
            totals = view.snap.totals
            view.snap = dataclasses.replace(
                view.snap, totals=dataclasses.replace(totals, dead_letters=totals.dead_letters + 2)
            )
            await app.refresh_now()
            await pilot.pause()
            status = svg_text(app.export_screenshot())
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            view.snap = dataclasses.replace(
                view.snap, totals=dataclasses.replace(totals, dead_letters=totals.dead_letters + 5)
            )
            app.alerts.clock = lambda: view.snap.taken_at + 3600
            await app.refresh_now()
            await pilot.pause()
        assert "new dead letter" not in status  # not in the status line of screen 3
        assert not [m for m, _ in notes if "new dead letter" in m]

    def test_a_refused_login_is_told_once_while_retrying(self) -> None:
        snap = make_snapshot()
        tracker = AlertTracker(lambda: snap.taken_at)
        refused = "SASL authentication failed: wrong password"
        states = [
            (ConnectionState.CONNECTING, ""),
            (ConnectionState.ERROR, refused),
            (ConnectionState.CONNECTING, "retrying in 1s"),
            (ConnectionState.ERROR, refused),
            (ConnectionState.CONNECTED, ""),
            (ConnectionState.ERROR, refused),
        ]
        told = []
        for state, message in states:
            conn = ConnectionView(state, "k:9092", message)
            told += [a.message for a in tracker.check(dataclasses.replace(snap, connection=conn))]
        assert told == [
            f"Kafka k:9092: {refused}",
            "Kafka k:9092: connected again",
            f"Kafka k:9092: {refused}",  # after a success it is news again
        ]


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
async def test_the_chain_head_keeps_the_saga_state(size: tuple[int, int]) -> None:
    text = await shown(make_app(), size, ("2", "enter"))
    head = text.splitlines()[2]
    assert "saga" in head and "DEAD-LETTERED" in head


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
async def test_a_running_sagas_step_is_named_in_full_in_the_chain_head(
    size: tuple[int, int],
) -> None:
    view = FakeView()
    cid = view.main.summary.correlation_id
    view.main = dataclasses.replace(
        view.main, summary=dataclasses.replace(view.main.summary, saga_state=SagaState.RUNNING)
    )
    instances = tuple(
        dataclasses.replace(i, state=SagaState.RUNNING, step=3, step_name="charge-payment")
        if i.correlation_id == cid
        else i
        for i in view.snap.saga_instances
    )
    assert any(i.correlation_id == cid for i in instances)
    view.snap = dataclasses.replace(view.snap, saga_instances=instances)
    text = await shown(make_app(view), size, ("2", "enter"))
    head = text.splitlines()[2]
    assert "RUNNING at step 3: charge-payment" in head


async def test_spare_width_goes_to_topic_names() -> None:
    """At 160 columns the dead letters' exception column is at its widest: what is left
    shows the original topics whole rather than blank cells beside them."""
    text = await shown(make_app(), (160, 40), ("3",))
    assert "shipping.ShipmentScheduled " in text
