"""Status vocabularies shared by the engine and the views."""

from __future__ import annotations

from enum import StrEnum


class SagaState(StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"
    STUCK = "STUCK"
    DEAD_LETTERED = "DEAD-LETTERED"


class PartitionStatus(StrEnum):
    """Burrow's per-partition evaluation (conventions §3)."""

    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    REWIND = "REWIND"
    NO_COMMIT = "NO COMMIT"
    UNKNOWN = "UNKNOWN"
    """Not enough samples yet."""


class GroupStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"
    UNKNOWN = "UNKNOWN"


class NodeStatus(StrEnum):
    """The state of one event in a chain."""

    OK = "ok"
    PLACEHOLDER = "placeholder"
    """Referenced as a cause but not (yet) seen."""
    ORPHAN = "orphan"
    """Its cause is not (yet) seen: waiting for a parent."""
    DEAD_LETTERED = "dead-lettered"
    RETRIED = "retried"
    """A redriven copy of a dead letter."""
    LOOP = "loop"
    """Part of a causation loop."""


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERROR = "error"
    STOPPED = "stopped"
