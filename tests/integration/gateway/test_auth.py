"""Authentication through a real gateway to a real upstream that echoes what it received."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.store import Store, default_store_url, open_store
from interlink.store.keyring import KeyRing
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.test_serve_gateway import serve
from tests.unit.gateway.auth_helpers import (
    SECRET,
    JwksServer,
    auth_estate,
    b64json,
    claims,
    ec_key,
    hs256_token,
    jwks,
    jwt_method,
    rsa_key,
    signed_token,
)
from tests.unit.gateway.helpers import route

IDENTITY = ("x-consumer", "x-consumer-scopes", "x-auth-method")


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


class Secured:
    def __init__(self, tmp_path: Path, upstream: UpstreamThread) -> None:
        self.root = auth_estate(tmp_path / "estate", upstream.url)
        self.store: Store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        self.store.migrate()
        self.keyring = KeyRing(self.store)
        self.upstream = upstream
        result = check_estate(self.root)
        assert result.ok
        services = GatewayServices(keyring=self.keyring, store=self.store)
        config = compile_gateway(result.estate, FAST, services)
        assert config.unserved == ()
        self.gateway = GatewayThread(config).start()
        self.client = httpx.Client(base_url=self.gateway.url)

    def key(self, consumer: str) -> str:
        plaintext, _ = self.store.consumer_keys.create(consumer, "test")
        self.keyring.refresh()
        return plaintext

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()})

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.store.close()


@pytest.fixture
def secured(
    tmp_path: Path, upstream: UpstreamThread, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Secured]:
    monkeypatch.setenv("INTERLINK_SECRET_TEST_JWT_KEY", SECRET)
    setup = Secured(tmp_path, upstream)
    try:
        yield setup
    finally:
        setup.close()


def echoed(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    headers: dict[str, str] = response.json()["headers"]
    return headers


def test_an_api_key_reaches_the_upstream_as_an_identity(secured: Secured) -> None:
    key = secured.key("mobile-app")
    got = echoed(secured.get("/keys/42", x_api_key=key, x_consumer="someone-else"))
    assert got["x-consumer"] == "mobile-app"
    assert got["x-consumer-scopes"] == "customers:read"
    assert got["x-auth-method"] == "apiKey"
    assert "x-api-key" not in got
    assert "authorization" not in got
    got = echoed(secured.get("/keys", authorization=f"Bearer {key}"))
    assert got["x-consumer"] == "mobile-app"
    assert "authorization" not in got


def test_missing_wrong_and_revoked_keys_are_401_problems(secured: Secured) -> None:
    before = len(secured.upstream.requests)
    missing = secured.get("/keys")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == 'ApiKey realm="interlink", header="X-Api-Key"'
    assert missing.json()["detail"] == "this route needs an API key"
    wrong = secured.get("/keys", x_api_key="ik_" + "a" * 12 + "_" + "b" * 43)
    assert wrong.status_code == 401
    key = secured.key("mobile-app")
    assert secured.get("/keys", x_api_key=key).status_code == 200
    secured.store.consumer_keys.revoke(secured.store.consumer_keys.list("mobile-app")[0].id)
    secured.keyring.refresh()
    revoked = secured.get("/keys", x_api_key=key)
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "unknown, revoked or expired API key"
    assert len(secured.upstream.requests) == before + 1  # only the admitted one got through


def test_a_consumer_lacking_the_scope_is_403(secured: Secured) -> None:
    response = secured.get("/keys", x_api_key=secured.key("partner"))
    assert response.status_code == 403
    assert response.json()["detail"] == "partner lacks scope customers:read"


def test_a_jwt_reaches_the_upstream_as_an_identity(secured: Secured) -> None:
    token = hs256_token(claims(exp=time.time() + 300, iat=None))
    got = echoed(secured.get("/either", authorization=f"Bearer {token}"))
    assert got["x-consumer"] == "mobile-app"
    assert got["x-consumer-scopes"] == "customers:read profile"
    assert got["x-auth-method"] == "jwt"
    assert "authorization" not in got
    expired = hs256_token(claims(exp=time.time() - 120))
    response = secured.get("/either", authorization=f"Bearer {expired}")
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"
    assert response.headers.get_list("www-authenticate") == [
        'ApiKey realm="interlink", header="X-Api-Key"',
        'Bearer realm="interlink"',
    ]


def test_either_method_admits_the_caller(secured: Secured) -> None:
    key = secured.key("mobile-app")
    token = hs256_token(claims(exp=time.time() + 300))
    assert echoed(secured.get("/either", x_api_key=key))["x-auth-method"] == "apiKey"
    by_token = secured.get("/either", x_api_key="ik_wrong", authorization=f"Bearer {token}")
    assert echoed(by_token)["x-auth-method"] == "jwt"
    assert secured.get("/either").status_code == 401
    assert secured.get("/jwt", x_api_key=key).status_code == 401  # not a method of /jwt


def test_routes_without_auth_never_forward_identity_headers(secured: Secured) -> None:
    got = echoed(secured.get("/open", x_consumer="admin", x_auth_method="jwt", x_api_key="k"))
    assert not set(IDENTITY) & set(got)
    assert got["x-api-key"] == "k"  # not a credential of this route


def test_an_es256_route_checks_tokens_with_the_issuers_jwks(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    with JwksServer(jwks((ec_key(), "e1"), (rsa_key(), "r1"))) as issuer:
        method = jwt_method(algorithms=["ES256"], secret=None, jwksUrl=issuer.url)
        routes = [route("es", "/es", "crm", auth={"methods": [method]})]
        result = check_estate(auth_estate(tmp_path / "estate", upstream.url, routes))
        assert result.ok
        config = compile_gateway(result.estate, FAST, GatewayServices())
        assert config.unserved == ()
        assert issuer.requests == 0  # fetched on the first request that needs the keys
        gateway = GatewayThread(config).start()
        try:
            with httpx.Client(base_url=gateway.url) as client:

                def get(token: str) -> httpx.Response:
                    return client.get("/es/1", headers={"authorization": f"Bearer {token}"})

                fresh = claims(exp=time.time() + 300, iat=None)
                token = signed_token(fresh, ec_key(), "e1")
                got = echoed(get(token))
                assert got["x-consumer"] == "mobile-app"
                assert got["x-auth-method"] == "jwt"
                assert "authorization" not in got
                assert echoed(get(token))["x-consumer"] == "mobile-app"
                head, _, sig = token.split(".")
                forged = get(f"{head}.{b64json({**fresh, 'scope': 'admin'})}.{sig}")
                assert forged.status_code == 401
                assert forged.json()["detail"] == "bad token signature"
                assert forged.headers["www-authenticate"] == 'Bearer realm="interlink"'
                rs = get(signed_token(fresh, rsa_key(), "r1"))
                assert rs.json()["detail"] == "token algorithm RS256 is not accepted here"
                hs = get(hs256_token(fresh, header={"alg": "HS256", "kid": "e1"}))
                assert hs.json()["detail"] == "token algorithm HS256 is not accepted here"
                stranger = get(signed_token(fresh, ec_key("ec-x"), "x1"))
                assert stranger.status_code == 401
                assert stranger.json()["detail"] == "token key x1 is not one of the issuer's keys"
            # Once: x1 came within MIN_INTERVAL of the first fetch, so it fetched nothing.
            assert issuer.requests == 1
        finally:
            gateway.stop()


@pytest.mark.slow
def test_api_keys_work_with_several_workers(tmp_path: Path, upstream: UpstreamThread) -> None:
    root = auth_estate(tmp_path / "estate", upstream.url)
    served = serve(root, "--workers", "2")
    try:
        with open_store(default_store_url(root)) as store:
            key, _ = store.consumer_keys.create("mobile-app", "test")
        statuses: list[Any] = []
        deadline = time.monotonic() + 10
        with httpx.Client(base_url=served.gateway) as client:
            while time.monotonic() < deadline:
                # New connections, so the kernel spreads them over both workers.
                response = client.get("/keys", headers={"x-api-key": key, "connection": "close"})
                statuses.append(response.status_code)
                if statuses[-8:] == [200] * 8:
                    break
                time.sleep(0.1)
            assert statuses[-8:] == [200] * 8, statuses
            assert client.get("/keys").status_code == 401
    finally:
        served.proc.stop()
