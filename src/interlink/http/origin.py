"""Where an HTTP request goes: scheme, host and port, parsed once and reused per request."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from interlink.errors import ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    # A System's own TLS (http/tls.py): its context, the name verified and sent as SNI, and a
    # digest of its settings, part of ``key`` so that only equal settings share connections.
    tls_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    server_name: str | None = None
    tls_profile: str = ""
    host_header: bytes = field(init=False, repr=False, compare=False)
    key: str = field(init=False, repr=False, compare=False)  # cheap to hash, for pool lookups

    def __post_init__(self) -> None:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get(self.scheme) == self.port
        value = host if default else f"{host}:{self.port}"
        object.__setattr__(self, "host_header", value.encode("ascii"))
        profile = f"#{self.tls_profile}" if self.tls_profile else ""
        object.__setattr__(self, "key", f"{self.scheme}://{host}:{self.port}{profile}")

    def with_tls(self, context: ssl.SSLContext, server_name: str | None, profile: str) -> Origin:
        """This origin, reached with ``context`` (an https origin's only)."""
        return replace(self, tls_context=context, server_name=server_name, tls_profile=profile)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host_header.decode()}"

    @classmethod
    def parse(cls, url: str) -> tuple[Origin, str]:
        """The origin of ``url`` and its path (with the query, if any; "" when there is none)."""
        return _parse(url)


@functools.lru_cache(maxsize=1024)  # an Origin is immutable, and asked for every request
def _parse(url: str) -> tuple[Origin, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"expected an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise ConfigError(f"URL {url!r} must not carry credentials")
    try:
        parts.hostname.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"host of {url!r} must be ASCII (use its IDNA form)") from exc
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return Origin(scheme, parts.hostname, port or DEFAULT_PORTS[scheme]), path
