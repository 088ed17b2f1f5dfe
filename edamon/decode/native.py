"""The optional accelerator's door: `edamon_native.BatchDecoder` built for the configured
locations, or None.

`edamon_native` (the `native/` crate, `pip install ./native`, needs a Rust toolchain) reads the
usual JSON record as the decoder's batch path does and builds its Envelope through the same
slots (`records.slot_descriptors`), in one call per batch. It answers None for any record it
might not read exactly as the standard parser would, and `EnvelopeDecoder.decode_many` decodes
those the exact way, so a result never depends on whether it is installed (the tests in
tests/unit/test_native_decoder.py and test_decode_batch.py compare them on the same records).
Without it, or with `envelope.native = "off"`, the Python batch path is used.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edamon.decode.fields import FieldSpec
from edamon.decode.keeping import _MEMO_LIMIT, _SHARED_MAX
from edamon.decode.locations import _HEADER, _JSON1, _JSON2, _KEY
from edamon.decode.parsing import parse_traceparent
from edamon.decode.timeparse import MS_THRESHOLD
from edamon.model.envelope import ENVELOPE_SLOTS, Envelope, EnvelopeFormat
from edamon.model.records import RECORD_SLOTS, Header, RawRecord, slot_descriptors

__all__ = ["NativeDecoder", "decoder_in_use", "native_decoder"]


class NativeDecoder(Protocol):
    """What `edamon_native.BatchDecoder` offers (see native/src/lib.rs)."""

    def decode(
        self,
        records: list[RawRecord],
        ids: dict[str, str],
        keys: dict[bytes, bytes],
        header_memo: dict[Header, Header],
        share_header: Callable[[Header], Header],
    ) -> tuple[list[Any], list[int]]: ...


def decoder_in_use(mode: str) -> str:
    """Which batch decoder `envelope.native = mode` gives, in words (`edamon serve` says it)."""
    if mode == "off":
        return "Python (envelope.native = off)"
    if importlib.util.find_spec("edamon_native") is None:
        return "Python (the accelerator is not installed: pip install ./native)"
    return "the accelerator (edamon_native)"


def native_decoder(
    mode: str,
    fields: Sequence[FieldSpec],
    max_bytes: int,
    keep_bytes: int,
    wire_keys: bool,
) -> NativeDecoder | None:
    """The accelerator for these fields; None when `mode` is "off", when it is not installed
    (mode "auto"), or when a location is one it does not read (a path of three keys or more).
    Raises ImportError when `mode` is "required" and it is not installed (the settings check
    that first, with a clear message)."""
    if mode == "off":
        return None
    try:
        module = importlib.import_module("edamon_native")
    except ImportError:
        if mode == "required":
            raise
        return None
    specs: list[tuple[list[tuple[Any, ...]], str, Callable[[object], Any], str | None]] = []
    for locations, convert, usual, missing in fields:
        read: list[tuple[Any, ...]] = []
        for kind, arg in locations:
            if kind == _JSON1:
                read.append(("json", arg, None))
            elif kind == _JSON2:
                read.append(("json", arg[0], arg[1]))
            elif kind == _HEADER:
                read.append(("header", arg))
            elif kind == _KEY:
                read.append(("key",))
            else:  # a deeper path: the Python batch path reads it
                return None
        specs.append((read, usual, convert, missing))
    decoder: NativeDecoder = module.BatchDecoder(
        specs,
        (
            RawRecord,
            slot_descriptors(RawRecord, RECORD_SLOTS),
            Envelope,
            slot_descriptors(Envelope, ENVELOPE_SLOTS),
            parse_traceparent,
            EnvelopeFormat.SEED,
        ),
        (max_bytes, keep_bytes, wire_keys, _MEMO_LIMIT, _SHARED_MAX, MS_THRESHOLD),
    )
    return decoder
