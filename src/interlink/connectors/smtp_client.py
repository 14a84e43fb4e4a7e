"""The aiosmtplib side of the ``smtp`` connector (see :mod:`interlink.connectors.smtp`):
aiosmtplib is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

import aiosmtplib

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    OutgoingMessage,
    StatementError,
)

_ADDR_SPEC = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
#: Headers the connector writes itself (or that would send the mail elsewhere than ``to``).
_RESERVED = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "sender",
    "return-path",
}


def _single_line(value: str, what: str, system: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise StatementError(
            f"{what} holds a line break, which would start a new header: refused",
            system=system,
            object=what,
        )
    return value


def addresses(text: str, system: str, what: str = "to") -> list[tuple[str, str]]:
    """The (display name, address) pairs of ``text``, addresses separated by commas;
    StatementError naming the first one that is not an address."""
    _single_line(text, what, system)
    out: list[tuple[str, str]] = []
    for item in (part for part in _split(text) if part.strip()):
        pairs = getaddresses([item])
        if len(pairs) != 1 or not _ADDR_SPEC.match(pairs[0][1]):
            raise StatementError(
                f"{item.strip()!r} is not a mail address", system=system, object=what
            )
        out.append(pairs[0])
    return out


def _split(text: str) -> list[str]:
    """``text`` split at the commas outside quotes (a display name may hold one)."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _format(pair: tuple[str, str]) -> str:
    name, address = pair
    if not name:
        return address
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def message_id(key: str | None, domain: str) -> str:
    """The Message-ID of the mail for ``key``: the same for every retry of one step."""
    if key is None:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<il.{digest}@{domain}>"


def _set_body(mail: EmailMessage, body: Any, system: str) -> None:
    if isinstance(body, str):
        mail.set_content(body)
        return
    if isinstance(body, Mapping) and body and set(body) <= {"text", "html"}:
        text, html = body.get("text"), body.get("html")
        if all(isinstance(v, str) for v in body.values()):
            if text is not None:
                mail.set_content(text)
                if html is not None:
                    mail.add_alternative(html, subtype="html")
            else:
                mail.set_content(html, subtype="html")
            return
    raise StatementError(
        "a mail body is text, or an object with text and/or html (strings)",
        system=system,
        object="body",
    )


class SmtpConnection(Connection):
    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.system = system
        self._config = config
        self._server = f"{config['host']}:{config.get('port', 587)}"
        self._from = addresses(str(config["from"]), system, "from")[0]
        self._domain = self._from[1].rsplit("@", 1)[1]
        self._to = [a for item in config.get("to") or () for a in addresses(item, system)]

    def build(self, message: OutgoingMessage) -> tuple[EmailMessage, list[str]]:
        """The mail for ``message`` and its recipients; StatementError when it cannot be one."""
        recipients = addresses(message.to, self.system) if message.to.strip() else self._to
        if not recipients:
            raise StatementError(
                "no recipient: the message's to and the System's to are empty",
                system=self.system,
                object="to",
            )
        mail = EmailMessage()
        mail["From"] = _format(self._from)
        mail["To"] = ", ".join(_format(r) for r in recipients)
        if message.subject is not None:
            mail["Subject"] = _single_line(message.subject, "subject", self.system)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(message.key, self._domain)
        for name, value in message.headers.items():
            if not _HEADER_NAME.match(name) or name.lower() in _RESERVED:
                raise StatementError(
                    "not a header a message may set", system=self.system, object=repr(name)
                )
            mail[name] = _single_line(value, f"header {name}", self.system)
        _set_body(mail, message.body, self.system)
        return mail, [address for _, address in recipients]

    def _client(self) -> aiosmtplib.SMTP:
        config = self._config
        security = config.get("security", "starttls")
        password = config.get("password")
        return aiosmtplib.SMTP(
            hostname=str(config["host"]),
            port=int(config.get("port", 587)),
            username=str(config["username"]) if password else None,
            password=str(password) if password else None,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            validate_certs=bool(config.get("tlsVerify", True)),
            timeout=float(config.get("timeout", 30)),
        )

    def _error(self, exc: Exception) -> ConnectorError:
        code = getattr(exc, "code", None)
        said = " ".join(str(getattr(exc, "message", "") or "").split())[:200]
        reason = f"{code} {said}".strip() if code else type(exc).__name__
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            return ConnectionFailed(
                f"the server refused the credentials ({reason})",
                system=self.system,
                object=self._server,
            )
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refused = exc.recipients
            said = ", ".join(
                f"{r.recipient} ({r.code} {' '.join(r.message.split())})" for r in refused
            )
            return ConnectorError(
                f"the server refused {said[:300]}",
                system=self.system,
                object="to",
                retryable=all(400 <= r.code < 500 for r in refused),
            )
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return ConnectorError(
                f"the server refused the sender ({reason})",
                system=self.system,
                object="from",
                retryable=code is not None and 400 <= code < 500,
            )
        if isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
            # What the session needs and the server lacks (STARTTLS, an AUTH mechanism).
            text = " ".join(str(exc).split())[:200]
            return ConnectorError(
                f"the server cannot do what the System asks: {text}",
                system=self.system,
                object=self._server,
            )
        if isinstance(exc, ssl.SSLError):
            return ConnectionFailed(
                f"TLS failed ({exc.reason or type(exc).__name__})",
                system=self.system,
                object=self._server,
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return ConnectorError(
                f"the server answered {reason}",
                system=self.system,
                object=self._server,
                retryable=exc.code < 500,
            )
        # Refused, unreachable, timed out, dropped.
        return ConnectionFailed(
            f"cannot reach the mail server ({type(exc).__name__})",
            system=self.system,
            object=self._server,
            retryable=True,
        )

    async def probe(self) -> None:
        """Connect, upgrade and log in as configured, then quit."""
        client = self._client()
        try:
            await client.connect()
            await client.quit()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise self._error(exc) from None

    async def send(self, message: OutgoingMessage) -> None:
        mail, recipients = self.build(message)
        client = self._client()
        try:
            await client.connect()
            refused, _ = await client.send_message(
                mail, sender=self._from[1], recipients=recipients
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise self._error(exc) from None
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()  # the mail was taken (250); a lost QUIT changes nothing
        if refused:
            # Sent to the others: a retry would send it to them twice, so it is not one.
            said = ", ".join(
                f"{r} ({a.code} {' '.join(a.message.split())})" for r, a in refused.items()
            )
            raise ConnectorError(
                f"sent, but the server refused {said[:300]}", system=self.system, object="to"
            )

    async def close(self) -> None:
        """Nothing held between messages."""


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`SmtpConnector.open` does."""
    connection = SmtpConnection(config, system)
    await connection.probe()
    return connection
