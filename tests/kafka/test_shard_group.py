"""Sharded collectors (`edamon serve --shard-group`): real `edamon serve` processes share one
cluster's partitions through edamon-owned consumer groups, and any of them answers for all."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from outage_helpers import read_all
from pytest_httpserver import HTTPServer

from builders import spring_dlt_headers
from kafka_helpers import MakeTopic, Produce, UniqueName
from service_helpers import Service, clean_env, http_receiver, start_service, wait_for

pytestmark = pytest.mark.kafka

TYPES = ("OrderPlaced", "StockReserved", "PaymentTaken", "OrderShipped")
PARTITIONS = 3


def event(
    event_type: str, correlation: str, causation: str | None, event_id: str | None = None
) -> bytes:
    eid = event_id or str(uuid.uuid4())
    return json.dumps(
        {
            "eventId": eid,
            "eventType": event_type,
            "aggregateId": f"agg-{correlation[:8]}",
            "occurredAt": "2026-12-07T10:00:00.000Z",
            "version": 1,
            "payload": {},
            "metadata": {"correlationId": correlation, "causationId": causation or eid},
        }
    ).encode()


async def make_topics(make_topic: MakeTopic, prefix: str) -> list[str]:
    return [await make_topic(f"{prefix}.{t}", PARTITIONS) for t in TYPES]


async def produce_spanning_flow(produce: Produce, topics: list[str]) -> str:
    """One flow with an event on every partition of every topic (4 topics x 3 = 12), each
    caused by the one before. Returns its correlation id."""
    correlation = str(uuid.uuid4())
    parent: str | None = None
    for topic in topics:
        for partition in range(PARTITIONS):
            eid = str(uuid.uuid4())
            event_type = topic.rsplit(".", 1)[1]
            value = event(event_type, correlation, parent, eid)
            await produce(topic, [(f"k-{partition}", value)], partition=partition)
            parent = eid
    return correlation


async def produce_small_flows(produce: Produce, topics: list[str], flows: int) -> int:
    """`flows` flows of one event per topic, keys spread by the partitioner. Returns the
    number of events."""
    count = 0
    for _ in range(flows):
        correlation = str(uuid.uuid4())
        parent: str | None = None
        batch: dict[str, list[Any]] = {}
        for topic in topics:
            eid = str(uuid.uuid4())
            batch.setdefault(topic, []).append(
                (correlation, event(topic.rsplit(".", 1)[1], correlation, parent, eid))
            )
            parent = eid
            count += 1
        for topic, records in batch.items():
            await produce(topic, records)
    return count


def member(
    bootstrap: str,
    prefix: str,
    tmp: Path,
    group: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> Service:
    return start_service(
        bootstrap, prefix, tmp, "--shard-group", group, *args, env_tokens=True, env=env, timeout=60
    )


def get(service: Service, path: str) -> Any:
    with service.client("viewer") as http:
        response = http.get(path)
    return response.json() if response.status_code == 200 else None


def chain_events(service: Service, correlation: str) -> int:
    found = get(service, f"/v1/chains/{correlation}")
    return 0 if found is None else int(found["summary"]["events"])


def totals(service: Service) -> dict[str, int]:
    overview = get(service, "/v1/overview")
    return {} if overview is None else overview["snapshot"]["totals"]


def flows_listed(service: Service) -> int:
    found = get(service, "/v1/chains?limit=100")
    return 0 if found is None else int(found["total"])


def shard(service: Service) -> dict[str, Any]:
    return get(service, "/v1/shard") or {}


def settled(service: Service, members: int, sources: int = 12) -> bool:
    """`members` members, all answering, none rebuilding, each owning index partitions and
    indexing source partitions, all `sources` of them between them."""
    doc = shard(service)
    found = doc.get("members", [])
    return (
        len(found) == members
        and not doc["partial"]
        and all(m["answered"] and m["index_partitions"] and m["source_partitions"] for m in found)
        and sum(len(m["source_partitions"]) for m in found) == sources
    )


async def test_a_flow_is_whole_from_either_member_and_after_one_is_killed(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    prefix = unique_name("shard")
    topics = await make_topics(make_topic, prefix)
    correlation = await produce_spanning_flow(produce, topics)
    total = 12 + await produce_small_flows(produce, topics, 20)
    group = prefix
    first = member(kafka_bootstrap, prefix, tmp_path, group)
    second = member(kafka_bootstrap, prefix, tmp_path, group)
    try:
        for one in (first, second):
            wait_for(lambda one=one: settled(one, 2), "two settled members", 90)
        doc = shard(first)
        sources = [set(m["source_partitions"]) for m in doc["members"]]
        assert all(sources), f"each member indexes a share: {sources}"
        assert not sources[0] & sources[1]
        assert len(sources[0] | sources[1]) == 12
        owned = [set(m["index_partitions"]) for m in doc["members"]]
        assert not owned[0] & owned[1] and len(owned[0] | owned[1]) == 12
        assert sum(m["samples_lag"] for m in doc["members"]) == 1
        rated = wait_for(lambda: shard(first).get("topic_rates"), "topic rates", 15)
        assert sorted(topic for topic, _ in rated) == sorted(topics)
        for one in (first, second):
            wait_for(lambda one=one: chain_events(one, correlation) == 12, "the whole flow", 30)
            wait_for(lambda one=one: totals(one).get("events") == total, "every event", 30)
            assert totals(one)["chains"] == 21
            # a page of flows is the group's too (the flows alone, merged with the shares)
            wait_for(lambda one=one: flows_listed(one) == 21, "every flow on a page", 30)
        # the flow lives on one member; the other fetched it
        local = [get(one, f"/v1/shard/chains/{correlation}") is not None for one in (first, second)]
        assert local.count(True) == 1
        # from the member that does not hold it: an event with its source record, and
        # `collect` with the whole group's snapshot and the flow's tree
        other = (first, second)[local.index(False)]
        chain = get(other, f"/v1/chains/{correlation}")
        leaf = chain["nodes"][-1]
        found = get(other, f"/v1/events/{leaf['event_id']}")
        assert found["coords"] == leaf["coords"]
        assert found["record"]["coords"] == leaf["coords"]
        assert '"payload"' in found["record"]["value"]["text"]  # the source record, re-read
        document = get(other, "/v1/collect?max_trees=50")
        assert document["snapshot"]["totals"]["events"] == total
        trees = {t["summary"]["correlation_id"]: t for t in document["chain_trees"]}
        assert len(trees) == 21 and len(trees[correlation]["nodes"]) == 12

        code, _, _ = second.stop(signal.SIGKILL)
        assert code == -signal.SIGKILL
        wait_for(lambda: shard(first).get("partial") is True, "a partial answer", 15)
        overview = get(first, "/v1/overview")
        assert any("partial answer" in n for n in overview["snapshot"]["notices"])
        wait_for(lambda: settled(first, 1), "the survivor to own every partition", 60)
        doc = shard(first)
        assert len(doc["members"][0]["source_partitions"]) == 12
        assert len(doc["members"][0]["index_partitions"]) == 12
        wait_for(lambda: chain_events(first, correlation) == 12, "the whole flow again", 30)
        wait_for(lambda: totals(first).get("events") == total, "every event once", 30)
        after = totals(first)
        assert after["events"] == total, after  # not doubled
        assert after["chains"] == 21
        # new events after the kill are indexed by the survivor
        more = await produce_small_flows(produce, topics, 3)
        wait_for(lambda: totals(first).get("events") == total + more, "the new events", 30)
    finally:
        for one in (first, second):
            if one.process.poll() is None:
                one.stop()


@pytest.fixture
def webhook() -> Iterator[HTTPServer]:
    with http_receiver() as http:
        http.expect_request("/hook", method="POST").respond_with_data("ok")
        yield http


def share(service: Service) -> dict[str, Any]:
    """The member's own, unmerged snapshot."""
    found = get(service, "/v1/shard/share")
    return {} if found is None else found["snapshot"]


