"""The fast constructors of the hot paths make the same frozen objects as the dataclasses."""

from __future__ import annotations

import dataclasses

import pytest

from edamon.model.envelope import Envelope, EnvelopeFormat, build_envelope, drop_record_data
from edamon.model.records import RawRecord, build_record, slot_builder


def test_built_record_is_the_record_the_dataclass_makes() -> None:
    built = build_record("orders", 1, 2, 3, b"k", b"v", (("h", b"x"),))
    made = RawRecord("orders", 1, 2, 3, b"k", b"v", (("h", b"x"),))
    assert type(built) is RawRecord
    assert built == made and hash(built) == hash(made)
    assert built.coords == "orders/1/2" and built.header_text("h") == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.offset = 9  # type: ignore[misc]
    assert dataclasses.replace(built, value=None) == RawRecord(
        "orders", 1, 2, 3, b"k", None, (("h", b"x"),)
    )


def test_built_envelope_is_the_envelope_the_dataclass_makes_and_can_drop_its_record() -> None:
    record = RawRecord("orders", 0, 7, 1000, b"k", b"{}")
    fields = ("e1", "OrderPlaced", "c1", None, "o1", 1.5, 2, None, None, EnvelopeFormat.SEED)
    built = build_envelope(*fields, record, False, False, None)
    made = Envelope(*fields, record)
    assert type(built) is Envelope and built == made and hash(built) == hash(made)
    assert built.time == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.event_id = "e2"  # type: ignore[misc]
    drop_record_data(built)
    assert built.dropped and built.record == RawRecord("orders", 0, 7, 1000, None, None)


def test_a_builder_refuses_fields_that_do_not_match() -> None:
    with pytest.raises(RuntimeError, match="fields changed"):
        slot_builder(RawRecord, ("topic", "partition"))
