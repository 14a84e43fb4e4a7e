"""`check` on TLS settings: each file named loads as what it should be, keys are never
written inline, mtls needs a client CA, and a certificate names one Consumer; every problem at
its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.testing.certificates import CertificateAuthority
from tests.unit.estate.helpers import check, rendered, write

PLATFORM = """\
    apiVersion: interlink/v1
    kind: Platform
    metadata: {name: platform}
    spec:
      gateway:
        tls:
          certificates:
            - hosts: [api.example.com]
              cert: certs/api.crt
              key: KEY
          CLIENT_CA
    """
REST = """\
    apiVersion: interlink/v1
    kind: Team
    metadata: {name: team}
    ---
    apiVersion: interlink/v1
    kind: Plan
    metadata: {name: free, owner: team}
    ---
    apiVersion: interlink/v1
    kind: System
    metadata: {name: ledger, owner: team}
    spec:
      domain: finance
      baseUrl: https://ledger.internal
      tls: {ca: certs/ca.pem, cert: certs/client.crt, key: certs/client.key}
    ---
    apiVersion: interlink/v1
    kind: Route
    metadata: {name: ledger, owner: team}
    spec:
      match: {path: /ledger}
      upstreams: [{system: ledger}]
      auth:
        methods: [{type: mtls}]
    ---
    apiVersion: interlink/v1
    kind: Consumer
    metadata: {name: billing, owner: team}
    spec:
      plan: free
      credentials: [{type: mtls, fingerprint: FINGERPRINT}]
    ---
    apiVersion: interlink/v1
    kind: Consumer
    metadata: {name: copycat, owner: team}
    spec:
      plan: free
      credentials: [{type: mtls, fingerprint: FINGERPRINT}]
    """


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki")


def estate(
    root: Path, ca: CertificateAuthority, *, key: str = "certs/api.key", client_ca: bool = True
) -> Path:
    certs = root / "certs"
    certs.mkdir(parents=True)
    api = ca.server(["api.example.com"])
    client = ca.client("gateway")
    for source, name in (
        (api.cert, "api.crt"),
        (api.key, "api.key"),
        (client.cert, "client.crt"),
        (client.key, "client.key"),
        (ca.ca, "ca.pem"),
    ):
        (certs / name).write_bytes(source.read_bytes())
    platform = PLATFORM.replace("KEY", key).replace(
        "CLIENT_CA", "clientCa: certs/ca.pem" if client_ca else ""
    )
    write(root, "platform.yaml", platform)
    write(root, "estate.yaml", REST.replace("FINGERPRINT", client.fingerprint))
    return root


def errors(root: Path) -> list[str]:
    result = check(root)
    return rendered(result.errors, root)


def test_a_valid_tls_estate_checks_but_for_the_duplicate_certificate(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    root = estate(tmp_path / "estate", ca)
    assert errors(root) == [
        "estate.yaml:38:43: error: this certificate fingerprint is Consumer billing's already"
    ]


def test_missing_and_mismatched_files_are_reported_where_they_are_named(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    root = estate(tmp_path / "estate", ca)
    (root / "certs" / "ca.pem").unlink()
    other = ca.server(["other.example.com"])
    (root / "certs" / "api.key").write_bytes(other.key.read_bytes())
    found = errors(root)
    assert any(f.startswith("platform.yaml:10:") and "do not load" in f for f in found), found
    assert any(f.startswith("platform.yaml:11:") and "cannot read" in f for f in found), found
    assert any(f.startswith("estate.yaml:15:") and "cannot read" in f for f in found), found


def test_an_inline_key_is_refused(tmp_path: Path, ca: CertificateAuthority) -> None:
    root = estate(tmp_path / "estate", ca, key='"-----BEGIN PRIVATE KEY-----"')
    found = errors(root)
    assert any(
        f.startswith("platform.yaml:10:") and "never write a private key" in f for f in found
    ), found


def test_mtls_without_a_client_ca_is_an_error(tmp_path: Path, ca: CertificateAuthority) -> None:
    root = estate(tmp_path / "estate", ca, client_ca=False)
    found = errors(root)
    assert any(f.startswith("estate.yaml:24:") and "gateway.tls.clientCa" in f for f in found), (
        found
    )


def test_a_key_reference_is_accepted_and_not_resolved_by_check(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    root = estate(tmp_path / "estate", ca, key="${secret:gateway-key}")
    assert not any("platform.yaml" in f for f in errors(root))
