"""The TLS side of a client connection: that it is TLS, and the client certificate the
listener verified against the Platform's ``gateway.tls.clientCa``, if one was presented."""

from __future__ import annotations

import hashlib
from typing import Any


class TlsPeer:
    """Read once per connection; the subject DN only when an mtls method asks for it."""

    __slots__ = ("_subject", "der", "fingerprint")

    def __init__(self, der: bytes | None) -> None:
        self.der = der  # the client certificate (DER), None when the client sent none
        self.fingerprint = hashlib.sha256(der).hexdigest() if der is not None else None
        self._subject: str | None = None

    @property
    def subject(self) -> str | None:
        """The certificate's subject DN in RFC 4514 form, as Consumers declare it."""
        if self.der is None:
            return None
        if self._subject is None:
            from cryptography import x509  # parsed only when a subject is asked for

            self._subject = x509.load_der_x509_certificate(self.der).subject.rfc4514_string()
        return self._subject


def peer_of(ssl_object: Any) -> TlsPeer:
    """The peer of a connection whose transport has this ``ssl_object`` (handshake done)."""
    der = ssl_object.getpeercert(binary_form=True)
    return TlsPeer(der if isinstance(der, bytes) and der else None)
