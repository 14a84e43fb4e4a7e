"""HTTP/1.1 on asyncio and httptools: the client the gateway proxies with, and its parts.

Other components that call systems over HTTP (webhook delivery, probes) use the same client.
"""

from interlink.http.client import HttpClient
from interlink.http.connection import Response
from interlink.http.headers import HOP_BY_HOP, Headers
from interlink.http.origin import Origin
from interlink.http.streams import BodyError, BodyStream

__all__ = [
    "HOP_BY_HOP",
    "BodyError",
    "BodyStream",
    "Headers",
    "HttpClient",
    "Origin",
    "Response",
]
