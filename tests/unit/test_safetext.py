"""Record text made safe to show: escapes, lines, the walk over model values, bytes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edamon.model.deadletter import DeadLetterInfo
from edamon.model.records import RawRecord
from edamon.model.safetext import (
    SafeWalk,
    bytes_text,
    payload_text,
    preview_text,
    sanitize,
    sanitized,
)
from edamon.model.snapshot import DeadLetterRow
from edamon.model.status import SagaState

ISSUE_TYPE = "OrderPlaced\x1b]0;PWNED\x07\x1b[2J\x1b[HPWNED"


def test_terminal_escapes_become_visible_text() -> None:
    assert sanitize(ISSUE_TYPE) == "OrderPlaced\\x1b]0;PWNED\\x07\\x1b[2J\\x1b[HPWNED"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x9b2J", "\\x9b2J"),  # C1 CSI
        ("a\x7fb", "a\\x7fb"),  # DEL
        ("x\x00y", "x\\x00y"),
        ("admin\u202etxt.exe", "admin\\u202etxt.exe"),  # bidi override
        ("\u2066a\u2069", "\\u2066a\\u2069"),  # bidi isolates
        ("pay\u200bment", "pay\\u200bment"),  # zero width
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line / paragraph separators
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),  # one line
        ("\ud800", "\\ud800"),  # a lone surrogate (from a JSON escape)
        ("\U000e0041", "\\U000e0041"),  # a tag character
    ],
)
def test_each_dangerous_character_is_escaped(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown
    shown.encode("utf-8")  # and the result can be written at all


def test_ordinary_text_comes_back_as_it_is() -> None:
    text = "Zahlung über 12 € — 注文 ✓ café"
    assert sanitize(text) is text
    assert sanitize(text, multiline=True) is text


def test_multiline_text_keeps_lines_and_tabs_only() -> None:
    trace = "boom\r\n\tat a.B(B.java:1)\n\x1b[2Jx"
    assert sanitize(trace, multiline=True) == "boom\n\tat a.B(B.java:1)\n\\x1b[2Jx"


def test_sanitized_copies_dataclasses_with_only_their_strings_changed() -> None:
    record = RawRecord("t", 0, 1, 5, b"k\x1b", b"v\x1b", (("h\x1b", b"\x1b"),))
    safe = sanitized(record)
    assert safe.headers == (("h\\x1b", b"\x1b"),)  # names are text; bytes stay bytes
    assert safe.key == b"k\x1b" and safe.value == b"v\x1b"
    clean = RawRecord("t", 0, 1, 5, None, b"v")
    assert sanitized(clean) is clean  # nothing to escape: no copy


def test_stack_traces_keep_their_lines_and_messages_in_rows_do_not() -> None:
    info = DeadLetterInfo("x", exception_message="a\nb", stacktrace="a\n\tat b")
    assert sanitized(info) is info
    row = DeadLetterRow(
        "d/0/1", "d", 1.0, None, None, None, None, "a\nb", None, "x", None, None, None
    )
    assert sanitized(row).message == "a\\nb"


@dataclasses.dataclass(frozen=True)
class Numbers:
    count: int
    rate: float | None
    history: tuple[int, ...]
    pairs: tuple[tuple[int | None, int], ...]


@dataclasses.dataclass(frozen=True)
class Mixed:
    count: int
    labels: tuple[str, ...]
    extra: dict[str, int]
    anything: object


def test_fields_typed_as_numbers_only_are_not_walked_and_text_fields_always_are() -> None:
    # A numbers-only field is skipped on its annotation (the walk is 2.3 -> 1.1 ms for a
    # dashboard's overview, its rate series); were it to hold text anyway, it is not looked at.
    numbers = Numbers(1, None, (1, 2), ((None, 1),))
    assert sanitized(numbers) is numbers
    smuggled = Numbers("\x1b[2J", 1.0, ("\x1b",), ())  # type: ignore[arg-type]
    assert sanitized(smuggled) is smuggled
    mixed = Mixed(1, ("ok", "\x1b[2J"), {"\x1b": 1}, "\x1b]0;x")
    safe = sanitized(mixed)
    assert safe.labels == ("ok", "\\x1b[2J")
    assert safe.extra == {"\\x1b": 1}
    assert safe.anything == "\\x1b]0;x"


def test_enum_values_are_the_programs_own_text() -> None:
    assert sanitized((SagaState.RUNNING, "x\x1b")) == (SagaState.RUNNING, "x\\x1b")


def test_an_unknown_type_is_refused_rather_than_passed_through() -> None:
    class Opaque:
        text = "\x1b[2J"

    with pytest.raises(TypeError):
        sanitized((Opaque(),))


def test_a_walk_remembers_originals_and_reuses_unchanged_copies() -> None:
    walk = SafeWalk()
    row = DeadLetterRow(
        "d/0/1", "d", 1.0, None, None, None, None, "m\x1b", None, "x", "c\x1b", None, None
    )
    first = walk((row,))
    assert first[0].correlation_id == "c\\x1b"
    assert walk.original("c\\x1b") == "c\x1b"
    assert walk.original("plain") == "plain"
    second = walk((row, dataclasses.replace(row, coords="d/0/2")))
    assert second[0] is first[0]  # the same row: not walked again


def test_bytes_are_text_when_printable_else_hex() -> None:
    assert bytes_text(b"OrderPlaced") == "OrderPlaced"
    assert bytes_text(b"\x00\x00\x00\x07") == "0x 00 00 00 07"
    assert bytes_text(b"a\x1b[2J") == "0x 61 1b 5b 32 4a"
    assert bytes_text(b"\xff\xfe") == "0x ff fe"


def test_java_serialized_values_are_named_and_shown_as_hex() -> None:
    value = b"\xac\xed\x00\x05sr\x00\x13java.util.ArrayList"
    assert bytes_text(value).startswith("Java serialized object: 0x ac ed 00 05 73 72")
    assert payload_text(value, 1000)[0] == "binary"
    assert preview_text(value).startswith("Java serialized object: 0x ac ed")


def test_payload_json_is_pretty_printed_with_every_control_escaped() -> None:
    value = json.dumps({"type": "A\x1b]0;x\x07", "c1": "\x9b2J", "rlo": "\u202e"}).encode()
    kind, text = payload_text(value, 10_000)
    assert kind == "json"
    assert '"type": "A\\u001b]0;x\\u0007"' in text  # JSON's own escapes
    assert '"c1": "\\x9b2J"' in text and '"rlo": "\\u202e"' in text
    assert "\x1b" not in text and "\x9b" not in text


def test_payload_nested_too_deep_is_shown_as_text() -> None:
    value = b"[" * 100_000 + b"]" * 100_000
    kind, text = payload_text(value, 50)
    assert kind == "text" and text == "[" * 50


def test_preview_of_text_escapes_controls() -> None:
    assert preview_text(b"\x1b[2Jhello\xff") == "\\x1b[2Jhello\ufffd"
    assert len(preview_text(b"x" * 500)) == 80
