"""Generate SVG screenshots of every dashboard screen into screenshots/, from the app itself.

    python scripts/screenshots.py [--out screenshots] [--seed 7] [--seconds 120] [--speed 10]

The data is the demo's: the in-memory demo system runs with a fixed seed on a sped-up
`DemoClock` that starts at a fixed instant, watched by a real `Collector`, for a fixed amount of
simulated time. Then everything is stopped (the data is frozen) and each screen is rendered
headless against a clock fixed at the moment of the stop, in UTC. The simulation is seeded but
runs on real timers, so two runs can differ in a few events; that is fine for screenshots (the
snapshot tests under tests/ui use fixed fake data instead).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from edamon.actions.service import RetryService  # noqa: E402
from edamon.broker.memory import MemoryBroker  # noqa: E402
from edamon.client import EdamonClient  # noqa: E402
from edamon.collector.collector import Collector  # noqa: E402
from edamon.config import Settings, load_settings  # noqa: E402
from edamon.demo.clock import DemoClock  # noqa: E402
from edamon.demo.runner import DemoSystem  # noqa: E402
from edamon.model.snapshot import ChainSummary  # noqa: E402
from edamon.model.status import ConnectionState, SagaState  # noqa: E402
from edamon.service.app import create_app  # noqa: E402
from edamon.service.auth import Tokens  # noqa: E402
from edamon.service.backend import Backend  # noqa: E402
from edamon.ui.app import EdamonApp  # noqa: E402
from edamon.ui.source import DataSource  # noqa: E402

START = 1_767_261_600.0
"""The simulation starts at 2026-01-01 10:00:00 UTC."""

Step = Callable[[Pilot[Any], EdamonApp, Collector], Awaitable[None]]
TOKEN = "screenshots-operator-token-000000"


@dataclass(frozen=True)
class Shot:
    """One screenshot: file name, terminal size, and keys to press (or a step to run)."""

    name: str
    size: tuple[int, int] = (120, 40)
    keys: tuple[str, ...] = ()
    step: Step | None = None


class FrozenClock:
    """`source()` until `freeze()`, then the moment of the freeze forever."""

    def __init__(self, source: Callable[[], float]) -> None:
        self.source = source
        self.frozen: float | None = None

    def __call__(self) -> float:
        return self.frozen if self.frozen is not None else self.source()

    def freeze(self) -> None:
        """Stop the clock at the current moment."""
        self.frozen = self.source()


def demo_settings(seed: int) -> Settings:
    """The demo's config with a fixed seed; collector timers (real seconds) made short so the
    sped-up simulation is sampled about as densely as a real-time one."""
    overrides: dict[str, Any] = {
        "demo": {"seed": seed},
        "topics": {"refresh_s": 0.2},
        "lag": {"interval_s": 0.2},
        "ui": {"theme": "textual-dark", "absolute_times": False},
    }
    return load_settings(ROOT / "config" / "demo.toml", overrides, use_default_path=False)


async def simulate(
    settings: Settings, seconds: float, speed: float
) -> tuple[Collector, FrozenClock]:
    """Run the demo and a collector for `seconds` of simulated time, then freeze: stop the
    clock, stop the collector (its data stays), stop the demo."""
    demo_clock = DemoClock(speed=speed, start=START)
    clock = FrozenClock(demo_clock.now)
    broker = MemoryBroker(clock=clock)
    system = DemoSystem(broker, settings.demo, clock=demo_clock)
    collector = Collector(broker, settings, clock=clock)
    await broker.start()
    tasks = [asyncio.create_task(collector.run()), asyncio.create_task(system.run())]
    await asyncio.sleep(demo_clock.real(seconds))
    clock.freeze()
    for task in tasks:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    # Stopping the collector marked it "stopped": show the connection as it was while running.
    collector.state.set_connection(ConnectionState.CONNECTED, "", clock())
    return collector, clock


def chain_worth_showing(chains: Sequence[ChainSummary]) -> ChainSummary | None:
    """A flow with a dead letter (else a compensated one), the longest such."""
    for wanted in (
        lambda c: c.dead_letters > 0,
        lambda c: c.saga_state is SagaState.COMPENSATED,
    ):
        found = [c for c in chains if wanted(c)]
        if found:
            return max(found, key=lambda c: (c.events, c.correlation_id))
    return None


async def open_interesting_chain(pilot: Pilot[Any], app: EdamonApp, collector: Collector) -> None:
    """Open the chosen flow with its dead-lettered (or last) event selected."""
    snap = collector.snapshot()
    chosen = chain_worth_showing(snap.chains)
    if chosen is None:
        raise SystemExit("the simulation produced no flow with a dead letter or compensation")
    view = collector.chain(chosen.correlation_id)
    assert view is not None
    node = next((n for n in view.nodes if n.dead_letter), view.nodes[-1])
    app.open_chain(chosen.correlation_id, node.event_id)
    await pilot.pause()


SHOTS: tuple[Shot, ...] = (
    Shot("overview"),
    Shot("overview-80x24", size=(80, 24)),
    Shot("chains", keys=("2",)),
    Shot("chain", step=open_interesting_chain),
    Shot("chain-80x24", size=(80, 24), step=open_interesting_chain),
    Shot("dead-letters", keys=("3",)),
    Shot("sagas", keys=("4",)),
    Shot("lag", keys=("5",)),
    Shot("throughput", keys=("6",)),
    Shot("help", keys=("question_mark",)),
    Shot("help-80x24", size=(80, 24), keys=("question_mark",)),
)
"""Every screenshot, taken from the overview."""


async def shoot(
    shot: Shot, collector: Collector, settings: Settings, clock: FrozenClock, out: Path
) -> Path:
    """Render one screen headless and save it as `out/<name>.svg`: the dashboard as a client
    of the real service app over the frozen collector, served in process."""
    broker = MemoryBroker(clock=clock)
    backend = Backend(collector, RetryService(broker, settings), broker, settings)
    service = create_app(backend, Tokens(None, TOKEN, "screenshots"), max_body_bytes=1 << 20)
    client = EdamonClient("http://edamon.local", TOKEN, transport=httpx.ASGITransport(app=service))
    app = EdamonApp(DataSource(client), settings, clock=clock, refresh=False)
    async with app.run_test(size=shot.size) as pilot:
        await pilot.pause()
        for key in shot.keys:
            await pilot.press(key)
            await pilot.pause()
        if shot.step is not None:
            await shot.step(pilot, app, collector)
        await app.refresh_now()
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        return Path(app.save_screenshot(f"{shot.name}.svg", str(out)))


async def take_all(args: argparse.Namespace) -> list[Path]:
    """Simulate once, then take every screenshot from the frozen collector."""
    settings = demo_settings(args.seed)
    collector, clock = await simulate(settings, args.seconds, args.speed)
    return [await shoot(shot, collector, settings, clock, args.out) for shot in SHOTS]


def main(argv: Sequence[str] | None = None) -> int:
    """Write one SVG per screen; print the paths."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo")
    parser.add_argument("--seconds", type=float, default=300.0, help="simulated seconds")
    parser.add_argument("--speed", type=float, default=10.0, help="simulated seconds per second")
    args = parser.parse_args(argv)
    os.environ["TZ"] = "UTC"  # absolute times in the detail panes do not depend on the machine
    time.tzset()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(take_all(args)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
