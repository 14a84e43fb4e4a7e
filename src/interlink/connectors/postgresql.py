"""``postgresql``: a PostgreSQL database, through psycopg 3 (async), a small pool per System."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import ConnectorSpec
from interlink.connectors.sqlcaps import SQL_CAPABILITIES, server_config
from interlink.connectors.sqltext import Dialect

DIALECT = Dialect("postgresql", '"', "%s", "on-conflict")

SPEC = ConnectorSpec(
    name="postgresql",
    title="PostgreSQL",
    description="A PostgreSQL database (psycopg 3), pooled per System.",
    interface="sql",
    config=server_config(
        5432,
        "role",
        {
            "sslmode": {
                "enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
                "default": "prefer",
                "description": "libpq's sslmode",
            },
            "schema": {
                "type": "string",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "description": "search_path for unqualified table names (default: the server's)",
            },
        },
    ),
    capabilities=SQL_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: billing-db, owner: finance}
spec:
  domain: finance
  connector: postgresql
  connection:
    host: db.internal.example
    database: billing
    user: interlink
    password: ${secret:billing-db-password}
""",
)


class PostgresConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.postgresql_client import open_connection  # psycopg: on first use

        return await open_connection(config, system)
