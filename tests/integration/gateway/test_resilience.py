"""Retries, circuit breakers, bulkheads and lifecycle headers through a real gateway, in front
of a real loopback upstream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.resilience.breaker import BreakerState
from interlink.gateway.resilience.guard import REJECTIONS, STATE_GAUGE
from interlink.gateway.services import GatewayServices
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.unit.gateway.helpers import route, write_estate
from tests.unit.gateway.test_lifecycle import DEPRECATED, SUNSET, lifecycle_estate


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(clock: Clock) -> GatewayServices:
    return GatewayServices(clock=clock)


def serve(root: Path, services: GatewayServices) -> GatewayThread:
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    config = compile_gateway(result.estate, FAST, services)
    assert not config.unserved, config.unserved
    return GatewayThread(config).start()


@pytest.fixture
def gateway(
    tmp_path: Path, upstream: UpstreamThread, services: GatewayServices
) -> Iterator[GatewayThread]:
    root = write_estate(
        tmp_path / "estate",
        {"crm": upstream.url},
        [
            route("retried", "/retried", "crm", resilience={"retries": {"backoff": "10ms"}}),
            route(
                "fragile",
                "/fragile",
                "crm",
                resilience={
                    "retries": {"attempts": 0},
                    "circuitBreaker": {"consecutiveFailures": 3, "halfOpenAfter": "10s"},
                },
            ),
            route("narrow", "/narrow", "crm", resilience={"maxConcurrent": 2}),
            route(
                "picky",
                "/picky",
                "crm",
                resilience={
                    "retries": {"attempts": 0},
                    "circuitBreaker": {"consecutiveFailures": 3, "failureStatuses": [503]},
                },
            ),
        ],
    )
    gateway = serve(root, services)
    try:
        yield gateway
    finally:
        gateway.stop()


def test_a_get_is_retried_and_succeeds_on_the_second_try(
    gateway: GatewayThread, upstream: UpstreamThread
) -> None:
    upstream.fail_next(1, 503)
    response = httpx.get(gateway.url + "/retried/a")
    assert response.status_code == 200
    assert [r["path"] for r in upstream.requests] == ["/retried/a", "/retried/a"]
    upstream.fail_next(1, 0)  # closed without an answer
    assert httpx.put(gateway.url + "/retried/b", content=b"{}").status_code == 200
    assert upstream.requests[-1]["body"] == "{}"


def test_a_post_is_not_retried(gateway: GatewayThread, upstream: UpstreamThread) -> None:
    upstream.fail_next(1, 503)
    response = httpx.post(gateway.url + "/retried/a", content=b"{}")
    assert response.status_code == 503  # the upstream's own answer, relayed
    assert response.content == b""
    assert len(upstream.requests) == 1


def test_the_breaker_opens_answers_fast_then_probes_and_closes(
    gateway: GatewayThread, upstream: UpstreamThread, clock: Clock, services: GatewayServices
) -> None:
    upstream.fail_next(3, 502)
    for _ in range(3):
        assert httpx.get(gateway.url + "/fragile").status_code == 502
    refused = httpx.get(gateway.url + "/fragile", headers={"X-Request-Id": "r-1"})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "10"
    problem = refused.json()
    assert problem["system"] == "crm"
    assert problem["detail"].startswith("crm: circuit open after repeated failures")
    assert problem["instance"] == "r-1"
    assert len(upstream.requests) == 3  # the upstream never saw it
    gauge = services.metrics.gauge(STATE_GAUGE, "", ("route", "system"))
    assert gauge.value("fragile", "crm") == float(BreakerState.OPEN)
    rejections = services.metrics.counter(REJECTIONS, "", ("route", "system", "reason"))
    assert rejections.value("fragile", "crm", "breaker") == 1
    # Other routes to the same system have breakers of their own.
    assert httpx.get(gateway.url + "/retried").status_code == 200

    clock.now += 10
    assert httpx.get(gateway.url + "/fragile").status_code == 200  # the probe
    assert gauge.value("fragile", "crm") == float(BreakerState.CLOSED)
    assert httpx.get(gateway.url + "/fragile").status_code == 200
    assert len(upstream.requests) == 6


def test_500s_open_the_breaker_by_default(gateway: GatewayThread, upstream: UpstreamThread) -> None:
    upstream.fail_next(10, 500)
    statuses = [httpx.get(gateway.url + "/fragile").status_code for _ in range(10)]
    assert statuses == [500] * 3 + [503] * 7
    assert len(upstream.requests) == 3


def test_failure_statuses_say_which_answers_count_against_the_upstream(
    gateway: GatewayThread, upstream: UpstreamThread, clock: Clock
) -> None:
    upstream.fail_next(5, 500)
    assert [httpx.get(gateway.url + "/picky").status_code for _ in range(5)] == [500] * 5
    upstream.fail_next(3, 503)
    assert [httpx.get(gateway.url + "/picky").status_code for _ in range(3)] == [503] * 3
    refused = httpx.get(gateway.url + "/picky")
    assert refused.status_code == 503
    assert refused.json()["detail"].startswith("crm: circuit open")
    assert len(upstream.requests) == 8
    clock.now += 10
    upstream.fail_next(20, 0)  # a connection closed without an answer always counts
    assert httpx.get(gateway.url + "/picky").status_code == 502  # the probe, failed
    assert httpx.get(gateway.url + "/picky").json()["detail"].startswith("crm: circuit open")


def test_a_failed_probe_opens_it_again(
    gateway: GatewayThread, upstream: UpstreamThread, clock: Clock
) -> None:
    upstream.fail_next(4, 503)
    for _ in range(3):
        httpx.get(gateway.url + "/fragile")
    clock.now += 10
    assert httpx.get(gateway.url + "/fragile").status_code == 503  # the probe, failed
    assert len(upstream.requests) == 4
    again = httpx.get(gateway.url + "/fragile")
    assert again.status_code == 503
    assert again.headers["retry-after"] == "10"
    assert len(upstream.requests) == 4


def test_the_bulkhead_refuses_the_request_past_its_size(
    gateway: GatewayThread, upstream: UpstreamThread, services: GatewayServices
) -> None:
    results: list[int] = []

    def slow() -> None:
        response = httpx.get(gateway.url + "/narrow", headers={"x-echo-delay": "1"}, timeout=10)
        results.append(response.status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while len(upstream.requests) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    refused = httpx.get(gateway.url + "/narrow")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "2 request(s) to it already in flight" in refused.json()["detail"]
    for thread in threads:
        thread.join(10)
    assert results == [200, 200]
    assert httpx.get(gateway.url + "/narrow").status_code == 200  # the slots came back
    rejections = services.metrics.counter(REJECTIONS, "", ("route", "system", "reason"))
    assert rejections.value("narrow", "crm", "bulkhead") == 1


def test_breaker_state_survives_a_reload(
    tmp_path: Path, upstream: UpstreamThread, services: GatewayServices
) -> None:
    routes = [
        route(
            "fragile",
            "/fragile",
            "crm",
            resilience={"retries": {"attempts": 0}, "circuitBreaker": {"consecutiveFailures": 2}},
        )
    ]
    root = write_estate(tmp_path / "estate", {"crm": upstream.url}, routes)
    gateway = serve(root, services)
    try:
        upstream.fail_next(2, 503)
        httpx.get(gateway.url + "/fragile")
        httpx.get(gateway.url + "/fragile")
        gateway.update(compile_gateway(check_estate(root).estate, FAST, services))
        time.sleep(0.1)
        assert httpx.get(gateway.url + "/fragile").status_code == 503
        assert len(upstream.requests) == 2
    finally:
        gateway.stop()


# --- lifecycle headers -----------------------------------------------------------------------


def test_a_deprecated_apis_route_carries_the_headers_then_is_gone(
    tmp_path: Path, upstream: UpstreamThread, clock: Clock, services: GatewayServices
) -> None:
    root = lifecycle_estate(
        tmp_path / "estate",
        DEPRECATED,
        labels={"interlink.dev/deprecated-at": "2026-01-15"},
        crm=upstream.url,
    )
    clock.now = SUNSET - 3600
    gateway = serve(root, services)
    try:
        response = httpx.get(gateway.url + "/api/customers/42")
        assert response.status_code == 200
        assert response.headers["deprecation"] == "@1768435200"
        assert response.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        link = '<//api.example.com/api/v2/customers>; rel="successor-version"'
        assert response.headers["link"] == link
        missing = httpx.get(gateway.url + "/api/customers/42", headers={"x-echo-status": "404"})
        assert missing.status_code == 404
        assert missing.headers["deprecation"] == "@1768435200"

        clock.now = SUNSET
        gone = httpx.get(gateway.url + "/api/customers/42", headers={"X-Request-Id": "r-410"})
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert gone.headers["link"] == link
        assert "deprecation" not in gone.headers
        body: dict[str, Any] = gone.json()
        assert body["status"] == 410
        assert body["instance"] == "r-410"
        assert body["successor"] == "customers-v2"
        assert "customers-v2" in body["detail"]
        assert len(upstream.requests) == 2
    finally:
        gateway.stop()
