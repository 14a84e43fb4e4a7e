"""The security a Route's auth accepts, as OpenAPI security schemes and requirements.

Any one of a Route's auth methods admits a caller, so each method is one alternative of the
top-level ``security`` list. OpenAPI 3.1 lets a requirement on any scheme name the roles it
needs, so the Route's scopes go there. OpenAPI 3.0 says the list MUST be empty for schemes other
than OAuth2 and OpenID Connect, so a 3.0 document carries the scopes in ``x-required-scopes``
and in each scheme's description instead.
"""

from __future__ import annotations

from typing import Any

from interlink.estate.kinds.gateway import (
    ApiKeyAuth,
    Auth,
    IntrospectionAuth,
    JwtAuth,
    MtlsAuth,
    OAuth2Auth,
)


def security_schemes(auth: Auth, openapi: str = "3.1") -> dict[str, dict[str, Any]]:
    """One scheme per way of presenting a credential, keyed by a stable name. A client
    certificate is OpenAPI 3.1's ``mutualTLS``; 3.0 has no scheme for it, so it is left out."""
    schemes: dict[str, dict[str, Any]] = {}
    needs = f" Requires the scopes: {', '.join(auth.scopes)}." if auth.scopes else ""
    for method in auth.methods:
        if isinstance(method, ApiKeyAuth):
            schemes[_free(schemes, "apiKey")] = {
                "type": "apiKey",
                "in": "header",
                "name": method.header,
                "description": "The API key of a Consumer." + needs,
            }
            if method.query:
                schemes[_free(schemes, "apiKeyQuery")] = {
                    "type": "apiKey",
                    "in": "query",
                    "name": method.query,
                    "description": "The API key of a Consumer, as a query parameter." + needs,
                }
        elif isinstance(method, MtlsAuth):
            if openapi.startswith("3.1"):
                schemes[_free(schemes, "mutualTLS")] = {
                    "type": "mutualTLS",
                    "description": "A client certificate a Consumer declares." + needs,
                }
        elif isinstance(method, IntrospectionAuth):
            schemes[_free(schemes, "introspection")] = {
                "type": "http",
                "scheme": "bearer",
                "description": f"An access token accepted by {method.url}." + needs,
            }
        elif isinstance(method, OAuth2Auth):
            schemes[_free(schemes, "oauth2")] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from the gateway's POST /oauth/token "
                "(client credentials)." + needs,
            }
        else:
            schemes[_free(schemes, "jwt")] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": _jwt_description(method) + needs,
            }
    return schemes


def security_requirements(
    auth: Auth, schemes: dict[str, dict[str, Any]], openapi: str
) -> list[dict[str, list[str]]]:
    """The OR'd alternatives: any one scheme, carrying the scopes where OpenAPI allows it."""
    scopes = list(auth.scopes) if openapi.startswith("3.1") else []
    return [{name: list(scopes)} for name in schemes]


def _free(taken: dict[str, Any], base: str) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def _jwt_description(method: JwtAuth) -> str:
    text = f"A JWT issued by {method.issuer}"
    if method.audiences:
        text += f" for {', '.join(method.audiences)}"
    return text + f", signed with {', '.join(method.algorithms)}."
