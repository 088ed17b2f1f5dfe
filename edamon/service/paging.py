"""Pages of rows: filter, order, cut. Pure functions over the snapshot's row dataclasses.

- `filter`: a case-insensitive substring searched in every text field of a row (and in the
  values of enum fields, such as a saga's state); rows where none contains it are left out.
- `order`: a field name of the row, `-name` for descending; rows with no value (None) go last
  either way. Without one, the list's own order stays (newest or worst first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import Enum
from typing import Any, TypeVar

from edamon.model import status
from edamon.model.api import Page

T = TypeVar("T")

MAX_LIMIT = 1000
"""The largest page a request may ask for."""
DEFAULT_LIMIT = 100
MAX_FILTER = 200
"""Longest filter text accepted."""


class PageError(ValueError):
    """A page request that can't be served (unknown order field); the message says why."""


def orderable_fields(row_type: type) -> tuple[str, ...]:
    """The fields of `row_type` a page can be ordered by: scalars (text, numbers, flags)."""
    names = []
    for item in dataclasses.fields(row_type):
        base = str(item.type).removesuffix(" | None")
        if base in _SCALARS or isinstance(getattr(status, base, None), type):
            names.append(item.name)
    return tuple(names)


_SCALARS = frozenset({"str", "int", "float", "bool"})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(row_type: type) -> tuple[str, ...]:
    """The dataclass fields of `row_type` (also of a subclass, e.g. a lag group whose
    partition rows are built when first read)."""
    names = _FIELD_NAMES.get(row_type)
    if names is None:
        names = _FIELD_NAMES[row_type] = tuple(f.name for f in dataclasses.fields(row_type))
    return names


def _texts(row: object) -> list[str]:
    texts = []
    for name in _field_names(type(row)):
        value = getattr(row, name)
        if isinstance(value, Enum):
            texts.append(str(value.value).lower())
        elif isinstance(value, str):
            texts.append(value.lower())
    return texts


TEXT_SEPARATOR = "\x00"
"""Between a row's texts in `search_text`: a filter holding it is matched text by text."""


def search_text(row: object) -> str:
    """The texts `filter` searches in `row`, lower-case, as one string: `needle in
    search_text(row)` is `filter`'s test for any needle without TEXT_SEPARATOR (a list can
    keep these strings and test a filter on each row with one `in`)."""
    return TEXT_SEPARATOR.join(_texts(row))


def page(
    rows: Sequence[T],
    row_type: type,
    *,
    offset: int = 0,
    limit: int = DEFAULT_LIMIT,
    filter: str | None = None,
    order: str | None = None,
) -> Page[T]:
    """Rows `offset`..`offset+limit` of `rows` after `filter` and `order` (see the module doc).
    Raises PageError for an order field the rows don't have or can't sort by."""
    selected: Sequence[T] = rows
    if filter:
        needle = filter.lower()
        selected = [row for row in rows if any(needle in text for text in _texts(row))]
    if order:
        descending = order.startswith("-")
        name = order.removeprefix("-")
        allowed = orderable_fields(row_type)
        if name not in allowed:
            raise PageError(f"order: no field {name!r} to order by (one of: {', '.join(allowed)})")
        present = [row for row in selected if getattr(row, name) is not None]
        missing = [row for row in selected if getattr(row, name) is None]
        try:
            present.sort(key=lambda row: _plain(getattr(row, name)), reverse=descending)
        except TypeError:
            raise PageError(f"order: {name!r} can't be ordered") from None
        selected = present + missing
    return Page(total=len(selected), offset=offset, items=tuple(selected[offset : offset + limit]))


def _plain(value: object) -> Any:
    return value.value if isinstance(value, Enum) else value
