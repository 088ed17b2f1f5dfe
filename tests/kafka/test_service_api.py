"""Every endpoint of a real `edamon serve` process on the real broker, with httpx as the client,
and the commands that attach to it (`collect --json --attach`, `dlq list/show/retry --attach`)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from builders import envelope, spring_dlt_headers
from kafka_helpers import KafkaTestClients, unique_name
from service_helpers import Service, clean_env, start_service, wait_for

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
CHAINS = 4
BINARY_HEADER = b"\x00\x01\xfe\xff"
POISON = b"\xff\xfenot json at all"


@dataclass(frozen=True)
class Seeded:
    prefix: str
    orders: str
    payments: str
    dlq: str
    group: str
    correlation_ids: tuple[str, ...]
    root_ids: tuple[str, ...]
    values: dict[str, bytes]
    """event id -> the value produced."""
    dead_letter: str
    """Coords of the dead letter."""
    poison: str
    """Coords of the undecodable record."""


async def _seed(bootstrap: str, prefix: str) -> Seeded:
    clients = KafkaTestClients(bootstrap)
    try:
        orders = await clients.make_topic(f"{prefix}.orders.OrderPlaced")
        payments = await clients.make_topic(f"{prefix}.payments.PaymentProcessed")
        dlq = await clients.make_topic(f"{prefix}.orders.OrderPlaced.DLT")
        now_ms = int(time.time() * 1000)
        cids, roots, values = [], [], {}
        for i in range(CHAINS):
            cid, root, child = f"cid-{prefix}-{i}", f"e-{prefix}-{i}", f"p-{prefix}-{i}"
            placed = json.dumps(
                envelope(root, "OrderPlaced", cid, aggregate_id=f"order-{i}", at_ms=now_ms)
            ).encode()
            paid = json.dumps(
                envelope(child, "PaymentProcessed", cid, root, at_ms=now_ms + 5)
            ).encode()
            await clients.produce(
                orders, [(f"order-{i}", placed, [("event-type", b"OrderPlaced")])]
            )
            if i % 2 == 0:  # chains of 2 and of 1 event: ordering by size has an answer
                await clients.produce(payments, [(f"order-{i}", paid)])
                values[child] = paid
            cids.append(cid)
            roots.append(root)
            values[root] = placed
        poison = await clients.produce(orders, [(b"bad", POISON)])
        failed = json.dumps(envelope(f"d-{prefix}", "OrderPlaced", cids[0], at_ms=now_ms)).encode()
        headers = [
            *spring_dlt_headers(orders, 0, 1, group=f"{prefix}.billing"),
            ("x-binary", BINARY_HEADER),
        ]
        dead = await clients.produce(dlq, [(b"order-0", failed, headers)])
        group = f"{prefix}.billing"
        await clients.commit_offsets(group, {(orders, 0): 1})
        return Seeded(
            prefix=prefix,
            orders=orders,
            payments=payments,
            dlq=dlq,
            group=group,
            correlation_ids=tuple(cids),
            root_ids=tuple(roots),
            values=values,
            dead_letter=f"{dlq}/0/{dead[0].offset}",
            poison=f"{orders}/0/{poison[0].offset}",
        )
    finally:
        await clients.close()


@pytest.fixture(scope="module")
def seeded(kafka_bootstrap: str) -> Seeded:
    return asyncio.run(_seed(kafka_bootstrap, unique_name("svc")))


@pytest.fixture(scope="module")
def service(
    kafka_bootstrap: str, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("serve")
    # every record's bytes and every dead letter's body dropped from memory: they are re-read
    # from Kafka when asked for
    running = start_service(
        kafka_bootstrap,
        seeded.prefix,
        tmp,
        env={
            "EDAMON_RETENTION__RECORD_MEMORY_MB": "0",
            "EDAMON_RETENTION__DEAD_LETTER_MEMORY_MB": "0",
        },
    )
    try:
        with running.client() as http:

            def complete() -> bool:
                counts = http.get("/v1/overview").json()["counts"]
                totals = http.get("/v1/overview").json()["snapshot"]["totals"]
                lag = http.get("/v1/lag").json()["items"]
                return bool(
                    counts["chains"] >= CHAINS
                    and counts["dead_letters"] >= 1
                    and totals["undecodable"] >= 1
                    and any(g["group"] == seeded.group and g["total_lag"] > 0 for g in lag)
                )

            wait_for(complete, "the service to collect the seeded records and lag", 60)
        yield running
    finally:
        running.stop()


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    with service.client() as client:
        yield client


def run_edamon(*args: str, service: Service, tmp: Path, token: str | None = None) -> Any:
    env = clean_env(tmp, {"EDAMON_TOKEN": token or service.viewer})
    return subprocess.run(
        [sys.executable, "-m", "edamon", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        timeout=90,
        check=False,
    )


class TestState:
    def test_health_names_the_role(self, service: Service) -> None:
        for role in ("viewer", "operator"):
            with service.client(role) as client:
                answer = client.get("/v1/health")
            assert answer.status_code == 200
            assert answer.json()["role"] == role
            assert answer.json()["status"] == "ok"

    def test_ready_once_connected_and_caught_up(self, http: httpx.Client) -> None:
        answer = wait_for(
            lambda: (r := http.get("/v1/ready")).status_code == 200 and r, "ready", 30
        )
        body = answer.json()
        assert body["ready"] is True and body["reason"] == ""
        assert body["connection"]["state"] == "connected"
        assert body["catchup"]["caught_up"] is True

    def test_overview_caps_each_list_and_counts_them_all(
        self, http: httpx.Client, seeded: Seeded
    ) -> None:
        body = http.get("/v1/overview", params={"rows": 1}).json()
        snapshot, counts = body["snapshot"], body["counts"]
        assert body["rows"] == 1
        assert len(snapshot["chains"]) == 1
        assert counts["chains"] == snapshot["totals"]["chains"] == CHAINS
        assert len(snapshot["throughput"]["topics"]) == 1 < counts["topics"]
        full = http.get("/v1/overview", params={"rows": 500}).json()
        assert len(full["snapshot"]["chains"]) == full["counts"]["chains"]
        assert http.get("/v1/overview", params={"rows": 501}).status_code == 400

    def test_overview_history_keeps_the_newest_seconds(self, http: httpx.Client) -> None:
        full = http.get("/v1/overview").json()["snapshot"]["throughput"]
        short = http.get("/v1/overview", params={"history": 5}).json()["snapshot"]["throughput"]
        assert len(full["events"]["history"]) > 5
        assert len(short["events"]["history"]) == 5
        assert short["events"]["total"] == full["events"]["total"]
        for topic in short["topics"]:
            assert len(topic["by_arrival"]["history"]) == len(topic["by_timestamp"]["history"]) == 5
        assert http.get("/v1/overview", params={"history": -1}).status_code == 400

    def test_undecodable(self, http: httpx.Client, seeded: Seeded) -> None:
        body = http.get("/v1/undecodable").json()
        assert body["count"] == 1
        assert [s["coords"] for s in body["samples"]] == [seeded.poison]

    def test_collect_document(self, http: httpx.Client, seeded: Seeded) -> None:
        body = http.get("/v1/collect", params={"max_trees": 2}).json()
        assert body["schema_version"] == 1
        assert len(body["chain_trees"]) == 2
        assert body["snapshot"]["totals"]["chains"] == CHAINS


class TestPages:
    def test_chains_page_filter_and_order(self, http: httpx.Client, seeded: Seeded) -> None:
        page = http.get("/v1/chains", params={"offset": 1, "limit": 2}).json()
        assert page["total"] == CHAINS and page["offset"] == 1 and len(page["items"]) == 2
        everything = http.get("/v1/chains").json()["items"]
        assert [c["correlation_id"] for c in everything[1:3]] == [
            c["correlation_id"] for c in page["items"]
        ]
        one = http.get("/v1/chains", params={"filter": seeded.correlation_ids[2].upper()}).json()
        assert [c["correlation_id"] for c in one["items"]] == [seeded.correlation_ids[2]]
        assert one["total"] == 1
        biggest = http.get("/v1/chains", params={"order": "-events"}).json()["items"]
        assert [c["events"] for c in biggest] == [2, 2, 1, 1]
        smallest = http.get("/v1/chains", params={"order": "events"}).json()["items"]
        assert [c["events"] for c in smallest] == [1, 1, 2, 2]

    def test_dead_letters_page_and_select(self, http: httpx.Client, seeded: Seeded) -> None:
        page = http.get("/v1/dead-letters").json()
        assert [row["coords"] for row in page["items"]] == [seeded.dead_letter]
        assert page["items"][0]["consumer_group"] == seeded.group
        kept = http.get("/v1/dead-letters", params={"select": "exception=IllegalState"}).json()
        assert kept["total"] == 1
        none = http.get("/v1/dead-letters", params={"select": "group=nobody"}).json()
        assert none == {"total": 0, "offset": 0, "items": [], "notices": []}
        bad = http.get("/v1/dead-letters", params={"select": "colour=blue"})
        assert bad.status_code == 400 and "colour" in bad.json()["message"]
        groups = http.get("/v1/dead-letter-groups").json()
        assert groups["total"] == 1 and groups["items"][0]["count"] == 1

    def test_lag_groups_and_partitions(self, http: httpx.Client, seeded: Seeded) -> None:
        groups = http.get("/v1/lag", params={"filter": seeded.group}).json()
        assert [g["group"] for g in groups["items"]] == [seeded.group]
        parts = http.get(f"/v1/lag/{seeded.group}").json()
        assert parts["total"] == 1
        partition = parts["items"][0]
        assert (partition["topic"], partition["committed"]) == (seeded.orders, 1)
        assert partition["lag"] == partition["end"] - 1 > 0
        missing = http.get("/v1/lag/no-such-group")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"

    def test_throughput_timeline_and_sagas(self, http: httpx.Client, seeded: Seeded) -> None:
        topics = http.get("/v1/throughput/topics", params={"order": "topic"}).json()
        names = [t["topic"] for t in topics["items"]]
        assert names == sorted(names) and seeded.orders in names and seeded.dlq in names
        types = http.get("/v1/throughput/event-types", params={"filter": "payment"}).json()
        assert [t["event_type"] for t in types["items"]] == ["PaymentProcessed"]
        assert types["items"][0]["series"]["total"] == 2
        tail = http.get("/v1/timeline", params={"filter": "PaymentProcessed"}).json()
        assert tail["total"] == 2
        assert all(row["topic"] == seeded.payments for row in tail["items"])
        # no saga definitions configured: empty pages, not errors
        assert http.get("/v1/sagas").json() == {"total": 0, "offset": 0, "items": []}
        assert http.get("/v1/saga-summaries").json()["total"] == 0


class TestOne:
    def test_chain(self, http: httpx.Client, seeded: Seeded) -> None:
        body = http.get(f"/v1/chains/{seeded.correlation_ids[0]}").json()
        assert body["summary"]["events"] == 2
        ids = [node["event_id"] for node in body["nodes"]]
        assert ids[0] == seeded.root_ids[0]
        assert http.get("/v1/chains/no-such-flow").status_code == 404

    def test_event_is_read_again_when_its_record_was_dropped(
        self, http: httpx.Client, seeded: Seeded
    ) -> None:
        root = seeded.root_ids[1]
        body = http.get(f"/v1/events/{root}").json()
        assert body["envelope"]["event_type"] == "OrderPlaced"
        assert body["record_dropped"] is True  # record_memory_mb = 0: nothing held
        record = body["record"]
        assert record["value"] == {"text": seeded.values[root].decode()}
        assert record["headers"] == [{"key": "event-type", "text": "OrderPlaced"}]
        assert record["key"] == {"text": "order-1"}
        assert record["coords"] == body["coords"]
        assert http.get("/v1/events/no-such-event").status_code == 404

    def test_dead_letter_is_what_dlq_show_json_prints(
        self, http: httpx.Client, seeded: Seeded, kafka_bootstrap: str, tmp_path: Path
    ) -> None:
        body = http.get(f"/v1/dead-letters/{seeded.dead_letter}").json()
        assert body["coords"] == seeded.dead_letter
        assert body["consumer_group"] == seeded.group
        headers = {h["key"]: h for h in body["headers"]}
        assert headers["x-binary"]["base64"] == base64.b64encode(BINARY_HEADER).decode()
        # the command on the cluster and the service agree, retry status aside (the ledger
        # may gain entries from the retry test)
        shown = subprocess.run(
            [sys.executable, "-m", "edamon", "dlq", "show", "--json", seeded.dead_letter],
            cwd=tmp_path,
            env=clean_env(tmp_path, {"EDAMON_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}),
            capture_output=True,
            timeout=90,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        expected = json.loads(shown.stdout)
        assert {k: v for k, v in body.items() if k != "retry"} == {
            k: v for k, v in expected.items() if k != "retry"
        }

    def test_dead_letter_unknown_or_malformed(self, http: httpx.Client, seeded: Seeded) -> None:
        missing = http.get(f"/v1/dead-letters/{seeded.dlq}/0/999")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        malformed = http.get("/v1/dead-letters/not-an-address")
        assert malformed.status_code == 400 and malformed.json()["error"] == "bad_request"

    def test_record_read_again(self, http: httpx.Client, seeded: Seeded) -> None:
        body = http.get(f"/v1/records/{seeded.poison}").json()
        assert base64.b64decode(body["value"]["base64"]) == POISON
        assert body["key"] == {"text": "bad"}
        assert http.get(f"/v1/records/{seeded.orders}/0/999").status_code == 404
        assert http.get("/v1/records/x/y/z").status_code == 400


class TestRetries:
    def test_preview_start_progress_and_ledger(
        self, service: Service, http: httpx.Client, seeded: Seeded
    ) -> None:
        ask = {"coords": [seeded.dead_letter, f"{seeded.dlq}/0/999"]}
        plan = http.post("/v1/retries/preview", json=ask).json()
        assert [(i["coords"], i["action"]) for i in plan["items"]] == [(seeded.dead_letter, "send")]
        assert plan["items"][0]["target"] == seeded.orders
        assert [address for address, _ in plan["problems"]] == [f"{seeded.dlq}/0/999"]
        assert plan["read_only"] is False
        with service.client("viewer") as viewer:
            assert viewer.post("/v1/retries/preview", json=ask).status_code == 200
            refused = viewer.post("/v1/retries", json=ask)
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        started = http.post("/v1/retries", json=ask)
        assert started.status_code == 202
        job_id = started.json()["id"]
        done = wait_for(
            lambda: (j := http.get(f"/v1/retries/{job_id}").json())["state"] != "running" and j,
            "the retry job to finish",
        )
        assert done["state"] == "done" and done["done"] == done["total"] == 1
        outcomes = {r["coords"]: r["outcome"] for r in done["results"]}
        assert outcomes == {seeded.dead_letter: "sent", f"{seeded.dlq}/0/999": "refused"}
        assert dict(done["counts"])["sent"] == 1
        # the ledger now says it was retried: the next plan skips it unless forced
        again = wait_for(
            lambda: (
                (p := http.post("/v1/retries/preview", json=ask).json())["items"][0]["action"]
                == "skip"
                and p
            ),
            "the ledger to know the retry",
        )
        assert again["items"][0]["already_retried"] is True
        forced = http.post("/v1/retries/preview", json={**ask, "force": True}).json()
        assert forced["items"][0]["action"] == "send"
        cancelled = http.delete(f"/v1/retries/{job_id}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "done"
        assert http.get("/v1/retries/r999").status_code == 404
        assert http.delete("/v1/retries/r999").status_code == 404


class TestDocument:
    def test_served_openapi_is_the_one_in_the_repo(self, http: httpx.Client) -> None:
        served = http.get("/v1/openapi.json").json()
        kept = json.loads((REPO / "docs" / "openapi.json").read_text())
        assert served == kept, "regenerate: python -m edamon serve --openapi > docs/openapi.json"
        assert "/v1/retries/{job_id}" in served["paths"]


class TestAttachedCommands:
    def test_collect_json_attach(self, service: Service, seeded: Seeded, tmp_path: Path) -> None:
        run = run_edamon(
            "collect", "--json", "--attach", service.url, "--max-trees", "3",
            service=service, tmp=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        document = json.loads(run.stdout)
        assert document["schema_version"] == 1
        assert len(document["chain_trees"]) == 3
        assert {c["correlation_id"] for c in document["snapshot"]["chains"]} == set(
            seeded.correlation_ids
        )

    def test_dlq_list_and_show_attach(
        self, service: Service, seeded: Seeded, tmp_path: Path
    ) -> None:
        listed = run_edamon("dlq", "list", "--attach", service.url, service=service, tmp=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert seeded.dead_letter in listed.stdout.decode()
        assert "1 dead letter(s)" in listed.stdout.decode()
        rows = run_edamon(
            "dlq", "list", "--json", "--attach", service.url, "-f", "group=nobody",
            service=service, tmp=tmp_path,
        )  # fmt: skip
        assert rows.returncode == 0 and rows.stdout == b""
        shown = run_edamon(
            "dlq", "show", "--attach", service.url, seeded.dead_letter,
            service=service, tmp=tmp_path,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert "IllegalStateException" in shown.stdout.decode()

    def test_dlq_retry_attach_needs_the_operator(
        self, service: Service, seeded: Seeded, tmp_path: Path
    ) -> None:
        as_viewer = run_edamon(
            "dlq", "retry", "--attach", service.url, "--yes", "--force", seeded.dead_letter,
            service=service, tmp=tmp_path, token=service.viewer,
        )  # fmt: skip
        assert as_viewer.returncode == 2
        assert "operator" in as_viewer.stderr.decode()
        dry = run_edamon(
            "dlq", "retry", "--attach", service.url, "--dry-run", seeded.dead_letter,
            service=service, tmp=tmp_path, token=service.operator,
        )  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        assert "dry run: nothing sent" in dry.stdout.decode()
        sent = run_edamon(
            "dlq", "retry", "--attach", service.url, "--yes", "--force", seeded.dead_letter,
            service=service, tmp=tmp_path, token=service.operator,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        out = sent.stdout.decode()
        assert "1 sent" in out and f"sent     {seeded.dead_letter} -> {seeded.orders}/0/" in out


class TestTokens:
    def test_token_file_is_private_and_tokens_are_never_printed(self, service: Service) -> None:
        assert service.token_file is not None
        assert stat.S_IMODE(service.token_file.stat().st_mode) == 0o600
        printed = "".join(service.output)
        assert str(service.token_file) in printed
        assert service.viewer not in printed and service.operator not in printed
