"""Client assertions (private_key_jwt, RFC 7523) at the gateway's token endpoint: a Consumer
declaring a public key, or a JWKS URL, gets a token for an assertion it signed, and every
assertion that is not right is refused as invalid_client."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.auth.jws import parse
from interlink.gateway.auth.platform_keys import PlatformKeyRing, public_jwk, rotate
from interlink.gateway.services import GatewayServices
from interlink.http.jose import signed_jwt, signing_key
from interlink.store import open_store
from interlink.store.keyring import KeyRing
from interlink.testing.upstreams import UpstreamThread
from interlink.vault import MasterKey, MasterKeys
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.idp import Idp
from tests.integration.gateway.test_oauth import ISSUER, PLAN, basic, oauth_estate
from tests.integration.oauth_servers import private_pem, public_pem

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = ISSUER + "/oauth/token"


def consumer(name: str, credentials: list[dict[str, Any]]) -> str:
    spec = {"type": "app", "plan": "basic", "scopes": ["orders"], "credentials": credentials}
    doc = {
        "apiVersion": "interlink/v1",
        "kind": "Consumer",
        "metadata": {"name": name, "owner": "team"},
        "spec": spec,
    }
    return json.dumps(doc)


class Endpoint:
    def __init__(self, tmp_path: Path, upstream: UpstreamThread, idp: Idp) -> None:
        self.pem, public = private_pem("ec")
        self.rsa_pem, _rsa_public = private_pem("rsa")
        rsa_key = signing_key(self.rsa_pem, "partner-1")
        idp.jwks = {"keys": [public_jwk("partner-1", "RS256", rsa_key.key)]}
        root = oauth_estate(tmp_path / "estate", upstream.url, {"issuer": ISSUER})
        path = root / "estate.yaml"
        docs = [
            consumer("signer", [{"type": "private_key_jwt", "publicKey": public_pem(public)}]),
            consumer("partner-co", [{"type": "private_key_jwt", "jwksUrl": idp.url + "/keys"}]),
        ]
        path.write_text(path.read_text() + "---\n" + "\n---\n".join(docs) + "\n")
        assert PLAN in path.read_text()
        self.store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        self.store.migrate()
        self.keyring = KeyRing(self.store)
        master = MasterKeys(MasterKey(os.urandom(32)))
        rotate(self.store, master, "ES256", 86400, 600)
        keys = PlatformKeyRing(self.store, master)
        keys.refresh()
        result = check_estate(root)
        assert result.ok, [f.render() for f in result.findings]
        services = GatewayServices(keyring=self.keyring, store=self.store, platform_keys=keys)
        config = compile_gateway(result.estate, FAST, services)
        assert config.oauth is not None
        self.gateway = GatewayThread(config).start()
        self.client = httpx.Client(base_url=self.gateway.url)

    def assertion(self, pem: str | None = None, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "signer",
            "sub": "signer",
            "aud": TOKEN_URL,
            "jti": secrets.token_urlsafe(12),
            "iat": now,
            "exp": now + 60,
            **claims,
        }
        return signed_jwt(signing_key(pem or self.pem, kid), body)

    def token(self, assertion: str, **more: str) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            **more,
        }
        return self.client.post("/oauth/token", data=form)

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.store.close()


@pytest.fixture
def endpoint(tmp_path: Path, upstream: UpstreamThread) -> Iterator[Endpoint]:
    with Idp() as idp:
        setup = Endpoint(tmp_path, upstream, idp)
        try:
            yield setup
        finally:
            setup.close()


def refused(answer: httpx.Response, status: int = 401, error: str = "invalid_client") -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error
    return str(body["error_description"])


def test_a_signed_assertion_gets_the_consumer_a_token(endpoint: Endpoint) -> None:
    answer = endpoint.token(endpoint.assertion(), client_id="signer")
    assert answer.status_code == 200, answer.text
    claims = parse(answer.json()["access_token"]).claims
    assert (claims["sub"], claims["scope"]) == ("signer", "orders")
    # The issuer is an audience too (RFC 7523 §3).
    assert endpoint.token(endpoint.assertion(aud=ISSUER)).status_code == 200
    discovery = endpoint.client.get("/.well-known/openid-configuration").json()
    assert "private_key_jwt" in discovery["token_endpoint_auth_methods_supported"]


def test_a_key_from_the_consumers_jwks_url(endpoint: Endpoint) -> None:
    signed = endpoint.assertion(endpoint.rsa_pem, "partner-1", iss="partner-co", sub="partner-co")
    answer = endpoint.token(signed)
    assert answer.status_code == 200, answer.text
    assert parse(answer.json()["access_token"]).claims["sub"] == "partner-co"


def test_a_replayed_assertion_is_refused(endpoint: Endpoint) -> None:
    once = endpoint.assertion()
    assert endpoint.token(once).status_code == 200
    assert refused(endpoint.token(once)) == "the client assertion was used already (its jti)"
    assert endpoint.store.client_assertions.count() == 1


def test_wrong_assertions_are_refused(endpoint: Endpoint) -> None:
    other, _ = private_pem("ec")
    now = int(time.time())
    cases = {
        "client assertion refused: bad assertion signature": endpoint.assertion(other),
        "client assertion refused: assertion audience is not accepted here": endpoint.assertion(
            aud="https://elsewhere.example.test/oauth/token"
        ),
        "client assertion refused: assertion expired": endpoint.assertion(
            iat=now - 600, exp=now - 300
        ),
        "the client assertion's iss and sub must both be the client id": endpoint.assertion(
            iss="someone"
        ),
        "unknown client, or it declares no private_key_jwt key": endpoint.assertion(
            iss="mobile-app", sub="mobile-app"
        ),
        "the client assertion has no jti (at most 256 characters)": endpoint.assertion(jti=""),
        "the client assertion expires more than 3600 s from now": endpoint.assertion(
            exp=now + 7200
        ),
    }
    for reason, assertion in cases.items():
        assert refused(endpoint.token(assertion)) == reason
    assert refused(endpoint.token("not.a.jwt")).startswith("the client assertion is not a JWT")
    assert refused(endpoint.token(endpoint.assertion(), client_id="partner-co")) == (
        "client_id is not the client assertion's sub"
    )


def test_an_assertion_and_a_secret_together_are_a_bad_request(endpoint: Endpoint) -> None:
    secret, _ = endpoint.store.consumer_keys.create("signer", "test")
    endpoint.keyring.refresh()
    both = endpoint.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": endpoint.assertion(),
        },
        headers={"authorization": basic("signer", secret)},
    )
    assert refused(both, 400, "invalid_request") == "client credentials sent twice"
    wrong_type = endpoint.token(endpoint.assertion(), client_assertion_type="urn:other")
    assert refused(wrong_type, 400, "invalid_request").startswith("client_assertion_type must be")


def test_a_consumer_key_without_a_token_endpoint_is_a_check_warning(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    _, public = private_pem("ec")
    root = oauth_estate(tmp_path / "estate", upstream.url, None)
    path = root / "estate.yaml"
    signer = consumer("signer", [{"type": "private_key_jwt", "publicKey": public_pem(public)}])
    path.write_text(path.read_text() + "---\n" + signer + "\n")
    found = [f for f in check_estate(root).findings if f.code == "OAUTH2_ISSUER"]
    warnings = [f.render() for f in found if f.severity == "warning"]
    assert len(warnings) == 1
    assert (
        "Consumer/signer signs client assertions, but the Platform has no token endpoint"
        in (warnings[0])
    )
