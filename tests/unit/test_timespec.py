"""Durations and start positions from text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edamon.model.timespec import StartPosition, parse_duration, resolve_moment, resolve_start

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("1.5h", 5400.0),
        (" 30S ", 30.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "   ", "10", "s", "10x", "-5s", "1m1h", "1h1h", "10 s", "1h 30m", "1.s", "abc"]
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_error_says_what_to_write() -> None:
    with pytest.raises(ValueError, match=r"'10'.*15m"):
        parse_duration("10")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", StartPosition("latest")),
        ("Earliest", StartPosition("earliest")),
        (" LATEST ", StartPosition("latest")),
        ("15m", StartPosition("timestamp", int((NOW - 900) * 1000))),
        ("500ms", StartPosition("timestamp", int(NOW * 1000) - 500)),
    ],
)
def test_resolve_start_words_and_durations(spec: str, expected: StartPosition) -> None:
    assert resolve_start(spec, NOW) == expected


def ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return round(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("spec", "timestamp_ms"),
    [
        ("2026-11-26T10:00:00Z", ms(2026, 11, 26, 10)),
        ("2026-11-26T10:00:00.123z", ms(2026, 11, 26, 10) + 123),
        ("2026-11-26T10:00:00+02:00", ms(2026, 11, 26, 8)),
        ("2026-11-26T10:00:00", ms(2026, 11, 26, 10)),  # no zone: UTC
        ("2026-11-26 10:00", ms(2026, 11, 26, 10)),
        ("2026-11-26", ms(2026, 11, 26)),
    ],
)
def test_resolve_start_iso_times(spec: str, timestamp_ms: int) -> None:
    position = resolve_start(spec, NOW)
    assert (position.kind, position.timestamp_ms) == ("timestamp", timestamp_ms)


def test_resolve_start_never_goes_before_the_epoch() -> None:
    assert resolve_start("100000d", NOW).timestamp_ms == 0


@pytest.mark.parametrize("spec", ["", "soon", "yesterday", "2026-13-40", "10", "12:00:00x"])
def test_resolve_start_rejects_garbage(spec: str) -> None:
    with pytest.raises(ValueError, match="start position"):
        resolve_start(spec, NOW)


def test_start_position_is_consistent() -> None:
    with pytest.raises(ValueError):
        StartPosition("timestamp")
    with pytest.raises(ValueError):
        StartPosition("latest", 5)
    assert str(StartPosition.at(ms(2026, 11, 26, 10))) == "2026-11-26T10:00:00.000Z"
    assert str(StartPosition("earliest")) == "earliest"


def test_resolve_moment_takes_durations_ago_and_times_only() -> None:
    assert resolve_moment("8h", NOW) == round((NOW - 8 * 3600) * 1000)
    assert resolve_moment("2026-11-26T10:00:00Z", NOW) == 1_795_687_200_000
    assert resolve_moment("100000d", NOW) == 0
    for word in ("latest", "earliest", "abc", ""):
        assert resolve_moment(word, NOW) is None
