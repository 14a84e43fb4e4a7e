"""The gateway as an OAuth2 authorisation server for its Consumers (Platform ``gateway.oauth``).

- ``POST /oauth/token``: the client credentials grant (RFC 6749 §4.4). The client is a
  Consumer: its id is the Consumer's name or the id of one of its API keys, its secret one of
  its API keys (checked against the key ring, as the ``apiKey`` method does), sent as HTTP Basic
  or as the form's ``client_id`` and ``client_secret``; or, for a Consumer that declares a
  ``private_key_jwt`` key, a client assertion it signed (``client_assertion.py``). The answer
  is a JWT access token signed by the platform's newest key: ``sub`` and ``client_id`` the
  Consumer, ``iss`` and ``aud`` the issuer, ``scope`` the requested scopes (all of the
  Consumer's when none are asked for). Errors are RFC 6749 §5.2 JSON (``invalid_request``,
  ``invalid_client``, ``unsupported_grant_type``, ``invalid_scope``), never problem+json:
  OAuth clients read those.
- ``GET /.well-known/jwks.json``: the platform's public keys.
- ``GET /.well-known/openid-configuration``: the discovery document (RFC 8414 fields).

These paths are answered ahead of the estate's Routes.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from interlink.gateway.auth.client_assertion import AssertionRefused, AssertionVerifier
from interlink.gateway.auth.platform_keys import PlatformKeyRing
from interlink.gateway.request import Request
from interlink.gateway.responder import Responder
from interlink.http.headers import Headers
from interlink.http.jose import signed_jwt
from interlink.http.streams import BodyError
from interlink.http.token_source import ASSERTION_TYPE
from interlink.store.keyring import KeyRing

TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a secret
JWKS_PATH: Final = "/.well-known/jwks.json"
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
PATHS: Final = frozenset({TOKEN_PATH, JWKS_PATH, DISCOVERY_PATH})
GRANT: Final = "client_credentials"
MAX_FORM: Final = 16 * 1024

JSON: Final = (b"content-type", b"application/json")
NO_STORE: Final = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, basic: bool = False) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.basic = basic  # the client tried HTTP Basic: the 401 challenges it again


class TokenEndpoint:
    def __init__(
        self,
        issuer: str,
        lifetime: float,
        consumers: Mapping[str, frozenset[str]],
        keyring: KeyRing,
        keys: PlatformKeyRing,
        clock: Callable[[], float],
        assertions: AssertionVerifier | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.lifetime = int(lifetime)
        self.consumers = consumers  # Consumer name → its scopes in the estate
        self.keyring = keyring
        self.keys = keys
        self.clock = clock
        self.assertions = assertions  # None: no Consumer declares a private_key_jwt key
        methods = ["client_secret_basic", "client_secret_post"]
        if assertions is not None:
            methods.append("private_key_jwt")
        self.discovery = json.dumps(
            {
                "issuer": self.issuer,
                "token_endpoint": self.issuer + TOKEN_PATH,
                "jwks_uri": self.issuer + JWKS_PATH,
                "grant_types_supported": [GRANT],
                "token_endpoint_auth_methods_supported": methods,
                "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
                "scopes_supported": sorted({s for held in consumers.values() for s in held}),
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            }
        ).encode("utf-8")

    async def serve(self, request: Request, conn: Responder) -> None:
        request.route = "oauth"
        if request.path == TOKEN_PATH:
            await self._token(request, conn)
            return
        if request.method not in ("GET", "HEAD"):
            conn.send_problem(
                request, 405, f"{request.path} answers GET", headers=[(b"allow", b"GET, HEAD")]
            )
            return
        if request.path == JWKS_PATH:
            body = json.dumps(self.keys.document).encode("utf-8")
            headers: Headers = [JSON, (b"cache-control", b"max-age=300")]
        else:
            body, headers = self.discovery, [JSON, (b"cache-control", b"max-age=3600")]
        if request.method == "HEAD":
            conn.respond(request, 200, headers, b"", length=len(body))
        else:
            conn.respond(request, 200, headers, body)

    async def _token(self, request: Request, conn: Responder) -> None:
        if request.method != "POST":
            conn.send_problem(
                request, 405, "the token endpoint answers POST", headers=[(b"allow", b"POST")]
            )
            return
        if self.keys.signing is None:  # the first key may be new: another node made it
            await self.keys.reload_soon()
        try:
            if request.body is not None and not _is_form(request.headers):
                raise OAuthError(
                    400, "invalid_request", "the body must be application/x-www-form-urlencoded"
                )
            form = parse_form(await _body(request))
            if form.get("grant_type") is None:
                raise OAuthError(400, "invalid_request", "grant_type is missing")
            answer = self.grant(await self.authenticate(request.headers, form), form)
        except OAuthError as exc:
            headers: Headers = [JSON, *NO_STORE]
            if exc.basic:
                headers.append((b"www-authenticate", b'Basic realm="interlink"'))
            error = {"error": exc.error, "error_description": exc.description}
            conn.respond(request, exc.status, headers, json.dumps(error).encode("utf-8"))
            return
        conn.respond(request, 200, [JSON, *NO_STORE], json.dumps(answer).encode("utf-8"))

    async def authenticate(self, headers: Headers, form: dict[str, str]) -> str:
        """The Consumer the client authenticated as, by a secret or a client assertion;
        raises OAuthError."""
        if "client_assertion" not in form and "client_assertion_type" not in form:
            return self.client(headers, form)
        if _basic(headers) is not None or "client_secret" in form:
            raise OAuthError(400, "invalid_request", "client credentials sent twice")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError(
                400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}"
            )
        assertion = form.get("client_assertion")
        if not assertion:
            raise OAuthError(400, "invalid_request", "client_assertion is missing")
        if self.assertions is None:
            raise OAuthError(401, "invalid_client", "no Consumer here authenticates by assertion")
        try:
            consumer = await self.assertions.consumer(assertion, form.get("client_id"))
        except AssertionRefused as exc:
            raise OAuthError(401, "invalid_client", str(exc)) from None
        if consumer not in self.consumers:
            raise OAuthError(401, "invalid_client", f"Consumer {consumer} is not in the estate")
        return consumer

    def grant(self, consumer: str, form: dict[str, str]) -> dict[str, Any]:
        """The token response for a client credentials request from ``consumer``; raises
        OAuthError."""
        grant_type = form.get("grant_type")
        if grant_type != GRANT:
            raise OAuthError(400, "unsupported_grant_type", f"only {GRANT} is supported")
        held = self.consumers[consumer]
        asked = form.get("scope")
        scopes = held if asked is None else frozenset(asked.split())
        if not scopes <= held:
            missing = ", ".join(sorted(scopes - held))
            raise OAuthError(400, "invalid_scope", f"{consumer} does not hold {missing}")
        signing = self.keys.signing
        if signing is None:
            raise OAuthError(503, "temporarily_unavailable", "no platform signing key yet")
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "sub": consumer,
            "client_id": consumer,
            "aud": self.issuer,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(sorted(scopes)),
        }
        return {
            "access_token": signed_jwt(signing, claims, "at+jwt"),
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": claims["scope"],
        }

    def client(self, headers: Headers, form: dict[str, str]) -> str:
        """The Consumer the client authenticated as; raises OAuthError."""
        basic = _basic(headers)
        if basic is not None and ("client_secret" in form or "client_id" in form):
            raise OAuthError(400, "invalid_request", "client credentials sent twice")
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        if not client_id or not secret:
            raise OAuthError(401, "invalid_client", "client authentication is missing", True)
        found = self.keyring.verify(secret)
        if found is None or client_id not in (found.consumer, found.id):
            raise OAuthError(
                401, "invalid_client", "unknown client or bad secret", basic is not None
            )
        if found.consumer not in self.consumers:
            raise OAuthError(
                401, "invalid_client", f"Consumer {found.consumer} is not in the estate"
            )
        return found.consumer


def _basic(headers: Headers) -> tuple[str, str] | None:
    """``Authorization: Basic`` as (client_id, secret), each form-decoded (RFC 6749 §2.3.1)."""
    values = [v for n, v in headers if n == b"authorization"]
    if len(values) != 1:
        if values:
            raise OAuthError(400, "invalid_request", "the authorization header is repeated")
        return None
    scheme, _, encoded = values[0].decode("latin-1").strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(
            401, "invalid_client", f"{scheme} client authentication is not supported", True
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(401, "invalid_client", "malformed Basic credentials", True) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError(401, "invalid_client", "malformed Basic credentials", True)
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _is_form(headers: Headers) -> bool:
    types = [v for n, v in headers if n == b"content-type"]
    if len(types) != 1:
        return False
    media = types[0].decode("latin-1").partition(";")[0].strip().lower()
    return media == "application/x-www-form-urlencoded"


async def _body(request: Request) -> bytes:
    if request.body is None:
        return b""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.body:
            size += len(chunk)
            if size > MAX_FORM:
                raise OAuthError(400, "invalid_request", f"form larger than {MAX_FORM} bytes")
            chunks.append(chunk)
    except BodyError as exc:
        raise OAuthError(400, "invalid_request", exc.message) from exc
    return b"".join(chunks)


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body; a repeated parameter is an error."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError(400, "invalid_request", "the body is not a form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError(400, "invalid_request", f"{name} is repeated")
        form[name] = value
    return form
