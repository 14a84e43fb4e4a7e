"""Gateway authentication: API keys and JWT bearer tokens, any one of a route's methods.

:func:`authentication` is the policy factory (first in the chain); what it admits is an
:class:`Identity` on ``request.identity``, which the upstream learns through ``x-consumer``,
``x-consumer-scopes`` and ``x-auth-method``.
"""

from interlink.gateway.auth.authentication import authentication
from interlink.gateway.auth.identity import Identity

__all__ = ["Identity", "authentication"]
