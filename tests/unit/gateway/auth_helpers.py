"""Tokens and estates for the authentication tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interlink.gateway.auth.jws import b64url_encode, hs256
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
