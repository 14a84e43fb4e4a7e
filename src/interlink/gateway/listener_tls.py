"""TLS on the gateway listener: a context per certificate, chosen by SNI, reloaded when its
files change.

The listening socket keeps one context for its life (``context``); every handshake's SNI
callback hands the connection the context of the certificate for the name the client asked
(exact names, then ``*.`` wildcards, then the default). The certificate, key and client CA
files are read again every ``reloadInterval``: when any of them changed, a new set of contexts
is built off the event loop and swapped in whole, so the handshakes that follow use it and open
connections keep theirs. Material that does not load (a key that does not match, a file half
written) is logged once and the previous set stays.

The settings that OpenSSL copies from the listening context when a connection starts (the
oldest TLS version, whether a client certificate is asked for) are set on ``context`` too, so
they follow reloads as well. Turning TLS on or off needs a restart: the socket is plain or not.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

from interlink.errors import ConfigError
from interlink.estate.kinds import Platform
from interlink.estate.kinds.tls import GatewayTls
from interlink.estate.model import Estate
from interlink.estate.tls_files import Locate, digest, load_ca, load_chain, read_source

log = logging.getLogger("interlink.gateway")

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True, slots=True)
class Material:
    """The bytes the contexts are built from, and their digest."""

    certificates: tuple[
        tuple[tuple[str, ...], bytes, bytes, bool], ...
    ]  # hosts, cert, key, default
    client_ca: bytes | None
    digest: str


@dataclass(frozen=True, slots=True)
class Certificates:
    """One built set: the context for each exact host and wildcard suffix, and the default."""

    exact: dict[str, ssl.SSLContext]
    wildcard: tuple[tuple[str, ssl.SSLContext], ...]  # ".example.com", longest suffix first
    default: ssl.SSLContext
    digest: str

    def pick(self, server_name: str | None) -> ssl.SSLContext:
        if server_name is None:
            return self.default
        name = server_name.lower().rstrip(".")
        found = self.exact.get(name)
        if found is not None:
            return found
        for suffix, context in self.wildcard:
            if name.endswith(suffix) and len(name) > len(suffix):
                return context
        return self.default


def read_material(tls: GatewayTls, locate: Locate) -> Material:
    certificates = []
    parts: list[bytes] = []
    for index, certificate in enumerate(tls.certificates):
        what = f"gateway.tls.certificates[{index}]"
        cert = read_source(certificate.cert, locate, what)
        key = read_source(certificate.key, locate, what)
        certificates.append((tuple(certificate.hosts), cert, key, certificate.default))
        parts += [",".join(certificate.hosts).encode(), cert, key, b"%d" % certificate.default]
    client_ca = None
    if tls.client_ca is not None:
        client_ca = read_source(tls.client_ca, locate, "gateway.tls.clientCa")
        parts.append(client_ca)
    parts += [tls.min_version.encode(), b"tickets" if tls.session_tickets else b"no tickets"]
    return Material(tuple(certificates), client_ca, digest(*parts))


def server_context(tls: GatewayTls, client_ca: bytes | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    if client_ca is not None:
        load_ca(context, client_ca, "gateway.tls.clientCa")
    connection_settings(context, tls, client_ca is not None)
    return context


def connection_settings(context: ssl.SSLContext, tls: GatewayTls, client_ca: bool) -> None:
    """What OpenSSL copies from the listening context into each new connection, before SNI
    picks a certificate: set on every context, and on the listening one at each reload."""
    context.minimum_version = VERSIONS[tls.min_version]
    # Optional: the route decides whether a certificate is needed (the mtls method).
    context.verify_mode = ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE
    if tls.session_tickets:
        context.options &= ~ssl.OP_NO_TICKET
        context.num_tickets = 2  # OpenSSL's default
    else:
        context.options |= ssl.OP_NO_TICKET
        context.num_tickets = 0


def build(tls: GatewayTls, material: Material) -> Certificates:
    """Raises ConfigError when a certificate, key or the client CA does not load."""
    exact: dict[str, ssl.SSLContext] = {}
    wildcard: list[tuple[str, ssl.SSLContext]] = []
    default: ssl.SSLContext | None = None
    for index, (hosts, cert, key, is_default) in enumerate(material.certificates):
        context = server_context(tls, material.client_ca)
        load_chain(context, cert, key, f"gateway.tls.certificates[{index}] ({hosts[0]})")
        for host in hosts:
            if host.startswith("*."):
                wildcard.append((host[1:], context))
            else:
                exact[host] = context
        if is_default or (default is None and index == 0):
            default = context
    assert default is not None  # at least one certificate (the model says so)
    wildcard.sort(key=lambda item: -len(item[0]))
    return Certificates(exact, tuple(wildcard), default, material.digest)


def platform_tls(estate: Estate) -> tuple[GatewayTls, Locate] | None:
    """The Platform's ``gateway.tls``, and how to find the files it names."""
    tls = estate.platform.spec.gateway.tls
    if tls is None:
        return None
    loaded = estate.loaded_of(Platform.KIND)
    if loaded:
        return tls, loaded[0].resolve_file
    return tls, lambda path: estate.root / path


