"""``smtp``: mail sent through an SMTP server (aiosmtplib), one connection per message.

A message's ``to`` is addresses separated by commas (the System's ``to`` when it gives none),
its ``subject`` the mail's, and its body a string (text/plain) or an object with ``text``
and/or ``html`` (multipart/alternative when both). The Message-ID derives from the message's
``key``, so the mail a retried step sends again is recognisably the same mail. Nothing from
the message reaches a header unchecked: a line break in an address, the subject or a header is
refused, so no one can add recipients or headers through the data a flow sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import Capability, ConnectorSpec

#: One address, with or without a display name: ``ops@example.com``, ``Ops <ops@example.com>``.
ADDRESS_PATTERN = r"^([^<>\r\n]*<[^@\s<>]+@[^@\s<>]+>|[^@\s<>]+@[^@\s<>]+)$"

SPEC = ConnectorSpec(
    name="smtp",
    title="SMTP mail",
    description="Mail sent through an SMTP server: text or HTML, to addresses a flow names.",
    interface="messages",
    config=schemas.connection(
        {
            "host": schemas.host(),
            "port": schemas.port(587, "server port (587 submission, 465 for tls, 25 relay)"),
            "security": {
                "enum": ["none", "starttls", "tls"],
                "default": "starttls",
                "description": "starttls: plain then upgraded, required; tls: TLS from the "
                "first byte; none: never encrypted (a relay on the same host or network)",
            },
            "tlsVerify": {
                "type": "boolean",
                "default": True,
                "description": "check the server's certificate and name",
            },
            "username": {"type": "string", "minLength": 1, "description": "user to log in as"},
            "password": schemas.password(),
            "from": {
                "type": "string",
                "pattern": ADDRESS_PATTERN,
                "description": "the sender: an address, or Name <address>",
            },
            "to": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": ADDRESS_PATTERN,
                    "description": "an address, or Name <address>",
                },
                "description": "recipients of a message that names none",
            },
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": 300,
                "default": 30,
                "description": "seconds to wait for the server at each step",
            },
        },
        required=["host", "from"],
        dependentRequired={"password": ["username"], "username": ["password"]},
    ),
    capabilities=(
        Capability(
            "write",
            "send steps mail a message: to is addresses separated by commas, the body text or "
            "{text, html}",
        ),
    ),
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: mail, owner: platform}
spec:
  domain: platform
  connector: smtp
  connection:
    host: smtp.example.com
    port: 587
    security: starttls
    username: interlink@example.com
    password: ${secret:smtp-password}
    from: Interlink <interlink@example.com>
    to: [ops@example.com]
""",
)


class SmtpConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.smtp_client import open_connection  # aiosmtplib: on first use

        return await open_connection(config, system)