def ordering_counts(snapshot: dict[str, Any]) -> tuple[int, int]:
    """(events checked, key mismatches) over every topic of a snapshot's ordering view."""
    topics = (snapshot.get("ordering") or {}).get("topics", [])
    return sum(t["checked"] for t in topics), sum(t["key_mismatches"] for t in topics)


async def test_alerts_and_ordering_findings_are_the_groups_and_notify_once(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    webhook: HTTPServer,
    tmp_path: Path,
) -> None:
    """Dead letters land on both members (with the flows they belong to): the one alert over
    the group's dead letters is evaluated once, by the member that samples lag, over the
    merged view, so the webhook hears it once, and both members show it. Every event's key
    differs from its aggregate id: the ordering findings either member shows are the group's."""
    prefix = unique_name("shard")
    topics = await make_topics(make_topic, prefix)
    dlt = await make_topic(f"{topics[0]}.DLT", PARTITIONS)
    rules = [{"name": "dead-letters", "kind": "dead_letters_rate", "threshold": 0, "for_s": 1}]
    receivers = [{"name": "hook", "kind": "webhook", "url": webhook.url_for("/hook")}]
    env = {
        "EDAMON_ALERTS__RULES": json.dumps(rules),
        "EDAMON_ALERTS__RECEIVERS": json.dumps(receivers),
        "EDAMON_ALERTS__EVALUATE_INTERVAL_S": "0.5",
    }
    group = prefix
    first = member(kafka_bootstrap, prefix, tmp_path, group, env=env)
    second = member(kafka_bootstrap, prefix, tmp_path, group, env=env)
    try:
        for one in (first, second):
            wait_for(lambda one=one: settled(one, 2, 15), "two settled members", 90)
        total = await produce_small_flows(produce, topics, 24)
        # a dead letter of a new flow's event, 24 flows: their owners are spread over the members
        dead = []
        for i in range(24):
            value = event(TYPES[0], str(uuid.uuid4()), None)
            dead.append((f"k-{i}", value, spring_dlt_headers(topics[0], i % PARTITIONS, i)))
        await produce(dlt, dead)
        for one in (first, second):
            wait_for(lambda one=one: totals(one).get("dead_letters") == 24, "every dead letter", 30)
        held = [share(one)["totals"]["dead_letters"] for one in (first, second)]
        assert sum(held) == 24 and all(held), f"dead letters on both members: {held}"
        wait_for(lambda: webhook.log, "the alert at the webhook", 30)
        await asyncio.sleep(4)  # eight more evaluations on each member
        firing = [
            body
            for body in (json.loads(request.get_data()) for request, _ in webhook.log)
            if body["status"] == "firing"
        ]
        assert len(firing) == 1, firing  # one evaluator for the group
        assert firing[0]["groupLabels"] == {"alertname": "dead-letters"}
        for one in (first, second):
            alerts = get(one, "/v1/alerts")["alerts"]
            assert [(a["rule"], a["state"], a["value"]) for a in alerts] == [
                ("dead-letters", "firing", 24)  # the group's rate, not one member's share
            ]
            overview = get(one, "/v1/overview")["snapshot"]
            assert [a["rule"] for a in overview["alerts"]] == ["dead-letters"]
        # ordering: each member checks its own flows; either member answers for all
        own = [ordering_counts(share(one)) for one in (first, second)]
        assert all(checked for checked, _ in own), own
        for one in (first, second):
            merged = ordering_counts(get(one, "/v1/overview")["snapshot"])
            assert merged == (sum(c for c, _ in own), sum(k for _, k in own))
            assert merged[0] >= total and merged[1] >= total  # every key differs
    finally:
        for one in (first, second):
            one.stop()


