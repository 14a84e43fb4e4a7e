"""Client certificates: the certificate the listener verified, mapped to a Consumer.

The listener asks for a client certificate when the Platform sets ``gateway.tls.clientCa`` and
verifies it against that bundle during the handshake (a certificate it does not trust ends the
handshake there). This method maps a verified certificate to the Consumer declaring it in
``credentials``: by its SHA-256 fingerprint first, then by its subject DN. A certificate no
Consumer declares is refused (401).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from interlink.estate.kinds import Consumer
from interlink.estate.kinds.tls import MtlsCredential
from interlink.gateway.auth.credentials import Credentials
from interlink.gateway.auth.identity import Identity, identities
from interlink.gateway.request import Request

METHOD = "mtls"


@dataclass(frozen=True, slots=True)
class CertificateIndex:
    """Who each declared certificate is, built once per estate."""

    by_fingerprint: Mapping[str, str]  # lower-case hex SHA-256 → Consumer name
    by_subject: Mapping[str, str]  # RFC 4514 DN → Consumer name
    identities: Mapping[str, Identity]


def certificate_index(consumers: Mapping[str, Consumer]) -> CertificateIndex:
    fingerprints: dict[str, str] = {}
    subjects: dict[str, str] = {}
    holders: dict[str, Consumer] = {}
    for name, consumer in consumers.items():
        for credential in consumer.spec.credentials:
            if not isinstance(credential, MtlsCredential):
                continue
            if credential.fingerprint is not None:
                fingerprints.setdefault(credential.fingerprint, name)
            if credential.subject is not None:
                subjects.setdefault(credential.subject, name)
            holders[name] = consumer
    held = identities(((n, c.spec.scopes) for n, c in holders.items()), METHOD)
    return CertificateIndex(fingerprints, subjects, held)


class MtlsMethod:
    # No HTTP challenge asks for a certificate: the handshake already did.
    challenge = b""

    def __init__(self, index: CertificateIndex) -> None:
        self.index = index

    def authenticate(self, request: Request, creds: Credentials) -> Identity | str | None:
        """The caller's Identity; a reason when a certificate was presented and no Consumer
        declares it; None when the connection carries no client certificate."""
        peer = request.peer
        if peer is None or peer.fingerprint is None:
            return None
        index = self.index
        name = index.by_fingerprint.get(peer.fingerprint)
        if name is None and index.by_subject:
            subject = peer.subject
            name = index.by_subject.get(subject) if subject is not None else None
        if name is None:
            return f"the client certificate (SHA-256 {peer.fingerprint}) is not a Consumer's"
        return index.identities[name]
