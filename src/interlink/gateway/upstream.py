"""One upstream of a route, as compiled: the System, where it is, and its share of traffic."""

from __future__ import annotations

from dataclasses import dataclass

from interlink.http.credential import Credential
from interlink.http.origin import Origin


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    system: str
    origin: Origin
    base: str  # path under the origin: baseUrl's path, then the upstream's; no trailing slash
    weight: int
    shadow: bool
    # The System's credentials, resolved: added to every call to it (http/credential.py).
    credential: Credential | None = None
