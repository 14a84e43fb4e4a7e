"""``mariadb``: a MariaDB (or MySQL) database, through asyncmy, a small pool per System."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import ConnectorSpec
from interlink.connectors.sqlcaps import SQL_CAPABILITIES, server_config
from interlink.connectors.sqltext import Dialect

DIALECT = Dialect("mariadb", "`", "%s", "on-duplicate-key")

SPEC = ConnectorSpec(
    name="mariadb",
    title="MariaDB / MySQL",
    description="A MariaDB or MySQL database (asyncmy), pooled per System.",
    interface="sql",
    config=server_config(3306, "user"),
    capabilities=SQL_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: shop-db, owner: sales}
spec:
  domain: sales
  connector: mariadb
  connection:
    host: shop-db.internal.example
    database: shop
    user: interlink
    password: ${secret:shop-db-password}
""",
)


class MariaDbConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.mariadb_client import open_connection  # asyncmy: on first use

        return await open_connection(config, system)
