"""The service's pages of dead letters reach every dead letter it holds, not only the newest
SNAPSHOT_DEAD_LETTERS a snapshot lists: a page beyond them is served, filtered, ordered and
selected, with the whole store's total, in the snapshot's order (newest first across
partitions) and with the snapshot's rows. The real service app over a collector state fed
Spring dead letters (no broker: nothing here reads Kafka)."""

from __future__ import annotations

import struct
import time
from typing import Any

import httpx

from edamon.actions.service import RetryService
from edamon.broker.memory import MemoryBroker
from edamon.collector.deadletters import SNAPSHOT_DEAD_LETTERS, DeadLetterStore
from edamon.collector.state import CollectorState
from edamon.collector.view import StateView
from edamon.config import Settings, load_settings
from edamon.decode.dlq import DeadLetterDecoder
from edamon.decode.envelope import EnvelopeDecoder
from edamon.model.records import RawRecord
from edamon.service.app import create_app
from edamon.service.auth import Tokens
from edamon.service.backend import Backend

TOKEN = "viewer-token-for-the-dead-letter-page-test"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DLT = "shop.Payments.DLT"
BATCH = 100
"""Dead letters per fetch: partition 0's half of a time span, then partition 1's."""
HELD = SNAPSHOT_DEAD_LETTERS + 3000
TIMEOUTS = 150
"""The oldest dead letters failed with a timeout, after 9 attempts; the others did not."""
BASE_MS = int(time.time() * 1000) - 3_600_000


