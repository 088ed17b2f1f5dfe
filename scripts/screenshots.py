"""Generate SVG screenshots of every dashboard screen into screenshots/, from the app itself.

    python scripts/screenshots.py [--out screenshots] [--size 120x40]

The data comes from `data_source()`: for now the hand-made fake view of the UI tests; swap that
one function for the demo's deterministic data when it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "ui")]

from edamon.collector.api import CollectorView  # noqa: E402
from edamon.config import Settings  # noqa: E402
from edamon.ui.app import EdamonApp  # noqa: E402

SHOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("overview", ()),
    ("chains", ("2",)),
    ("chain", ("2", "enter", "down", "down", "down", "down")),
    ("dead-letters", ("3",)),
    ("sagas", ("4",)),
    ("lag", ("5", "down")),
    ("help", ("question_mark",)),
)
"""(file name, keys pressed from the overview) for each screenshot."""


def data_source() -> tuple[CollectorView, Settings, Callable[[], float]]:
    """The view, settings and clock the screenshots are taken from."""
    from fakes import FakeView, clock, settings

    return FakeView(), settings(), clock


async def shoot(name: str, keys: Sequence[str], out: Path, size: tuple[int, int]) -> Path:
    """Run the app headless, press `keys`, and save the screen as `out/name.svg`."""
    view, settings, clock = data_source()
    app = EdamonApp(view, settings, clock=clock, refresh=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return Path(app.save_screenshot(f"{name}.svg", str(out)))


def main(argv: Sequence[str] | None = None) -> int:
    """Write one SVG per screen; print the paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, keys in SHOTS:
        path = asyncio.run(shoot(name, keys, args.out, (width, height)))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
