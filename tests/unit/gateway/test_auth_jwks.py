"""RS256 and ES256 tokens: JWKS parsing, signatures, and the key cache against a real loopback
JWKS server (rotation, the refresh rate limit, a server gone, oversized documents)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.auth import jwks as jwks_module
from interlink.gateway.auth.jwks import (
    MAX_BYTES,
    MIN_INTERVAL,
    REFRESH,
    JwksCache,
    JwksError,
    jwks_key,
    max_age,
    parse_jwks,
)
from interlink.gateway.auth.jws import InvalidToken, parse, verify_public
from interlink.gateway.policy import Reply, settle
from interlink.gateway.request import Request
from interlink.gateway.routing import MethodNotAllowed
from interlink.gateway.services import GatewayServices
from interlink.http.jose import b64url_encode
from tests.unit.gateway.auth_helpers import (
    NOW,
    SECRET,
    JwksServer,
    auth_estate,
    b64json,
    claims,
    ec_key,
    hs256_token,
    jwk,
    jwks,
    jwt_method,
    rsa_key,
    signed_token,
)
from tests.unit.gateway.helpers import route

# --- JWKS documents and signatures -----------------------------------------------------------


def test_rsa_and_p256_keys_are_read_with_their_kid() -> None:
    keys = parse_jwks(json.dumps(jwks((rsa_key(), "r1"), (ec_key(), "e1"))).encode())
    assert [(k.kid, k.alg) for k in keys.keys] == [("r1", "RS256"), ("e1", "ES256")]
    assert keys.find("e1") is keys.by_kid["e1"]
    assert keys.find("nope") is None
    assert keys.find(None) is None  # several keys: a token must say which


def test_a_single_key_serves_a_token_without_kid() -> None:
    keys = parse_jwks(json.dumps(jwks((ec_key(), "e1"))).encode())
    assert keys.find(None) is keys.keys[0]
    assert keys.find("other") is None
    anonymous = parse_jwks(json.dumps(jwks((ec_key(), None))).encode())
    assert anonymous.find("any") is anonymous.keys[0]


def test_unusable_keys_are_left_out_with_a_reason() -> None:
    doc = {
        "keys": [
            jwk(rsa_key(), "ok"),
            jwk(rsa_key("small", 1024), "small"),
            jwk(ec_key("p384", "P-384"), "p384"),
            jwk(ec_key(), "enc", use="enc"),
            jwk(ec_key(), "ps", alg="PS256"),
            jwk(rsa_key(), "ok"),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "off-curve"},
            "not a key",
        ]
    }
    keys = parse_jwks(json.dumps(doc).encode())
    assert [k.kid for k in keys.keys] == ["ok"]
    skipped = " | ".join(keys.skipped)
    for reason in (
        "small: RSA key shorter than 2048 bits",
        "p384: curve 'P-384' is not P-256",
        "enc: use is 'enc'",
        "ps: alg 'PS256' is not ES256",
        "ok: kid repeated",
        "hmac: key type 'oct'",
        "off-curve:",
        "key 8: not an object",
    ):
        assert reason in skipped


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "no 'keys' list"),
        (b'{"keys": {}}', "no 'keys' list"),
        (b'{"keys": []}', "no RS256 or ES256 signing key"),
        (json.dumps({"keys": [{"kty": "oct", "k": "AA"}]}).encode(), "key type 'oct'"),
        (json.dumps({"keys": [{"kty": "EC"}] * 101}).encode(), "more than 100 keys"),
    ],
)
def test_documents_without_a_usable_key_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(JwksError, match=reason):
        parse_jwks(body)


def test_max_age_is_read_from_cache_control() -> None:
    assert max_age(None) is None
    assert max_age("public, max-age=300") == 300
    assert max_age('max-age="90", must-revalidate') == 90
    assert max_age("no-store") == 0
    assert max_age("s-maxage=10") is None


def _keys(*pairs: tuple[Any, str | None]) -> dict[str | None, Any]:
    parsed = parse_jwks(json.dumps(jwks(*pairs)).encode())
    return {k.kid: k for k in parsed.keys}


def test_rs256_and_es256_signatures_verify() -> None:
    keys = _keys((rsa_key(), "r1"), (ec_key(), "e1"))
    for token, kid in (
        (signed_token(claims(), rsa_key()), "r1"),
        (signed_token(claims(), ec_key()), "e1"),
    ):
        jws = parse(token)
        verify_public(jws, keys[kid].alg, keys[kid].key)


def test_tampered_and_foreign_signatures_fail() -> None:
    keys = _keys((rsa_key(), "r1"), (ec_key(), "e1"))
    for private, kid in ((rsa_key(), "r1"), (ec_key(), "e1")):
        head, _, sig = signed_token(claims(), private).split(".")
        forged = f"{head}.{b64json(claims(sub='admin'))}.{sig}"
        with pytest.raises(InvalidToken, match="bad token signature"):
            verify_public(parse(forged), keys[kid].alg, keys[kid].key)
    other = signed_token(claims(), ec_key("ec-other"))
    with pytest.raises(InvalidToken, match="bad token signature"):
        verify_public(parse(other), "ES256", keys["e1"].key)


def test_es256_wants_the_raw_signature_not_der() -> None:
    key = ec_key()
    head, body = b64json({"alg": "ES256"}), b64json(claims())
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    token = f"{head}.{body}.{b64url_encode(der)}"
    with pytest.raises(InvalidToken, match="bad token signature"):
        verify_public(parse(token), "ES256", key.public_key())


def test_a_key_only_verifies_its_own_algorithm() -> None:
    keys = _keys((rsa_key(), "r1"), (ec_key(), "e1"))
    # An ES256 header on a token checked with an RSA key, and the other way round.
    es_on_rsa = signed_token(claims(), rsa_key(), alg="ES256")
    with pytest.raises(InvalidToken, match="does not match its key"):
        verify_public(parse(es_on_rsa), keys["r1"].alg, keys["r1"].key)
    rs_on_ec = signed_token(claims(), ec_key(), alg="RS256")
    with pytest.raises(InvalidToken, match="does not match its key"):
        verify_public(parse(rs_on_ec), keys["e1"].alg, keys["e1"].key)
    with pytest.raises(InvalidToken, match="does not match its key"):
        verify_public(parse(signed_token(claims(), rsa_key())), "ES256", keys["r1"].key)


# --- Routes with a JWKS, against a loopback JWKS server --------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class JwksGate:
    """Routes /es (ES256), /rs (RS256) and /mixed (HS256 with the secret, or RS256) over the
    JWKS at ``server.url``, its cache on a clock the test moves."""

    def __init__(self, root: Path, server: JwksServer) -> None:
        self.clock = Clock()
        self.server = server
        self.services = GatewayServices(clock=lambda: NOW)
        self.cache = JwksCache(server.url, clock=self.clock)
        self.services.state[jwks_key(server.url)] = self.cache
        methods = {
            "es": jwt_method(algorithms=["ES256"], secret=None, jwksUrl=server.url),
            "rs": jwt_method(algorithms=["RS256"], secret=None, jwksUrl=server.url),
            "mixed": jwt_method(algorithms=["HS256", "RS256"], jwksUrl=server.url),
        }
        routes = [route(n, f"/{n}", "crm", auth={"methods": [m]}) for n, m in methods.items()]
        result = check_estate(auth_estate(root, "http://crm.test", routes))
        assert result.ok, [f.render() for f in result.findings]
        self.config = compile_gateway(result.estate, services=self.services)
        assert self.config.unserved == ()

    async def call(self, path: str, token: str) -> Reply | None:
        headers = [(b"authorization", f"Bearer {token}".encode())]
        request = Request(b"GET", path, b"", "1.1", headers, True, "127.0.0.1", {})
        found = self.config.router.match(None, path, "GET")
        assert found is not None
        assert not isinstance(found, MethodNotAllowed)
        for policy in found.value.policies:
            reply = await settle(policy(request))
            if reply is not None:
                return reply
        assert request.identity is not None
        assert request.identity.consumer == "mobile-app"
        return None

    def detail(self, path: str, token: str) -> str | None:
        """None when the token admits the caller, else the 401's detail."""
        reply = asyncio.run(self.call(path, token))
        if reply is None:
            return None
        assert reply.status == 401
        return reply.detail


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with JwksServer(jwks((ec_key(), "e1"), (rsa_key(), "r1"))) as running:
        yield running


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_TEST_JWT_KEY", SECRET)


