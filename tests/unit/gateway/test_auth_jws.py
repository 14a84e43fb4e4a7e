"""JWS parsing, HS256 signatures and the JWT claims checks, on tokens made here."""

from __future__ import annotations

import pytest

from interlink.gateway.auth.jws import (
    ClaimRules,
    InvalidToken,
    check_claims,
    parse,
    scopes_of,
    verify_hs256,
)
from interlink.http.jose import b64url_encode
from tests.unit.gateway.auth_helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    b64json,
    claims,
    hs256_token,
)

RULES = ClaimRules(ISSUER, frozenset({AUDIENCE}), 60.0)
KEY = SECRET.encode()


def verified(token: str, now: float = NOW, rules: ClaimRules = RULES) -> float:
    jws = parse(token)
    verify_hs256(jws, KEY)
    return check_claims(jws.claims, rules, now)


def test_a_good_hs256_token_passes() -> None:
    token = hs256_token(claims(), header={"alg": "HS256", "typ": "JWT", "kid": "k1"})
    assert verified(token) == NOW + 300
    assert parse(token).kid == "k1"


def test_the_wrong_key_or_a_tampered_part_fails() -> None:
    with pytest.raises(InvalidToken, match="signature"):
        verified(hs256_token(claims(), key="another-key"))
    head, body, sig = hs256_token(claims()).split(".")
    forged = b64json(claims(sub="admin"))
    with pytest.raises(InvalidToken, match="signature"):
        verified(f"{head}.{forged}.{sig}")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(InvalidToken, match="signature"):
        verified(f"{head}.{body}.{flipped}")


@pytest.mark.parametrize(
    "header",
    [{"alg": "none"}, {"alg": "RS256"}, {"alg": "ES256"}, {"alg": "HS512"}, {"alg": "hs256"}],
)
def test_only_hs256_is_checked_with_the_shared_secret(header: dict[str, str]) -> None:
    # Signed with the secret whatever the header claims: alg confusion must not pass.
    token = hs256_token(claims(), header=header)
    with pytest.raises(InvalidToken, match="signature"):
        verified(token)


def test_an_unsigned_none_token_fails() -> None:
    token = f"{b64json({'alg': 'none'})}.{b64json(claims())}."
    with pytest.raises(InvalidToken):
        verified(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.??.**",
        f"{b64url_encode(b'[1]')}.{b64json({})}.",
        f"{b64url_encode(b'not json')}.{b64json({})}.",
        f"{b64json({'typ': 'JWT'})}.{b64json({})}.",
        f"{b64json({'alg': 'HS256'})}.{b64url_encode(b'1')}.",
        f"{b64json({'alg': 'HS256'})}.{b64json({})}.a",
        "x" * 9000,
    ],
)
def test_malformed_tokens_are_refused_with_a_reason(token: str) -> None:
    with pytest.raises(InvalidToken):
        parse(token)


def test_critical_header_parameters_are_refused() -> None:
    token = hs256_token(claims(), header={"alg": "HS256", "crit": ["b64"], "b64": False})
    with pytest.raises(InvalidToken, match="critical"):
        parse(token)


def test_expiry_with_leeway() -> None:
    token = hs256_token(claims(exp=NOW - 30))
    assert verified(token)  # within the 60 s leeway
    with pytest.raises(InvalidToken, match="expired"):
        verified(hs256_token(claims(exp=NOW - 61)))
    with pytest.raises(InvalidToken, match="no expiry"):
        verified(hs256_token(claims(exp=None)))
    with pytest.raises(InvalidToken, match="not a number"):
        verified(hs256_token(claims(exp="tomorrow")))
    with pytest.raises(InvalidToken, match="not a number"):
        verified(hs256_token(claims(exp=True)))


def test_not_before_with_leeway() -> None:
    assert verified(hs256_token(claims(nbf=NOW + 59)))
    with pytest.raises(InvalidToken, match="not valid yet"):
        verified(hs256_token(claims(nbf=NOW + 61)))


def test_issuer_and_audience() -> None:
    with pytest.raises(InvalidToken, match="issuer"):
        verified(hs256_token(claims(iss="https://evil.example.com")))
    with pytest.raises(InvalidToken, match="issuer"):
        verified(hs256_token(claims(iss=None)))
    with pytest.raises(InvalidToken, match="audience"):
        verified(hs256_token(claims(aud="another-api")))
    with pytest.raises(InvalidToken, match="audience"):
        verified(hs256_token(claims(aud=None)))
    assert verified(hs256_token(claims(aud=["another-api", AUDIENCE])))
    anywhere = ClaimRules(ISSUER, frozenset(), 0.0)
    assert verified(hs256_token(claims(aud=None)), rules=anywhere)


def test_scopes_come_from_scope_and_scp() -> None:
    assert scopes_of({"scope": "a b  c"}) == {"a", "b", "c"}
    assert scopes_of({"scp": ["a", 1, "d"]}) == {"a", "d"}
    assert scopes_of({"scp": "x y", "scope": "z"}) == {"x", "y", "z"}
    assert scopes_of({"scope": 5}) == frozenset()
