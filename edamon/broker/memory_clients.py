"""The in-memory broker's readers: a group-less tailer and a committing group member."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from edamon.broker.base import BrokerError
from edamon.model.records import TP, RawRecord

if TYPE_CHECKING:
    from edamon.broker.memory import MemoryBroker


class MemoryTailer:
    """A group-less reader of manually assigned partitions of a MemoryBroker."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._positions: dict[TP, int] = {}
        self._start = 0
        self._closed = False

    async def assign(self, positions: Mapping[TP, int]) -> None:
        """Replace the assignment: read each partition from the given offset."""
        if self._closed:
            raise BrokerError("the tailer is closed")
        self._positions = {
            TP(tp.topic, tp.partition): max(int(o), 0) for tp, o in positions.items()
        }

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        """Up to `max_records` records, waiting up to `timeout_ms` when none are available."""
        self._start += 1
        return await self._broker._fetch(
            lambda: self._positions, max_records, timeout_ms, self._start, lambda: self._closed
        )

    def positions(self) -> dict[TP, int]:
        """The next offset to be read per assigned partition."""
        return dict(self._positions)

    async def close(self) -> None:
        """Stop reading; safe to call more than once."""
        self._closed = True


class MemoryGroupConsumer:
    """A committing member of a consumer group of a MemoryBroker (joins on first fetch)."""

    def __init__(
        self,
        broker: MemoryBroker,
        group: str,
        topics: Sequence[str],
        member_id: str,
        client_id: str = "",
    ) -> None:
        self._broker = broker
        self.group = group
        self.topics = frozenset(topics)
        self.member_id = member_id
        self.client_id = client_id
        """The client id it presents ("": none; describing the group then shows the member
        id)."""
        self.assignment: dict[TP, int] = {}
        """Assigned partitions and this member's position in each."""
        self._joined = False
        self._closed = False
        self._start = 0

    def _ensure_joined(self) -> None:
        if self._closed:
            raise BrokerError(f"the consumer of group {self.group} is closed")
        if not self._joined:
            self._broker._check_open()
            self._joined = True
            self._broker._join(self)

    async def fetch(self, max_records: int, timeout_ms: int) -> list[RawRecord]:
        """Up to `max_records` records from this member's partitions (empty after timeout)."""
        self._ensure_joined()
        self._start += 1
        return await self._broker._fetch(
            lambda: self.assignment, max_records, timeout_ms, self._start, lambda: self._closed
        )

    async def commit(self, offsets: Mapping[TP, int] | None = None) -> None:
        """Commit the given next-offsets, or the current positions when None."""
        self._ensure_joined()
        if offsets is None:
            self._broker._commit(self.group, self.assignment)
            return
        wanted = {TP(tp.topic, tp.partition): int(o) for tp, o in offsets.items()}
        for tp in wanted:
            if tp not in self.assignment:
                raise BrokerError(f"commit for group {self.group} failed: {tp} is not assigned")
        self._broker._commit(self.group, wanted)

    def disconnect(self) -> None:
        """The broker closed: this member is out of the group and can no longer be used."""
        self._closed = True
        self.assignment = {}

    async def close(self) -> None:
        """Leave the group (the others rebalance); safe to call more than once."""
        if not self._closed:
            self._closed = True
            if self._joined:
                self._broker._leave(self)
