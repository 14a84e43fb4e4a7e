"""What the Platform's ``gateway.oauth`` compiles to: the token endpoint, and the ``oauth2``
route method that admits the tokens it issued (checked with the platform keys, in-process)."""

from __future__ import annotations

from collections.abc import Mapping

from interlink.estate.kinds import Consumer
from interlink.estate.kinds.gateway import JwtAuth
from interlink.estate.model import Estate
from interlink.gateway.auth.client_assertion import compile_verifier
from interlink.gateway.auth.jwt import JwtMethod
from interlink.gateway.auth.token_endpoint import TOKEN_PATH, TokenEndpoint
from interlink.gateway.policy import Unsupported
from interlink.gateway.services import GatewayServices

METHOD = "oauth2"


def compile_token_endpoint(estate: Estate, services: GatewayServices) -> TokenEndpoint | None:
    """None when the Platform has no ``gateway.oauth``, or this process has no store to keep
    keys in (a gateway compiled for a test or a dry run)."""
    settings = estate.platform.spec.gateway.oauth
    if settings is None or services.platform_keys is None or services.keyring is None:
        return None
    declared = list(estate.of(Consumer))
    consumers = {c.name: frozenset(c.spec.scopes) for c in declared}
    issuer = str(settings.issuer).rstrip("/")
    audiences = frozenset({issuer + TOKEN_PATH, issuer})
    assertions = compile_verifier(
        declared, audiences, services.state, services.store, services.clock
    )
    return TokenEndpoint(
        issuer,
        settings.token_lifetime,
        consumers,
        services.keyring,
        services.platform_keys,
        services.clock,
        assertions,
    )


def platform_method(
    estate: Estate, consumers: Mapping[str, object], services: GatewayServices
) -> JwtMethod:
    """The ``oauth2`` method: a JWT method whose issuer, audience and keys are the platform's."""
    settings = estate.platform.spec.gateway.oauth
    if settings is None:
        raise Unsupported("auth type oauth2 needs the Platform's gateway.oauth")
    if services.platform_keys is None:
        raise Unsupported(
            "auth type oauth2 needs the store's platform keys, which this gateway has not"
        )
    issuer = str(settings.issuer).rstrip("/")
    # Built, not validated: the keys are the platform's, so no jwksUrl.
    spec = JwtAuth.model_construct(
        type="jwt",
        issuer=issuer,
        audiences=[issuer],
        algorithms=["ES256", "RS256"],
        jwks_url=None,
        secret=None,
        leeway=30.0,
        consumer_claim="sub",
    )
    return JwtMethod(spec, consumers, services.clock, None, services.platform_keys, METHOD)
