"""The client-side TLS context a System's ``tls`` asks for: its CA bundle, verification, and
a client certificate for Systems that require mTLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from interlink.estate.kinds import System
from interlink.estate.kinds.tls import SystemTls
from interlink.estate.model import Loaded
from interlink.estate.tls_files import Locate, digest, load_ca, load_chain, read_source


def client_context(tls: SystemTls, locate: Locate, system: str) -> tuple[ssl.SSLContext, str]:
    """The context the platform's connections to ``system`` use, and a digest of what went
    into it (two Systems with the same settings share connections only when it matches)."""
    what = f"tls of System/{system}"
    context = ssl.create_default_context()
    parts: list[bytes] = [b"verify" if tls.verify else b"no-verify"]
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca is not None:
        bundle = read_source(tls.ca, locate, what)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # only this bundle, not the machine's
        load_ca(context, bundle, what)
        parts.append(bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert is not None and tls.key is not None:
        cert = read_source(tls.cert, locate, what)
        key = read_source(tls.key, locate, what)
        load_chain(context, cert, key, what)
        parts += [cert, key]
    if tls.server_name is not None:
        parts.append(tls.server_name.encode("ascii"))
    return context, digest(*parts)


@dataclass(frozen=True, slots=True)
class ClientTls:
    """A System's TLS, ready for :meth:`HttpClient.request` (``tls=``)."""

    context: ssl.SSLContext
    server_name: str | None
    profile: str  # the digest of its settings: connections are pooled per origin and profile


def system_tls(loaded: Loaded) -> ClientTls | None:
    """The System's ``tls`` as a client context; None without one. ConfigError when its files
    do not load."""
    system = loaded.obj
    assert isinstance(system, System)
    tls = system.spec.tls
    if tls is None:
        return None
    context, profile = client_context(tls, loaded.resolve_file, system.name)
    return ClientTls(context, tls.server_name, profile)
