"""Tokens, keys, JWKS servers and estates for the authentication tests."""

from __future__ import annotations

import functools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from interlink.gateway.auth.jws import hs256
from interlink.http.jose import b64url_encode
from tests.unit.gateway.helpers import route, write_estate

SECRET = "a-test-signing-key-of-some-length"
ISSUER = "https://login.example.com"
AUDIENCE = "retail-api"
NOW = 1_900_000_000.0


def b64json(data: object) -> str:
    return b64url_encode(json.dumps(data).encode())


def hs256_token(
    claims: dict[str, Any], key: str = SECRET, header: dict[str, Any] | None = None
) -> str:
    head = b64json(header or {"alg": "HS256", "typ": "JWT"})
    body = b64json(claims)
    signature = hs256(key.encode(), f"{head}.{body}".encode())
    return f"{head}.{body}.{b64url_encode(signature)}"


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@functools.cache
def rsa_key(name: str = "rsa-1", bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key, made once per test run for each name."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(name: str = "ec-1", curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    """An EC key (P-256 unless told), made once per test run for each name."""
    kind = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[curve]
    return ec.generate_private_key(kind)


def _b64int(value: int, size: int | None = None) -> str:
    return b64url_encode(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def jwk(key: PrivateKey, kid: str | None, **extra: Any) -> dict[str, Any]:
    """The public JWK of ``key``."""
    doc: dict[str, Any]
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_numbers = key.public_key().public_numbers()
        doc = {"kty": "RSA", "n": _b64int(rsa_numbers.n), "e": _b64int(rsa_numbers.e)}
    else:
        ec_numbers = key.public_key().public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
        doc = {
            "kty": "EC",
            "crv": crv,
            "x": _b64int(ec_numbers.x, size),
            "y": _b64int(ec_numbers.y, size),
        }
    if kid is not None:
        doc["kid"] = kid
    doc.update(extra)
    return doc


def jwks(*keys: tuple[PrivateKey, str | None]) -> dict[str, Any]:
    """A JWKS document of the public halves of ``(key, kid)`` pairs."""
    return {"keys": [jwk(key, kid) for key, kid in keys]}


def signed_token(
    claims: dict[str, Any],
    key: PrivateKey,
    kid: str | None = None,
    alg: str | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    """A compact JWS signed with ``key``: RS256 for RSA, ES256 (raw r || s) for EC, unless
    ``alg`` (or ``header``) says otherwise in the header."""
    if header is None:
        header = {"alg": alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")}
        header["typ"] = "JWT"
        if kid is not None:
            header["kid"] = kid
    head, body = b64json(header), b64json(claims)
    data = f"{head}.{body}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return f"{head}.{body}.{b64url_encode(signature)}"


class JwksServer:
    """A JWKS endpoint on a loopback port, in a thread: serves ``doc`` (JSON) or ``raw``,
    counts the requests it gets; ``stop()`` takes it down (connections are then refused)."""

    def __init__(self, doc: dict[str, Any] | None = None) -> None:
        self.raw: bytes = json.dumps(doc or {"keys": []}).encode()
        self.status = 200
        self.headers: dict[str, str] = {}
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = server.raw
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self._running = True

    def serve(self, doc: dict[str, Any]) -> None:
        self.raw = json.dumps(doc).encode()

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._http.shutdown()
            self._http.server_close()
            self._thread.join(5)

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def claims(**over: Any) -> dict[str, Any]:
    """Valid claims at NOW for Consumer mobile-app, with scope customers:read."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mobile-app",
        "exp": NOW + 300,
        "iat": NOW - 10,
        "scope": "customers:read profile",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def jwt_method(**over: Any) -> dict[str, Any]:
    method: dict[str, Any] = {
        "type": "jwt",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "algorithms": ["HS256"],
        "secret": "${secret:test-jwt-key}",
        "leeway": "60s",
    }
    method.update(over)
    return method


def consumer_doc(name: str, scopes: list[str]) -> str:
    doc = {
        "apiVersion": "interlink/v1",
        "kind": "Consumer",
        "metadata": {"name": name, "owner": "team"},
        "spec": {"type": "app", "plan": "basic", "scopes": scopes},
    }
    return json.dumps(doc)


def auth_estate(root: Path, upstream: str, routes: list[dict[str, Any]] | None = None) -> Path:
    """An estate with Consumers mobile-app (customers:read) and partner (no scope) and routes:
    /keys (apiKey, needs customers:read), /either (apiKey or HS256 JWT, customers:read),
    /jwt (JWT only), /open (no auth)."""
    write_estate(
        root,
        {"crm": upstream},
        routes
        or [
            route(
                "keys",
                "/keys",
                "crm",
                auth={"methods": [{"type": "apiKey"}], "scopes": ["customers:read"]},
            ),
            route(
                "either",
                "/either",
                "crm",
                auth={
                    "methods": [{"type": "apiKey"}, jwt_method()],
                    "scopes": ["customers:read"],
                },
            ),
            route("jwt", "/jwt", "crm", auth={"methods": [jwt_method()]}),
            route("open", "/open", "crm"),
        ],
    )
    path = root / "estate.yaml"
    plan = json.dumps(
        {
            "apiVersion": "interlink/v1",
            "kind": "Plan",
            "metadata": {"name": "basic", "owner": "team"},
        }
    )
    extra = [plan, consumer_doc("mobile-app", ["customers:read"]), consumer_doc("partner", [])]
    path.write_text(path.read_text() + "---\n" + "\n---\n".join(extra) + "\n", encoding="utf-8")
    return root
