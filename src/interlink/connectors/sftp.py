"""``sftp``: a directory on an SSH server, over SFTP (asyncssh), one SSH connection per System.

The server must prove it is the one configured: ``hostKey`` (its SHA256 fingerprint, as
``ssh-keygen -lf`` prints it, or its public key line) is required, and a server presenting any
other key is refused before a password or key is sent; the error says which fingerprint it
presented, to compare with the server's own. No known_hosts file, SSH agent or user config of
the node is read: the System's connection says everything.

Paths are relative to ``root``. A write goes to a hidden temporary file in the target's
directory, then is renamed over the target with OpenSSH's atomic ``posix-rename``; a server
without that extension gets a remove then a rename (a reader may briefly find no file, never
half of one). The connection is opened on first use and again after it drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    Connector,
)
from interlink.connectors.directory import FILE_CAPABILITIES
from interlink.connectors.spec import ConnectorSpec

SPEC = ConnectorSpec(
    name="sftp",
    title="SFTP",
    description="A directory on an SSH server over SFTP (asyncssh), its host key pinned.",
    interface="files",
    config=schemas.connection(
        {
            "host": {"type": "string", "minLength": 1, "description": "the server's host name"},
            "port": {
                "type": "integer",
                "minimum": 1,
                "maximum": 65535,
                "default": 22,
                "description": "the server's SSH port",
            },
            "username": {"type": "string", "minLength": 1, "description": "the login"},
            "password": {
                "type": "string",
                "writeOnly": True,
                "description": "the login's password (or give privateKey)",
            },
            "privateKey": {
                "type": "string",
                "writeOnly": True,
                "description": "the login's private key, in OpenSSH or PEM text (or give password)",
            },
            "passphrase": {
                "type": "string",
                "writeOnly": True,
                "description": "the passphrase of an encrypted privateKey",
            },
            "hostKey": {
                "type": "string",
                "pattern": "^(SHA256:[A-Za-z0-9+/=]{20,}"
                "|(ssh|ecdsa)-[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+.*)$",
                "description": "the server's host key: its SHA256 fingerprint (SHA256:…, as "
                "`ssh-keyscan HOST | ssh-keygen -lf -` prints it) or its public key line; a "
                "server presenting another key is refused",
            },
            "root": {
                "type": "string",
                "minLength": 1,
                "default": ".",
                "description": "the remote directory every path is relative to (default: the "
                "login's home)",
            },
            "connectTimeout": {
                "type": "number",
                "minimum": 1,
                "maximum": 300,
                "default": 15,
                "description": "seconds to connect and log in before failing (retryable)",
            },
        },
        required=["host", "username", "hostKey"],
        anyOf=[{"required": ["password"]}, {"required": ["privateKey"]}],
    ),
    capabilities=FILE_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: partner-sftp, owner: logistics}
spec:
  domain: logistics
  connector: sftp
  connection:
    host: sftp.partner.example
    username: acme
    privateKey: ${secret:partner-sftp-key}
    hostKey: SHA256:Vbq5fGmYkHh8vDcNd1OQ0hM0wZCqG6b9pOe0c8Q2bHg
    root: /exchange
""",
)


class SftpConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.sftp_client import SftpConnection  # asyncssh: on first use

        connection = SftpConnection(config, system)
        # Connect once now: a wrong host key or refused login is said when the System is first
        # used, not later at random.
        await connection.connect()
        return connection
