"""The authentication policy: the first of a route's methods that admits the caller wins.

- No method admits the request: 401, with one ``WWW-Authenticate`` challenge per accepted
  scheme, and as detail the reason the first presented credential was refused.
- A method admits it but the caller lacks one of the route's ``scopes``: 403.
- Otherwise the request goes on with ``request.identity`` set, and every header that can carry
  a credential for the route (its API key header and ``Authorization``) is not forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Protocol
from urllib.parse import urlsplit

from interlink.errors import ConfigError
from interlink.estate.kinds import Consumer
from interlink.estate.kinds.gateway import (
    ApiKeyAuth,
    IntrospectionAuth,
    JwtAuth,
    MtlsAuth,
    OAuth2Auth,
    Route,
)
from interlink.estate.model import Estate
from interlink.estate.references import resolve
from interlink.gateway.auth import apikey, introspection, jwt, mtls, oauth
from interlink.gateway.auth.credentials import AUTHORIZATION, Credentials, read
from interlink.gateway.auth.identity import Identity, identities
from interlink.gateway.auth.jwks import JwksCache, discovery_url, jwks_cache
from interlink.gateway.policy import Outcome, Policy, Reply, Unsupported
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.http.headers import Headers

# Built once per estate: every Consumer by name, and the identity its API key gives.
CONSUMERS_KEY: Final[StateKey[dict[str, Consumer]]] = StateKey("consumers")
API_KEY_IDENTITIES_KEY: Final[StateKey[dict[str, Identity]]] = StateKey("api-key identities")
CERTIFICATES_KEY: Final[StateKey[mtls.CertificateIndex]] = StateKey("client certificates")

WWW_AUTHENTICATE = b"www-authenticate"
VERIFIABLE = frozenset({"HS256", "RS256", "ES256"})  # algorithms it can check signatures of


Verdict = Identity | str | None  # admitted; refused, with the reason; no credential of its kind


class Method(Protocol):
    challenge: bytes

    def authenticate(
        self, request: Request, creds: Credentials
    ) -> Verdict | Awaitable[Identity | str]: ...


def authentication(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    """The policy factory: None for a route without ``auth``."""
    auth = route.spec.auth
    if auth is None:
        return None
    consumers = services.per_estate(
        estate, CONSUMERS_KEY, lambda: {c.name: c for c in estate.of(Consumer)}
    )
    methods: list[Method] = []
    names = {AUTHORIZATION}
    for spec in auth.methods:
        if isinstance(spec, ApiKeyAuth):
            methods.append(_api_key(spec, estate, consumers, services))
            names.add(spec.header.lower().encode("latin-1"))
        elif isinstance(spec, JwtAuth):
            methods.append(_jwt(spec, consumers, services))
        elif isinstance(spec, MtlsAuth):
            tls = estate.platform.spec.gateway.tls
            if tls is None or tls.client_ca is None:
                raise Unsupported("mtls needs the Platform's gateway.tls.clientCa")
            index = services.per_estate(
                estate, CERTIFICATES_KEY, lambda: mtls.certificate_index(consumers)
            )
            methods.append(mtls.MtlsMethod(index))
        elif isinstance(spec, OAuth2Auth):
            methods.append(oauth.platform_method(estate, consumers, services))
        else:
            methods.append(_introspection(spec, consumers, services))
    return _policy(methods, frozenset(auth.scopes), frozenset(names))


def _api_key(
    spec: ApiKeyAuth, estate: Estate, consumers: dict[str, Consumer], services: GatewayServices
) -> apikey.ApiKeyMethod:
    if services.keyring is None:
        raise Unsupported("API keys need the store's key ring, which this gateway has not")
    by_name = services.per_estate(
        estate,
        API_KEY_IDENTITIES_KEY,
        lambda: identities(((name, c.spec.scopes) for name, c in consumers.items()), apikey.METHOD),
    )
    return apikey.ApiKeyMethod(spec, services.keyring, by_name)


def _jwt(spec: JwtAuth, consumers: dict[str, Consumer], services: GatewayServices) -> jwt.JwtMethod:
    unverifiable = sorted(set(spec.algorithms) - VERIFIABLE)
    if unverifiable:
        raise Unsupported(f"JWT {'/'.join(unverifiable)} signatures are not supported")
    key: bytes | None = None
    if spec.secret is not None:
        try:
            key = resolve(spec.secret).encode("utf-8")
        except ConfigError as exc:
            raise Unsupported(f"JWT secret: {exc.message}") from exc
        if not key:
            raise Unsupported("JWT secret is empty")
    jwks: JwksCache | None = None
    if spec.discovery:
        url = discovery_url(spec.issuer)
        jwks = jwks_cache(services.state, url, url, issuer=spec.issuer)
    elif spec.jwks_url is not None and {"RS256", "ES256"} & set(spec.algorithms):
        url = _http_url(spec.jwks_url, "JWT jwksUrl")
        # Kept in services.state: shared by the routes naming the URL, and across reloads.
        jwks = jwks_cache(services.state, url, spec.jwks_url)
    return jwt.JwtMethod(spec, consumers, services.clock, key, jwks)


def _introspection(
    spec: IntrospectionAuth, consumers: dict[str, Consumer], services: GatewayServices
) -> introspection.IntrospectionMethod:
    url = _http_url(spec.url, "token introspection url")
    try:
        secret = resolve(spec.client_secret)
    except ConfigError as exc:
        raise Unsupported(f"token introspection clientSecret: {exc.message}") from exc
    return introspection.IntrospectionMethod(spec, url, secret, consumers, services.clock)


def _http_url(reference: str, what: str) -> str:
    """``reference`` resolved; Unsupported (naming ``what``) unless it is an http(s) URL."""
    try:
        url = resolve(reference)
    except ConfigError as exc:
        raise Unsupported(f"{what}: {exc.message}") from exc
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Unsupported(f"{what} is not an http(s) URL")
    return url


def _policy(methods: list[Method], required: frozenset[str], names: frozenset[bytes]) -> Policy:  # noqa: C901 - one answer per authentication outcome
    challenges: Headers = []
    for method in methods:
        if method.challenge and (WWW_AUTHENTICATE, method.challenge) not in challenges:
            challenges.append((WWW_AUTHENTICATE, method.challenge))
    described = " or ".join(_described(m) for m in methods)
    missing_detail = f"this route needs {described}"

    def admit(request: Request, outcome: Identity) -> Reply | None:
        if required and not required <= outcome.scopes:
            return Reply(
                403, f"{outcome.consumer} lacks scope {', '.join(outcome.missing(required))}"
            )
        request.identity = outcome
        request.consumer = outcome.consumer  # what plans and REST-to-event routes read
        request.drop_upstream = names
        return None

    def authenticate(request: Request) -> Outcome:
        creds = read(request, names)
        if creds.repeated is not None:
            name = creds.repeated.decode("latin-1")
            return Reply(401, f"the {name} header is repeated", challenges)
        refused: str | None = None
        for index, method in enumerate(methods):
            outcome = method.authenticate(request, creds)
            if outcome is None:
                continue
            if isinstance(outcome, Identity):
                return admit(request, outcome)
            if isinstance(outcome, str):
                refused = refused or outcome
                continue
            return waiting(request, creds, outcome, methods[index + 1 :], refused)
        return Reply(401, refused or missing_detail, challenges)

    async def waiting(
        request: Request,
        creds: Credentials,
        pending: Awaitable[Identity | str],
        rest: list[Method],
        refused: str | None,
    ) -> Reply | None:
        """:func:`authenticate` from a method that must wait on, through the ``rest``."""
        outcome: Verdict = await pending
        remaining = iter(rest)
        while True:
            if isinstance(outcome, Identity):
                return admit(request, outcome)
            if isinstance(outcome, str):
                refused = refused or outcome
            method = next(remaining, None)
            if method is None:
                return Reply(401, refused or missing_detail, challenges)
            found = method.authenticate(request, creds)
            outcome = found if found is None or isinstance(found, Identity | str) else await found

    if len(methods) == 1 and isinstance(methods[0], apikey.ApiKeyMethod) and not methods[0].query:
        return _api_key_only(methods[0], names, authenticate, admit)
    return authenticate


def _described(method: Method) -> str:
    if isinstance(method, apikey.ApiKeyMethod):
        return "an API key"
    if isinstance(method, mtls.MtlsMethod):
        return "a client certificate"
    return "a bearer token"


def _api_key_only(
    method: apikey.ApiKeyMethod,
    names: frozenset[bytes],
    general: Policy,
    admit: Callable[[Request, Identity], Reply | None],
) -> Policy:
    """The usual route, with one API key in one header: the key is read in one pass over the
    headers. Anything unusual (no key, a repeated header, an Authorization header too, a
    refused key) goes to the general policy, which finds the reason."""
    header = method.header
    verify = method.keyring.verify
    identities = method.identities

    def api_key(request: Request) -> Outcome:
        value: bytes | None = None
        for name, raw in request.headers:
            if name in names:
                if value is not None or name != header:
                    return general(request)
                value = raw
        if value is not None:
            found = verify(value.decode("latin-1").strip())
            if found is not None:
                known = identities.get(found.consumer)
                if known is not None:
                    return admit(request, known)
        return general(request)

    return api_key
