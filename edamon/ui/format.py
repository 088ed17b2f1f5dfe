"""Pure formatting helpers for the dashboard: numbers, times, sparklines, status colours.

Nothing here imports textual; every function is deterministic given its inputs (times are
formatted against a clock the caller passes in), so the views and their tests agree.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import lru_cache

from rich.text import Text

from edamon.model.safetext import UNKNOWN, bytes_text
from edamon.model.status import (
    ConnectionState,
    GroupStatus,
    NodeStatus,
    PartitionStatus,
    SagaState,
)
from edamon.model.waterfall import human_duration

SPARK_CHARS = "▁▂▃▄▅▆▇█"
DASH = "–"

# Calm colours: one hue per meaning, the same everywhere (Temporal's saga palette).
GREEN = "green3"
YELLOW = "yellow3"
RED = "red3"
ORANGE = "dark_orange"
BLUE = "steel_blue1"
MAGENTA = "magenta3"
DIM = "grey50"

STATUS_STYLES: dict[StrEnum, str] = {
    GroupStatus.OK: GREEN,
    GroupStatus.WARN: YELLOW,
    GroupStatus.ERR: RED,
    GroupStatus.UNKNOWN: DIM,
    PartitionStatus.OK: GREEN,
    PartitionStatus.WARN: YELLOW,
    PartitionStatus.STALL: RED,
    PartitionStatus.STOP: RED,
    PartitionStatus.REWIND: RED,
    PartitionStatus.NO_COMMIT: DIM,
    PartitionStatus.UNKNOWN: DIM,
    SagaState.COMPLETED: GREEN,
    SagaState.FAILED: RED,
    SagaState.STUCK: ORANGE,
    SagaState.COMPENSATED: YELLOW,
    SagaState.COMPENSATING: YELLOW,
    SagaState.RUNNING: BLUE,
    SagaState.DEAD_LETTERED: MAGENTA,
    NodeStatus.OK: GREEN,
    NodeStatus.PLACEHOLDER: DIM,
    NodeStatus.ORPHAN: ORANGE,
    NodeStatus.DEAD_LETTERED: RED,
    NodeStatus.RETRIED: BLUE,
    NodeStatus.LOOP: MAGENTA,
    ConnectionState.CONNECTED: GREEN,
    ConnectionState.CONNECTING: YELLOW,
    ConnectionState.ERROR: RED,
    ConnectionState.STOPPED: DIM,
}
"""Colour of every status value. StrEnum members hash by value, so enum classes sharing a value
(e.g. GroupStatus.OK and PartitionStatus.OK) share the colour, which is intended."""


def status_style(status: StrEnum | None) -> str:
    """The colour of a status value (dim when unknown or None)."""
    if status is None:
        return DIM
    return STATUS_STYLES.get(status, "")


STATUS_LABELS: dict[StrEnum, str] = {
    GroupStatus.UNKNOWN: "sampling",
    PartitionStatus.UNKNOWN: "sampling",
}
"""Words shown instead of a status value: a lag status is UNKNOWN until the sampler has a few
commits to judge (the first seconds after start)."""


def status_text(status: StrEnum | None, label: str | None = None) -> Text:
    """A status as coloured text; `label` overrides the enum's value (or its STATUS_LABELS
    word)."""
    if status is None:
        return Text(DASH, style=DIM)
    if label is None:
        label = STATUS_LABELS.get(status, str(status))
    return Text(label, style=status_style(status))


def thousands(n: int | None) -> str:
    """`1234567` -> `1,234,567`; None -> a dash."""
    return DASH if n is None else f"{n:,}"


def or_unknown(name: str | None) -> str:
    """A consumer group or original topic, or `unknown` when the dead letter names none (the
    same word everywhere, explained in help)."""
    return name or UNKNOWN


UNKNOWN_NOTE = (
    f"{UNKNOWN}: the dead letter's headers name no consumer group (or no original topic)."
)
"""The help's explanation of `or_unknown`."""