@pytest.fixture
def gate(tmp_path: Path, server: JwksServer) -> JwksGate:
    return JwksGate(tmp_path / "estate", server)


def test_valid_es256_and_rs256_tokens_admit_the_caller(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is None
    assert gate.detail("/rs", signed_token(claims(), rsa_key(), "r1")) is None
    assert gate.detail("/mixed", signed_token(claims(), rsa_key(), "r1")) is None
    assert gate.detail("/mixed", hs256_token(claims())) is None
    assert gate.server.requests == 1  # fetched once, on the first request that needed it
    assert gate.cache.fetches == 1


def test_the_claims_still_apply(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(exp=NOW - 100), ec_key(), "e1")) == (
        "token expired"
    )
    assert gate.detail("/es", signed_token(claims(aud="other"), ec_key(), "e1")) == (
        "token audience is not accepted here"
    )
    assert gate.detail("/es", signed_token(claims(sub="stranger"), ec_key(), "e1")) == (
        "the token's sub names no Consumer"
    )


def test_an_algorithm_the_route_does_not_list_is_refused(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), rsa_key(), "r1")) == (
        "token algorithm RS256 is not accepted here"
    )
    assert gate.detail("/rs", signed_token(claims(), ec_key(), "e1")) == (
        "token algorithm ES256 is not accepted here"
    )


