"""What a correlation chain stores per special node, besides its columns of events.

The node kinds (event, placeholder, failed handler, redriven copy) and the status a view shows
for each; `_Special`, the node of a dead letter or of a redriven copy, with the cause it hangs
under; the id prefixes of those nodes and the header that marks a redriven copy. Used by
`edamon.model.chainstore` (ingest) and `edamon.model.chain` (views).

The underscored names are internal to the chain's modules, which import them.
"""

from __future__ import annotations

from edamon.model.deadletter import DeadLetter
from edamon.model.envelope import Envelope
from edamon.model.status import NodeStatus

__all__ = ["DLQ_PREFIX", "RETRY_AT", "RETRY_ATTEMPT", "RETRY_HEADER", "RETRY_PREFIX"]

RETRY_HEADER = "edamon-retry-of"
"""Header on a redriven copy of a dead letter: `<dlq topic>/<partition>/<offset>`."""
RETRY_AT = "edamon-retry-at"
"""Header on a redriven copy: when it was sent (ISO 8601 UTC)."""
RETRY_ATTEMPT = "edamon-retry-attempt"
"""Header on a redriven copy: which attempt (decimal)."""
DLQ_PREFIX = "dlq:"
"""Id prefix of a failed-handler node: `dlq:<dlq record coords>`."""
RETRY_PREFIX = "retry:"
"""Id prefix of a redriven copy: `retry:<coords of the redriven record>`."""

_EVENT, _PLACEHOLDER, _DLQ, _RETRY = 0, 1, 2, 3
"""Node kinds."""
_STATUS = (NodeStatus.OK, NodeStatus.PLACEHOLDER, NodeStatus.DEAD_LETTERED, NodeStatus.RETRIED)
"""The status a view shows for each node kind (indexed by kind), before orphans and loops."""


class _Special:
    """A failed-handler node (DLQ, with its dead letter) or a redriven copy (RETRY)."""

    __slots__ = ("cause", "detail", "dl", "dlq_id", "env", "id", "kind", "time", "under_dlq")

    def __init__(
        self, node_id: str, kind: int, time: float, env: Envelope | None, cause: str | None
    ) -> None:
        self.id = node_id
        self.kind = kind
        self.time = time
        self.env = env
        self.cause = cause
        """The event it hangs under (for a redriven copy: when its dead letter is missing)."""
        self.dl: DeadLetter | None = None
        self.dlq_id: str | None = None
        """A redriven copy's dead-letter node id."""
        self.under_dlq = False
        """A redriven copy whose dead-letter node (or a placeholder with its id) was there
        first: it hangs under it for good."""
        self.detail = ""
