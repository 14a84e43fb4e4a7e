"""Request validation and response drift through a real gateway and a real loopback upstream."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.gateway.validation.drift import METRIC
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread, exchange
from tests.unit.gateway.validation_helpers import load, write_validation_estate

ORDER = {"customer": "c1", "lines": [{"sku": "a", "quantity": 2}]}


@dataclass
class Validated:
    gateway: GatewayThread
    upstream: UpstreamThread
    services: GatewayServices
    client: httpx.Client

    def drift(self, route: str, status: str) -> float:
        return self.services.metrics.counter(
            METRIC, "Upstream responses that do not match the route's contract", ("route", "status")
        ).value(route, status)


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Validated]:
    with UpstreamThread() as upstream:
        root = write_validation_estate(tmp_path_factory.mktemp("estate"), upstream.url + "/base")
        services = GatewayServices()
        config = compile_gateway(load(root), FAST, services)
        assert not config.unserved, config.unserved_line()
        gateway = GatewayThread(config).start()
        try:
            with httpx.Client(base_url=gateway.url) as client:
                yield Validated(gateway, upstream, services, client)
        finally:
            gateway.stop()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def _pointers(response: httpx.Response) -> list[tuple[str, str]]:
    problem = _problem(response, 400)
    return [(v["pointer"], v["message"]) for v in problem["violations"]]


def test_a_valid_request_is_proxied_unchanged(validated: Validated) -> None:
    data = b'{"customer":"c1",\n  "lines": [{"sku": "a", "quantity": 2}], "note": null}'
    response = validated.client.post(
        "/api/orders",
        content=data,
        headers={"content-type": "application/json", "x-tenant": "eu"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/base/orders"
    assert seen["body"] == data.decode()
    assert seen["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert seen["headers"]["content-length"] == str(len(data))


def test_a_chunked_json_body_arrives_whole(validated: Validated) -> None:
    data = json.dumps(ORDER).encode()

    def chunks() -> Iterator[bytes]:
        yield data[:7]
        yield data[7:]

    response = validated.client.post(
        "/api/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["body"] == data.decode()


def test_an_invalid_body_is_400_with_pointers(validated: Validated) -> None:
    before = len(validated.upstream.requests)
    response = validated.client.post(
        "/api/orders",
        json={"customer": "", "lines": [{"sku": "a", "quantity": 0}], "delivery": {"address": {}}},
        headers={"x-request-id": "bad-body"},
    )
    problem = _problem(response, 400)
    assert problem["title"] == "Request does not match the contract"
    assert problem["instance"] == "bad-body"
    assert sorted(_pointers(response)) == [
        ("/body/customer", "must be at least 1 characters long"),
        ("/body/delivery", "matches none of the 'oneOf' alternatives"),
        ("/body/lines/0/quantity", "must be at least 1"),
    ]
    assert len(validated.upstream.requests) == before  # never reached the upstream


def test_invalid_json_is_400(validated: Validated) -> None:
    response = validated.client.post(
        "/api/orders", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert _pointers(response) == [
        ("/body", "is not valid JSON: Expecting property name enclosed in double quotes at byte 1")
    ]


def test_a_missing_required_query_parameter(validated: Validated) -> None:
    response = validated.client.get("/api/orders")
    assert _pointers(response) == [("/query/limit", "is required")]
    response = validated.client.get("/api/orders", params={"limit": "500", "tags": ["1", "x"]})
    assert sorted(_pointers(response)) == [
        ("/query/limit", "must be at most 100"),
        ("/query/tags/1", "must be of type integer"),
    ]
    response = validated.client.get("/api/orders", params={"limit": "5", "tags": ["1", "2"]})
    assert response.status_code == 200
    assert response.json()["query"] == "limit=5&tags=1&tags=2"


def test_a_bad_path_parameter(validated: Validated) -> None:
    response = validated.client.get("/api/orders/O12")
    assert _pointers(response) == [("/path/id", "must match the pattern ^O[0-9]{4}$")]
    assert validated.client.get("/api/orders/O1234").status_code == 200
    assert validated.client.get("/api/orders/latest").status_code == 200


def test_a_media_type_the_operation_does_not_take_is_415(validated: Validated) -> None:
    response = validated.client.post(
        "/api/orders", content=b"customer=c1", headers={"content-type": "text/plain"}
    )
    problem = _problem(response, 415)
    assert problem["detail"] == "POST /api/orders accepts application/json, not text/plain"


def test_an_operation_the_contract_lacks_is_404_or_405(validated: Validated) -> None:
    response = validated.client.delete("/api/orders/O1234")
    problem = _problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD, PATCH"
    assert problem["detail"] == (
        "the contract of Api orders has no DELETE operation at /api/orders/{id}"
    )
    problem = _problem(validated.client.get("/api/orders/O1234/notes"), 404)
    assert problem["detail"] == (
        "the contract of Api orders describes no operation at /api/orders/O1234/notes"
    )


def test_a_non_json_body_streams_through(validated: Validated) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, not JSON, never buffered by validation
    response = validated.client.put(
        "/api/files/a.json", content=data, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_rejected_body_is_not_read_and_the_connection_stays_sane(validated: Validated) -> None:
    raw = (
        b"POST /api/orders HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    responses, _ = exchange(validated.gateway.port, raw, linger=0.5)
    assert [r.status for r in responses] == [415]


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_response_drift_is_recorded_and_the_answer_is_unchanged(validated: Validated) -> None:
    before = validated.drift("orders", "201")
    # The echo upstream answers 201 with a description of the request, not with an Order.
    response = validated.client.post(
        "/api/orders",
        content=json.dumps(ORDER).encode(),
        headers={"x-echo-status": "201", "content-type": "application/json"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["body"] == json.dumps(ORDER)
    _wait_for(lambda: validated.drift("orders", "201") == before + 1)
    # A response matching the contract is no drift.
    fine = validated.drift("orders", "200")
    assert validated.client.get("/api/orders", params={"limit": 1}).status_code == 200
    undocumented = validated.drift("orders", "503")
    response = validated.client.get(
        "/api/orders", params={"limit": 1}, headers={"x-echo-status": "503"}
    )
    assert response.status_code == 503
    _wait_for(lambda: validated.drift("orders", "503") == undocumented + 1)
    assert validated.drift("orders", "200") == fine
    rendered = validated.services.metrics.render()
    assert f'{METRIC}{{route="orders",status="201"}}' in rendered


# --- random bodies ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["customer", "lines", "sku", "quantity", "note", "delivery", "x"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)
BODIES = JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=BODIES)
def test_random_bodies_get_2xx_or_400_never_500(validated: Validated, body: bytes) -> None:
    response = validated.client.post(
        "/api/orders", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        problem = response.json()
        assert problem["violations"]
        assert all(v["pointer"].startswith("/body") for v in problem["violations"])


def test_deeply_nested_bodies_are_400(validated: Validated) -> None:
    for depth in (500, 5000, 100_000):
        body = b"[" * depth + b"]" * depth
        response = validated.client.post(
            "/api/orders", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, (depth, response.text)
