"""A System's ``oauth2`` credentials on the platform's other calls to it: webhook deliveries
and flow calls, against a real token endpoint and a System that checks its tokens."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from interlink.estate.kinds.organisation import SystemCredentials
from interlink.events.delivery.clock import SystemClock
from interlink.events.delivery.queue import Job, JobKey
from interlink.events.delivery.webhook import ClientLimits, PooledClient, WebhookSender
from interlink.flows.calls import Target, call
from interlink.flows.retry import StepFailed
from interlink.http.client import HttpClient
from interlink.http.credential import Credential, compile_credential
from tests.integration.oauth_servers import BearerUpstream, TokenServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class System:
    tokens: TokenServer
    upstream: BearerUpstream
    credential: Credential


@pytest.fixture
async def system(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[System]:
    tokens = TokenServer()
    upstream = BearerUpstream(tokens)
    monkeypatch.setenv("INTERLINK_SECRET_ERP_CLIENT", tokens.secret)
    spec = SystemCredentials.model_validate(
        {
            "scheme": "oauth2",
            "tokenUrl": tokens.url,
            "clientId": tokens.client_id,
            "clientSecret": "${secret:erp-client}",
        }
    )
    credential = compile_credential(spec, "erp" + secrets.token_hex(3))
    assert credential.source is not None
    credential.source.reject_interval = 3600.0  # however slowly a test runs
    try:
        yield System(tokens, upstream, credential)
    finally:
        upstream.stop()
        tokens.stop()


def job(seq: int) -> Job:
    body = b'{"specversion":"1.0","id":"e%d","source":"/test","type":"t"}' % seq
    return Job(JobKey("orders", seq), f"e{seq}", None, body, 0, datetime.now(UTC))


def sender(system: System) -> WebhookSender:
    return WebhookSender(
        system.upstream.url + "/hooks",
        PooledClient(ClientLimits(4)),
        SystemClock(),
        keys=None,
        timeout=10,
        credential=system.credential,
    )


@pytest.mark.anyio
async def test_webhook_deliveries_carry_the_systems_token(system: System) -> None:
    webhooks = sender(system)
    try:
        for seq in range(5):
            attempt = await webhooks.send(job(seq))
            assert attempt.ok, attempt
        assert system.tokens.fetches == 1
        system.tokens.revoke_all()  # a 401: the token is dropped, the delivery sent once more
        attempt = await webhooks.send(job(9))
        assert attempt.ok, attempt
        assert [s["status"] for s in system.upstream.seen[-2:]] == [401, 200]
        assert system.tokens.fetches == 2
    finally:
        await webhooks.aclose()


@pytest.mark.anyio
async def test_no_token_fails_the_delivery_attempt(system: System) -> None:
    system.tokens.status = 500
    webhooks = sender(system)
    try:
        attempt = await webhooks.send(job(1))
    finally:
        await webhooks.aclose()
    assert not attempt.ok
    assert attempt.error == (
        f"the token endpoint {system.tokens.url} answered HTTP 500 (temporarily_unavailable)"
    )
    assert system.upstream.seen == []


@pytest.mark.anyio
async def test_flow_calls_carry_the_systems_token(system: System) -> None:
    client = HttpClient()
    target = Target(system.upstream.url, system.credential)
    try:
        answer: Any = await call(client, target, "POST", "/orders", {"id": 1}, "run:step")
        assert answer == {"ok": True, "path": "/orders"}
        system.tokens.revoke_all()
        answer = await call(client, target, "GET", "/orders/1", None, "run:get")
        assert answer == {"ok": True, "path": "/orders/1"}
        assert system.tokens.fetches == 2
        assert [s["status"] for s in system.upstream.seen] == [200, 401, 200]
        system.tokens.revoke_all()  # refused again within seconds: not renewed, the step fails
        with pytest.raises(StepFailed) as failed:
            await call(client, target, "GET", "/orders/1", None, "run:get")
        assert failed.value.message == "GET /orders/1 answered 401"
        assert not failed.value.retryable
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_no_token_fails_the_flow_call_to_be_retried(system: System) -> None:
    system.tokens.status = 503
    client = HttpClient()
    try:
        with pytest.raises(StepFailed) as failed:
            await call(
                client, Target(system.upstream.url, system.credential), "GET", "/a", None, "k"
            )
    finally:
        await client.aclose()
    assert failed.value.retryable
    assert "the token endpoint" in failed.value.message
    assert "HTTP 503" in failed.value.message
