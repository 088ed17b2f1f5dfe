"""Pages of rows (offset, limit, filter, order) over the snapshot's row dataclasses, and the
OpenAPI document kept in the repo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edamon.model.snapshot import SagaInstance
from edamon.model.status import SagaState
from edamon.service.paging import PageError, orderable_fields, page

REPO = Path(__file__).resolve().parents[2]


def saga(cid: str, state: SagaState, duration: float, step_name: str = "pay") -> SagaInstance:
    return SagaInstance(cid, "checkout", state, 1, step_name, 0.0, duration, duration)


ROWS = (
    saga("c-1", SagaState.RUNNING, 3.0),
    saga("c-2", SagaState.STUCK, 9.0, "Reserve"),
    saga("c-3", SagaState.COMPLETED, 1.0),
    saga("c-4", SagaState.RUNNING, 5.0),
)


def ids(result: object) -> list[str]:
    return [row.correlation_id for row in result.items]  # type: ignore[attr-defined]


def test_offset_and_limit_keep_the_list_order() -> None:
    result = page(ROWS, SagaInstance, offset=1, limit=2)
    assert (result.total, result.offset, ids(result)) == (4, 1, ["c-2", "c-3"])
    beyond = page(ROWS, SagaInstance, offset=10, limit=2)
    assert (beyond.total, beyond.items) == (4, ())


def test_filter_is_a_case_insensitive_substring_of_text_and_enum_fields() -> None:
    assert ids(page(ROWS, SagaInstance, filter="STUCK")) == ["c-2"]  # enum value
    assert ids(page(ROWS, SagaInstance, filter="reserve")) == ["c-2"]  # text field
    assert page(ROWS, SagaInstance, filter="running", limit=1).total == 2
    assert ids(page(ROWS, SagaInstance, filter="nothing")) == []


def test_order_ascending_descending_and_by_enum() -> None:
    assert ids(page(ROWS, SagaInstance, order="duration_s")) == ["c-3", "c-1", "c-4", "c-2"]
    assert ids(page(ROWS, SagaInstance, order="-duration_s")) == ["c-2", "c-4", "c-1", "c-3"]
    assert ids(page(ROWS, SagaInstance, order="state"))[0] == "c-3"  # COMPLETED < RUNNING


def test_order_puts_missing_values_last_both_ways() -> None:
    from edamon.model.snapshot import DeadLetterRow

    def row(coords: str, attempts: int | None) -> DeadLetterRow:
        return DeadLetterRow(
            coords, "t.DLT", 0.0, None, None, None, None, None, attempts, "none", None, None, None
        )

    rows = (row("a", None), row("b", 2), row("c", 1))
    up = page(rows, DeadLetterRow, order="attempts")
    down = page(rows, DeadLetterRow, order="-attempts")
    assert [r.coords for r in up.items] == ["c", "b", "a"]
    assert [r.coords for r in down.items] == ["b", "c", "a"]


@pytest.mark.parametrize("order", ["nope", "-nope", "counts"])
def test_unknown_or_unorderable_fields_are_refused(order: str) -> None:
    with pytest.raises(PageError, match="order"):
        page(ROWS, SagaInstance, order=order)


def test_orderable_fields_are_the_scalars_and_enums() -> None:
    from edamon.model.snapshot import GroupLag

    fields = orderable_fields(GroupLag)
    assert {"group", "status", "total_lag", "max_lag_seconds"} <= set(fields)
    assert "partitions" not in fields and "trend" not in fields


def test_the_repo_keeps_the_current_openapi_document() -> None:
    from edamon.service.app import openapi_document

    kept = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert kept == openapi_document(), (
        "regenerate: python -m edamon serve --openapi > docs/openapi.json"
    )
