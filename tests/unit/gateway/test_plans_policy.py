"""The plans policy: who is limited under which plan, the RateLimit headers and the 429."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.check import check_estate
from interlink.gateway import GatewayConfig, compile_gateway
from interlink.gateway.auth.identity import identity
from interlink.gateway.policy import Reply, settle
from interlink.gateway.request import Request
from interlink.gateway.routing import Matched
from interlink.gateway.services import GatewayServices
from tests.unit.gateway.helpers import route, write_estate
from tests.unit.gateway.plans_helpers import T0, Clock

GOLD = {"limits": [{"requests": 10, "per": "1s", "burst": 2}, {"requests": 1000, "per": "1h"}]}


def estate(
    root: Path,
    plans: dict[str, dict[str, Any]],
    consumers: dict[str, str],
    routes: list[dict[str, Any]] | None = None,
    platform: dict[str, Any] | None = None,
) -> Path:
    write_estate(
        root,
        {"crm": "http://127.0.0.1:9"},
        routes or [route("orders", "/orders", "crm"), route("people", "/people", "crm")],
        platform,
    )
    docs = [
        *(
            {"apiVersion": "interlink/v1", "kind": "Plan", "metadata": {"name": n}, "spec": spec}
            for n, spec in plans.items()
        ),
        *(
            {
                "apiVersion": "interlink/v1",
                "kind": "Consumer",
                "metadata": {"name": n, "owner": "team"},
                "spec": {"plan": p},
            }
            for n, p in consumers.items()
        ),
    ]
    (root / "plans.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs) + "\n")
    return root


def compile_at(root: Path, services: GatewayServices) -> GatewayConfig:
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    config = compile_gateway(result.estate, services=services)
    assert not config.unserved, config.unserved
    return config


def request(path: str, consumer: str | None = None, client: str = "10.0.0.1") -> Request:
    req = Request(b"GET", path, b"", "1.1", [], True, client, {})
    if consumer is not None:
        req.identity = identity(consumer, (), "apiKey")
    return req


def call(config: GatewayConfig, req: Request) -> Reply | None:
    found = config.router.match(None, req.path, req.method)
    assert isinstance(found, Matched)
    compiled = found.value

    async def chain() -> Reply | None:
        for policy in compiled.policies:
            reply = await settle(policy(req))
            if reply is not None:
                return reply
        return None

    return asyncio.run(chain())


def headers(req: Request) -> dict[bytes, bytes]:
    return dict(req.response_headers)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def test_headers_on_every_limited_response(tmp_path: Path, clock: Clock) -> None:
    root = estate(tmp_path, {"gold": GOLD}, {"acme": "gold"})
    config = compile_at(root, GatewayServices(clock=clock))
    req = request("/orders/1", "acme")
    assert call(config, req) is None
    got = headers(req)
    assert got[b"ratelimit-policy"] == b'"10-per-1s";q=2;w=1, "1000-per-1h";q=1000;w=3600'
    assert got[b"ratelimit"] == b'"10-per-1s";r=1;t=1'
    req = request("/orders/1", "acme")
    assert call(config, req) is None
    assert headers(req)[b"ratelimit"] == b'"10-per-1s";r=0;t=1'


def test_429_problem_with_retry_after(tmp_path: Path, clock: Clock) -> None:
    root = estate(tmp_path, {"gold": GOLD}, {"acme": "gold"})
    services = GatewayServices(clock=clock)
    config = compile_at(root, services)
    for _ in range(2):
        assert call(config, request("/orders", "acme")) is None
    req = request("/orders", "acme")
    reply = call(config, req)
    assert reply is not None
    assert reply.status == 429
    assert reply.title == "Rate limit exceeded"
    assert "10-per-1s" in reply.detail
    assert "gold" in reply.detail
    assert "orders" in reply.detail
    assert reply.headers == [(b"retry-after", b"1")]
    assert headers(req)[b"ratelimit"] == b'"10-per-1s";r=0;t=1'
    denied = services.metrics.counter(
        "interlink_gateway_ratelimit_denied_total", "", ("plan", "group", "policy")
    )
    assert denied.value("gold", "orders", "10-per-1s") == 1
    clock.advance(0.1)
    assert call(config, request("/orders", "acme")) is None


def test_quota_exhaustion_is_429_until_the_period_ends(tmp_path: Path, clock: Clock) -> None:
    root = estate(tmp_path, {"trial": {"quotas": {"daily": 2}}}, {"acme": "trial"})
    config = compile_at(root, GatewayServices(clock=clock))
    clock.now = T0 - 10 * 3600 + 86_400 - 30  # 23:59:30 UTC
    assert call(config, request("/orders", "acme")) is None
    assert call(config, request("/orders", "acme")) is None
    req = request("/orders", "acme")
    reply = call(config, req)
    assert reply is not None
    assert reply.status == 429
    assert reply.title == "Quota exhausted"
    assert reply.headers == [(b"retry-after", b"30")]
    assert headers(req)[b"ratelimit-policy"] == b'"daily";q=2;w=86400'
    assert headers(req)[b"ratelimit"] == b'"daily";r=0;t=30'
    clock.advance(30)
    assert call(config, request("/orders", "acme")) is None


def test_groups_share_counters_and_routes_apart_do_not(tmp_path: Path, clock: Clock) -> None:
    routes = [
        route("orders", "/orders", "crm", group="shop"),
        route("carts", "/carts", "crm", group="shop"),
        route("people", "/people", "crm"),
    ]
    one = {"limits": [{"requests": 1, "per": "1m"}]}
    root = estate(tmp_path, {"one": one}, {"acme": "one", "globex": "one"}, routes)
    config = compile_at(root, GatewayServices(clock=clock))
    assert call(config, request("/orders", "acme")) is None
    assert call(config, request("/carts", "acme")) is not None  # same group: used up
    assert call(config, request("/people", "acme")) is None  # its own group
    assert call(config, request("/orders", "globex")) is None  # another consumer


def test_without_consumer_anonymous_plan_per_client_address(tmp_path: Path, clock: Clock) -> None:
    plans = {"gold": GOLD, "anonymous": {"limits": [{"requests": 1, "per": "1m"}]}}
    root = estate(tmp_path, plans, {"acme": "gold"})
    config = compile_at(root, GatewayServices(clock=clock))
    assert call(config, request("/orders", client="10.0.0.1")) is None
    assert call(config, request("/orders", client="10.0.0.1")) is not None
    assert call(config, request("/orders", client="10.0.0.2")) is None
    # A consumer the estate does not declare is anonymous too, by address.
    assert call(config, request("/orders", "stranger", client="10.0.0.2")) is not None
    assert call(config, request("/orders", "acme", client="10.0.0.1")) is None


def test_without_anonymous_plan_requests_without_consumer_are_not_limited(
    tmp_path: Path, clock: Clock
) -> None:
    root = estate(tmp_path, {"one": {"limits": [{"requests": 1, "per": "1m"}]}}, {"a": "one"})
    config = compile_at(root, GatewayServices(clock=clock))
    for _ in range(3):
        req = request("/orders")
        assert call(config, req) is None
        assert req.response_headers == []


def test_no_plans_no_policy(tmp_path: Path) -> None:
    root = estate(tmp_path, {"free": {}}, {"acme": "free"})
    config = compile_at(root, GatewayServices())
    assert all(not r.policies for r in config.routes)


def test_counts_survive_a_reload(tmp_path: Path, clock: Clock) -> None:
    one = {"limits": [{"requests": 1, "per": "1m"}]}
    root = estate(tmp_path, {"one": one}, {"acme": "one"})
    services = GatewayServices(clock=clock)
    config = compile_at(root, services)
    assert call(config, request("/orders", "acme")) is None
    config = compile_at(root, services)  # a reload: a new config, the same services
    assert call(config, request("/orders", "acme")) is not None


def test_sliding_window_plan_headers(tmp_path: Path, clock: Clock) -> None:
    plan = {"algorithm": "sliding-window", "limits": [{"requests": 3, "per": "10s"}]}
    root = estate(tmp_path, {"sw": plan}, {"acme": "sw"})
    config = compile_at(root, GatewayServices(clock=clock))
    req = request("/orders", "acme")
    call(config, req)
    assert headers(req)[b"ratelimit-policy"] == b'"3-per-10s";q=3;w=10'
    assert headers(req)[b"ratelimit"] == b'"3-per-10s";r=2;t=20'