async def test_a_member_joining_later_takes_its_share(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    prefix = unique_name("join")
    topics = await make_topics(make_topic, prefix)
    correlation = await produce_spanning_flow(produce, topics)
    total = 12 + await produce_small_flows(produce, topics, 10)
    first = member(kafka_bootstrap, prefix, tmp_path, prefix)
    second: Service | None = None
    try:
        wait_for(lambda: settled(first, 1), "one settled member", 60)
        wait_for(lambda: totals(first).get("events") == total, "every event", 30)
        second = member(kafka_bootstrap, prefix, tmp_path, prefix)
        late = second
        for one in (late, first):
            # each member learns of the other on its own schedule: both must settle
            wait_for(lambda one=one: settled(one, 2), "the late member to take its share", 90)
        doc = shard(first)
        assert all(len(m["source_partitions"]) == 6 for m in doc["members"]), doc
        assert all(len(m["index_partitions"]) == 6 for m in doc["members"]), doc
        for one in (first, late):
            wait_for(lambda one=one: chain_events(one, correlation) == 12, "the whole flow", 30)
            wait_for(lambda one=one: totals(one).get("events") == total, "every event once", 30)
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def source_commits(bootstrap: str, group: str) -> dict[str, int]:
    """The stage-1 group's committed offsets, by `topic/partition`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(f"edamon-shard.{group}.source")
    finally:
        await admin.close()
    return {f"{tp.topic}/{tp.partition}": meta.offset for tp, meta in found.items()}


async def end_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Every partition's end offset, by `topic/partition`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        ends = await asyncio.wait_for(consumer.end_offsets(tps), 10)
    finally:
        await consumer.stop()
    return {f"{tp.topic}/{tp.partition}": offset for tp, offset in ends.items()}


async def test_a_member_commits_what_it_indexed_before_its_partitions_move(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    """The first member never commits on its clock (once an hour): only the commit before
    the rebalance can put its positions in the source group by the time the second joins.
    The second then starts where the first indexed to and indexes nothing again."""
    prefix = unique_name("revoke")
    topics = await make_topics(make_topic, prefix)
    total = await produce_small_flows(produce, topics, 15)
    ends = await end_offsets(kafka_bootstrap, topics)
    assert sum(ends.values()) == total and len(ends) == 12
    first = member(
        kafka_bootstrap,
        prefix,
        tmp_path,
        prefix,
        env={"EDAMON_SHARD__COMMIT_EVERY_S": "3600"},
    )
    second: Service | None = None
    try:
        wait_for(lambda: settled(first, 1), "one settled member", 60)
        wait_for(lambda: totals(first).get("events") == total, "every event", 30)
        had = set(shard(first)["members"][0]["source_partitions"])
        assert had == set(ends)
        assert await source_commits(kafka_bootstrap, prefix) == {}  # no commit on the clock
        second = member(kafka_bootstrap, prefix, tmp_path, prefix)
        late = second
        for one in (first, late):
            wait_for(lambda one=one: settled(one, 2), "both members to settle", 90)
        committed = await source_commits(kafka_bootstrap, prefix)
        assert {tp: committed.get(tp) for tp in had} == {tp: ends[tp] for tp in had}
        doc = shard(late)
        written = {m["url"]: m["index_records_written"] for m in doc["members"]}
        assert written[doc["this_member"]] == 0, written  # started at the first one's commits
        for one in (first, late):
            wait_for(lambda one=one: totals(one).get("events") == total, "every event", 30)
            assert totals(one)["events"] == total  # not doubled
            assert totals(one)["chains"] == 15
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_read_only_refuses_to_create_the_index_topic(
    kafka_bootstrap: str, unique_name: UniqueName, tmp_path: Path
) -> None:
    prefix = unique_name("ro")
    service = member(kafka_bootstrap, prefix, tmp_path, prefix, "--read-only")
    try:

        def refused() -> str | None:
            overview = get(service, "/v1/overview")
            connection = overview["snapshot"]["connection"] if overview else {}
            return connection.get("message") if connection.get("state") == "error" else None

        message = wait_for(refused, "the refusal", 30)
        assert "read-only" in message and f"edamon-shard.{prefix}.index" in message
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            assert f"edamon-shard.{prefix}.index" not in await admin.list_topics()
        finally:
            await admin.close()
    finally:
        code, _, err = service.stop()
    assert code == 0, err


def coords_of(page: dict[str, Any] | None) -> list[str]:
    return [] if page is None else [row["coords"] for row in page["items"]]


async def test_pages_of_dead_letters_are_the_groups_from_either_member(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    """Dead letters spread over both members (each owns those of its flows): either member's
    `/v1/dead-letters` pages every one of them, newest first, the total being the sum of the
    members' own; a page beyond the first member's rows, `filter=`, `select=` and `order=`
    are the group's; a member that does not answer makes the page partial, not an error.

    A few dozen dead letters: the snapshot's merged list (each member's newest 2,000, a
    constant) would list them too, so the fan-out shows in `select=` (which used to narrow to
    the answering member's own), in `order=` over both members' rows, and in the page of a
    member that does not answer."""
    prefix = unique_name("shard")
    topics = await make_topics(make_topic, prefix)
    dlt = await make_topic(f"{topics[0]}.DLT", PARTITIONS)
    env = {"EDAMON_SHARD__PEER_TIMEOUT_S": "1"}
    first = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    second = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    try:
        for one in (first, second):
            wait_for(lambda one=one: settled(one, 2, 15), "two settled members", 90)
        # 36 dead letters of 36 new flows, one second apart (newest first is one order),
        # from two consumer groups and with two messages
        now_ms = int(time.time() * 1000)
        stamps: dict[int, int] = {}
        for i in range(36):
            headers = spring_dlt_headers(
                topics[0],
                i % PARTITIONS,
                i,
                group="billing" if i % 4 == 0 else "payments",
                message="card declined" if i % 3 == 0 else "payment gateway timeout",
            )
            value = event(TYPES[0], str(uuid.uuid4()), None)
            stamps[i] = now_ms - 60_000 + i * 1000
            await produce(dlt, [(f"k-{i}", value, headers)], timestamp_ms=stamps[i])
        held = [0, 0]

        def all_held() -> bool:
            held[:] = [len(share(one).get("dead_letters", ())) for one in (first, second)]
            return sum(held) == 36

        wait_for(all_held, "every dead letter held by one member", 30)
        assert all(held), f"dead letters on both members: {held}"
        rows = {
            row["coords"]: row
            for one in (first, second)
            for row in get(one, "/v1/shard/dead-letters?first=100")["items"]
        }
        assert len(rows) == 36
        newest = sorted(rows, key=lambda c: rows[c]["time"], reverse=True)
        for one in (first, second):
            wait_for(
                lambda one=one: (get(one, "/v1/dead-letters?limit=1") or {}).get("total") == 36,
                "the group's total",
                15,
            )
            page = get(one, "/v1/dead-letters?limit=100")
            assert page["total"] == 36 and page["notices"] == []
            assert coords_of(page) == newest
            # a page beyond the first member's own rows, and the pages end to end
            own = len(get(first, "/v1/shard/dead-letters?first=100")["items"])
            deep = get(one, f"/v1/dead-letters?offset={own}&limit=5")
            assert deep["total"] == 36 and coords_of(deep) == newest[own : own + 5]
            pages = [get(one, f"/v1/dead-letters?offset={o}&limit=7") for o in range(0, 36, 7)]
            assert [c for p in pages for c in coords_of(p)] == newest
            wait_for(
                lambda one=one: get(one, "/v1/overview")["counts"]["dead_letters"] == 36,
                "the overview's count of the group's dead letters",
                10,
            )
            groups = get(one, "/v1/dead-letter-groups?limit=100")["items"]
            assert sum(g["count"] for g in groups) == 36
            # filter= and select= on every member
            declined = [c for c in newest if rows[c]["message"] == "card declined"]
            found = get(one, "/v1/dead-letters?filter=CARD%20declined&limit=100")
            assert found["total"] == 12 and coords_of(found) == declined
            billing = [c for c in newest if rows[c]["consumer_group"] == "billing"]
            found = get(one, "/v1/dead-letters?select=group%3Dbilling&limit=4&offset=2")
            assert found["total"] == 9 and coords_of(found) == billing[2:6]
            # order=: each member's sorted first rows, merged by the same key
            by_group = sorted(newest, key=lambda c: rows[c]["consumer_group"])  # stable
            found = get(one, "/v1/dead-letters?order=consumer_group&limit=20")
            assert coords_of(found) == by_group[:20]
            by_group_desc = sorted(newest, key=lambda c: rows[c]["consumer_group"], reverse=True)
            found = get(one, "/v1/dead-letters?order=-consumer_group&offset=5&limit=20")
            assert coords_of(found) == by_group_desc[5:25]
        # too deep a page for a shard group: refused, with the reason
        with first.client("viewer") as http:
            response = http.get("/v1/dead-letters?offset=9500&limit=1000")
        assert response.status_code == 400 and "10,000" in response.json()["message"]
        # a member that does not answer in time: the page is partial, and says so
        first_own = [c for c in newest if c in coords_of(get(first, "/v1/shard/dead-letters"))]
        second.process.send_signal(signal.SIGSTOP)
        try:
            page = get(first, "/v1/dead-letters?limit=100")
        finally:
            second.process.send_signal(signal.SIGCONT)
        assert page["total"] == len(first_own) and coords_of(page) == first_own
        assert any("partial answer" in n and second.url in n for n in page["notices"])
    finally:
        for one in (first, second):
            one.stop()


def plan_of(service: Service, filters: list[str], **options: Any) -> dict[str, Any]:
    with service.client("viewer") as http:
        response = http.post("/v1/retries/preview", json={"filters": filters, **options})
    assert response.status_code == 200, response.text
    return dict(response.json())


def retry_attached(service: Service, tmp: Path, *args: str) -> Any:
    """`edamon dlq retry --attach` to `service` with its operator token."""
    return subprocess.run(
        [sys.executable, "-m", "edamon", "dlq", "retry", "--attach", service.url, *args],
        cwd=tmp,
        env=clean_env(tmp, {"EDAMON_TOKEN": service.operator}),
        capture_output=True,
        timeout=60,
        check=False,
    )


def actions(plan: dict[str, Any]) -> dict[str, str]:
    return {item["coords"]: item["action"] for item in plan["items"]}


async def test_a_retry_by_filter_reaches_every_members_dead_letters(
    kafka_bootstrap: str,
    unique_name: UniqueName,
    make_topic: MakeTopic,
    produce: Produce,
    tmp_path: Path,
) -> None:
    """Dead letters on every partition of a DLQ, held by both members (each holds those of
    its flows): a preview by filter asked of either member plans every one the filter keeps,
    and a retry by filter started on one member sends them all (those of the other member
    read from Kafka), each then marked retried on both. A member that does not answer makes
    the plan partial, and the preview and the job's plan say so."""
    prefix = unique_name("shard")
    topics = await make_topics(make_topic, prefix)
    dlt = await make_topic(f"{topics[0]}.DLT", PARTITIONS)
    target = await make_topic(f"{prefix}.Retried", 1)
    env = {"EDAMON_SHARD__PEER_TIMEOUT_S": "1"}
    first = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    second = member(kafka_bootstrap, prefix, tmp_path, prefix, env=env)
    try:
        for one in (first, second):
            wait_for(lambda one=one: settled(one, 2, 16), "two settled members", 90)
        # 30 dead letters of 30 new flows, 10 on each DLQ partition; 20 of group billing
        billing: set[str] = set()
        for i in range(30):
            group = "payments" if i % 3 == 0 else "billing"
            headers = spring_dlt_headers(target, 0, i, group=group)
            value = event(TYPES[0], str(uuid.uuid4()), None)
            sent = await produce(dlt, [(f"k-{i}", value, headers)], partition=i % PARTITIONS)
            if group == "billing":
                billing.add(f"{dlt}/{sent[0].partition}/{sent[0].offset}")
        own: dict[str, set[str]] = {}

        def all_held() -> bool:
            for one in (first, second):
                page = get(one, "/v1/shard/dead-letters?first=100&select=group%3Dbilling")
                own[one.url] = set(coords_of(page))
            return sum(len(held) for held in own.values()) == len(billing)

        wait_for(all_held, "every dead letter held by one member", 30)
        assert all(own.values()), f"billing dead letters on both members: {own}"
        assert set().union(*own.values()) == billing
        # what a member answers the one planning: its own addresses, the newest `first`
        asked = get(second, "/v1/shard/dead-letter-coords?first=2&select=group%3Dbilling")
        assert asked["total"] == len(own[second.url]) and len(asked["coords"]) == 2
        assert set(asked["coords"]) <= own[second.url] and asked["rebuilding"] is False
        # the preview, asked of either member: every one the filter keeps, newest first
        for one in (first, second):
            plan = plan_of(one, ["group=billing"])
            assert actions(plan) == dict.fromkeys(billing, "send"), one.url
            assert plan["notices"] == [] and plan["problems"] == []
            assert plan["targets"] == [[target, len(billing)]]
        # a retry by filter started on the first member sends the second's too
        with first.client() as http:
            started = http.post("/v1/retries", json={"filters": ["group=billing"]})
            assert started.status_code == 202, started.text
            job_id = started.json()["id"]
            job = wait_for(
                lambda: (j := http.get(f"/v1/retries/{job_id}").json())["state"] != "running" and j,
                "the retry job to finish",
            )
        assert job["state"] == "done" and job["done"] == job["total"] == len(billing)
        counts = {outcome: n for outcome, n in job["counts"] if n}
        assert counts == {"sent": len(billing)}
        assert {r["coords"] for r in job["results"] if r["outcome"] == "sent"} == billing
        assert job["plan"]["notices"] == []
        copies = await read_all(kafka_bootstrap, target)
        retried_from = [dict(r.headers)["edamon-retry-of"].decode() for r in copies]
        assert sorted(retried_from) == sorted(billing)
        # each is marked retried, on either member: its rows say so, the next plan skips them
        for one in (first, second):
            wait_for(
                lambda one=one: (
                    {
                        row["coords"]: row["retry"]
                        for row in get(one, "/v1/dead-letters?select=group%3Dbilling&limit=100")[
                            "items"
                        ]
                    }
                    == dict.fromkeys(billing, "sent")
                ),
                "every dead letter's row marked retried",
                15,
            )
            assert actions(plan_of(one, ["group=billing"])) == dict.fromkeys(billing, "skip")
        # a member that does not answer: the preview and the job's plan say what they miss
        # (and `dlq retry --attach` warns, and fails: not everything asked for was retried)
        second.process.send_signal(signal.SIGSTOP)
        try:
            partial = plan_of(first, ["group=billing"], force=True)
            with first.client() as http:
                started = http.post("/v1/retries", json={"filters": ["group=billing"]})
        finally:
            second.process.send_signal(signal.SIGCONT)
        wait_for(lambda: settled(first, 2, 17), "the second member answering again", 15)
        second.process.send_signal(signal.SIGSTOP)  # stopped for less than a session timeout
        try:
            attached = retry_attached(first, tmp_path, "--filter", "group=billing", "--yes")
        finally:
            second.process.send_signal(signal.SIGCONT)
        assert actions(partial) == dict.fromkeys(own[first.url], "send")
        assert len(partial["notices"]) == 1
        assert "partial plan" in partial["notices"][0] and second.url in partial["notices"][0]
        assert started.status_code == 202, started.text
        assert started.json()["plan"]["notices"] == partial["notices"]
        assert attached.returncode == 1, attached.stderr
        assert "nothing to send" in attached.stdout.decode()
        assert f"warning: shard: partial plan: {second.url}" in attached.stderr.decode()
    finally:
        for one in (first, second):
            one.stop()
