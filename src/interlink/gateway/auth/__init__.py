"""Gateway authentication: API keys and JWT bearer tokens, any one of a route's methods.

:func:`authentication` is the policy factory (first in the chain); what it admits is an
:class:`Identity` on ``request.identity``, which the upstream learns through ``x-consumer``,
``x-consumer-scopes`` and ``x-auth-method``.
"""

from interlink.gateway.auth.identity import Identity
from interlink.gateway.auth.policy import authentication

__all__ = ["Identity", "authentication"]
