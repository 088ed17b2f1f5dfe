"""A tailer cancelled while its consumer connects closes its connection (no broker: a socket
that accepts and never answers stands for a cluster that does not respond)."""

from __future__ import annotations

import asyncio
import time

import pytest

from edamon.broker.kafka_groups import KafkaTailer
from edamon.config import Settings
from edamon.model.records import TP


async def test_cancel_while_connecting_closes_the_connection() -> None:
    opened = 0
    closed = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened, closed
        opened += 1
        while await reader.read(4096):  # never answer; wait for the client to hang up
            pass
        closed += 1
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings()
    settings.kafka.bootstrap_servers = f"127.0.0.1:{port}"
    settings.kafka.connect_timeout_s = 60
    tailer = KafkaTailer(settings.kafka)
    task = asyncio.create_task(tailer.assign({TP("orders", 0): 0}))
    try:
        deadline = time.monotonic() + 10
        while not opened and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert opened, "the consumer never connected"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 10
        while closed < opened and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert closed == opened  # the half-started consumer was stopped
    finally:
        await tailer.close()
        server.close()
        await server.wait_closed()
