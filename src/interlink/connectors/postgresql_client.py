"""The psycopg side of the ``postgresql`` connector (see :mod:`interlink.connectors.postgresql`):
psycopg is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.types.numeric import FloatLoader

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    ConstraintViolation,
    Fetched,
    ObjectNotFound,
    Row,
    StatementError,
    WriteMode,
    error_text,
)
from interlink.connectors.pooling import Broken, Pool
from interlink.connectors.postgresql import DIALECT
from interlink.connectors.sqltext import batches, bind, json_rows, plan_write, summary

#: SQLSTATE classes whose failures a retry may get past: connection exceptions, transaction
#: rollbacks (serialisation failures, deadlocks), insufficient resources, operator
#: intervention (a restart).
_RETRYABLE_CLASSES = ("08", "40", "53", "57")
_AUTH = ("28000", "28P01", "3D000")
#: What libpq says when the server refused the login (it gives no SQLSTATE at connect time).
_REFUSED = ("authentication failed", "does not exist", "not permitted to log in", "no pg_hba")


def _error(exc: psycopg.Error, system: str, obj: str) -> ConnectorError:
    state = exc.sqlstate or ""
    text = error_text(exc)
    if state == "42P01":
        return ObjectNotFound(text, system=system, object=obj)
    if state.startswith("23"):
        return ConstraintViolation(text, system=system, object=obj)
    if state.startswith(_RETRYABLE_CLASSES) or (
        not state and isinstance(exc, psycopg.OperationalError)
    ):
        return ConnectorError(text, system=system, object=obj, retryable=True)
    return StatementError(text, system=system, object=obj)


class PostgresConnection(Connection):
    def __init__(self, pool: Pool[psycopg.AsyncConnection[Any]], system: str) -> None:
        self._pool = pool
        self.system = system

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        text, values = bind(sql, params, "%s", self.system)
        obj = summary(sql)
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction(), conn.cursor() as cursor:
                    await cursor.execute(text, values)
                    if cursor.description is None:
                        return []
                    names = [d.name for d in cursor.description]
                    got = (
                        await cursor.fetchall()
                        if max_rows is None
                        else await cursor.fetchmany(max_rows + 1)
                    )
            except psycopg.Error as exc:
                error = _error(exc, self.system, obj)
                raise (Broken(error) if conn.broken else error) from None
        if max_rows is not None and len(got) > max_rows:
            raise StatementError(
                f"the query returned more than maxRows ({max_rows}) rows",
                system=self.system,
                object=obj,
            )
        return json_rows(names, got)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        text, values = bind(sql, params, "%s", self.system)
        obj = summary(sql)
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction(), conn.cursor() as cursor:
                    # NUMERIC as floats: a columnar reader's numbers are doubles, and a
                    # Decimal per value would cost more than the read itself.
                    cursor.adapters.register_loader("numeric", FloatLoader)
                    await cursor.execute(text, values)
                    names = [d.name for d in cursor.description or ()]
                    rows = await cursor.fetchall() if cursor.description is not None else []
            except psycopg.Error as exc:
                error = _error(exc, self.system, obj)
                raise (Broken(error) if conn.broken else error) from None
        return Fetched(names, rows)

    async def write(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        mode: WriteMode = "insert",
        key: Sequence[str] = (),
        batch_size: int = 500,
    ) -> int:
        plan = plan_write(DIALECT, table, rows, mode, key, self.system)
        count = 0
        for batch in batches(plan.values, batch_size):
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction(), conn.cursor() as cursor:
                        await cursor.executemany(plan.statement, batch)
                        count += max(cursor.rowcount, 0)
                except psycopg.Error as exc:
                    error = _error(exc, self.system, table)
                    raise (Broken(error) if conn.broken else error) from None
        return count

    async def close(self) -> None:
        await self._pool.close()


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`PostgresConnector.open` does."""
    options: dict[str, Any] = {
        "host": config["host"],
        "port": int(config.get("port", 5432)),
        "dbname": config["database"],
        "user": config["user"],
        "sslmode": config.get("sslmode", "prefer"),
        "connect_timeout": int(config.get("connectTimeout", 10)),
        "application_name": "interlink",
        "autocommit": True,  # each operation opens its own transaction
    }
    if config.get("password") is not None:
        options["password"] = config["password"]
    if config.get("schema"):
        options["options"] = f"-c search_path={config['schema']}"

    async def connect() -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(**options)
        except psycopg.Error as exc:
            state = exc.sqlstate or ""
            text = error_text(exc)
            refused = state in _AUTH or any(word in text for word in _REFUSED)
            raise ConnectionFailed(
                text,
                system=system,
                object=f"{config['host']}:{options['port']}",
                retryable=not refused,
            ) from None

    async def close(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.close()

    pool = Pool(connect, close, int(config.get("poolSize", 4)))
    # Connect once now: a wrong host or refused credentials are said when the System is
    # first used, not later at random.
    async with pool.acquire():
        pass
    return PostgresConnection(pool, system)