def dead_letter(n: int) -> RawRecord:
    """The n-th dead letter by time (1 ms apart): odd ones on partition 1, even on 0."""
    timeout = n < TIMEOUTS
    exception = "java.net.SocketTimeoutException" if timeout else "java.lang.IllegalState"
    headers = (
        ("kafka_dlt-original-topic", b"shop.Payments"),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),
        ("kafka_dlt-original-offset", struct.pack(">q", n)),
        ("kafka_dlt-exception-fqcn", exception.encode()),
        ("kafka_dlt-exception-message", b"payment gateway said no"),
        ("retry_topic-attempts", struct.pack(">i", 9 if timeout else 1 + n % 3)),
    )
    value = b'{"eventId":"e-%d","eventType":"PaymentProcessed"}' % n
    return RawRecord(DLT, n % 2, n // 2, BASE_MS + n, None, value, headers)


def fetched(first: int, count: int) -> list[RawRecord]:
    """Dead letters first..first+count in the order fetches bring them: each batch is
    partition 0's records, then partition 1's (arrival order is not time order)."""
    out: list[RawRecord] = []
    for start in range(first, first + count, BATCH):
        batch = [dead_letter(n) for n in range(start, min(start + BATCH, first + count))]
        out += [r for r in batch if r.partition == 0] + [r for r in batch if r.partition == 1]
    return out


def coords(n: int) -> str:
    return f"{DLT}/{n % 2}/{n // 2}"


def newest_first(numbers: range | list[int]) -> list[str]:
    return [coords(n) for n in sorted(numbers, reverse=True)]


def service(state: CollectorState, config: Settings) -> httpx.AsyncClient:
    broker = MemoryBroker()
    view = StateView(state)
    backend = Backend(view, RetryService(broker, config), broker, config)  # type: ignore[arg-type]
    app = create_app(backend, Tokens(TOKEN, None, "test"), max_body_bytes=1 << 20)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edamon")


async def get(http: httpx.AsyncClient, path: str, **params: Any) -> Any:
    answer = await http.get(path, params=params, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return answer.json()


def listed(page: Any) -> list[str]:
    return [row["coords"] for row in page["items"]]


async def test_pages_beyond_the_snapshot_are_served_filtered_ordered_and_selected() -> None:
    config = load_settings(
        None,
        {"topics": {"include": [r"shop\..*"]}, "retention": {"max_dead_letters": HELD}},
        use_default_path=False,
    )
    state = CollectorState(config, cluster="test")
    state.ingest(fetched(0, HELD), time.time())
    async with service(state, config) as http:
        # beyond the newest 2,000: the oldest rows, newest first across partitions
        deep = await get(http, "/v1/dead-letters", offset=HELD - 120, limit=100)
        assert deep["total"] == HELD
        assert listed(deep) == newest_first(range(20, 120))
        last = await get(http, "/v1/dead-letters", offset=HELD - 1, limit=100)
        assert listed(last) == [coords(0)]

        # the first page: the snapshot's newest rows, as the overview carries them
        overview = await get(http, "/v1/overview", rows=300)
        assert overview["counts"]["dead_letters"] == HELD
        first = await get(http, "/v1/dead-letters", limit=300)
        assert first == {
            "total": HELD,
            "offset": 0,
            "items": overview["snapshot"]["dead_letters"],
            "notices": [],
        }
        assert listed(first) == newest_first(range(HELD - 300, HELD))

        # filtered: text only the oldest rows hold
        found = await get(http, "/v1/dead-letters", filter="SOCKETTIMEOUT", offset=100, limit=30)
        assert found["total"] == TIMEOUTS
        assert listed(found) == newest_first(range(TIMEOUTS))[100:130]
        row = found["items"][0]
        assert (row["exception_class"], row["attempts"]) == ("java.net.SocketTimeoutException", 9)

        # ordered by a column over the whole store: ties stay newest first
        ordered = await get(http, "/v1/dead-letters", order="-attempts", limit=TIMEOUTS + 1)
        assert ordered["total"] == HELD
        assert listed(ordered)[:TIMEOUTS] == newest_first(range(TIMEOUTS))
        assert ordered["items"][TIMEOUTS]["attempts"] == 3

        # selected (`dlq --filter`), then filtered and ordered within the selection
        selected = await get(
            http, "/v1/dead-letters", select="exception=SocketTimeout", offset=140, limit=100
        )
        assert selected["total"] == TIMEOUTS
        assert listed(selected) == newest_first(range(10))
        both = await get(
            http,
            "/v1/dead-letters",
            select="exception=SocketTimeout",
            filter=f"{DLT}/1/".lower(),
            order="time",
            limit=5,
        )
        assert both["total"] == TIMEOUTS // 2
        assert listed(both) == [coords(n) for n in (1, 3, 5, 7, 9)]

        # the groups count the whole store too
        groups = await get(http, "/v1/dead-letter-groups", limit=100)
        counts = {g["exception_class"]: g["count"] for g in groups["items"]}
        assert counts == {
            "java.net.SocketTimeoutException": TIMEOUTS,
            "java.lang.IllegalState": HELD - TIMEOUTS,
        }

        # newer dead letters evict the oldest: the pages follow the store
        state.ingest(fetched(HELD, BATCH), time.time())
        after = await get(http, "/v1/dead-letters", offset=HELD - 10, limit=100)
        assert after["total"] == HELD
        assert listed(after) == newest_first(range(BATCH, BATCH + 10))
        first = await get(http, "/v1/dead-letters", limit=3)
        assert listed(first) == newest_first(range(HELD + BATCH - 3, HELD + BATCH))
        # the groups count every dead letter seen, the evicted ones too (as the totals do)
        groups = await get(http, "/v1/dead-letter-groups", limit=100)
        assert sum(g["count"] for g in groups["items"]) == HELD + BATCH


def test_the_store_lists_newest_first_by_time_across_late_arrivals_and_evictions() -> None:
    decoder = DeadLetterDecoder(EnvelopeDecoder(Settings().envelope))
    store = DeadLetterStore(limit=4)
    # arrival order 5, 1, 3, 2, 4 (3 and 2 share a time: the later arrival is listed first)
    times = {5: 50, 1: 10, 3: 30, 2: 30, 4: 40}
    for n, at in times.items():
        store.add(decoder.decode(RawRecord(DLT, 0, n, at, None, b"{}", ())))
    # 5 arrived first: evicted, although it is the newest by time
    assert [row.coords for row in store.newest()] == [f"{DLT}/0/{n}" for n in (4, 2, 3, 1)]
    assert [row.coords for row in store.newest(1, 2)] == [f"{DLT}/0/{n}" for n in (2, 3)]
    assert [row.coords for row in store.newest(3, 2)] == [f"{DLT}/0/1"]
    assert store.newest(4, 2) == []
    assert len(store) == 4
