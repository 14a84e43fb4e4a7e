"""`check` rules for TLS: the files the gateway listener and Systems name load as what they
should be, the mtls auth method has a client CA to verify against, and a client certificate
names one Consumer."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

from interlink.errors import ConfigError
from interlink.estate.findings import Finding
from interlink.estate.kinds import Consumer, Platform, Route, System
from interlink.estate.kinds.gateway import MtlsAuth
from interlink.estate.kinds.tls import GatewayTls, MtlsCredential, SystemTls
from interlink.estate.model import Estate, Loaded
from interlink.estate.references import is_reference
from interlink.estate.tls_files import load_ca, load_chain
from interlink.estate.yamlsource import PathKey

TLS_FILE = "TLS_FILE"
TLS_CLIENT_CA = "TLS_CLIENT_CA"
TLS_CREDENTIAL = "TLS_CREDENTIAL"


def _read(loaded: Loaded, source: str, at: PathKey) -> bytes | Finding:
    """The file's bytes, or the finding that it cannot be read."""
    path = loaded.resolve_file(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        return loaded.finding(at, TLS_FILE, f"cannot read {path}: {exc.strerror or exc}")


def _pair(
    loaded: Loaded, cert: str, key: str, at: PathKey, context: ssl.SSLContext
) -> Iterator[Finding]:
    """The certificate chain and its key load together (a key reference is not resolved)."""
    data = _read(loaded, cert, (*at, "cert"))
    if isinstance(data, Finding):
        yield data
        return
    if b"-----BEGIN CERTIFICATE-----" not in data:
        yield loaded.finding((*at, "cert"), TLS_FILE, "not a PEM certificate")
        return
    if is_reference(key):
        return
    key_data = _read(loaded, key, (*at, "key"))
    if isinstance(key_data, Finding):
        yield key_data
        return
    try:
        load_chain(context, data, key_data, "")
    except ConfigError as exc:
        yield loaded.finding((*at, "key"), TLS_FILE, exc.message.lstrip(": "))


def _bundle(loaded: Loaded, source: str, at: PathKey) -> Iterator[Finding]:
    data = _read(loaded, source, at)
    if isinstance(data, Finding):
        yield data
        return
    try:
        load_ca(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), data, "")
    except ConfigError as exc:
        yield loaded.finding(at, TLS_FILE, exc.message.lstrip(": "))


def _listener(loaded: Loaded, tls: GatewayTls) -> Iterator[Finding]:
    at: PathKey = ("spec", "gateway", "tls")
    for index, certificate in enumerate(tls.certificates):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        yield from _pair(
            loaded, certificate.cert, certificate.key, (*at, "certificates", index), context
        )
    if tls.client_ca is not None:
        yield from _bundle(loaded, tls.client_ca, (*at, "clientCa"))


def _system(loaded: Loaded, tls: SystemTls) -> Iterator[Finding]:
    at: PathKey = ("spec", "tls")
    if tls.ca is not None:
        yield from _bundle(loaded, tls.ca, (*at, "ca"))
    if tls.cert is not None and tls.key is not None:
        yield from _pair(loaded, tls.cert, tls.key, at, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def tls_files(estate: Estate) -> Iterator[Finding]:
    for loaded in estate.loaded_of(Platform.KIND):
        assert isinstance(loaded.obj, Platform)
        tls = loaded.obj.spec.gateway.tls
        if tls is not None:
            yield from _listener(loaded, tls)
    for loaded in estate.loaded_of(System.KIND):
        assert isinstance(loaded.obj, System)
        if loaded.obj.spec.tls is not None:
            yield from _system(loaded, loaded.obj.spec.tls)


def client_ca(estate: Estate) -> Iterator[Finding]:
    tls = estate.platform.spec.gateway.tls
    if tls is not None and tls.client_ca is not None:
        return
    for loaded in estate.loaded_of(Route.KIND):
        assert isinstance(loaded.obj, Route)
        auth = loaded.obj.spec.auth
        for index, method in enumerate(auth.methods if auth is not None else ()):
            if isinstance(method, MtlsAuth):
                yield loaded.finding(
                    ("spec", "auth", "methods", index, "type"),
                    TLS_CLIENT_CA,
                    "the mtls method needs the Platform's gateway.tls.clientCa, the CA bundle "
                    "client certificates are verified against",
                )


def credentials(estate: Estate) -> Iterator[Finding]:
    """One certificate, one Consumer; and a certificate declared where no route reads it."""
    seen: dict[str, str] = {}
    mtls_routes = any(
        isinstance(m, MtlsAuth)
        for r in estate.of(Route)
        for m in (r.spec.auth.methods if r.spec.auth is not None else ())
    )
    for loaded in estate.loaded_of(Consumer.KIND):
        assert isinstance(loaded.obj, Consumer)
        for index, credential in enumerate(loaded.obj.spec.credentials):
            if not isinstance(credential, MtlsCredential):
                continue
            at: PathKey = ("spec", "credentials", index)
            field = "fingerprint" if credential.fingerprint is not None else "subject"
            value = credential.fingerprint or credential.subject or ""
            first = seen.setdefault(f"{field}:{value}", loaded.obj.name)
            if first != loaded.obj.name:
                yield loaded.finding(
                    (*at, field),
                    TLS_CREDENTIAL,
                    f"this certificate {field} is Consumer {first}'s already",
                )
            elif not mtls_routes:
                yield loaded.finding(
                    (*at, "type"),
                    TLS_CREDENTIAL,
                    "no Route has the mtls auth method: this client certificate admits nothing",
                    severity="warning",
                )


TLS_RULES = [
    (
        TLS_FILE,
        "the certificate, key and CA files the gateway's TLS and Systems' tls name can be read "
        "and load (a certificate with its key)",
        tls_files,
    ),
    (
        TLS_CLIENT_CA,
        "a Route with the mtls auth method needs the Platform's gateway.tls.clientCa",
        client_ca,
    ),
    (
        TLS_CREDENTIAL,
        "a client certificate identifies one Consumer, and some Route reads it (mtls)",
        credentials,
    ),
]
