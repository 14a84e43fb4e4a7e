"""A System's own TLS on the gateway's upstream connections: the context its ``tls`` asks for
(verification, CA bundle, client certificate), built once per estate and System."""

from __future__ import annotations

import ssl
from typing import Final

from interlink.errors import ConfigError
from interlink.estate.kinds import System
from interlink.estate.model import Estate, Loaded
from interlink.gateway.policy import Unsupported
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.http.origin import Origin
from interlink.http.tls import client_context

# Per estate: each System's context and the digest of its settings, or why it has none.
CONTEXTS_KEY: Final[StateKey[dict[str, tuple[ssl.SSLContext, str] | str]]] = StateKey(
    "upstream tls"
)


def with_system_tls(
    origin: Origin, found: Loaded, estate: Estate, services: GatewayServices
) -> Origin:
    """``origin`` reached as the System's ``tls`` says; unchanged without one, or over http."""
    system = found.obj
    assert isinstance(system, System)
    tls = system.spec.tls
    if tls is None or not origin.tls:
        return origin
    contexts = services.per_estate(estate, CONTEXTS_KEY, dict)
    built = contexts.get(system.name)
    if built is None:
        try:
            built = client_context(tls, found.resolve_file, system.name)
        except ConfigError as exc:
            built = exc.message
        contexts[system.name] = built
    if isinstance(built, str):
        raise Unsupported(built)
    context, profile = built
    return origin.with_tls(context, tls.server_name, profile)