def short_class(name: str | None, missing: str = "?") -> str:
    """`TimeoutException` for `java.util.concurrent.TimeoutException`; `missing` for None."""
    return name.rsplit(".", 1)[-1] if name else missing


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 dead letter`, `3 dead letters` (`many`: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


def compact(n: float | None) -> str:
    """Short count: 950, 12.3k, 4.5M."""
    if n is None:
        return DASH
    value = float(n)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{int(value)}" if value == int(value) else f"{value:.1f}"


def rate(per_second: float | None) -> str:
    """Events per second, e.g. `12.3/s`, `0.05/s`."""
    if per_second is None:
        return DASH
    if per_second == 0:
        return "0/s"
    if per_second < 0.1:
        return f"{per_second:.2f}/s"
    if per_second < 1000:
        return f"{per_second:.1f}/s"
    return f"{compact(per_second)}/s"


def duration(seconds: float | None) -> str:
    """A short human duration (850ms, 12.3s, 4m05s, 2h03m, 3d04h, as in the waterfall);
    None -> a dash; negative values count as 0."""
    if seconds is None:
        return DASH
    return human_duration(max(0.0, seconds))


def ago(t: float, now: float) -> str:
    """Relative time in one unit: `now`, `12s ago`, `4m ago`, `3h ago`, `2d ago`; a time in
    the future is `in 3s`."""
    delta = now - t
    if abs(delta) < 0.5:
        return "now"
    if delta < 0:
        return "in " + _coarse(int(0.5 - delta))
    return _ago_whole(int(delta + 0.5))


@lru_cache(maxsize=8192)
def _ago_whole(total: int) -> str:
    return _coarse(total) + " ago"


def _coarse(total: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size:
            return f"{total // size}{unit}"
    return f"{total}s"


def clock_time(t: float, *, millis: bool = False) -> str:
    """Absolute local time of day: `10:00:01` (or `10:00:01.123`)."""
    if not millis:
        return time.strftime("%H:%M:%S", time.localtime(t))
    seconds, ms = divmod(round(t * 1000), 1000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{ms:03d}"


class Times:
    """Formats times as relative (`12s ago`) or absolute (`10:00:01`) against a clock."""

    def __init__(self, clock: Callable[[], float], absolute: bool = False) -> None:
        self.clock = clock
        self.absolute = absolute

    def __call__(self, t: float | None, *, millis: bool = False) -> str:
        """Format `t` (epoch seconds); None -> a dash."""
        if t is None:
            return DASH
        if self.absolute:
            return clock_time(t, millis=millis)
        return ago(t, self.clock())


def spark(values: Sequence[float], width: int | None = None) -> str:
    """A text sparkline (▁..█), scaled from 0 to the maximum. With `width`, the values are
    bucketed (max of each bucket, newest bucket last) and left-padded to exactly `width` cells."""
    if width is not None:
        if width <= 0:
            return ""
        values = _resample(values, width)
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        line = SPARK_CHARS[0] * len(values)
    else:
        last = len(SPARK_CHARS) - 1
        line = "".join(SPARK_CHARS[min(last, int(v / top * last + 0.5))] for v in values)
    return line.rjust(width) if width is not None else line


def _resample(values: Sequence[float], width: int) -> list[float]:
    n = len(values)
    if n <= width:
        return list(values)
    out: list[float] = []
    for i in range(width):
        lo = i * n // width
        hi = max(lo + 1, (i + 1) * n // width)
        out.append(max(values[lo:hi]))
    return out


def shorten(text: str | None, width: int) -> str:
    """Cut `text` to `width` characters with an ellipsis; None -> a dash."""
    if text is None:
        return DASH
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return flat[: max(0, width - 1)] + "…"


def shorten_middle(text: str, width: int) -> str:
    """Cut `text` to fit `width`, keeping a short start and as much of the end as fits.

    Topic names share their starts (`demo.commands.`) and differ at their ends (the event
    type, `.DLT`): `demo…ChargePayment` and `demo…RefundPayment` stay apart where a cut in
    the middle made both `demo.co…Payment`. The start kept is at most a quarter of the width
    and at most the first dotted part of the name; none when the last part would not be
    whole with it (`…orchestrator`, not `dem…hestrator`: names of one system share their
    starts, and the most of the last part is kept)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    parts = re.split(r"[.\-_]", text)
    head = max(1, min(width // 4, len(parts[0])))
    tail = width - 1 - head
    if len(parts) > 1 and tail < len(parts[-1]):
        end = text[len(text) - (width - 1) :]
        stub = re.match(r"[^.\-_]{0,2}[.\-_]", end)  # `o.` of `…o.orchestrator`: noise
        return "…" + (end[stub.end() :] if stub else end)
    end = text[len(text) - tail :] if tail > 0 else ""
    return text[:head] + "…" + (end[1:] if end[:1] in (".", "-", "_") else end)


def short_id(identifier: str | None, width: int = 8) -> str:
    """The first characters of an id (uuids are unique enough in their first 8)."""
    if identifier is None:
        return DASH
    return identifier if len(identifier) <= width else identifier[:width]


def header_value(value: bytes) -> str:
    """A header value (or a key) as one safe line: text when it is printable UTF-8, else hex
    (named when the format is known: a Java serialized object)."""
    return bytes_text(value)
