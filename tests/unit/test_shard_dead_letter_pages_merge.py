"""A shard group's page of dead letters is its members' first rows merged: for any order a
page takes, merging each member's own page (offset 0, `offset+limit` rows) gives the rows a
single service holding every dead letter would page (edamon.service.paging's `page`)."""

from __future__ import annotations

import random
from itertools import islice

import pytest

from edamon.model.snapshot import DeadLetterRow
from edamon.service.paging import page
from edamon.shard.merge import merge_dead_letter_rows

ORDERS = (None, "consumer_group", "-consumer_group", "attempts", "-attempts", "time", "-time")


def row(n: int, ms: int, rng: random.Random) -> DeadLetterRow:
    """The n-th dead letter, recorded at `ms`; fields with few values (ties), some with none
    (record times differ: among equal ones the order is each member's arrival order)."""
    return DeadLetterRow(
        coords=f"shop.DLT/{n % 3}/{n}",
        dlq_topic="shop.DLT",
        time=1_800_000_000.0 + ms / 1000,
        original_topic="shop.Payments",
        original_coords=None,
        consumer_group=rng.choice(("billing", "payments", None)),
        exception_class="java.lang.IllegalStateException",
        message="payment gateway timeout",
        attempts=rng.choice((1, 2, 3, None)),
        convention="spring",
        correlation_id=None,
        event_id=None,
        event_type=None,
    )


def newest_first(rows: list[DeadLetterRow]) -> list[DeadLetterRow]:
    return sorted(rows, key=lambda r: r.time, reverse=True)


@pytest.mark.parametrize("order", ORDERS)
def test_merged_member_pages_are_the_single_services_page(order: str | None) -> None:
    rng = random.Random(7)
    everything = [row(n, ms, rng) for n, ms in enumerate(rng.sample(range(10_000_000), 600))]
    members: list[list[DeadLetterRow]] = [[], [], []]
    for one in everything:
        members[rng.randrange(3)].append(one)  # each member owns some, unevenly
    whole = newest_first(everything)
    for offset, limit in ((0, 50), (120, 37), (390, 100), (560, 100)):
        first = offset + limit
        own = [page(newest_first(m), DeadLetterRow, limit=first, order=order) for m in members]
        merged = list(islice(merge_dead_letter_rows([p.items for p in own], order), offset, first))
        single = page(whole, DeadLetterRow, offset=offset, limit=limit, order=order)
        assert [r.coords for r in merged] == [r.coords for r in single.items]
        assert sum(p.total for p in own) == single.total == 600
