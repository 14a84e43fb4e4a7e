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
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


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