def test_hs256_tokens_never_meet_a_public_key(gate: JwksGate) -> None:
    # The classic confusion: an HMAC keyed with the issuer's public key, sent as HS256.
    pem = (
        rsa_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = hs256_token(claims(), key=pem.decode(), header={"alg": "HS256", "kid": "r1"})
    assert gate.detail("/rs", forged) == "token algorithm HS256 is not accepted here"
    assert gate.detail("/es", hs256_token(claims())) == "token algorithm HS256 is not accepted here"
    # On a route taking both, an HS256 token is checked with the shared secret only.
    assert gate.detail("/mixed", forged) == "bad token signature"
    # An RS256 header over an HMAC made with the shared secret does not pass either.
    assert gate.detail("/mixed", hs256_token(claims(), header={"alg": "RS256", "kid": "r1"})) == (
        "bad token signature"
    )


def test_a_kid_naming_a_key_of_another_type_is_refused(gate: JwksGate) -> None:
    # ES256 header, RSA key named: the key's type must be the algorithm's.
    token = signed_token(claims(), ec_key(), header={"alg": "ES256", "kid": "r1"})
    assert gate.detail("/es", token) == "token algorithm ES256 does not match its key (RS256)"


def test_tampered_tokens_are_refused(gate: JwksGate) -> None:
    for path, token in (
        ("/es", signed_token(claims(), ec_key(), "e1")),
        ("/rs", signed_token(claims(), rsa_key(), "r1")),
    ):
        head, _, sig = token.split(".")
        forged = f"{head}.{b64json(claims(scope='admin'))}.{sig}"
        assert gate.detail(path, forged) == "bad token signature"
        flipped = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
        assert gate.detail(path, f"{head}.{token.split('.')[1]}.{flipped}") == (
            "bad token signature"
        )


def test_a_token_without_kid_needs_a_set_of_one_key(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), ec_key())) == (
        "token has no kid, and the issuer has several keys"
    )
    assert gate.server.requests == 1  # no kid is no reason to fetch again


