"""Stopping tasks that may not want to stop.

A cancellation can be lost on its way through a client library: on Python 3.11,
`asyncio.wait_for` returns the result instead of raising when the cancellation arrives in the
same turn of the loop as the answer it waits for (CPython gh-86296; fixed in 3.12), and
aiokafka waits that way inside its own calls. A task cancelled once may then run on, and whoever
awaits it waits forever (`edamon collect --duration` did, in 3 of 9 runs). So a cancellation is
delivered again, round after round, until the tasks end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

CANCEL_ROUND_S = 1.0
CANCEL_ROUNDS = 30


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and wait for them together, cancelling the ones still running again
    every CANCEL_ROUND_S; after CANCEL_ROUNDS rounds the rest are left running. Their results
    and errors are left for the caller (awaiting a done task returns at once)."""
    pending: set[asyncio.Task[Any]] = set(tasks)
    for _ in range(CANCEL_ROUNDS):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_ROUND_S)
