"""The smtp connector against a real SMTP server (aiosmtpd, in this process on a free port) that
keeps what it is sent."""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from interlink.connectors.base import (
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)
from interlink.connectors.smtp import SPEC, SmtpConnector
from interlink.testing.connectors import run_send_conformance

USER = "interlink"
PASSWORD = "il-smtp-test-password-5c1d"


class Inbox:
    """What the server was sent, as parsed mails with their envelopes."""

    def __init__(self) -> None:
        self.mails: list[tuple[EmailMessage, list[str]]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append((mail, list(envelope.rcpt_tos)))
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@refused.test"):
            return "550 5.1.1 no such user"
        if address.endswith("@busy.test"):
            return "451 4.3.0 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m, _ in self.mails]


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tls_context(tmp: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "il-test-smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


@pytest.fixture
def server() -> Iterator[tuple[Inbox, dict[str, Any]]]:
    """A plain server that takes mail without login."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, _config(controller.port)
    finally:
        controller.stop()


def _config(port: int, **more: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "Interlink <interlink@example.test>",
        "timeout": 5,
        **more,
    }


async def _arrived(inbox: Inbox, subject: str) -> None:
    deadline = time.monotonic() + 5
    while subject not in inbox.subjects():
        assert time.monotonic() < deadline, f"no mail {subject!r}: got {inbox.subjects()}"
        await asyncio.sleep(0.01)


def test_conformance(server: tuple[Inbox, dict[str, Any]]) -> None:
    inbox, config = server

    async def arrived(message: OutgoingMessage) -> None:
        await _arrived(inbox, message.subject or "")

    passed = asyncio.run(
        run_send_conformance(SmtpConnector(), config, to="ops@example.test", arrived=arrived)
    )
    assert passed == ["spec", "send", "resend", "errors"]
    (first, to), (again, _) = inbox.mails
    assert to == ["ops@example.test"]
    assert first["Message-ID"] == again["Message-ID"], "a resent mail keeps its Message-ID"
    assert first.get_content_type() == "text/plain"
    assert first.get_content().startswith("conformance ")
    assert first.get_content().endswith("café\r\n")


def test_html_text_and_recipients(server: tuple[Inbox, dict[str, Any]]) -> None:
    inbox, config = server
    config["to"] = ["Ops Team <ops@example.test>"]

    async def go() -> None:
        conn = await SmtpConnector().open(config, "mail")
        try:
            await conn.send(
                OutgoingMessage(
                    to='"Doe, Jane" <jane@example.test>, bob@example.test',
                    subject="Order 42 shipped",
                    body={"text": "Shipped.", "html": "<p>Shipped.</p>"},
                    headers={"Reply-To": "support@example.test", "X-Order": "42"},
                    key="run-1/notify",
                )
            )
            await conn.send(OutgoingMessage(to=" ", subject="Nightly", body={"html": "<b>ok</b>"}))
            await conn.send(OutgoingMessage(to="bob@example.test", subject="Other", body="x"))
        finally:
            await conn.close()

    asyncio.run(go())
    (shipped, to), (nightly, default_to), (other, _) = inbox.mails
    assert to == ["jane@example.test", "bob@example.test"]
    assert shipped["To"] == '"Doe, Jane" <jane@example.test>, bob@example.test'
    assert shipped["From"] == "Interlink <interlink@example.test>"
    assert shipped["Reply-To"] == "support@example.test"
    assert shipped["X-Order"] == "42"
    assert shipped.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in shipped.iter_parts()}
    assert parts == {"text/plain": "Shipped.\r\n", "text/html": "<p>Shipped.</p>\r\n"}
    assert str(shipped["Message-ID"]).endswith("@example.test>")
    assert default_to == ["ops@example.test"]
    assert nightly.get_content_type() == "text/html"
    assert other["Message-ID"] != nightly["Message-ID"]


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (
            OutgoingMessage(to="a@example.test", subject="Hi\r\nBcc: x@evil.test", body="b"),
            "subject",
        ),
        (OutgoingMessage(to="a@example.test\nBcc: x@evil.test", body="b"), "to"),
        (OutgoingMessage(to="a@example.test", body="b", headers={"X-A": "1\r\nBcc: x"}), "X-A"),
        (OutgoingMessage(to="a@example.test", body="b", headers={"Bcc": "x@evil.test"}), "Bcc"),
        (OutgoingMessage(to="a@example.test", body="b", headers={"X A": "1"}), "X A"),
        (OutgoingMessage(to="not an address", body="b"), "to"),
        (OutgoingMessage(to="a@example.test,, b@", body="b"), "to"),
        (OutgoingMessage(to="a@example.test", body={"text": "t", "pdf": "x"}), "body"),
        (OutgoingMessage(to="a@example.test", body=[1, 2]), "body"),
        (OutgoingMessage(to="", body="nobody to send to"), "to"),
    ],
)
def test_bad_messages_are_refused_before_sending(
    server: tuple[Inbox, dict[str, Any]], message: OutgoingMessage, where: str
) -> None:
    inbox, config = server

    async def go() -> None:
        conn = await SmtpConnector().open(config, "mail")
        try:
            await conn.send(message)
        finally:
            await conn.close()

    with pytest.raises(StatementError) as error:
        asyncio.run(go())
    assert str(error.value).startswith("System/mail (")
    assert where in str(error.value)
    assert "\n" not in str(error.value)
    assert not error.value.retryable
    assert inbox.mails == []


def test_refused_recipients(server: tuple[Inbox, dict[str, Any]]) -> None:
    inbox, config = server

    async def send(to: str) -> None:
        conn = await SmtpConnector().open(config, "mail")
        try:
            await conn.send(OutgoingMessage(to=to, subject="r", body="x"))
        finally:
            await conn.close()

    with pytest.raises(ConnectorError) as refused:
        asyncio.run(send("a@refused.test"))
    assert str(refused.value) == (
        "System/mail (to): the server refused a@refused.test (550 5.1.1 no such user)"
    )
    assert not refused.value.retryable
    with pytest.raises(ConnectorError) as busy:
        asyncio.run(send("b@busy.test"))
    assert busy.value.retryable
    assert inbox.mails == []
    with pytest.raises(ConnectorError) as partly:
        asyncio.run(send("ok@example.test, a@refused.test"))
    assert str(partly.value) == (
        "System/mail (to): sent, but the server refused a@refused.test (550 5.1.1 no such user)"
    )
    assert not partly.value.retryable
    assert [to for _, to in inbox.mails] == [["ok@example.test"]]


#: The test's server logs what it receives (a login too): the client's side is what counts.
def _client_logs(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_and_refused_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        good = _config(port, username=USER, password=PASSWORD)

        async def send(config: dict[str, Any]) -> None:
            conn = await SmtpConnector().open(config, "mail")
            try:
                await conn.send(OutgoingMessage(to="a@example.test", subject="in", body="x"))
            finally:
                await conn.close()

        asyncio.run(send(good))
        assert inbox.subjects() == ["in"]
        with pytest.raises(ConnectionFailed) as error:
            asyncio.run(send({**good, "password": "il-wrong-password-77"}))
        assert str(error.value).startswith(
            f"System/mail (127.0.0.1:{port}): the server refused the credentials (535"
        )
        assert not error.value.retryable
        with pytest.raises(ConnectorError) as unauthenticated:
            asyncio.run(send(_config(port)))
        assert "530" in str(unauthenticated.value)
        assert not unauthenticated.value.retryable
    finally:
        controller.stop()
    for text in (str(error.value), str(unauthenticated.value), _client_logs(caplog)):
        assert PASSWORD not in text
        assert "il-wrong-password-77" not in text
    assert inbox.subjects() == ["in"]


def test_an_unreachable_server_is_retryable() -> None:
    port = _free_port()
    with pytest.raises(ConnectionFailed) as error:
        asyncio.run(SmtpConnector().open(_config(port), "mail"))
    assert str(error.value) == (
        f"System/mail (127.0.0.1:{port}): cannot reach the mail server (SMTPConnectError)"
    )
    assert error.value.retryable


def test_starttls(tmp_path: Path) -> None:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=_tls_context(tmp_path),
        require_starttls=True,
    )
    controller.start()
    try:
        config = _config(port, security="starttls", tlsVerify=False)

        async def send(config: dict[str, Any]) -> None:
            conn = await SmtpConnector().open(config, "mail")
            try:
                await conn.send(OutgoingMessage(to="a@example.test", subject="tls", body="x"))
            finally:
                await conn.close()

        asyncio.run(send(config))
        assert inbox.subjects() == ["tls"]
        with pytest.raises(ConnectionFailed) as error:
            asyncio.run(send({**config, "tlsVerify": True}))  # self-signed: not trusted
        assert "TLS failed" in str(error.value)
        assert not error.value.retryable
        with pytest.raises(ConnectorError) as plain:
            asyncio.run(send({**config, "security": "none"}))  # the server wants STARTTLS
        assert not plain.value.retryable
    finally:
        controller.stop()


def test_implicit_tls(tmp_path: Path) -> None:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, ssl_context=_tls_context(tmp_path)
    )
    controller.start()
    try:

        async def go() -> None:
            config = _config(port, security="tls", tlsVerify=False)
            conn = await SmtpConnector().open(config, "mail")
            try:
                await conn.send(OutgoingMessage(to="a@example.test", subject="tls", body="x"))
            finally:
                await conn.close()

        asyncio.run(go())
    finally:
        controller.stop()
    assert inbox.subjects() == ["tls"]


def test_the_connection_schema() -> None:
    assert SPEC.problems({"host": "h", "from": "a@b.c", "username": "u", "password": "pw"}) == [
        (("password",), "is a secret: give it as a ${secret:NAME} reference, never the value")
    ]
    problems = SPEC.problems({"host": "h", "from": "nobody", "to": ["ok@b.c", "bad"]})
    assert [path for path, _ in problems] == [("from",), ("to", 1)]
    assert SPEC.problems({"host": "h", "from": "Ops <ops@b.c>", "security": "tls"}) == []


def test_starttls_wanted_but_not_offered(server: tuple[Inbox, dict[str, Any]]) -> None:
    _, config = server
    with pytest.raises(ConnectorError) as error:
        asyncio.run(SmtpConnector().open({**config, "security": "starttls"}, "mail"))
    assert str(error.value) == (
        f"System/mail (127.0.0.1:{config['port']}): the server cannot do what the System asks: "
        "SMTP STARTTLS extension not supported by server."
    )
    assert not error.value.retryable
