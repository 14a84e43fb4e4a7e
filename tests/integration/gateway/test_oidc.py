"""JWT routes that find their issuer's keys by OIDC discovery, and opaque tokens checked by
introspection, against a real identity provider on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.idp import Idp
from tests.unit.gateway.auth_helpers import consumer_doc, ec_key, jwks, signed_token
from tests.unit.gateway.helpers import route, write_estate

PLAN = json.dumps(
    {"apiVersion": "interlink/v1", "kind": "Plan", "metadata": {"name": "basic", "owner": "team"}}
)


def estate(root: Path, upstream: str, methods: list[dict[str, Any]]) -> Path:
    write_estate(
        root,
        {"crm": upstream},
        [route("api", "/api", "crm", auth={"methods": methods, "scopes": ["customers:read"]})],
    )
    path = root / "estate.yaml"
    docs = [PLAN, consumer_doc("mobile-app", ["customers:read"])]
    path.write_text(path.read_text() + "---\n" + "\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def idp() -> Iterator[Idp]:
    with Idp() as server:
        yield server


def gateway(root: Path) -> GatewayThread:
    result = check_estate(root)
    assert result.ok, [f.render() for f in result.findings]
    config = compile_gateway(result.estate, FAST, GatewayServices())
    assert config.unserved == ()
    return GatewayThread(config).start()


def test_keys_found_by_discovery_verify_tokens(
    tmp_path: Path, upstream: UpstreamThread, idp: Idp
) -> None:
    key = ec_key("oidc")
    idp.jwks = jwks((key, "k1"))
    method = {"type": "jwt", "issuer": idp.url, "discovery": True, "algorithms": ["ES256"]}
    served = gateway(estate(tmp_path / "estate", upstream.url, [method]))
    try:
        claims = {
            "iss": idp.url,
            "sub": "mobile-app",
            "exp": time.time() + 300,
            "scope": "customers:read",
        }
        token = signed_token(claims, key, "k1")
        got = httpx.get(served.url + "/api", headers={"authorization": f"Bearer {token}"})
        assert got.status_code == 200, got.text
        assert got.json()["headers"]["x-consumer"] == "mobile-app"
        assert idp.hits["/.well-known/openid-configuration"] == 1
        assert idp.hits["/keys"] == 1
        other = signed_token({**claims, "iss": "https://elsewhere.test"}, key, "k1")
        refused = httpx.get(served.url + "/api", headers={"authorization": f"Bearer {other}"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "token issuer is not accepted here"
    finally:
        served.stop()


def test_a_discovery_document_of_another_issuer_gives_no_keys(
    tmp_path: Path, upstream: UpstreamThread, idp: Idp
) -> None:
    key = ec_key("oidc")
    idp.jwks = jwks((key, "k1"))
    issuer = idp.url + "/"  # not the issuer the document names
    method = {"type": "jwt", "issuer": issuer, "discovery": True, "algorithms": ["ES256"]}
    served = gateway(estate(tmp_path / "estate", upstream.url, [method]))
    try:
        claims = {"iss": issuer, "sub": "mobile-app", "exp": time.time() + 300}
        token = signed_token(claims, key, "k1")
        got = httpx.get(served.url + "/api", headers={"authorization": f"Bearer {token}"})
        assert got.status_code == 401
        assert got.json()["detail"] == "the issuer's signing keys are not available"
        assert "/keys" not in idp.hits
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (
            {"type": "jwt", "issuer": "corp", "discovery": True},
            "'discovery: true' needs an http(s) URL as 'issuer'",
        ),
        (
            {
                "type": "jwt",
                "issuer": "https://idp.test",
                "discovery": True,
                "jwksUrl": "https://idp.test/keys",
            },
            "give 'jwksUrl' or 'discovery: true', not both",
        ),
    ],
)
def test_check_refuses_discovery_it_cannot_follow(
    tmp_path: Path, method: dict[str, Any], message: str
) -> None:
    result = check_estate(estate(tmp_path / "estate", "http://127.0.0.1:9", [method]))
    rendered = [f.render() for f in result.findings if f.severity == "error"]
    assert any(message in line and "estate.yaml:" in line for line in rendered), rendered


def introspection(idp: Idp, **over: Any) -> dict[str, Any]:
    method: dict[str, Any] = {
        "type": "introspection",
        "url": idp.url + "/introspect",
        "clientId": idp.client_id,
        "clientSecret": "${secret:idp-secret}",
    }
    method.update(over)
    return method


def test_introspected_tokens_admit_their_consumer_and_are_remembered(
    tmp_path: Path, upstream: UpstreamThread, idp: Idp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_IDP_SECRET", idp.client_secret)
    idp.introspected["opaque-1"] = {
        "active": True,
        "client_id": "mobile-app",
        "sub": "user-7",
        "scope": "customers:read",
        "exp": int(time.time()) + 300,
    }
    idp.introspected["inactive"] = {"active": False}
    idp.introspected["stranger"] = {"active": True, "client_id": "nobody", "scope": "x"}
    idp.introspected["narrow"] = {"active": True, "client_id": "mobile-app", "scope": "profile"}
    idp.introspected["old"] = {"active": True, "client_id": "mobile-app", "exp": 1000}
    served = gateway(estate(tmp_path / "estate", upstream.url, [introspection(idp)]))

    def call(token: str) -> httpx.Response:
        return httpx.get(served.url + "/api", headers={"authorization": f"Bearer {token}"})

    try:
        for _ in range(3):
            got = call("opaque-1")
            assert got.status_code == 200, got.text
            headers = got.json()["headers"]
            assert headers["x-consumer"] == "mobile-app"
            assert headers["x-auth-method"] == "introspection"
        assert idp.hits["/introspect"] == 1  # the active answer is reused
        assert idp.forms[0] == {"token": "opaque-1", "token_type_hint": "access_token"}
        for token, status, detail in [
            ("inactive", 401, "token is not active"),
            ("unknown", 401, "token is not active"),
            ("stranger", 401, "the token's client_id names no Consumer"),
            ("narrow", 403, "mobile-app lacks scope customers:read"),
            ("old", 401, "token expired"),
        ]:
            refused = call(token)
            assert refused.status_code == status, refused.text
            assert refused.json()["detail"] == detail
        assert call("inactive").status_code == 401
        assert idp.hits["/introspect"] == 7  # refusals are asked again
    finally:
        served.stop()


def test_a_provider_refusing_the_gateway_admits_nobody(
    tmp_path: Path, upstream: UpstreamThread, idp: Idp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_IDP_SECRET", "wrong")
    idp.introspected["opaque-1"] = {"active": True, "client_id": "mobile-app"}
    served = gateway(estate(tmp_path / "estate", upstream.url, [introspection(idp)]))
    try:
        got = httpx.get(served.url + "/api", headers={"authorization": "Bearer opaque-1"})
        assert got.status_code == 401
        assert got.json()["detail"] == "the token could not be introspected"
    finally:
        served.stop()
