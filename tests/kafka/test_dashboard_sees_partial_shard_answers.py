"""What the dashboard is told when a shard group answers without one of its members: a real
group of two `edamon serve --shard-group` members, the dashboard's `DataSource` (and `edamon dlq
list --attach`) on one of them, the other stopped (SIGSTOP) so that it does not answer in time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from test_shard_group import PARTITIONS, TYPES, event, get, make_topics, member, settled

from builders import spring_dlt_headers
from edamon.cli.attach import TOKEN_ENV
from edamon.client import EdamonClient
from edamon.model.api import partial_answers
from edamon.ui.source import DataSource
from kafka_helpers import MakeTopic, Produce, UniqueName
from service_helpers import wait_for

pytestmark = pytest.mark.kafka

DEAD_LETTERS = 6


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 15) -> None:
    """Await `check` until it answers True, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_partial_page_of_dead_letters_and_a_partial_overview_reach_the_data_source(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    prefix = unique_name("shard")
    topics = await make_topics(make_topic, prefix)
    dlt = await make_topic(f"{topics[0]}.DLT", PARTITIONS)
    env = {"EDAMON_SHARD__PEER_TIMEOUT_S": "1"}
    first = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    second = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    source = DataSource(EdamonClient(first.url, first.viewer))
    pages = source.dead_letter_pages
    try:
        for one in (first, second):
            wait_for(lambda one=one: settled(one, 2, 15), "two settled members", 90)
        for i in range(DEAD_LETTERS):
            headers = spring_dlt_headers(topics[0], i % PARTITIONS, i)
            await produce(dlt, [(f"k-{i}", event(TYPES[0], str(uuid.uuid4()), None), headers)])

        async def whole() -> bool:
            await source.refresh()
            await pages.refresh()
            snap = source.snapshot
            return (
                pages.total == DEAD_LETTERS
                and snap is not None
                and not partial_answers(snap.notices)
            )

        await until(whole, "every dead letter, from both members", 30)
        assert pages.notices == ()
        own = len(get(first, f"/v1/shard/dead-letters?first={DEAD_LETTERS}")["items"])

        second.process.send_signal(signal.SIGSTOP)
        try:
            await pages.refresh()
            assert pages.error is None
            assert pages.total == own, "the page has the first member's own rows only"
            assert len(pages.notices) == 1, pages.notices
            assert pages.notices[0].startswith("shard: partial answer: no dead letters from")
            assert second.url in pages.notices[0]

            async def partial_overview() -> bool:
                await source.refresh()
                snap = source.snapshot
                return snap is not None and any(
                    second.url in notice for notice in partial_answers(snap.notices)
                )

            await until(partial_overview, "the overview to say the share is missing")

            listed = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "edamon", "dlq", "list", "--attach", first.url],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, TOKEN_ENV: first.viewer},
                check=False,
            )
            assert listed.returncode == 0, listed.stderr
            assert (f"{own} dead letter(s)" if own else "no dead letters") in listed.stdout
            said = [line for line in listed.stderr.splitlines() if "partial answer" in line]
            assert len(said) == 1 and second.url in said[0], listed.stderr
        finally:
            second.process.send_signal(signal.SIGCONT)

        await until(whole, "the pages and the overview whole again")
        assert pages.notices == ()
    finally:
        await source.aclose()
        for one in (first, second):
            one.stop()
