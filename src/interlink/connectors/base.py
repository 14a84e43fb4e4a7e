"""The interface a connector implements, and the errors it raises.

A connector is a :class:`Connector`: its :class:`~interlink.connectors.spec.ConnectorSpec`,
and :meth:`Connector.open`, which takes a System's ``connection`` with every reference resolved
(and the schema's defaults filled in) and returns a :class:`Connection` to that System. One
connection object serves the whole process for that System: it pools the driver's connections
itself, and is closed when the System's configuration changes or the process stops.

A SQL connection answers :meth:`Connection.query` (parameterised SQL, ``:name`` parameters,
rows as JSON objects) and :meth:`Connection.write` (rows into a table: insert, upsert or update
by key, in batches of one transaction each). Every failure is a :class:`ConnectorError` that
names the System and the object (a table, the statement's first words, the server) and says
whether trying again may help (``retryable``: the connection dropped, the server is starting, a
deadlock); it never holds a secret.

Writing one::

    class Sheets(Connector):
        spec = ConnectorSpec(name="sheets", ...)

        async def open(self, config, system):
            return SheetsConnection(await login(config["token"]), system)

and registering it in the package's metadata::

    [project.entry-points."interlink.connectors"]
    sheets = "interlink_sheets:Sheets"

``interlink.testing.connectors.run_conformance`` runs the interface's checks against it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from interlink.connectors.spec import ConnectorSpec
from interlink.errors import InterlinkError

WriteMode = Literal["insert", "upsert", "update"]
WRITE_MODES: tuple[WriteMode, ...] = ("insert", "upsert", "update")
Row = dict[str, Any]


class ConnectorError(InterlinkError):
    """A connector operation failed: ``system`` is the System, ``object`` what it was about
    (a table, a statement, the server). ``retryable`` when the same operation may succeed
    later."""

    status = 502
    title = "Connector error"

    def __init__(
        self, message: str, *, system: str, object: str | None = None, retryable: bool = False
    ) -> None:
        where = f"System/{system}" + (f" ({object})" if object else "")
        super().__init__(f"{where}: {message}")
        self.detail = message
        self.system = system
        self.object = object
        self.retryable = retryable


class ConnectionFailed(ConnectorError):
    """No connection to the System could be had: refused, unreachable, or credentials refused.
    Retryable unless the System refused the credentials."""

    title = "Connector unavailable"
    status = 503


class ObjectNotFound(ConnectorError):
    """The table (or other object) the operation names does not exist."""

    status = 404
    title = "Connector object not found"


class ConstraintViolation(ConnectorError):
    """The System refused the data: a unique key, a foreign key, NOT NULL, a check."""

    status = 409
    title = "Constraint violated"


class StatementError(ConnectorError):
    """The statement is wrong: its syntax, a column, a parameter, a type."""

    status = 400
    title = "Invalid statement"


class Unsupported(ConnectorError):
    """The connector does not do this (a write to a read-only source, a query over HTTP)."""

    status = 400
    title = "Not supported by the connector"


class Connection(ABC):
    """An open connection (a pool of them, as the driver allows) to one System."""

    system: str

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        """The rows ``sql`` returns, with ``:name`` placeholders bound from ``params`` by the
        driver (never spliced into the text). More than ``max_rows`` rows is an error."""
        raise Unsupported("this connector runs no SQL", system=self.system)

    async def write(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        mode: WriteMode = "insert",
        key: Sequence[str] = (),
        batch_size: int = 500,
    ) -> int:
        """Write ``rows`` (objects of column: value) into ``table``: ``insert``; ``upsert``
        (insert, or update the row with the same ``key`` columns); ``update`` (the row with
        the same ``key``). Each batch of ``batch_size`` rows is one transaction. The number of
        rows the System reports affected."""
        raise Unsupported("this connector writes no rows", system=self.system)

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; the object is not used again."""


class Connector(ABC):
    """A kind of System a flow can reach: its spec, and how to open a connection to one."""

    spec: ClassVar[ConnectorSpec]

    @abstractmethod
    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        """A connection to ``system`` from its resolved ``connection`` config; ConnectorError
        (ConnectionFailed) when it cannot be had."""
