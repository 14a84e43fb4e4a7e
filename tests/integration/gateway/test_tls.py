"""TLS on the gateway: certificates by SNI, reloaded when their files change, client
certificates mapped to Consumers (mTLS), and a System's own TLS towards its upstream.

Every certificate is made here, by a throwaway CA (interlink.testing.certificates)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlink.estate.check import check_estate
from interlink.flows.calls import Answer, send, system_targets
from interlink.gateway import compile_gateway
from interlink.gateway.listener_tls import ListenerTls
from interlink.http import HttpClient
from interlink.testing.certificates import CertificateAuthority, Issued
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread


def _obj(kind: str, name: str, spec: dict[str, Any], owner: bool = True) -> str:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["owner"] = "team"
    return json.dumps({"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec})


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca = CertificateAuthority(folder / "ca")
        self.api = self.ca.server(["api.example.com"])
        self.admin = self.ca.server(["admin.example.com", "*.admin.example.com"])
        self.billing = self.ca.client("billing", "Example")
        self.crm = self.ca.client("crm", "Example")
        self.stranger = self.ca.client("stranger")  # issued by the CA, declared by no one
        self.other_ca = CertificateAuthority(folder / "other", "Other CA")
        self.outsider = self.other_ca.client("billing", "Example")  # not trusted at all


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def write(root: Path, pki: Pki, systems: dict[str, dict[str, Any]]) -> Path:
    """An estate serving TLS with both server certificates (admin's the default), the CA as
    client CA, two Consumers known by a certificate, and a route per System."""
    root.mkdir(parents=True, exist_ok=True)
    certs = root / "certs"
    certs.mkdir(exist_ok=True)
    for issued, name in ((pki.api, "api"), (pki.admin, "admin")):
        shutil.copy(issued.cert, certs / f"{name}.crt")
        shutil.copy(issued.key, certs / f"{name}.key")
    tls = {
        "certificates": [
            {"hosts": ["api.example.com"], "cert": "certs/api.crt", "key": "certs/api.key"},
            {
                "hosts": ["admin.example.com", "*.admin.example.com"],
                "cert": "certs/admin.crt",
                "key": "certs/admin.key",
                "default": True,
            },
        ],
        "clientCa": str(pki.ca.ca),
        "reloadInterval": "100ms",
    }
    docs = [
        _obj("Platform", "test", {"gateway": {"tls": tls}}, owner=False),
        json.dumps({"apiVersion": "interlink/v1", "kind": "Team", "metadata": {"name": "team"}}),
        _obj("Plan", "free", {}),
        _obj(
            "Consumer",
            "billing",
            {
                "plan": "free",
                "scopes": ["orders"],
                "credentials": [{"type": "mtls", "fingerprint": pki.billing.fingerprint}],
            },
        ),
        _obj(
            "Consumer",
            "crm",
            {"plan": "free", "credentials": [{"type": "mtls", "subject": "O=Example,CN=crm"}]},
        ),
    ]
    for name, spec in systems.items():
        docs.append(_obj("System", name, {"domain": "test", **spec}))
        auth = {"methods": [{"type": "mtls"}]}
        docs.append(
            _obj("Route", name, {"match": {"path": f"/{name}"}, "upstreams": [{"system": name}],
                                 "auth": auth})
        )  # fmt: skip
    docs.append(
        _obj("Route", "open", {"match": {"path": "/open"}, "upstreams": [{"system": "echo"}]})
    )
    (root / "estate.yaml").write_text("\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


def start(root: Path) -> GatewayThread:
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    gateway = GatewayThread(compile_gateway(result.estate, FAST))
    gateway.server.tls = ListenerTls.from_estate(result.estate)
    return gateway.start()


@pytest.fixture
def echo() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


@pytest.fixture
def gateway(tmp_path: Path, pki: Pki, echo: UpstreamThread) -> Iterator[tuple[GatewayThread, Path]]:
    root = write(tmp_path / "estate", pki, {"echo": {"baseUrl": echo.url}})
    gw = start(root)
    try:
        yield gw, root
    finally:
        gw.stop()


def client_context(pki: Pki, cert: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.ca))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


def handshake(port: int, name: str | None, context: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if name is None:
        context.check_hostname = False
    return context.wrap_socket(sock, server_hostname=name)


def served_certificate(port: int, name: str | None, pki: Pki) -> str:
    """The fingerprint of the certificate the gateway answers ``name`` with."""
    context = client_context(pki)
    context.check_hostname = False  # which certificate, not whether it fits: compared below
    with handshake(port, name, context) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def get(
    port: int, path: str, context: ssl.SSLContext, host: str = "api.example.com"
) -> tuple[int, dict[str, str], bytes]:
    with handshake(port, host, context) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return int(lines[0].split()[1]), headers, body


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def test_sni_picks_the_certificate_of_the_host(
    gateway: tuple[GatewayThread, Path], pki: Pki, echo: UpstreamThread
) -> None:
    gw, _ = gateway
    assert served_certificate(gw.port, "api.example.com", pki) == pki.api.fingerprint
    assert served_certificate(gw.port, "admin.example.com", pki) == pki.admin.fingerprint
    assert served_certificate(gw.port, "eu.admin.example.com", pki) == pki.admin.fingerprint
    # No SNI, or a name no certificate lists: the default certificate.
    assert served_certificate(gw.port, None, pki) == pki.admin.fingerprint
    assert served_certificate(gw.port, "other.example.org", pki) == pki.admin.fingerprint
    status, _, _ = get(gw.port, "/open", client_context(pki))
    assert status == 200
    assert echo.requests[-1]["headers"]["x-forwarded-proto"] == "https"


def test_a_changed_certificate_file_is_served_without_a_restart(
    gateway: tuple[GatewayThread, Path], pki: Pki
) -> None:
    gw, root = gateway
    renewed = pki.ca.server(["api.example.com"])
    # Written key first, then certificate: in between the pair does not match, and the
    # listener keeps the certificate it has until both are in place.
    shutil.copy(renewed.key, root / "certs" / "api.key")
    time.sleep(0.3)
    assert served_certificate(gw.port, "api.example.com", pki) == pki.api.fingerprint
    shutil.copy(renewed.cert, root / "certs" / "api.crt")
    deadline = time.monotonic() + 10
    while served_certificate(gw.port, "api.example.com", pki) != renewed.fingerprint:
        assert time.monotonic() < deadline, "the renewed certificate was never served"
        time.sleep(0.05)
    assert served_certificate(gw.port, "admin.example.com", pki) == pki.admin.fingerprint


def test_a_client_certificate_names_its_consumer(
    gateway: tuple[GatewayThread, Path], pki: Pki, echo: UpstreamThread
) -> None:
    gw, _ = gateway
    status, _, _ = get(gw.port, "/echo/orders", client_context(pki, pki.billing))
    assert status == 200
    seen = echo.requests[-1]["headers"]
    assert (seen["x-consumer"], seen["x-auth-method"]) == ("billing", "mtls")
    assert seen["x-consumer-scopes"] == "orders"
    status, _, _ = get(gw.port, "/echo/orders", client_context(pki, pki.crm))  # by subject
    assert status == 200
    assert echo.requests[-1]["headers"]["x-consumer"] == "crm"


def test_an_unknown_or_missing_client_certificate_is_refused(
    gateway: tuple[GatewayThread, Path], pki: Pki
) -> None:
    gw, _ = gateway
    status, headers, body = get(gw.port, "/echo", client_context(pki, pki.stranger))
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert pki.stranger.fingerprint in json.loads(body)["detail"]
    status, _, body = get(gw.port, "/echo", client_context(pki))
    assert status == 401
    assert json.loads(body)["detail"] == "this route needs a client certificate"
    # A certificate the client CA did not issue ends the handshake: no answer at all (with
    # TLS 1.3 the client learns it at its first read).
    try:
        with handshake(gw.port, "api.example.com", client_context(pki, pki.outsider)) as tls:
            tls.sendall(b"GET /echo HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
            answer = tls.recv(65536)
    except (ssl.SSLError, ConnectionError) as exc:
        answer = str(exc).encode()
    assert not answer.startswith(b"HTTP/")


class _Whoami(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        peer = self.request.getpeercert()
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        body = json.dumps({"client": subject.get("commonName")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mtls_upstream(tmp_path: Path) -> Iterator[tuple[int, CertificateAuthority]]:
    """A loopback HTTPS server that requires a client certificate its own CA issued."""
    ca = CertificateAuthority(tmp_path / "upstream-ca", "Upstream CA")
    served = ca.server(["127.0.0.1"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(served.cert, served.key)
    context.load_verify_locations(ca.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Whoami)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca
    finally:
        server.shutdown()
        server.server_close()


def test_upstream_mtls_presents_the_systems_client_certificate(
    tmp_path: Path, pki: Pki, echo: UpstreamThread, mtls_upstream: tuple[int, CertificateAuthority]
) -> None:
    port, ca = mtls_upstream
    ours = ca.client("interlink-gateway")
    url = f"https://127.0.0.1:{port}"
    systems: dict[str, dict[str, Any]] = {
        "echo": {"baseUrl": echo.url},
        "ledger": {
            "baseUrl": url,
            "tls": {"ca": str(ca.ca), "cert": str(ours.cert), "key": str(ours.key)},
        },
        "untrusted": {"baseUrl": url},  # the machine's trust store does not know its CA
        "anonymous": {"baseUrl": url, "tls": {"ca": str(ca.ca)}},  # no client certificate
    }
    gw = start(write(tmp_path / "estate", pki, systems))
    try:
        billing = client_context(pki, pki.billing)
        status, _, body = get(gw.port, "/ledger", billing)
        assert (status, json.loads(body)) == (200, {"client": "interlink-gateway"})
        status, headers, body = get(gw.port, "/untrusted", billing)
        problem = json.loads(body)
        assert (status, headers["content-type"]) == (502, "application/problem+json")
        assert problem["system"] == "untrusted"
        assert "TLS certificate is not trusted" in problem["detail"]
        status, _, body = get(gw.port, "/anonymous", billing)
        assert status == 502
        assert json.loads(body)["system"] == "anonymous"
    finally:
        gw.stop()


def test_a_flow_call_to_the_system_uses_its_tls(
    tmp_path: Path, pki: Pki, echo: UpstreamThread, mtls_upstream: tuple[int, CertificateAuthority]
) -> None:
    port, ca = mtls_upstream
    ours = ca.client("flows")
    systems: dict[str, dict[str, Any]] = {
        "echo": {"baseUrl": echo.url},
        "ledger": {
            "baseUrl": f"https://127.0.0.1:{port}",
            "tls": {"ca": str(ca.ca), "cert": str(ours.cert), "key": str(ours.key)},
        },
    }
    estate = check_estate(write(tmp_path / "estate", pki, systems)).estate
    target = system_targets(estate)("ledger")

    async def call() -> Answer:
        client = HttpClient()
        try:
            return await send(client, target, "GET", "/whoami", None, "key-1")
        finally:
            await client.aclose()

    answer = asyncio.run(call())
    assert (answer.status, json.loads(answer.body)) == (200, {"client": "flows"})


def _resumed(
    port: int, context: ssl.SSLContext, session: ssl.SSLSession | None
) -> tuple[bool, ssl.SSLSession | None]:
    """One request on a new connection offering ``session``: whether the server resumed it,
    and the session to offer next (TLS 1.3 tickets arrive with the answer)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="api.example.com", session=session) as tls:
        tls.sendall(b"GET /open HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
        while tls.recv(65536):
            pass
        return bool(tls.session_reused), tls.session


def test_session_tickets_follow_a_new_revision(
    gateway: tuple[GatewayThread, Path], pki: Pki
) -> None:
    gw, root = gateway
    context = client_context(pki)
    _, session = _resumed(gw.port, context, None)
    assert _resumed(gw.port, context, session)[0], "tickets are issued by default"
    estate_file = root / "estate.yaml"
    estate_file.write_text(
        estate_file.read_text().replace(
            '"reloadInterval"', '"sessionTickets": false, "reloadInterval"'
        ),
    )
    assert gw.server.tls is not None
    gw.server.tls.update(check_estate(root).estate)
    _, session = _resumed(gw.port, context, None)
    assert not _resumed(gw.port, context, session)[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_runs_tls_in_the_process_and_in_workers(
    tmp_path: Path, pki: Pki, echo: UpstreamThread, workers: str
) -> None:
    root = write(tmp_path / "estate", pki, {"echo": {"baseUrl": echo.url}})
    args = ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    proc = InterlinkProcess(
        [*args, "--gateway-listen", "127.0.0.1:0", "--workers", workers]
    ).start()
    try:
        port = int(proc.wait_for(r"gateway on https://\S+:(\d+)", timeout=60).group(1))
        assert served_certificate(port, "api.example.com", pki) == pki.api.fingerprint
        assert served_certificate(port, "admin.example.com", pki) == pki.admin.fingerprint
        status, _, _ = get(port, "/echo", client_context(pki, pki.billing))
        assert status == 200
        assert echo.requests[-1]["headers"]["x-consumer"] == "billing"
    finally:
        proc.stop()


def test_serve_refuses_to_start_with_a_certificate_that_does_not_load(
    tmp_path: Path, pki: Pki, echo: UpstreamThread
) -> None:
    root = write(tmp_path / "estate", pki, {"echo": {"baseUrl": echo.url}})
    estate_file = root / "estate.yaml"
    # A key check cannot see (a reference, resolved at start) that is not api's.
    estate_file.write_text(
        estate_file.read_text().replace('"certs/api.key"', '"${secret:api-key}"', 1)
    )
    secret = {"INTERLINK_SECRET_API_KEY": pki.billing.key.read_text()}
    args = ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    proc = InterlinkProcess([*args, "--gateway-listen", "127.0.0.1:0"], env=secret).start()
    try:
        proc.wait_for("cannot serve TLS", timeout=60)
        assert proc.proc is not None
        assert proc.proc.wait(30) != 0
        lines = [line for line in proc.output.splitlines() if "cannot serve TLS" in line]
        assert len(lines) == 1, proc.output
        assert "certificates[0] (api.example.com): the certificate and key do not load" in lines[0]
        assert "Traceback" not in proc.output
        assert "PRIVATE KEY" not in proc.output
    finally:
        proc.stop()
