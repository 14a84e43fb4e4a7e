"""TLS material named in the estate: PEM files, key references, and loading them into an
:class:`ssl.SSLContext` with errors that say which setting failed.

A key named by a ``${secret:…}``/``${env:…}`` reference is PEM text; :mod:`ssl` loads keys
only from files, so it is written to a file only its owner may read, in a directory only its
owner may enter, and removed as soon as it is loaded.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from interlink.errors import ConfigError
from interlink.estate.references import is_reference, resolve

#: Turns a path as the estate wrote it into the file it names (relative to the naming file).
Locate = Callable[[str], Path]


def read_source(source: str, locate: Locate, what: str) -> bytes:
    """The bytes of a PEM file, or of a key reference's value."""
    if is_reference(source):
        value = resolve(source)
        if not value.strip():
            raise ConfigError(f"{what}: {source} is empty")
        return value.encode("utf-8")
    path = locate(source)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def digest(*parts: bytes) -> str:
    """What tells a change of TLS material apart, without keeping the material."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(hashlib.sha256(part).digest())
    return hashed.hexdigest()


def load_chain(context: ssl.SSLContext, cert: bytes, key: bytes, what: str) -> None:
    """Load a certificate chain and its key, both PEM bytes, into ``context``."""
    with tempfile.TemporaryDirectory(prefix="interlink-tls-") as folder:
        cert_file = Path(folder) / "cert.pem"
        key_file = Path(folder) / "key.pem"
        for path, data in ((cert_file, cert), (key_file, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"{what}: the certificate and key do not load: {_reason(exc)}"
            ) from None


def load_ca(context: ssl.SSLContext, bundle: bytes, what: str) -> None:
    try:
        context.load_verify_locations(cadata=bundle.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        reason = _reason(exc) if isinstance(exc, ssl.SSLError) else "not a PEM bundle"
        raise ConfigError(f"{what}: the CA bundle does not load: {reason}") from None


def _reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).replace("_", " ").lower()
