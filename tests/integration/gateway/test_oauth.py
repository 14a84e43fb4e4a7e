"""The gateway's OAuth2 client credentials endpoint, its key documents, and oauth2 routes,
through a real gateway to a real upstream that echoes what it received."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.auth.jwks import parse_jwks
from interlink.gateway.auth.jws import parse, verify_public
from interlink.gateway.auth.platform_keys import PlatformKeyRing, rotate
from interlink.gateway.services import GatewayServices
from interlink.store import Store, default_store_url, open_store
from interlink.store.keyring import KeyRing
from interlink.testing.processes import free_port, run_interlink
from interlink.testing.upstreams import UpstreamThread
from interlink.vault import MasterKey, MasterKeys
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.test_serve_gateway import serve
from tests.unit.gateway.auth_helpers import consumer_doc
from tests.unit.gateway.helpers import route, write_estate

ISSUER = "https://api.example.test"
PLAN = json.dumps(
    {"apiVersion": "interlink/v1", "kind": "Plan", "metadata": {"name": "basic", "owner": "team"}}
)


def oauth_estate(root: Path, upstream: str, oauth: dict[str, Any] | None) -> Path:
    platform = {"gateway": {"oauth": oauth}} if oauth is not None else {}
    write_estate(
        root,
        {"crm": upstream},
        [
            route(
                "platform",
                "/platform",
                "crm",
                auth={"methods": [{"type": "oauth2"}], "scopes": ["customers:read"]},
            ),
        ],
        platform=platform,
    )
    path = root / "estate.yaml"
    docs = [PLAN, consumer_doc("mobile-app", ["customers:read", "profile"])]
    docs.append(consumer_doc("partner", []))
    path.write_text(path.read_text() + "---\n" + "\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


class Issuing:
    def __init__(self, tmp_path: Path, upstream: UpstreamThread) -> None:
        root = oauth_estate(tmp_path / "estate", upstream.url, {"issuer": ISSUER})
        self.store: Store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        self.store.migrate()
        self.keyring = KeyRing(self.store)
        self.master = MasterKeys(MasterKey(os.urandom(32)))
        rotate(self.store, self.master, "ES256", 86400, 600)
        self.keys = PlatformKeyRing(self.store, self.master)
        self.keys.refresh()
        result = check_estate(root)
        assert result.ok, [f.render() for f in result.findings]
        services = GatewayServices(keyring=self.keyring, store=self.store)
        services.platform_keys = self.keys
        config = compile_gateway(result.estate, FAST, services)
        assert config.unserved == ()
        assert config.oauth is not None
        self.gateway = GatewayThread(config).start()
        self.client = httpx.Client(base_url=self.gateway.url)

    def key(self, consumer: str) -> tuple[str, str]:
        plaintext, info = self.store.consumer_keys.create(consumer, "test")
        self.keyring.refresh()
        return plaintext, info.id

    def token(self, data: dict[str, str], **headers: str) -> httpx.Response:
        return self.client.post("/oauth/token", data=data, headers=headers)

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.store.close()


@pytest.fixture
def issuing(tmp_path: Path, upstream: UpstreamThread) -> Iterator[Issuing]:
    setup = Issuing(tmp_path, upstream)
    try:
        yield setup
    finally:
        setup.close()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_discovery_and_jwks_publish_the_platform_keys(issuing: Issuing) -> None:
    found = issuing.client.get("/.well-known/openid-configuration")
    assert found.status_code == 200
    doc = found.json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == ISSUER + "/oauth/token"
    assert doc["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert doc["grant_types_supported"] == ["client_credentials"]
    keys = issuing.client.get("/.well-known/jwks.json")
    assert keys.status_code == 200
    published = keys.json()["keys"]
    assert [k["kid"] for k in published] == list(issuing.keys.by_kid)
    assert published[0]["kty"] == "EC"
    assert "d" not in published[0]  # never the private part
    assert issuing.client.post("/.well-known/jwks.json").status_code == 405


def test_a_token_from_basic_credentials_admits_the_consumer(issuing: Issuing) -> None:
    secret, _ = issuing.key("mobile-app")
    answer = issuing.token(
        {"grant_type": "client_credentials"}, authorization=basic("mobile-app", secret)
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "customers:read profile"
    jws = parse(body["access_token"])
    assert jws.claims["sub"] == "mobile-app"
    assert jws.claims["iss"] == ISSUER
    assert jws.claims["exp"] - jws.claims["iat"] == 600
    # What the JWKS publishes verifies it, as any client of the discovery document would.
    published = parse_jwks(issuing.client.get("/.well-known/jwks.json").content)
    key = published.find(jws.kid)
    assert key is not None
    verify_public(jws, key.alg, key.key)
    got = issuing.client.get(
        "/platform", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert got.status_code == 200, got.text
    echoed = got.json()["headers"]
    assert echoed["x-consumer"] == "mobile-app"
    assert echoed["x-auth-method"] == "oauth2"
    assert echoed["x-consumer-scopes"] == "customers:read profile"
    assert "authorization" not in echoed


def test_form_credentials_with_a_key_id_and_narrowed_scope(issuing: Issuing) -> None:
    secret, key_id = issuing.key("mobile-app")
    answer = issuing.token(
        {
            "grant_type": "client_credentials",
            "client_id": key_id,
            "client_secret": secret,
            "scope": "profile",
        }
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "profile"
    token = answer.json()["access_token"]
    refused = issuing.client.get("/platform", headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 403  # the token holds profile only, the route needs more
    assert refused.json()["detail"] == "mobile-app lacks scope customers:read"


def test_errors_follow_rfc_6749(issuing: Issuing) -> None:
    secret, _ = issuing.key("mobile-app")
    other, _ = issuing.key("partner")
    grant = {"grant_type": "client_credentials"}

    def error(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"] == code

    wrong = issuing.token(grant, authorization=basic("mobile-app", secret + "x"))
    error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"] == 'Basic realm="interlink"'
    error(issuing.token(grant, authorization=basic("mobile-app", other)), 401, "invalid_client")
    error(issuing.token(grant), 401, "invalid_client")
    creds = {"client_id": "mobile-app", "client_secret": secret}
    error(issuing.token({"grant_type": "password", **creds}), 400, "unsupported_grant_type")
    error(issuing.token({**grant, **creds, "scope": "admin"}), 400, "invalid_scope")
    error(issuing.token(creds), 400, "invalid_request")
    assert issuing.client.get("/oauth/token").status_code == 405
    as_json = issuing.client.post("/oauth/token", json={**grant, **creds})
    error(as_json, 400, "invalid_request")
    assert as_json.json()["error_description"] == (
        "the body must be application/x-www-form-urlencoded"
    )


def test_tokens_that_are_forged_or_of_another_issuer_are_refused(issuing: Issuing) -> None:
    secret, _ = issuing.key("mobile-app")
    creds = {"grant_type": "client_credentials", "client_id": "mobile-app", "client_secret": secret}
    token = issuing.token(creds).json()["access_token"]
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "partner"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{head}.{forged_payload}.{signature}"
    response = issuing.client.get("/platform", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "bad token signature"


def test_rotation_keeps_old_keys_published_until_their_tokens_expired(issuing: Issuing) -> None:
    secret, _ = issuing.key("mobile-app")
    creds = {"grant_type": "client_credentials", "client_id": "mobile-app", "client_secret": secret}
    old = issuing.token(creds).json()["access_token"]
    first = parse(old).kid
    added = rotate(issuing.store, issuing.master, "ES256", 3600, 600)
    assert added is None  # the key is fresh: nothing to do
    added = rotate(issuing.store, issuing.master, "ES256", 0, 600)  # due now
    assert added is not None
    assert added != first
    issuing.keys.refresh()
    new = issuing.token(creds).json()["access_token"]
    assert parse(new).kid == added
    kids = [k["kid"] for k in issuing.client.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [added, first]
    for token in (old, new):
        got = issuing.client.get("/platform", headers={"authorization": f"Bearer {token}"})
        assert got.status_code == 200, got.text
    # Once the successor is older than a token's lifetime (and the reload margin), it goes.
    rotate(issuing.store, issuing.master, "ES256", 3600, -1000)
    assert [k.kid for k in issuing.store.platform_keys.list()] == [added]


def test_a_route_taking_oauth2_tokens_needs_an_issuing_platform(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = oauth_estate(tmp_path / "estate", upstream.url, None)
    result = check_estate(root)
    rendered = [f.render() for f in result.findings if f.code == "OAUTH2_ISSUER"]
    assert len(rendered) == 1
    assert "estate.yaml:" in rendered[0]
    assert "Route/platform takes oauth2 tokens, but the Platform issues none" in rendered[0]


def test_an_issuer_that_is_no_url_is_a_check_error(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = oauth_estate(tmp_path / "estate", upstream.url, {"issuer": "not a url"})
    result = check_estate(root)
    assert not result.ok
    assert any("oauth" in f.render() and "estate.yaml:" in f.render() for f in result.findings)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_interlink_serve_issues_and_accepts_tokens(
    tmp_path: Path, upstream: UpstreamThread, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    root = oauth_estate(tmp_path / "estate", upstream.url, {"issuer": ISSUER})
    served = serve(root, "--workers", workers)
    try:
        with open_store(default_store_url(root)) as store:
            secret, _ = store.consumer_keys.create("mobile-app", "test")
        creds = {
            "grant_type": "client_credentials",
            "client_id": "mobile-app",
            "client_secret": secret,
        }
        statuses: list[int] = []
        deadline = time.monotonic() + 15  # the key ring and the first signing key load
        with httpx.Client(base_url=served.gateway) as client:
            while time.monotonic() < deadline:
                answer = client.post("/oauth/token", data=creds, headers={"connection": "close"})
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    token = answer.json()["access_token"]
                    got = client.get("/platform", headers={"authorization": f"Bearer {token}"})
                    statuses.append(got.status_code)
                    if got.status_code == 200:
                        assert got.json()["headers"]["x-auth-method"] == "oauth2"
                        break
                time.sleep(0.2)
            assert statuses[-1] == 200, statuses
            jwks = client.get("/.well-known/jwks.json").json()
            assert len(jwks["keys"]) == 1
    finally:
        served.proc.stop()


def test_interlink_serve_with_oauth_and_no_master_key_stops_with_one_line(
    tmp_path: Path, upstream: UpstreamThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("INTERLINK_MASTER_KEY", "INTERLINK_MASTER_KEY_FILE", "INTERLINK_KEY_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    root = oauth_estate(tmp_path / "estate", upstream.url, {"issuer": ISSUER})
    done = run_interlink(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"], timeout=120
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "gateway.oauth" in last
    assert "set INTERLINK_MASTER_KEY" in last
    assert "Traceback" not in done.stderr