def test_an_unknown_kid_refreshes_the_keys_once(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is None
    gate.server.serve(jwks((ec_key(), "e1"), (ec_key("ec-2"), "e2")))  # the issuer rotates
    gate.clock.now += MIN_INTERVAL  # later than the rate limit
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-2"), "e2")) is None
    assert gate.server.requests == 2
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-2"), "e2")) is None
    assert gate.server.requests == 2


def test_a_rotation_within_the_rate_limit_waits(gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is None
    gate.server.serve(jwks((ec_key(), "e1"), (ec_key("ec-2"), "e2")))
    gate.clock.now += MIN_INTERVAL  # past the window of the first fetch
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-2"), "e2")) is None
    assert gate.server.requests == 2
    # Another unknown kid within MIN_INTERVAL of that fetch: no fetch, refused.
    gate.clock.now += MIN_INTERVAL / 2
    made_up = signed_token(claims(), ec_key("ec-9"), "e9")
    assert gate.detail("/es", made_up) == "token key e9 is not one of the issuer's keys"
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-9"), "e10")) is not None
    assert gate.server.requests == 2
    gate.server.serve(jwks((ec_key("ec-2"), "e2"), (ec_key("ec-3"), "e3")))
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-3"), "e3")) is not None
    gate.clock.now += MIN_INTERVAL / 2  # the window is over
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-3"), "e3")) is None
    assert gate.server.requests == 3


def test_concurrent_requests_share_one_fetch(gate: JwksGate) -> None:
    token = signed_token(claims(), ec_key(), "e1")

    async def many() -> list[Reply | None]:
        return await asyncio.gather(*(gate.call("/es", token) for _ in range(20)))

    assert asyncio.run(many()) == [None] * 20
    assert gate.server.requests == 1


def test_a_server_down_keeps_the_old_keys(gate: JwksGate, caplog: pytest.LogCaptureFixture) -> None:
    good = signed_token(claims(), ec_key(), "e1")
    assert gate.detail("/es", good) is None
    gate.server.stop()
    caplog.set_level(logging.WARNING, "interlink.gateway")
    for _ in range(3):
        gate.clock.now += MIN_INTERVAL
        assert gate.detail("/es", signed_token(claims(), ec_key("ec-2"), "e2")) == (
            "token key e2 is not one of the issuer's keys"
        )
        assert gate.detail("/es", good) is None
    failures = [r for r in caplog.records if "not fetched" in r.getMessage()]
    assert len(failures) == 1  # logged once, not on every attempt
    assert "keeping the 2 keys held" in failures[0].getMessage()
    assert gate.cache.fetches == 4


def test_a_remembered_token_is_forgotten_when_its_key_goes(gate: JwksGate) -> None:
    old = signed_token(claims(), ec_key(), "e1")
    assert gate.detail("/es", old) is None
    assert gate.detail("/es", old) is None  # from the token cache
    gate.server.serve(jwks((ec_key("ec-2"), "e2")))  # e1 withdrawn
    gate.clock.now += MIN_INTERVAL
    assert gate.detail("/es", signed_token(claims(), ec_key("ec-2"), "e2")) is None
    assert gate.detail("/es", old) == "token key e1 is not one of the issuer's keys"


def test_keys_are_refreshed_in_the_background(gate: JwksGate) -> None:
    token = signed_token(claims(), ec_key(), "e1")

    def request_at(now: float) -> int:
        """Admit ``token`` at ``now``, let any refresh it started finish: the fetches made."""
        gate.clock.now = now

        async def admitted() -> None:
            assert await gate.call("/es", token) is None  # never waits for a refresh
            task = gate.cache._task
            if task is not None:
                await task

        asyncio.run(admitted())
        return gate.server.requests

    gate.server.headers["cache-control"] = "public, max-age=120"
    assert request_at(1000) == 1
    assert request_at(1119) == 1
    assert request_at(1120) == 2  # max-age passed
    del gate.server.headers["cache-control"]
    assert request_at(1239) == 2
    assert request_at(1240) == 3
    assert request_at(1240 + REFRESH - 1) == 3  # without max-age: every REFRESH seconds
    assert request_at(1240 + REFRESH) == 4
    gate.server.headers["cache-control"] = "no-store"
    assert request_at(5000) == 5
    assert request_at(5000 + 59) == 5  # at most once a minute, whatever the issuer says
    assert request_at(5000 + 60) == 6


def test_an_oversized_jwks_is_refused(gate: JwksGate, caplog: pytest.LogCaptureFixture) -> None:
    gate.server.serve(jwks((ec_key(), "e1")))
    gate.server.raw += b" " * MAX_BYTES
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) == (
        "the issuer's signing keys are not available"
    )
    assert "larger than 256 KiB" in caplog.text


def test_an_oversized_body_without_length_is_cut_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = json.dumps(jwks((ec_key(), "e1"))).encode() + b" " * (MAX_BYTES + 1)

    async def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    original = httpx.AsyncClient

    def client(**kwargs: Any) -> httpx.AsyncClient:
        return original(transport=httpx.MockTransport(handler), **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", client)
    with pytest.raises(JwksError, match="larger than 256 KiB"):
        asyncio.run(jwks_module.download("https://issuer.test/jwks"))


def test_an_error_status_is_a_failed_fetch(gate: JwksGate) -> None:
    gate.server.status = 503
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) == (
        "the issuer's signing keys are not available"
    )
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is not None
    assert gate.server.requests == 1  # within the rate limit, no second attempt
    gate.server.status = 200
    gate.clock.now += MIN_INTERVAL
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is None


def test_the_cache_outlives_a_recompile(tmp_path: Path, gate: JwksGate) -> None:
    assert gate.detail("/es", signed_token(claims(), ec_key(), "e1")) is None
    estate = check_estate(tmp_path / "estate").estate
    gate.config = compile_gateway(estate, services=gate.services)
    assert gate.detail("/rs", signed_token(claims(), rsa_key(), "r1")) is None
    assert gate.server.requests == 1


def test_a_jwks_url_reference_is_resolved(
    tmp_path: Path, server: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISSUER_JWKS", server.url)
    method = jwt_method(algorithms=["ES256"], secret=None, jwksUrl="${env:ISSUER_JWKS}")
    gone = jwt_method(algorithms=["ES256"], secret=None, jwksUrl="${env:NO_SUCH_JWKS_URL}")
    routes = [
        route("es", "/es", "crm", auth={"methods": [method]}),
        route("gone", "/gone", "crm", auth={"methods": [gone]}),
    ]
    monkeypatch.delenv("NO_SUCH_JWKS_URL", raising=False)
    estate = check_estate(auth_estate(tmp_path / "estate", "http://crm.test", routes)).estate
    services = GatewayServices(clock=lambda: NOW)
    config = compile_gateway(estate, services=services)
    assert [u.route for u in config.unserved] == ["gone"]
    assert config.unserved[0].reason.startswith("JWT jwksUrl: ")
    cache = services.state[jwks_key(server.url)]
    assert isinstance(cache, JwksCache)
    assert cache.label == "${env:ISSUER_JWKS}"
