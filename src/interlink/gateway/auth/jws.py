"""Compact JWS (RFC 7515) parsing, HS256, RS256 and ES256 signatures and the JWT claims checks
(RFC 7519).

Only what a gateway needs to verify bearer tokens, with nothing left to chance:

- a token is exactly three base64url parts without padding, at most ``MAX_TOKEN`` characters;
- the header's ``alg`` must be one the route lists; ``none`` is never one, and a token is only
  ever checked with a key of its algorithm's family (an HS256 token with the shared secret, never
  with a public key; an RS256 token with an RSA key, an ES256 token with a P-256 key), so
  algorithm confusion cannot arise;
- an ES256 signature is the raw ``r || s`` of RFC 7518 (64 bytes), never DER;
- a header with ``crit`` is refused: no extension is understood;
- ``exp`` is required, ``nbf`` honoured, both with the route's leeway; ``iss`` must equal the
  route's issuer; when the route lists audiences, ``aud`` must name one of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MAX_TOKEN: Final = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """The token is malformed, badly signed or not valid now; the message says which."""


@dataclass(frozen=True, slots=True)
class Jws:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes  # the ASCII of "header.payload", what the signature covers
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def b64url_decode(part: str) -> bytes:
    if len(part) % 4 == 1 or not _B64URL.fullmatch(part):
        raise InvalidToken("malformed token: not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed token: not base64url") from exc


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken(f"malformed token: {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"malformed token: {what} is not a JSON object")
    return value


def parse(token: str) -> Jws:
    """Split and decode a compact JWS; nothing is verified yet."""
    if len(token) > MAX_TOKEN:
        raise InvalidToken(f"token longer than {MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: not a compact JWS")
    header = _object(b64url_decode(parts[0]), "header")
    if not isinstance(header.get("alg"), str):
        raise InvalidToken("malformed token: header has no alg")
    if "crit" in header:
        raise InvalidToken("token header has critical parameters this gateway does not know")
    claims = _object(b64url_decode(parts[1]), "payload")
    signature = b64url_decode(parts[2])
    return Jws(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def hs256(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def verify_hs256(jws: Jws, key: bytes) -> None:
    if jws.alg != "HS256" or not hmac.compare_digest(hs256(key, jws.signing_input), jws.signature):
        raise InvalidToken("bad token signature")


ES256_SIGNATURE: Final = 64  # r and s, 32 bytes each


def verify_public(jws: Jws, alg: str, key: PublicKey) -> None:
    """Check an RS256 or ES256 signature; ``alg`` is the one algorithm ``key`` is for."""
    # Imported on first use: only routes that take tokens signed with public keys load
    # cryptography (and its OpenSSL), which costs every other gateway memory for nothing.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    if jws.alg != alg:
        raise InvalidToken(f"token algorithm {jws.alg} does not match its key ({alg})")
    signature = jws.signature
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif (
            alg == "ES256"
            and isinstance(key, ec.EllipticCurvePublicKey)
            and isinstance(key.curve, ec.SECP256R1)
        ):
            if len(signature) != ES256_SIGNATURE:
                raise InvalidToken("bad token signature")
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            der = utils.encode_dss_signature(r, s)
            key.verify(der, jws.signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidToken(f"token algorithm {alg} does not match its key")
    except InvalidSignature as exc:
        raise InvalidToken("bad token signature") from exc


@dataclass(frozen=True, slots=True)
class ClaimRules:
    issuer: str
    audiences: frozenset[str]  # empty: `aud` is not checked
    leeway: float  # seconds of clock skew allowed on exp and nbf


def _time(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"token claim {name} is not a number")
    return float(value)


def check_claims(claims: dict[str, Any], rules: ClaimRules, now: float) -> float:
    """Raise InvalidToken unless the claims hold at ``now``; returns the token's expiry."""
    if claims.get("iss") != rules.issuer:
        raise InvalidToken("token issuer is not accepted here")
    if rules.audiences:
        aud = claims.get("aud")
        named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in rules.audiences for a in named):
            raise InvalidToken("token audience is not accepted here")
    exp = _time(claims, "exp")
    if exp is None:
        raise InvalidToken("token has no expiry (exp)")
    if now > exp + rules.leeway:
        raise InvalidToken("token expired")
    nbf = _time(claims, "nbf")
    if nbf is not None and now < nbf - rules.leeway:
        raise InvalidToken("token not valid yet (nbf)")
    return exp


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """The token's scopes: ``scope`` (space-separated, RFC 8693) and ``scp`` (list or string)."""
    held: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            held.update(value.split())
        elif isinstance(value, list):
            held.update(v for v in value if isinstance(v, str))
    return frozenset(held)