class ListenerTls:
    """What the gateway's listening socket is created with, and keeps current."""

    def __init__(self, tls: GatewayTls, locate: Locate) -> None:
        """Raises ConfigError when the certificates do not load: the listener cannot start."""
        self.settings = tls
        self._locate = locate
        material = read_material(tls, locate)
        self._current = build(tls, material)
        self._refused: str | None = None  # the digest of material that did not load
        self._said: str | None = None  # the last reason said for keeping the certificates
        self.context = server_context(tls, material.client_ca)
        first = material.certificates[0]
        load_chain(self.context, first[1], first[2], "gateway.tls.certificates[0]")
        self.context.sni_callback = self._select
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_estate(cls, estate: Estate) -> ListenerTls | None:
        found = platform_tls(estate)
        return cls(*found) if found is not None else None

    def _select(self, conn: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
        chosen = self._current.pick(name)
        if conn.context is not chosen:
            conn.context = chosen

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval)
            await asyncio.to_thread(self.refresh)

    def update(self, estate: Estate) -> None:
        """Follow a new revision's ``gateway.tls`` (called off the event loop)."""
        found = platform_tls(estate)
        if found is None:
            log.warning("gateway.tls was removed: the listener serves TLS until a restart")
            return
        self.settings, self._locate = found
        self.refresh()

    def refresh(self) -> bool:
        """Build and swap in the certificates when their files changed; True when it did."""
        settings = self.settings
        try:
            material = read_material(settings, self._locate)
        except ConfigError as unreadable:
            self._refuse(unreadable.message, None)
            return False
        if material.digest in (self._current.digest, self._refused):
            return False
        try:
            built = build(settings, material)
        except ConfigError as exc:
            self._refuse(exc.message, material.digest)
            return False
        connection_settings(self.context, settings, material.client_ca is not None)
        self._current = built
        self._refused = self._said = None
        hosts = ", ".join(h for c in settings.certificates for h in c.hosts)
        log.info("gateway TLS certificates loaded anew (%s)", hosts)
        return True

    def _refuse(self, message: str, material: str | None) -> None:
        """Keep the certificates in use, and say why once (not every interval)."""
        self._refused = material
        if message != self._said:
            log.warning("gateway TLS keeps its certificates: %s", message)
            self._said = message


def follow_tls(tls: ListenerTls | None, estate: Estate) -> None:
    """A new revision's ``gateway.tls`` for the listener (off the event loop), or a warning
    that turning TLS on takes a restart: the socket is plain or TLS for its life."""
    if tls is not None:
        tls.update(estate)
    elif estate.platform.spec.gateway.tls is not None:
        log.warning("gateway.tls was added: the listener serves plain HTTP until a restart")
