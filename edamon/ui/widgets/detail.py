"""Detail renderings of one event and one dead letter: envelope fields, headers, payload.

These build Rich renderables from the immutable model; the payload is parsed on demand here
(the model keeps only the bytes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.highlighter import JSONHighlighter
from rich.measure import Measurement
from rich.text import Text

from edamon.model.chainnodes import RETRY_ATTEMPT
from edamon.model.chainnodes import RETRY_HEADER as RETRY_OF
from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope, EnvelopeFormat, SchemaRef
from edamon.model.records import Header, RawRecord
from edamon.model.safetext import bytes_text, payload_text
from edamon.model.snapshot import ChainNode, DeadLetterRow
from edamon.model.status import NodeStatus
from edamon.ui.format import (
    BLUE,
    DASH,
    DIM,
    RED,
    Times,
    duration,
    header_value,
    or_unknown,
    status_text,
)

MAX_PAYLOAD_CHARS = 20_000
DETAIL_REFRESH_S = 5
"""Detail panes re-render at most this often for their relative times alone."""

FORMAT_NAMES = {
    EnvelopeFormat.SEED: "JSON envelope (configured fields)",
    EnvelopeFormat.CLOUDEVENTS_BINARY: "CloudEvents, binary mode",
    EnvelopeFormat.CLOUDEVENTS_STRUCTURED: "CloudEvents, structured mode",
}
"""How the event was decoded, in words ("seed" is the name of edamon's default envelope)."""


def detail_epoch(times: Times) -> int:
    """Changes every DETAIL_REFRESH_S seconds of the clock (never in absolute mode)."""
    return 0 if times.absolute else int(times.clock() // DETAIL_REFRESH_S)


class Fields:
    """Names and values in two columns: the names (in one style) as wide as the widest, two
    spaces, then each value folded into the width left, its next lines under its first. A
    name too long for its column (it leaves a value at least MIN_VALUE cells) folds too.
    What a Rich `Table.grid` of two columns draws, without the table's measuring of every
    cell (a third of the time it took to draw a dead letter's detail)."""

    GAP = 2
    MIN_VALUE = 12

    def __init__(self, rows: Sequence[tuple[Text, Text]], style: str) -> None:
        self.rows = rows
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.rows:
            return
        width = options.max_width
        widest = max(name.cell_len for name, _ in self.rows)
        names = max(1, min(widest, width - self.GAP - self.MIN_VALUE))
        room = max(1, width - names - self.GAP)
        for name, value in self.rows:
            label = name.copy()
            label.stylize(self.style)
            labels = label.wrap(console, names, overflow="fold")
            values = value.wrap(console, room, overflow="fold")
            for i in range(max(len(labels), len(values))):
                left = labels[i] if i < len(labels) else Text()
                left.pad_right(names + self.GAP - left.cell_len)
                left.end = ""
                yield left
                if i < len(values):
                    line = values[i]
                    line.end = "\n"
                    yield line
                else:
                    yield Text()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        names = max((name.cell_len for name, _ in self.rows), default=0)
        values = max((value.cell_len for _, value in self.rows), default=0)
        return Measurement(min(names, 1) + self.GAP + 1, names + self.GAP + values)


def _fields(rows: Sequence[tuple[str, str | Text | None]]) -> Fields:
    shown: list[tuple[Text, Text]] = []
    for name, value in rows:
        if value is None or value == "":
            shown.append((Text(name), Text(DASH, style=DIM)))
        else:  # Text: a str would be read as markup by Rich, and record text is never markup
            shown.append((Text(name), Text(value) if isinstance(value, str) else value))
    return Fields(shown, "bold")


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def headers_table(headers: Sequence[Header]) -> RenderableType:
    """All headers in record order; repeated keys kept; binary values shown as hex."""
    if not headers:
        return Text("(no headers)", style=DIM)
    return Fields([(Text(key), Text(header_value(value))) for key, value in headers], "cyan")


def payload_view(
    value: bytes | None, truncated: bool = False, schema: SchemaRef | None = None
) -> RenderableType:
    """The value as highlighted JSON when it parses, else as text (or hex when binary, with
    its format named when known); control characters shown as escapes. A value written with a
    registry `schema` (Avro, Protobuf) is decoded with it first."""
    if value is None:
        return Text("(null value: tombstone)", style=DIM)
    parts: list[RenderableType] = []
    if truncated:
        parts.append(Text(f"(value truncated to {len(value):,} bytes)", style="italic " + DIM))
    if schema is not None and schema.read is not None:
        parts.append(Text(schema.label, style="italic " + DIM))
        try:
            data = schema.read(value)
        except ValueError as exc:
            parts.append(Text(f"(not decoded: {exc})", style="italic " + DIM))
        else:
            value = json.dumps(data, ensure_ascii=False, default=str).encode()
    kind, text = payload_text(value, MAX_PAYLOAD_CHARS)
    if kind == "json":
        highlighted = JSONHighlighter()(text)
        highlighted.no_wrap = False  # long values fold onto the next lines, not cut
        highlighted.overflow = "fold"
        parts.append(highlighted)
    else:
        if kind == "text" and not truncated:
            parts.append(Text("(not JSON: raw text)", style="italic " + DIM))
        parts.append(Text(text))
    return Group(*parts)


def _record_fields(record: RawRecord, times: Times, dropped: bool = False) -> Fields:
    key = None if record.key is None else header_value(record.key)
    value = "null" if record.value is None else f"{len(record.value):,} bytes"
    if dropped:
        key = value = "(not in memory)"
    return _fields(
        [
            ("topic", record.topic),
            ("partition", str(record.partition)),
            ("offset", str(record.offset)),
            ("timestamp", times(record.timestamp_ms / 1000.0, millis=True)),
            ("key", key),
            ("value", value),
        ]
    )


def event_detail(
    env: Envelope | None,
    node: ChainNode | None,
    times: Times,
    record_note: str | None = None,
) -> RenderableType:
    """Envelope fields, chain facts, Kafka coordinates, headers (all, in order) and payload.

    For an envelope whose record data was dropped (`env.dropped`) the headers and payload are
    replaced by `record_note` (what reading them again from Kafka is doing or gave)."""
    if env is None:
        if node is None:
            return Text("Select an event.", style=DIM)
        return Group(
            Text(f"{node.event_type}  {node.event_id}", style="bold"),
            status_text(node.status),
            Text(node.detail or "This event is not retained (only referenced or evicted).", DIM),
        )
    parts: list[RenderableType] = [
        Text(f"{env.event_type}", style="bold"),
        _fields(
            [
                ("event id", env.event_id),
                ("correlation", env.correlation_id),
                ("causation", env.causation_id),
                ("aggregate", env.aggregate_id),
                ("occurred", times(env.occurred_at, millis=True) if env.occurred_at else None),
                ("version", None if env.version is None else str(env.version)),
                ("source", env.source),
                ("trace id", env.trace_id),
                ("format", FORMAT_NAMES.get(env.format, str(env.format))),
                *([("schema", Text(env.schema.label))] if env.schema else []),
            ]
        ),
    ]
    if node is not None:
        facts: list[tuple[str, str | Text | None]] = [
            ("status", status_text(node.status)),
            ("+Δ root", duration(node.offset_s)),
            ("+Δ parent", None if node.hop_s is None else duration(node.hop_s)),
            ("duplicates", str(node.duplicates) if node.duplicates else None),
        ]
        if node.dead_letter:
            facts.append(("dead letter", Text(node.dead_letter, style=RED)))
        if node.detail:
            facts.append(("note", node.detail))
        parts += [_section("In this chain"), _fields(facts)]
    parts += [_section("Kafka"), _record_fields(env.record, times, env.dropped)]
    if env.dropped:
        note = record_note or "Not kept in memory."
        parts += [_section("Headers and payload"), Text(note, style=DIM)]
        return Group(*parts)
    parts += [
        _section(f"Headers ({len(env.record.headers)})"),
        headers_table(env.record.headers),
        _section("Payload"),
        payload_view(env.record.value, env.truncated, env.schema),
    ]
    return Group(*parts)


def dead_letter_detail(
    dead: DeadLetter | None, row: DeadLetterRow | None, times: Times, note: str | None = None
) -> RenderableType:
    """What the DLQ headers say (message, stack trace), the headers and the payload; for a
    dead letter whose body is not in memory (`dropped`), `note` instead of them."""
    if dead is None:
        if row is None:
            return Text("Select a dead letter.", style=DIM)
        return Group(
            Text(row.coords, style="bold"),
            Text(row.message or DASH),
            Text("The record is no longer retained.", style=DIM),
        )
    info = dead.info
    parts: list[RenderableType] = [
        Text(info.exception_class or "(no exception class)", style="bold " + RED),
        Text(info.exception_message or "(no message)"),
        _fields(
            [
                ("original", info.original_coords or info.original_topic),
                ("group", or_unknown(info.consumer_group)),
                ("attempts", None if info.attempts is None else str(info.attempts)),
                ("cause", info.cause_class),
                ("handler", info.handler),
                ("convention", info.convention),
                ("correlation", dead.correlation_id),
                ("retried", None if row is None else _retry_text(row, times)),
            ]
        ),
    ]
    if info.problems:
        parts.append(Text("header problems: " + "; ".join(info.problems), style=DIM))
    if dead.decode_error:
        parts.append(Text(f"payload not decoded: {dead.decode_error}", style=DIM))
    if dead.dropped:
        parts += [_section("Kafka"), _record_fields(dead.record, times)]
        parts.append(Text(note or "The body is not kept in memory.", style=DIM))
        return Group(*parts)
    if info.stacktrace:
        parts += [_section("Stack trace"), Text(info.stacktrace, style=DIM)]
    parts += [
        _section("Kafka"),
        _record_fields(dead.record, times),
        _section(f"Headers ({len(dead.record.headers)})"),
        headers_table(dead.record.headers),
        _section("Payload"),
        payload_view(
            dead.record.value,
            dead.envelope.truncated if dead.envelope else False,
            dead.envelope.schema if dead.envelope else None,
        ),
    ]
    return Group(*parts)


def redrive_detail(
    node: ChainNode,
    dead: DeadLetter | None,
    row: DeadLetterRow | None,
    copy: Envelope | None,
    times: Times,
    note: str | None = None,
) -> RenderableType:
    """A redriven copy of a dead letter (a `↻ retried` node of a chain): when it was sent,
    which attempt, where to, what it redrove and why that had failed, the ledger's word on the
    dead letter (`row`: when, by whom), then the copy's own record (`copy`, once read; until
    then `note` says why it is not shown)."""
    record = None if copy is None or copy.dropped else copy.record
    retry_of = dead.coords if dead is not None else None
    if retry_of is None and record is not None:
        retry_of = _header(record, RETRY_OF)
    attempt = _header(record, RETRY_ATTEMPT) if record is not None else None
    info = dead.info if dead is not None else None
    failure = None
    if info is not None:
        failure = ": ".join(p for p in (info.exception_class, info.exception_message) if p)
    title = Text("↻ redriven copy", style="bold " + BLUE)
    if node.event_type:
        title.append(f" of {node.event_type}", style="bold")
    if node.status is not NodeStatus.RETRIED:  # e.g. part of a causation loop
        title.append("  ").append_text(status_text(node.status))
    parts: list[RenderableType] = [
        title,
        _fields(
            [
                ("sent", times(node.time, millis=True)),
                ("attempt", attempt),
                ("sent to", node.coords),
                ("redrive of", retry_of),
                ("original", info.original_coords or info.original_topic if info else None),
                ("failure", failure),
                ("retried", None if row is None else _retry_text(row, times)),
                ("+Δ root", duration(node.offset_s)),
                ("+Δ parent", None if node.hop_s is None else duration(node.hop_s)),
            ]
        ),
    ]
    if copy is None or record is None:
        parts += [_section("Headers and payload"), Text(note or "Not read.", style=DIM)]
        return Group(*parts)
    parts += [
        _section("Kafka"),
        _record_fields(record, times),
        _section(f"Headers ({len(record.headers)})"),
        headers_table(record.headers),
        _section("Payload"),
        payload_view(record.value, copy.truncated, copy.schema),
    ]
    return Group(*parts)


def _header(record: RawRecord, name: str) -> str | None:
    value = record.header(name)
    return None if value is None else bytes_text(value)


def _retry_text(row: DeadLetterRow, times: Times) -> str | None:
    if row.retry is None:
        return None
    text = row.retry
    if row.retried_at is not None:
        text += f" {times(row.retried_at)}"
    if row.retried_by:
        text += f" by {row.retried_by}"
    return text
