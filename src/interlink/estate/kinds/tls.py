"""TLS in the estate: the gateway listener's certificates, a System's upstream TLS, and the
client certificates a Consumer is known by.

Certificates and CA bundles are files; a private key is a file or a ``${secret:…}``/
``${env:…}`` reference holding the PEM, never the key itself. A relative path is relative to
the file that names it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import Model
from interlink.estate.references import has_reference, is_reference

_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
_FINGERPRINT = re.compile(r"^[0-9A-Fa-f]{64}$")


def _file_path(value: str) -> str:
    if not value or "\0" in value or "\n" in value:
        raise ValueError("expected a file path")
    if "-----BEGIN" in value:
        raise ValueError("name the file that holds it, never the PEM itself")
    if has_reference(value):
        raise ValueError("a certificate or CA bundle is a file path, not a reference")
    return value


def _key_source(value: str) -> str:
    if "-----BEGIN" in value or "PRIVATE KEY" in value:
        raise ValueError(
            "never write a private key into the estate: name its file, or a ${secret:…} "
            "reference that holds it"
        )
    if has_reference(value) and not is_reference(value):
        raise ValueError("a key is a file path or one ${secret:…}/${env:…} reference")
    if not value or "\0" in value or "\n" in value:
        raise ValueError("expected a file path or a ${secret:…} reference")
    return value


FilePath = Annotated[
    str,
    AfterValidator(_file_path),
    Field(description="a PEM file: absolute, or relative to the file that names it"),
]
KeySource = Annotated[
    str,
    AfterValidator(_key_source),
    Field(
        description="the PEM private key: a file path (absolute, or relative to the file that "
        "names it) or a ${secret:NAME} reference holding the PEM"
    ),
]


def _host(value: str) -> str:
    if not _HOST.match(value):
        raise ValueError(f"expected a host name or *.wildcard, got {value!r}")
    return value.lower()


TlsHost = Annotated[str, AfterValidator(_host)]


class ListenerCertificate(Model):
    hosts: list[TlsHost] = Field(
        min_length=1,
        description="the server names (SNI) this certificate answers: exact, or *.example.com "
        "for one or more labels",
    )
    cert: FilePath = Field(description="the certificate chain (PEM), leaf first")
    key: KeySource
    default: bool = Field(
        default=False,
        description="answers clients that send no server name, or one no certificate lists; "
        "default: the first certificate",
    )


class GatewayTls(Model):
    """TLS on the gateway listener: certificates chosen by SNI, optional client certificates."""

    certificates: list[ListenerCertificate] = Field(min_length=1)
    min_version: Literal["1.2", "1.3"] = Field(
        default="1.2", description="the oldest TLS version a client may use"
    )
    client_ca: FilePath | None = Field(
        default=None,
        description="CA bundle (PEM) that client certificates are verified against; set, the "
        "gateway asks clients for a certificate (optional), which routes with the mtls auth "
        "method map to a Consumer",
    )
    session_tickets: bool = Field(
        default=True,
        description="issue TLS session tickets, so that a returning client resumes without a "
        "full handshake; false: every new connection does a full handshake",
    )
    reload_interval: Duration = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="how often the certificate, key and CA files are checked for changes; a "
        "change applies to the handshakes that follow, without a restart",
    )

    @model_validator(mode="after")
    def _certificates(self) -> GatewayTls:
        if sum(1 for c in self.certificates if c.default) > 1:
            raise ValueError("at most one certificate is the default")
        seen: set[str] = set()
        for certificate in self.certificates:
            for host in certificate.hosts:
                if host in seen:
                    raise ValueError(f"host {host} is listed by two certificates")
                seen.add(host)
        return self


class SystemTls(Model):
    """How the platform's HTTPS calls to a System verify it, and the client certificate they
    present when the System requires one (mTLS)."""

    verify: bool = Field(
        default=True,
        description="verify the System's certificate and host name; turn off only for a test "
        "System, never in production",
    )
    ca: FilePath | None = Field(
        default=None,
        description="CA bundle (PEM) the System's certificate is verified against; default: "
        "the machine's trust store",
    )
    cert: FilePath | None = Field(
        default=None, description="client certificate chain (PEM) presented to the System"
    )
    key: KeySource | None = Field(default=None, description="the client certificate's key")
    server_name: TlsHost | None = Field(
        default=None,
        description="the name sent as SNI and verified in the System's certificate; default: "
        "the baseUrl's host",
    )

    @model_validator(mode="after")
    def _pair(self) -> SystemTls:
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both cert and key")
        if not self.verify and self.ca is not None:
            raise ValueError("ca is only read when verify is on")
        return self


def _subject(value: str) -> str:
    """The DN in the one form the gateway compares (cryptography's RFC 4514 rendering)."""
    from cryptography import x509  # imported when a Consumer names a subject

    try:
        return x509.Name.from_rfc4514_string(value).rfc4514_string()
    except ValueError as exc:
        raise ValueError(f"not an RFC 4514 DN: {exc}") from None


def _fingerprint(value: str) -> str:
    bare = value.replace(":", "")
    if not _FINGERPRINT.match(bare):
        raise ValueError("expected a SHA-256 fingerprint: 64 hex digits (colons allowed)")
    return bare.lower()


Fingerprint = Annotated[str, AfterValidator(_fingerprint)]


class MtlsCredential(Model):
    """A client certificate that identifies the Consumer on routes with the mtls auth method:
    by its SHA-256 fingerprint, or by its subject DN (any certificate the gateway's client CA
    issued with that subject)."""

    type: Literal["mtls"]
    fingerprint: Fingerprint | None = Field(
        default=None, description="SHA-256 of the certificate (DER), hex; colons allowed"
    )
    subject: Annotated[str, AfterValidator(_subject)] | None = Field(
        default=None,
        description="the subject DN in RFC 4514 form, as `openssl x509 -subject -nameopt "
        "RFC2253` prints it, e.g. CN=billing,O=Example",
    )

    @model_validator(mode="after")
    def _one(self) -> MtlsCredential:
        if (self.fingerprint is None) == (self.subject is None):
            raise ValueError("an mtls credential names a fingerprint or a subject: one of them")
        return self
