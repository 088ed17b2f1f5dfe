"""Event times and schema versions as they appear in envelopes, turned into plain numbers.

Nothing here raises: a value that cannot be understood becomes None.
"""

from __future__ import annotations

import math

from edamon.model.timespec import parse_iso

__all__ = ["MS_THRESHOLD", "epoch_seconds", "parse_int", "parse_iso", "parse_time"]

MS_THRESHOLD = 1e11
"""Epoch numbers above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973)."""


def epoch_seconds(number: float) -> float | None:
    """An epoch number in seconds or milliseconds (ms when > 1e11) as float seconds."""
    try:
        seconds = float(number)
    except OverflowError:
        return None
    if not math.isfinite(seconds):
        return None
    return seconds / 1000.0 if seconds > MS_THRESHOLD else seconds


def _is_number_text(text: str) -> bool:
    body = text[1:] if text[:1] == "-" else text
    if not body or not body.isascii():
        return False
    whole, _, fraction = body.partition(".")
    return whole.isdigit() and (not fraction or fraction.isdigit())


def parse_time(value: object) -> float | None:
    """occurredAt/time in any common shape -> epoch seconds, or None.

    ISO 8601 strings, epoch numbers (ms if > 1e11, else s) and numeric strings are accepted.
    Booleans and anything else are None.
    """
    if type(value) is int or type(value) is float:  # the common case first (not bool)
        return epoch_seconds(value)
    if isinstance(value, str):
        if value[4:5] == "-":  # the common case: an ISO date-time
            return parse_iso(value)
        text = value.strip()
        if _is_number_text(text):
            if len(text) > 40:
                return None
            return epoch_seconds(float(text))
        return parse_iso(text)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return epoch_seconds(value)
    return None


def parse_int(value: object) -> int | None:
    """A schema version or counter: an int, an integral float or a decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        if body and len(body) <= 18 and body.isascii() and body.isdigit():
            return int(text)
    return None
