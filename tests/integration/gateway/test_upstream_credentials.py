"""A System's ``credentials`` on every call the gateway makes to it, primary and shadow, and
never anywhere else: not in logs, problem documents or reprs."""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.gateway.telemetry.access_log import ACCESS_LOGGER
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.testing.processes import free_port
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.unit.gateway.helpers import route, write_estate

TOKEN = "tok-" + secrets.token_hex(8)
PASSWORD = "pw-" + secrets.token_hex(8)
KEY = "key-" + secrets.token_hex(8)
VALUES = (TOKEN, PASSWORD, KEY)

CREDENTIALS: dict[str, Any] = {
    "shorthand": "${secret:crm-token}",
    "bearer": {"scheme": "bearer", "token": "${secret:crm-token}"},
    "basic": {"scheme": "basic", "username": "interlink", "password": "${secret:crm-password}"},
    "header": {"scheme": "header", "name": "X-Api-Key", "value": "${secret:crm-key}"},
    "query": {"scheme": "query", "name": "api_key", "value": "${env:CRM_KEY}"},
    "down": {"scheme": "bearer", "token": "${secret:crm-token}"},
}


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_CRM_TOKEN", TOKEN)
    monkeypatch.setenv("INTERLINK_SECRET_CRM_PASSWORD", PASSWORD)
    monkeypatch.setenv("INTERLINK_SECRET_CRM_KEY", KEY)
    monkeypatch.setenv("CRM_KEY", KEY)


def estate(root: Path, upstream: UpstreamThread) -> Path:
    systems: dict[str, str | None] = dict.fromkeys(CREDENTIALS, upstream.url)
    systems["down"] = f"http://127.0.0.1:{free_port()}"
    systems["plain"] = upstream.url
    routes = [route(name, f"/{name}", name) for name in systems]
    routes.append(route("mirrored", "/mirrored", "plain", "header"))
    routes[-1]["spec"]["upstreams"][1]["shadow"] = True
    return write_estate(root, systems, routes, credentials=CREDENTIALS)


@pytest.fixture
def gateway(tmp_path: Path, upstream: UpstreamThread, secrets_set: None) -> Iterator[GatewayThread]:
    result = check_estate(estate(tmp_path / "estate", upstream))
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    services = GatewayServices()
    config = compile_gateway(result.estate, FAST, services)
    assert not config.unserved, config.unserved
    running = GatewayThread(config)
    running.server.observer = GatewayObserver(services, flush_interval=3600)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def received(upstream: UpstreamThread) -> dict[str, Any]:
    request = upstream.requests[-1]
    assert isinstance(request, dict)
    return request


def test_each_scheme_reaches_the_upstream(gateway: GatewayThread, upstream: UpstreamThread) -> None:
    for name in ("shorthand", "bearer"):
        httpx.get(f"{gateway.url}/{name}/a")
        assert received(upstream)["headers"]["authorization"] == f"Bearer {TOKEN}"
    httpx.get(gateway.url + "/basic")
    basic = base64.b64encode(f"interlink:{PASSWORD}".encode()).decode()
    assert received(upstream)["headers"]["authorization"] == f"Basic {basic}"
    httpx.get(gateway.url + "/header")
    assert received(upstream)["headers"]["x-api-key"] == KEY
    httpx.get(gateway.url + "/query?page=2")
    assert received(upstream)["query"] == f"page=2&api_key={KEY}"
    httpx.get(gateway.url + "/plain")
    assert "authorization" not in received(upstream)["headers"]


def test_the_clients_own_never_passes_for_the_systems(
    gateway: GatewayThread, upstream: UpstreamThread
) -> None:
    httpx.get(gateway.url + "/bearer", headers={"Authorization": "Bearer forged"})
    assert received(upstream)["raw_headers"].count(["authorization", f"Bearer {TOKEN}"]) == 1
    assert "forged" not in str(received(upstream)["raw_headers"])
    httpx.get(gateway.url + "/header", headers={"x-api-key": "forged"})
    assert received(upstream)["headers"]["x-api-key"] == KEY
    httpx.get(gateway.url + "/query?api_key=forged&api%5Fkey=forged&b=1")
    assert received(upstream)["query"] == f"b=1&api_key={KEY}"


def test_the_shadow_upstream_gets_its_own_systems_credential(
    gateway: GatewayThread, upstream: UpstreamThread
) -> None:
    assert httpx.get(gateway.url + "/mirrored/x").status_code == 200
    deadline = time.monotonic() + 10
    while len(upstream.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    primary, shadow = upstream.requests
    assert "x-api-key" not in primary["headers"]
    assert shadow["headers"]["x-api-key"] == KEY


def test_the_credential_is_never_shown(
    gateway: GatewayThread, upstream: UpstreamThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in CREDENTIALS:
        httpx.get(f"{gateway.url}/{name}?q=1")
    refused = httpx.get(gateway.url + "/down")
    assert refused.status_code == 503  # refused: nothing listens there
    deadline = time.monotonic() + 10
    while not any(r.name == ACCESS_LOGGER for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    shown = [caplog.text, refused.text, repr(gateway.config)]
    for value in VALUES:
        for text in shown:
            assert value not in text


def test_a_missing_secret_leaves_the_route_out_and_says_which(
    tmp_path: Path, upstream: UpstreamThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERLINK_SECRET_CRM_TOKEN", raising=False)
    monkeypatch.setenv("INTERLINK_SECRET_CRM_KEY", KEY)
    root = write_estate(
        tmp_path / "estate",
        {"bearer": upstream.url, "header": upstream.url},
        [route("bearer", "/bearer", "bearer"), route("header", "/header", "header")],
        credentials={k: CREDENTIALS[k] for k in ("bearer", "header")},
    )
    result = check_estate(root)
    config = compile_gateway(result.estate, FAST, GatewayServices())
    assert [r.name for r in config.routes] == ["header"]
    [unserved] = config.unserved
    assert unserved.route == "bearer"
    assert unserved.reason.startswith("credentials of System/bearer: secret 'crm-token' is not set")
