"""The authentication policy on compiled routes: a real key ring over an in-memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.estate.check import check_estate
from interlink.estate.kinds import Route
from interlink.gateway import GatewayConfig, compile_gateway
from interlink.gateway.auth import authentication
from interlink.gateway.forwarding import upstream_headers
from interlink.gateway.policy import Reply, settle
from interlink.gateway.request import Request
from interlink.gateway.routing import MethodNotAllowed
from interlink.gateway.services import GatewayServices
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from tests.unit.gateway.auth_helpers import (
    NOW,
    SECRET,
    auth_estate,
    claims,
    hs256_token,
    jwt_method,
)
from tests.unit.gateway.helpers import route


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite:///:memory:") as store:
        store.migrate()
        yield store


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_TEST_JWT_KEY", SECRET)


class Gate:
    def __init__(self, root: Path, store: Store) -> None:
        self.keyring = KeyRing(store)
        self.now = NOW
        services = GatewayServices(keyring=self.keyring, store=store, clock=lambda: self.now)
        result = check_estate(root)
        assert result.ok, [f.render() for f in result.findings]
        self.config: GatewayConfig = compile_gateway(result.estate, services=services)

    def run(
        self, path: str, headers: list[tuple[bytes, bytes]], query: bytes = b""
    ) -> tuple[Reply | None, Request]:
        request = Request(b"GET", path, query, "1.1", headers, True, "127.0.0.1", {})
        found = self.config.router.match(None, path, "GET")
        assert found is not None
        assert not isinstance(found, MethodNotAllowed)
        compiled = found.value

        async def chain() -> Reply | None:
            for policy in compiled.policies:
                reply = await settle(policy(request))
                if reply is not None:
                    return reply
            return None

        return asyncio.run(chain()), request


@pytest.fixture
def gate(tmp_path: Path, store: Store) -> Gate:
    return Gate(auth_estate(tmp_path / "estate", "http://crm.test"), store)


def key_for(gate: Gate, store: Store, consumer: str) -> str:
    plaintext, _ = store.consumer_keys.create(consumer, "test")
    gate.keyring.refresh()
    return plaintext


def test_an_api_key_admits_its_consumer_and_is_not_forwarded(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "mobile-app")
    headers = [(b"x-api-key", key.encode()), (b"x-consumer", b"spoofed"), (b"accept", b"*/*")]
    reply, request = gate.run("/keys", headers)
    assert reply is None
    assert request.identity is not None
    assert request.identity.consumer == "mobile-app"
    sent = dict(upstream_headers(request))
    assert sent[b"x-consumer"] == b"mobile-app"
    assert sent[b"x-consumer-scopes"] == b"customers:read"
    assert sent[b"x-auth-method"] == b"apiKey"
    assert b"x-api-key" not in sent
    assert sent[b"accept"] == b"*/*"
    assert [n for n, _ in upstream_headers(request)].count(b"x-consumer") == 1


def test_a_bearer_api_key_works_too(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "mobile-app")
    reply, request = gate.run("/keys", [(b"authorization", b"Bearer " + key.encode())])
    assert reply is None
    assert b"authorization" not in dict(upstream_headers(request))


def test_missing_wrong_and_revoked_keys_get_401(gate: Gate, store: Store) -> None:
    reply, _ = gate.run("/keys", [])
    assert reply is not None
    assert reply.status == 401
    assert reply.detail == "this route needs an API key"
    assert (b"www-authenticate", b'ApiKey realm="interlink", header="X-Api-Key"') in reply.headers
    key = key_for(gate, store, "mobile-app")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    reply, _ = gate.run("/keys", [(b"x-api-key", wrong.encode())])
    assert reply is not None
    assert reply.status == 401
    assert reply.detail == "unknown, revoked or expired API key"
    reply, _ = gate.run("/keys", [(b"x-api-key", b"nonsense")])
    assert reply is not None
    assert reply.status == 401
    key_id = store.consumer_keys.list("mobile-app")[0].id
    store.consumer_keys.revoke(key_id)
    assert gate.run("/keys", [(b"x-api-key", key.encode())])[0] is None  # until the refresh
    gate.keyring.refresh()
    reply, _ = gate.run("/keys", [(b"x-api-key", key.encode())])
    assert reply is not None
    assert reply.status == 401


def test_a_repeated_credential_header_is_refused(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "mobile-app").encode()
    reply, _ = gate.run("/keys", [(b"x-api-key", key), (b"x-api-key", b"other")])
    assert reply is not None
    assert reply.status == 401
    assert "repeated" in reply.detail


def test_a_consumer_without_the_scope_gets_403(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "partner")
    reply, _ = gate.run("/keys", [(b"x-api-key", key.encode())])
    assert reply is not None
    assert reply.status == 403
    assert reply.detail == "partner lacks scope customers:read"


def test_a_key_whose_consumer_left_the_estate_gets_401(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "gone")
    reply, _ = gate.run("/keys", [(b"x-api-key", key.encode())])
    assert reply is not None
    assert reply.status == 401
    assert "gone is not in the estate" in reply.detail


def test_a_jwt_admits_the_consumer_it_names_with_its_own_scopes(gate: Gate) -> None:
    token = hs256_token(claims())
    reply, request = gate.run("/either", [(b"authorization", f"Bearer {token}".encode())])
    assert reply is None
    assert request.identity is not None
    assert request.identity.consumer == "mobile-app"
    assert request.identity.scopes == {"customers:read", "profile"}
    sent = dict(upstream_headers(request))
    assert sent[b"x-auth-method"] == b"jwt"
    assert sent[b"x-consumer-scopes"] == b"customers:read profile"
    assert b"authorization" not in sent


def test_jwt_refusals(gate: Gate) -> None:
    def status(token: str, path: str = "/either") -> tuple[int, str]:
        reply, _ = gate.run(path, [(b"authorization", f"Bearer {token}".encode())])
        assert reply is not None
        return reply.status, reply.detail

    assert status(hs256_token(claims(scope="profile"))) == (
        403,
        "mobile-app lacks scope customers:read",
    )
    assert status(hs256_token(claims(sub="stranger"))) == (401, "the token's sub names no Consumer")
    assert status(hs256_token(claims(), key="wrong")) == (401, "bad token signature")
    assert status(hs256_token(claims(), header={"alg": "none"})) == (
        401,
        "token algorithm none is not accepted here",
    )
    assert status(hs256_token(claims(exp=NOW - 100))) == (401, "token expired")
    assert status("not-a-token") == (401, "malformed token: not a compact JWS")
    reply, _ = gate.run("/either", [])
    assert reply is not None
    assert reply.detail == "this route needs an API key or a bearer token"
    assert [v for n, v in reply.headers if n == b"www-authenticate"] == [
        b'ApiKey realm="interlink", header="X-Api-Key"',
        b'Bearer realm="interlink"',
    ]


def test_a_remembered_token_still_expires(gate: Gate) -> None:
    token = hs256_token(claims(exp=NOW + 10))
    header = [(b"authorization", f"Bearer {token}".encode())]
    assert gate.run("/jwt", header)[0] is None
    assert gate.run("/jwt", header)[0] is None  # from the cache
    gate.now = NOW + 71  # past exp and the 60 s leeway
    reply, _ = gate.run("/jwt", header)
    assert reply is not None
    assert reply.detail == "token expired"


def test_or_semantics_the_first_method_that_admits_wins(gate: Gate, store: Store) -> None:
    key = key_for(gate, store, "mobile-app")
    token = hs256_token(claims())
    # A refused key does not stop a good token from admitting the caller, and vice versa.
    both = [(b"x-api-key", b"ik_bad"), (b"authorization", f"Bearer {token}".encode())]
    reply, request = gate.run("/either", both)
    assert reply is None
    assert request.identity is not None
    assert request.identity.method == "jwt"
    good_key = [(b"x-api-key", key.encode()), (b"authorization", b"Bearer garbage")]
    reply, request = gate.run("/either", good_key)
    assert reply is None
    assert request.identity is not None
    assert request.identity.method == "apiKey"
    # With nothing admitted, the first refusal is the detail.
    reply, _ = gate.run("/either", [(b"x-api-key", b"ik_bad"), (b"authorization", b"Bearer x")])
    assert reply is not None
    assert reply.detail == "unknown, revoked or expired API key"


def test_a_key_in_the_query_is_taken_out_of_it(tmp_path: Path, store: Store) -> None:
    routes = [
        route(
            "q",
            "/q",
            "crm",
            auth={"methods": [{"type": "apiKey", "header": "X-Key", "query": "api_key"}]},
        )
    ]
    gate = Gate(auth_estate(tmp_path / "estate", "http://crm.test", routes), store)
    key = key_for(gate, store, "partner")
    reply, request = gate.run("/q", [], query=b"a=1&api_key=" + key.encode() + b"&b=2")
    assert reply is None
    assert request.query == b"a=1&b=2"
    reply, request = gate.run("/q", [(b"x-key", key.encode())])
    assert reply is None


def test_routes_the_gateway_cannot_protect_are_not_served(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTERLINK_SECRET_TEST_JWT_KEY")
    monkeypatch.delenv("INTERLINK_SECRETS_DIR", raising=False)
    routes = [
        route("hs", "/hs", "crm", auth={"methods": [jwt_method()]}),
        route(
            "rs",
            "/rs",
            "crm",
            auth={
                "methods": [
                    jwt_method(
                        algorithms=["RS256", "ES256"],
                        secret=None,
                        jwksUrl="https://login.example.com/jwks",
                    )
                ]
            },
        ),
    ]
    root = auth_estate(tmp_path / "estate", "http://crm.test", routes)
    estate = check_estate(root).estate
    config = compile_gateway(estate, services=GatewayServices(keyring=KeyRing(store)))
    reasons = {u.route: u.reason for u in config.unserved}
    assert reasons["hs"].startswith("JWT secret: ")
    assert "rs" not in reasons  # its keys are fetched on the first request that needs them
    assert [r.name for r in config.routes] == ["rs"]


def test_the_retail_customers_route_is_protected_when_its_secret_resolves(
    retail_dir: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_MOBILE_JWT_KEY", SECRET)
    estate = check_estate(retail_dir).estate
    customers = next(r for r in estate.of(Route) if r.name == "customers")
    policy = authentication(customers, estate, GatewayServices(keyring=KeyRing(store)))
    assert policy is not None
