"""Column widths: numbers get what they need, names share the rest, the narrowest first; a name
cut to fit keeps its end."""

from __future__ import annotations

import pytest

from edamon.ui.format import shorten_middle
from edamon.ui.widgets.widths import Want, allocate


def test_fixed_columns_get_what_they_need_and_the_name_the_rest() -> None:
    # The overview's lag panel at 80 columns: group, lag, lag s, status (29 cells).
    wants = [Want(17, share=1, least=6), Want(3, cap=7), Want(5, cap=6), Want(6, cap=8)]
    assert allocate(29, wants, fill=0) == [15, 3, 5, 6]


def test_a_fixed_column_never_exceeds_its_cap() -> None:
    assert allocate(50, [Want(8, share=1), Want(30, cap=11)]) == [8, 11]


def test_names_share_the_room_the_narrowest_first() -> None:
    # topic needs 30, group 13, exception 22: 44 cells. The group is shown whole; the two
    # others are cut to the same width rather than one whole and one a stub.
    wants = [Want(30, share=1, least=10), Want(13, share=3, least=6), Want(22, share=2, least=9)]
    assert allocate(44, wants) == [16, 13, 15]
    assert allocate(65, wants) == [30, 13, 22]


def test_what_is_left_goes_to_the_fill_column_up_to_its_cap() -> None:
    wants = [Want(10, share=1), Want(20, cap=44, share=2)]
    assert allocate(100, wants, fill=1) == [10, 44]
    assert allocate(100, [Want(10, share=1), Want(20, share=2)], fill=1) == [10, 90]
    assert allocate(100, [Want(10, share=1), Want(20, share=2)]) == [10, 20]


def test_ties_go_to_the_first_priority() -> None:
    wants = [Want(20, share=2, least=5), Want(20, share=1, least=5)]
    assert allocate(11, wants) == [5, 6]


def test_without_room_names_keep_their_least_and_the_widths_overflow() -> None:
    wants = [Want(30, share=1, least=10), Want(8), Want(12)]
    widths = allocate(15, wants, fill=0)
    assert widths == [10, 8, 12]
    assert sum(widths) > 15


@pytest.mark.parametrize(
    ("name", "width", "cut"),
    [
        ("demo.orchestrator", 13, "…orchestrator"),  # not `dem…hestrator`
        ("demo.orchestrator", 15, "…orchestrator"),  # not `…o.orchestrator`
        ("demo.analytics", 13, "dem…analytics"),
        ("demo.inventory.StockReserved", 16, "…StockReserved"),
        ("demo.inventory.StockReserved", 22, "demo…ory.StockReserved"),
        ("demo.checkout.CheckoutStarted", 21, "demo…CheckoutStarted"),  # not `demo….Checkout…`
        ("shipping.ShipmentScheduled.DLT", 16, "ship…heduled.DLT"),
    ],
)
def test_a_name_cut_to_fit_keeps_its_end(name: str, width: int, cut: str) -> None:
    assert shorten_middle(name, width) == cut
    assert len(cut) <= width
