"""Auth and bad requests on a real `edamon serve` (read-only, tokens from the environment): every
request needs a token, retries need the operator role and a writable service, and bad requests
get a 4xx with a JSON error, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from service_helpers import Service, start_service

pytestmark = pytest.mark.kafka

PATHS = [
    "/v1/health",
    "/v1/ready",
    "/v1/overview",
    "/v1/collect",
    "/v1/undecodable",
    "/v1/chains",
    "/v1/chains/x",
    "/v1/events/x",
    "/v1/dead-letters",
    "/v1/dead-letters/t/0/0",
    "/v1/dead-letter-groups",
    "/v1/records/t/0/0",
    "/v1/sagas",
    "/v1/saga-summaries",
    "/v1/lag",
    "/v1/lag/g",
    "/v1/throughput/topics",
    "/v1/throughput/event-types",
    "/v1/timeline",
    "/v1/retries/r1",
    "/v1/openapi.json",
]


@pytest.fixture(scope="module")
def service(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from kafka_helpers import unique_name

    tmp = tmp_path_factory.mktemp("secure")
    running = start_service(
        kafka_bootstrap, unique_name("sec"), tmp, "--read-only", env_tokens=True
    )
    try:
        yield running
    finally:
        code, _, err = running.stop()
        assert code == 0, err
        assert running.viewer not in err and running.operator not in err
        assert "Traceback" not in err


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "message"}
    assert "Traceback" not in body["message"]
    return str(body["error"])


class TestAuth:
    @pytest.mark.parametrize("token", [None, "wrong-token-0123456789", ""])
    def test_every_endpoint_needs_a_known_token(self, service: Service, token: str | None) -> None:
        with service.client(token) as http:
            for path in PATHS:
                response = http.get(path)
                assert response.status_code == 401, path
                assert error_of(response) == "unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
            for method, path in (("POST", "/v1/retries"), ("DELETE", "/v1/retries/r1")):
                response = http.request(method, path, json={"coords": ["t/0/0"]})
                assert response.status_code == 401

    def test_a_basic_scheme_is_not_a_bearer(self, service: Service) -> None:
        with httpx.Client(base_url=service.url) as http:
            response = http.get("/v1/health", auth=(service.operator, service.operator))
        assert response.status_code == 401

    def test_the_environment_tokens_give_their_roles(self, service: Service) -> None:
        for role in ("viewer", "operator"):
            with service.client(role) as http:
                assert http.get("/v1/health").json()["role"] == role

    def test_a_viewer_may_not_retry_nor_cancel(self, service: Service) -> None:
        with service.client("viewer") as http:
            started = http.post("/v1/retries", json={"coords": ["t.DLT/0/0"]})
            assert started.status_code == 403 and error_of(started) == "forbidden"
            cancel = http.delete("/v1/retries/r1")
            assert cancel.status_code == 403 and error_of(cancel) == "forbidden"

    def test_read_only_refuses_retries_with_the_reason(self, service: Service) -> None:
        with service.client("operator") as http:
            assert http.get("/v1/health").json()["read_only"] is True
            refused = http.post("/v1/retries", json={"coords": ["t.DLT/0/0"]})
            assert refused.status_code == 403
            assert error_of(refused) == "read_only"
            assert "read-only" in refused.json()["message"]


class TestBadRequests:
    @pytest.fixture
    def http(self, service: Service) -> Iterator[httpx.Client]:
        with service.client("operator") as client:
            yield client

    def test_malformed_json(self, http: httpx.Client) -> None:
        response = http.post(
            "/v1/retries/preview",
            content=b'{"coords": [',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400 and error_of(response) == "bad_request"

    def test_unknown_and_mistyped_fields(self, http: httpx.Client) -> None:
        unknown = http.post("/v1/retries/preview", json={"coords": [], "colour": "blue"})
        assert unknown.status_code == 400
        assert "colour: unknown field" in unknown.json()["message"]
        mistyped = http.post("/v1/retries/preview", json={"coords": "t/0/0"})
        assert mistyped.status_code == 400 and error_of(mistyped) == "bad_request"
        empty = http.post("/v1/retries/preview", json={})
        assert empty.status_code == 400
        bad_address = http.post("/v1/retries/preview", json={"coords": ["nope"]})
        assert bad_address.status_code == 400 and "nope" in bad_address.json()["message"]

    def test_huge_bodies(self, http: httpx.Client) -> None:
        huge = json.dumps({"coords": ["t/0/0"] * 200_000}).encode()  # > 1 MiB
        declared = http.post(
            "/v1/retries/preview", content=huge, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413 and error_of(declared) == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for start in range(0, len(huge), 65536):
                yield huge[start : start + 65536]

        streamed = http.post(
            "/v1/retries/preview", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413 and error_of(streamed) == "too_large"
        assert http.get("/v1/health").status_code == 200

    @pytest.mark.parametrize(
        "params",
        [
            {"limit": -1},
            {"limit": 0},
            {"limit": 1001},
            {"offset": -5},
            {"limit": "ten"},
            {"order": "no_such_field"},
            {"order": "-no_such_field"},
            {"filter": "x" * 201},
        ],
    )
    def test_bad_page_requests(self, http: httpx.Client, params: dict[str, object]) -> None:
        response = http.get("/v1/chains", params=params)  # type: ignore[arg-type]
        assert response.status_code == 400 and error_of(response) == "bad_request"

    @pytest.mark.parametrize(
        "path",
        [
            "/v1/chains/no-such-flow",
            "/v1/events/no-such-event",
            "/v1/lag/no-such-group",
            "/v1/retries/r404",
            "/v1/no-such-endpoint",
        ],
    )
    def test_unknown_ids(self, http: httpx.Client, path: str) -> None:
        response = http.get(path)
        assert response.status_code == 404 and error_of(response) == "not_found"

    def test_a_wrong_method(self, http: httpx.Client) -> None:
        response = http.put("/v1/health")
        assert response.status_code == 405 and error_of(response) == "method_not_allowed"
