"""A System's OAuth2 side on loopback ports, in threads: a token endpoint (client credentials
grant: client secret by Basic or in the form, or a private_key_jwt assertion it verifies with
``cryptography`` itself) and an upstream that admits only the live tokens it issued."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def private_pem(kind: str = "ec") -> tuple[str, Any]:
    """A fresh private key as PKCS#8 PEM, and its public key."""
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def public_pem(public: Any) -> str:
    return str(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_assertion(assertion: str, public: Any, client_id: str, audience: str) -> dict[str, Any]:
    """The header and claims of a valid RFC 7523 client assertion; AssertionError otherwise."""
    head, body, signature = assertion.split(".")
    header, claims = json.loads(_b64(head)), json.loads(_b64(body))
    signed, raw = f"{head}.{body}".encode(), _b64(signature)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            assert header["alg"] == "ES256"
            r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
            der = utils.encode_dss_signature(r, s)
            public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        else:
            assert header["alg"] == "RS256"
            public.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise AssertionError("bad assertion signature") from None
    assert claims["iss"] == claims["sub"] == client_id
    assert claims["aud"] == audience
    assert isinstance(claims["jti"], str)
    assert claims["jti"]
    now = time.time()
    assert now - 5 <= claims["exp"] <= now + 300, claims
    return {"header": header, "claims": claims}


class TokenServer:
    """``POST /token``: issues random tokens for the one client it knows."""

    def __init__(
        self, client_id: str = "interlink", secret: str | None = None, public: Any = None
    ) -> None:
        self.client_id = client_id
        self.secret = secret or "cs-" + secrets.token_hex(8)
        self.public = public  # set: the client authenticates with private_key_jwt
        self.expires_in: int | None = 3600
        self.status = 200  # another: every token request fails with it
        self.issued: dict[str, float] = {}  # token → when it expires (wall clock)
        self.revoked: set[str] = set()
        self.forms: list[dict[str, str]] = []
        self.assertions: list[dict[str, Any]] = []
        self.jtis: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with server.lock:
                    server.forms.append(form)
                if server.status != 200:
                    self.reply(server.status, {"error": "temporarily_unavailable"})
                    return
                why = server.authenticate(self.headers.get("authorization"), form)
                if why is not None:
                    self.reply(401, {"error": "invalid_client", "error_description": why})
                    return
                token = "at-" + secrets.token_urlsafe(16)
                answer: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
                lifetime = server.expires_in
                if lifetime is not None:
                    answer["expires_in"] = lifetime
                with server.lock:
                    server.issued[token] = time.time() + (lifetime or 3600)
                self.reply(200, answer)

            def reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/token"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def fetches(self) -> int:
        return len(self.forms)

    def authenticate(self, authorization: str | None, form: dict[str, str]) -> str | None:
        """Why the client is refused, or None."""
        if form.get("grant_type") != "client_credentials":
            return "not the client credentials grant"
        if self.public is not None:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return "no client assertion"
            try:
                seen = check_assertion(
                    form.get("client_assertion", ""), self.public, self.client_id, self.url
                )
            except (AssertionError, KeyError, ValueError) as exc:
                return f"assertion refused: {exc}"
            with self.lock:
                if seen["claims"]["jti"] in self.jtis:
                    return "jti replayed"
                self.jtis.add(seen["claims"]["jti"])
                self.assertions.append(seen)
            return None
        basic = "Basic " + base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        if authorization == basic:
            return None
        if form.get("client_id") == self.client_id and form.get("client_secret") == self.secret:
            return None
        return "bad client secret"

    def live(self, token: str) -> bool:
        with self.lock:
            expires = self.issued.get(token)
            return expires is not None and token not in self.revoked and time.time() < expires

    def revoke_all(self) -> None:
        with self.lock:
            self.revoked.update(self.issued)

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


class BearerUpstream:
    """Answers 200 with what it received to a live token of ``tokens``, 401 otherwise."""

    def __init__(self, tokens: TokenServer) -> None:
        self.seen: list[dict[str, Any]] = []  # every request: path, token, status answered
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length).decode() if length else ""
                auth = self.headers.get("authorization") or ""
                token = auth.removeprefix("Bearer ")
                status = 200 if auth.startswith("Bearer ") and tokens.live(token) else 401
                upstream.seen.append(
                    {"path": self.path, "token": token, "status": status, "body": body}
                )
                data = json.dumps({"ok": status == 200, "path": self.path}).encode()
                # Head and body in one write: the gateway sees a complete small answer (what a
                # shadow copy waits for) however loaded the machine is.
                head = (
                    f"HTTP/1.0 {status} {'OK' if status == 200 else 'Unauthorized'}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
                )
                self.wfile.write(head.encode() + data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)
