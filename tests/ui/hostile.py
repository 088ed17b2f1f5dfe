"""Hostile record text for the dashboard tests: every string a view can answer with ends in
terminal escapes (set the title, clear the screen, a C1 CSI, a newline, a bidi override), and
record bytes (keys, header names and values, payloads) carry them too.

`HostileView` answers like FakeView, with everything poisoned; ids it is asked about arrive as
the app shows them (escaped, mapped back by the DataSource to the poisoned original, sent over
/v1 to the service) and are cut back
to FakeView's own before asking it.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from enum import Enum
from typing import Any, TypeVar

from fakes import FakeView
from rich.cells import cell_len

from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.records import RawRecord
from edamon.model.snapshot import ChainView, Snapshot

T = TypeVar("T")

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x9b1;1H\n\u202e"
"""OSC 0 (window title), ED (clear screen), C1 CSI (cursor home), a newline, RLO."""
SHOWN = "\\x1b]0;PWNED\\x07"
"""How the start of HOSTILE reads on screen."""
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Characters that must never reach the terminal from a record (tab and newline are layout)."""


COORDS = ("coords", "dead_letter")
"""Fields holding a record's address `topic/partition/offset`: poisoned in the topic (the
numbers are numbers; the service refuses an address whose offset is not one)."""


def poison(value: T, suffix: str = HOSTILE) -> T:
    """`value` with `suffix` appended to every string and to bytes that are text."""
    return _poison(value, "", suffix)  # type: ignore[no-any-return]


def _poison(value: Any, name: str, suffix: str = HOSTILE) -> Any:
    if isinstance(value, Enum) or value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str) and name in COORDS and value.count("/") >= 2:
        topic, partition, offset = value.rsplit("/", 2)  # an address: the topic is text
        return f"{topic}{suffix}/{partition}/{offset}"
    if isinstance(value, str):
        return value + suffix
    if isinstance(value, bytes):
        if name == "value":
            return _poison_payload(value)
        return value + suffix.encode()
    if isinstance(value, tuple):
        items = [_poison(item, name, suffix) for item in value]
        make = getattr(type(value), "_make", None)
        return make(items) if make is not None else tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        changes = {f.name: _poison(getattr(value, f.name), f.name, suffix) for f in fields}
        return dataclasses.replace(value, **changes)
    raise TypeError(type(value).__name__)


def _poison_payload(value: bytes) -> bytes:
    try:
        data = json.loads(value)
    except ValueError:
        return value + HOSTILE.encode()
    return json.dumps(_poison_json(data), ensure_ascii=False).encode()


def _poison_json(data: Any) -> Any:
    if isinstance(data, str):
        return data + HOSTILE
    if isinstance(data, dict):
        return {k + HOSTILE: _poison_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_poison_json(v) for v in data]
    return data


class HostileView(FakeView):
    """FakeView's answers, with `suffix` after every string."""

    def __init__(self, suffix: str = HOSTILE) -> None:
        super().__init__()
        self.suffix = suffix

    def snapshot(self) -> Snapshot:
        return poison(super().snapshot(), self.suffix)

    def chain(self, correlation_id: str) -> ChainView | None:
        return poison(super().chain(self.unpoison(correlation_id)), self.suffix)

    def event(self, event_id: str) -> Envelope | None:
        return poison(super().event(self.unpoison(event_id)), self.suffix)

    async def read_record(self, coords: str) -> RawRecord | None:
        return poison(await super().read_record(self.unpoison(coords)), self.suffix)

    def dead_letter(self, coords: str) -> DeadLetter | None:
        return poison(super().dead_letter(self.unpoison(coords)), self.suffix)

    def unpoison(self, text: str) -> str:
        if text.endswith(self.suffix):
            return text.removesuffix(self.suffix)
        return text.replace(self.suffix + "/", "/", 1)  # an address, poisoned in its topic


_SVG_TEXT = re.compile(r'<text [^>]*x="([\d.]+)"[^>]*line-(\d+)\)"[^>]*>([^<]*)</text>')


CELL_PX = 12.2
"""The width of one cell in Textual's SVG export (font size 20 × 0.61)."""


def svg_text(svg: str) -> str:
    """The text of a screenshot (Textual's SVG export), line by line. The export leaves out
    runs of blanks (their background is a rect): each text is put at its own column."""
    lines: dict[int, list[tuple[float, str]]] = {}
    for x, line, text in _SVG_TEXT.findall(svg):
        lines.setdefault(int(line), []).append((float(x), html.unescape(text).replace("\xa0", " ")))
    out = []
    for n in sorted(lines):
        row = ""
        for x, text in sorted(lines[n]):
            column = round(x / CELL_PX) - 1  # the export starts one cell in
            row += " " * max(0, column - cell_len(row)) + text
        out.append(row)
    return "\n".join(out)
