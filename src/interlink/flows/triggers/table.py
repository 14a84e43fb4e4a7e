"""A polling source over a table (or a SELECT) of a System with a SQL connector.

Rows are read in the order of the cursor column, then the key columns (the tie-breaker), after
the last ``(cursor, key…)`` read, with a row-value comparison every SQL connector speaks
(PostgreSQL, MariaDB, SQLite 3.15 and later)::

    SELECT * FROM "orders" WHERE ("updated_at", "id") > (:c, :k0) ORDER BY "updated_at", "id"
    LIMIT 500

so rows sharing a cursor value across a batch boundary are each read once. The checkpoint is
the last row's ``{"at": cursor, "key": [key…]}``; ``{"at": null, "key": null}`` means "from
the first row" (``start: now`` on an empty table). An item's key is the table, the row's key and
its cursor value: a row updated with a new cursor value is a new run, the same row polled again
is not. What a cursor cannot see: a deleted row, an update that leaves the cursor as it was, and
the intermediate versions of a row updated several times between two polls (only the last is
read); rows whose cursor is NULL are never read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interlink.connectors.base import Connection, ConnectorError, Row
from interlink.connectors.connections import Connections
from interlink.connectors.mariadb import DIALECT as MARIADB
from interlink.connectors.observed import Observed
from interlink.connectors.postgresql import DIALECT as POSTGRESQL
from interlink.connectors.sqlite import DIALECT as SQLITE
from interlink.connectors.sqltext import Dialect
from interlink.flows.triggers.sources import JSON, Batch, Item

#: How each built-in spells identifiers; another SQL connector gets the standard double quote.
_DIALECTS: dict[str, Dialect] = {d.name: d for d in (POSTGRESQL, MARIADB, SQLITE)}
_STANDARD = Dialect("standard", '"', "?", "on-conflict")
_FROM_FIRST: dict[str, Any] = {"at": None, "key": None}


@dataclass(frozen=True)
class TableSource:
    """Polls ``table`` (or ``query``) of ``system`` by ``cursor`` and ``key`` columns."""

    system: str
    connector: str
    connection: Mapping[str, Any] | None
    cursor: str
    key: tuple[str, ...]
    table: str | None = None
    query: str | None = None
    start: str | int | float = "earliest"  # earliest, now, or a cursor value (inclusive)
    flow: str | None = None  # the flow it starts runs of: its reads are counted under it
    connections: Connections = field(default_factory=Connections, compare=False, repr=False)

    @property
    def polled(self) -> str:
        """What it reads, for keys and messages: the table, or ``query``."""
        return self.table or "query"

    async def poll(self, cursor: JSON, limit: int) -> Batch:
        connection = await self._connection()
        where, params = "", {}
        if cursor is None and self.start == "now":
            return Batch((), await self._latest(connection))
        if cursor is None and self.start != "earliest":
            where, params = f"WHERE {self._q(self.cursor)} >= :start", {"start": self.start}
        elif isinstance(cursor, dict) and cursor.get("at") is not None:
            columns = ", ".join(self._q(c) for c in (self.cursor, *self.key))
            marks = ", ".join([":at", *(f":k{i}" for i in range(len(self.key)))])
            where = f"WHERE ({columns}) > ({marks})"
            keys = cursor.get("key") or []
            if len(keys) != len(self.key):
                raise ConnectorError(
                    f"the stored cursor {json.dumps(cursor)} does not fit the key "
                    f"({', '.join(self.key)}): give the trigger a new name to start again",
                    system=self.system,
                    object=self.polled,
                )
            params = {"at": cursor["at"], **{f"k{i}": v for i, v in enumerate(keys)}}
        rows = await self._select(connection, where, params, self._order("ASC"), limit)
        if not rows:
            return Batch((), cursor)
        items = [_Polled(self, row) for row in rows]
        return Batch(items, self._position(rows[-1]), more=len(rows) >= limit)

    async def _latest(self, connection: Connection) -> JSON:
        """The position of the last row now: ``start: now`` reads only the rows after it."""
        rows = await self._select(connection, "", {}, self._order("DESC"), 1)
        return self._position(rows[0]) if rows else dict(_FROM_FIRST)

    async def _connection(self) -> Connection:
        found = await self.connections.get(
            self.system, self.connector, self.connection, caller=self.flow
        )
        return found.polling() if isinstance(found, Observed) else found

    def _q(self, column: str) -> str:
        return _DIALECTS.get(self.connector, _STANDARD).identifier(column, self.system, "column")

    def _order(self, direction: str) -> str:
        return ", ".join(f"{self._q(c)} {direction}" for c in (self.cursor, *self.key))

    async def _select(
        self,
        connection: Connection,
        where: str,
        params: Mapping[str, Any],
        order: str,
        limit: int,
    ) -> list[Row]:
        if self.table is not None:
            source = _DIALECTS.get(self.connector, _STANDARD).identifier(self.table, self.system)
        else:
            source = f"({self.query}) AS polled"
        # Identifiers checked and quoted, values bound by the driver.
        sql = f"SELECT * FROM {source} {where} ORDER BY {order} LIMIT {int(limit)}"  # noqa: S608
        try:
            rows = await connection.query(sql, params, max_rows=int(limit))
        except ConnectorError as exc:
            # Named by what the trigger polls, not by the statement this module wrote.
            raise type(exc)(
                exc.detail, system=self.system, object=self.polled, retryable=exc.retryable
            ) from None
        for row in rows[:1]:
            missing = [c for c in (self.cursor, *self.key) if c not in row]
            if missing:
                raise ConnectorError(
                    f"the rows have no column {', '.join(missing)} (columns: {', '.join(row)})",
                    system=self.system,
                    object=self.polled,
                )
        return rows

    def _position(self, row: Row) -> dict[str, Any]:
        return {"at": row[self.cursor], "key": [row[k] for k in self.key]}

    def _item_key(self, row: Row) -> str:
        key: Sequence[Any] = [row[k] for k in self.key]
        return f"{self.polled}:{_text(key)}:{_text(row[self.cursor])}"


class _Polled(Item):
    """A polled row, its key made when first read: a batch trigger reads two of a page."""

    def __init__(self, source: TableSource, row: Row) -> None:
        self.__dict__.update(input=row, _source=source)  # frozen: set past __setattr__

    @functools.cached_property
    def key(self) -> str:
        source: TableSource = self.__dict__["_source"]
        return source._item_key(self.input)


def _text(value: Any) -> str:
    # Integers (the usual ids and versions) spelled as json.dumps would, without its cost:
    # the keys, and so the runs' ids, stay what they always were.
    if type(value) is int:
        return str(value)
    if type(value) is list and all(type(v) is int for v in value):
        return "[" + ",".join(map(str, value)) + "]"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
