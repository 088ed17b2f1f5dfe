"""The order of consumer groups in a lag sample: worst first, healthy ones by name."""

from __future__ import annotations

from edamon.collector.lagsampler import _severity
from edamon.model.snapshot import GroupLag
from edamon.model.status import GroupStatus, PartitionStatus


def group(name: str, status: GroupStatus, worst: PartitionStatus, lag: int, s: float) -> GroupLag:
    return GroupLag(name, "Stable", 1, status, worst, lag, s, (), (), ())


def test_worst_first_and_healthy_groups_in_a_stable_order() -> None:
    sample = [
        group("payments", GroupStatus.OK, PartitionStatus.OK, 7, 0.4),
        group("analytics", GroupStatus.ERR, PartitionStatus.STOP, 5539, 211.0),
        group("inventory", GroupStatus.OK, PartitionStatus.OK, 0, 0.0),
        group("shipping", GroupStatus.WARN, PartitionStatus.WARN, 800, 45.8),
        group("audit", GroupStatus.WARN, PartitionStatus.WARN, 90, 99.0),
    ]
    order = [g.group for g in sorted(sample, key=_severity)]
    assert order == ["analytics", "audit", "shipping", "inventory", "payments"]
    # the healthy groups' lag moves at the next sample: their order does not
    moved = [
        group(g.group, g.status, g.worst, 9 - g.total_lag, 1.0) if g.status is GroupStatus.OK else g
        for g in sample
    ]
    assert [g.group for g in sorted(moved, key=_severity)] == order
