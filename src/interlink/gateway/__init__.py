"""The gateway: the data plane every API call of the estate comes through.

``compile_gateway`` turns an estate into an immutable :class:`GatewayConfig` (off the request
path); :class:`GatewayServer` serves one on a socket and swaps it on reload. The modules, one
concept each: ``server`` and ``protocol`` (HTTP/1.1 connections), ``request`` (what was
asked), ``config`` and ``compiler`` (the compiled routes), ``routing`` (which route),
``proxy`` (the handler), ``rewrite`` (which upstream path), ``forwarding`` (which headers),
``balancing`` (which upstream); ``policy`` and ``chain`` (the per-route policies: ``lifecycle``,
``auth``, ``plans``, ``validation``); ``resilience`` and ``shadow`` (around the upstream call);
``telemetry`` (what is recorded); ``workers`` (several processes).
"""

from interlink.gateway.compiler import compile_gateway
from interlink.gateway.config import CompiledRoute, GatewayConfig, Unserved
from interlink.gateway.connection_limits import Limits
from interlink.gateway.server import GatewayServer

__all__ = [
    "CompiledRoute",
    "GatewayConfig",
    "GatewayServer",
    "Limits",
    "Unserved",
    "compile_gateway",
]
