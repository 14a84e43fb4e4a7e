"""The asyncmy side of the ``mariadb`` connector (see :mod:`interlink.connectors.mariadb`):
asyncmy is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import asyncmy
from asyncmy import errors as mysql

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
)
from interlink.connectors.mariadb import DIALECT
from interlink.connectors.pooling import Broken, Pool
from interlink.connectors.sqltext import batches, bind, json_rows, plan_write, summary

_NO_TABLE = {1146, 1051}
_CONSTRAINT = {1048, 1062, 1216, 1217, 1451, 1452, 1557, 1586, 3819, 4025}
#: Deadlock, lock wait timeout, too many connections, server gone away, connection lost,
#: cannot connect, server shutting down.
_RETRYABLE = {1205, 1213, 1040, 2006, 2013, 2003, 1053}
_LOST = {2006, 2013, 2055}
_REFUSED = {1044, 1045, 1049, 1698}


def _code(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


def _text(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    text = args[1] if len(args) > 1 and isinstance(args[1], str) else str(exc)
    code = _code(exc)
    return (f"({code}) " if code else "") + " ".join(text.split())


def _error(exc: BaseException, system: str, obj: str) -> ConnectorError:
    code = _code(exc)
    text = _text(exc)
    if code in _NO_TABLE:
        return ObjectNotFound(text, system=system, object=obj)
    if code in _CONSTRAINT or isinstance(exc, mysql.IntegrityError):
        return ConstraintViolation(text, system=system, object=obj)
    if code in _RETRYABLE:
        return ConnectorError(text, system=system, object=obj, retryable=True)
    return StatementError(text, system=system, object=obj)


class MariaDbConnection(Connection):
    def __init__(self, pool: Pool[Any], system: str) -> None:
        self._pool = pool
        self.system = system

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        text, values = bind(sql, params, "%s", self.system)
        obj = summary(sql)
        async with self._pool.acquire() as conn:
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(text, values)
                    description = cursor.description
                    if description is None:
                        got: Sequence[Any] = []
                    elif max_rows is None:
                        got = await cursor.fetchall()
                    else:
                        got = await cursor.fetchmany(max_rows + 1)
                await conn.commit()
            except mysql.MySQLError as exc:
                await _rollback(conn)
                error = _error(exc, self.system, obj)
                raise (Broken(error) if _code(exc) in _LOST else error) from None
        if description is None:
            return []
        if max_rows is not None and len(got) > max_rows:
            raise StatementError(
                f"the query returned more than maxRows ({max_rows}) rows",
                system=self.system,
                object=obj,
            )
        names = [d[0] for d in description]
        return json_rows(names, got)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        text, values = bind(sql, params, "%s", self.system)
        obj = summary(sql)
        async with self._pool.acquire() as conn:
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(text, values)
                    description = cursor.description
                    got: Sequence[Any] = await cursor.fetchall() if description else []
                await conn.commit()
            except mysql.MySQLError as exc:
                await _rollback(conn)
                error = _error(exc, self.system, obj)
                raise (Broken(error) if _code(exc) in _LOST else error) from None
        return Fetched([d[0] for d in description or ()], got)

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
                    await conn.begin()
                    async with conn.cursor() as cursor:
                        await cursor.executemany(plan.statement, batch)
                        count += max(int(cursor.rowcount or 0), 0)
                    await conn.commit()
                except mysql.MySQLError as exc:
                    await _rollback(conn)
                    error = _error(exc, self.system, table)
                    raise (Broken(error) if _code(exc) in _LOST else error) from None
        return count

    async def close(self) -> None:
        await self._pool.close()


async def _rollback(conn: Any) -> None:
    with contextlib.suppress(mysql.MySQLError):  # gone: the pool drops it
        await conn.rollback()


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`MariaDbConnector.open` does."""
    host, port = str(config["host"]), int(config.get("port", 3306))

    async def connect() -> Any:
        try:
            return await asyncmy.connect(
                host=host,
                port=port,
                user=config["user"],
                password=config.get("password") or "",
                database=config["database"],
                connect_timeout=int(config.get("connectTimeout", 10)),
                autocommit=False,
                charset="utf8mb4",
            )
        except (mysql.MySQLError, OSError) as exc:
            raise ConnectionFailed(
                _text(exc),
                system=system,
                object=f"{host}:{port}",
                retryable=_code(exc) not in _REFUSED,
            ) from None

    async def close(conn: Any) -> None:
        conn.close()

    pool: Pool[Any] = Pool(connect, close, int(config.get("poolSize", 4)))
    async with pool.acquire():
        pass
    return MariaDbConnection(pool, system)
