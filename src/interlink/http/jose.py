"""Signing compact JWS (RFC 7515) with RS256 and ES256 keys: what the platform signs with,
whether it issues access tokens to Consumers (the gateway's token endpoint) or authenticates
itself to a System's token endpoint with a JWT assertion (RFC 7523, ``private_key_jwt``).

Verification lives with the gateway (``gateway/auth/jws.py``); this is only the signing half,
kept this low so every caller of a System can sign.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str | None
    alg: str  # "RS256" or "ES256", as the key's type says
    key: PrivateKey = field(repr=False)


def sign(key: SigningKey, signing_input: bytes) -> bytes:
    """The JWS signature of ``signing_input`` (ES256: r and s, 32 bytes each)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    if isinstance(key.key, ec.EllipticCurvePrivateKey):
        der = key.key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = utils.decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def _part(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def signed_jwt(key: SigningKey, claims: dict[str, Any], typ: str = "JWT") -> str:
    """``claims`` as a compact JWS signed with ``key`` (its kid in the header when it has one)."""
    header: dict[str, Any] = {"alg": key.alg, "typ": typ}
    if key.kid is not None:
        header["kid"] = key.kid
    signing_input = f"{_part(header)}.{_part(claims)}"
    return f"{signing_input}.{b64url_encode(sign(key, signing_input.encode('ascii')))}"


def signing_key(pem: str, kid: str | None = None) -> SigningKey:
    """The private key in ``pem`` (PKCS#8 or traditional, unencrypted) as a signing key: RS256
    for RSA (at least 2048 bits), ES256 for P-256. ValueError says what is wrong, never the key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), None)
    except TypeError:
        raise ValueError("the private key is encrypted; give it unencrypted") from None
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not a PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError("the RSA key is shorter than 2048 bits")
        return SigningKey(kid, "RS256", key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningKey(kid, "ES256", key)
    raise ValueError("the private key is neither RSA nor EC P-256 (RS256 or ES256)")
