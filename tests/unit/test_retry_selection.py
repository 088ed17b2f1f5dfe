"""A retry by filter reaches every dead letter the service holds, not only the newest
SNAPSHOT_DEAD_LETTERS that its lists carry. The real service app over a collector state fed
Spring dead letters; retries go to the in-memory broker, and only the preview (which sends
nothing) is asked."""

from __future__ import annotations

import struct
import time

import httpx

from edamon.actions.service import RetryService
from edamon.broker.memory import MemoryBroker
from edamon.collector.deadletters import SNAPSHOT_DEAD_LETTERS
from edamon.collector.state import CollectorState
from edamon.collector.view import StateView
from edamon.config import load_settings
from edamon.model.records import RawRecord
from edamon.service.app import create_app
from edamon.service.auth import Tokens
from edamon.service.backend import Backend

TOKEN = "operator-token-for-the-selection-test"
DLT = "shop.Payments.DLT"
HELD = SNAPSHOT_DEAD_LETTERS + 500


def dead_letter(offset: int, now_ms: int, exception: str) -> RawRecord:
    headers = (
        ("kafka_dlt-original-topic", b"shop.Payments"),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-exception-fqcn", exception.encode()),
        ("kafka_dlt-exception-message", b"payment gateway timeout"),
    )
    value = b'{"eventId":"e-%d","eventType":"PaymentProcessed"}' % offset
    return RawRecord(DLT, 0, offset, now_ms - (HELD - offset), None, value, headers)


async def test_a_retry_by_filter_reaches_dead_letters_beyond_the_listed_ones() -> None:
    config = load_settings(
        None,
        {"topics": {"include": [r"shop\..*"]}, "retention": {"max_dead_letters": HELD}},
        use_default_path=False,
    )
    state = CollectorState(config, cluster="test")
    now_ms = int(time.time() * 1000)
    # the 100 oldest failed with a cause of their own; the rest are newer
    records = [
        dead_letter(i, now_ms, "java.net.SocketTimeoutException" if i < 100 else "x.Other")
        for i in range(HELD)
    ]
    state.ingest(records, time.time())
    view = StateView(state)
    broker = MemoryBroker()
    backend = Backend(view, RetryService(broker, config), broker, config)  # type: ignore[arg-type]
    app = create_app(backend, Tokens(None, TOKEN, "test"), max_body_bytes=1 << 20)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://edamon") as http:
        listed = (await http.get("/v1/dead-letters", params={"limit": 1}, headers=headers)).json()
        assert listed["total"] == HELD  # the pages reach them all (the snapshot: the newest)
        body = {"filters": ["exception=SocketTimeout"]}
        answer = await http.post("/v1/retries/preview", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert sorted(item["coords"] for item in items) == sorted(
            f"{DLT}/0/{i}" for i in range(100)
        )
        body = {"filters": [f"dlq-topic={DLT}"]}
        everything = await http.post("/v1/retries/preview", json=body, headers=headers)
        assert len(everything.json()["items"]) == HELD
