"""What a new connection to a bootstrap server sees (edamon.broker.kafka_probe), against
loopback servers that behave as a broken or silent broker would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from edamon.broker.kafka_probe import NOTHING_RECEIVED, probe_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(handle: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # reads, never answers (until the probe hangs up)
    finally:
        writer.close()


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read(4)
        writer.write(b"\x00\x00\x00\x06")
        await writer.drain()
    finally:
        writer.close()


async def test_a_server_that_reads_and_never_answers_is_silent() -> None:
    async with listening(silent) as port:
        probe = await probe_server("127.0.0.1", port, None, "edamon", 0.5)
    assert (probe.answered, probe.silent, probe.note) == (False, True, NOTHING_RECEIVED)


async def test_a_server_that_hangs_up_and_one_that_answers() -> None:
    async with listening(hangs_up) as port:
        probe = await probe_server("127.0.0.1", port, None, "edamon", 2.0)
    assert not probe.answered and not probe.silent, probe
    async with listening(answers) as port:
        probe = await probe_server("127.0.0.1", port, None, "edamon", 2.0)
    assert probe.answered, probe


async def test_a_host_name_or_client_id_the_probe_cannot_send_is_a_note_not_a_crash() -> None:
    probe = await probe_server("a" * 70 + ".example", 9092, None, "edamon", 1.0)
    assert (probe.answered, probe.note) == (False, "not a valid host name")
    async with listening(silent) as port:
        probe = await probe_server("127.0.0.1", port, None, "x" * 40_000, 1.0)
    assert not probe.answered and "client_id" in probe.note, probe
