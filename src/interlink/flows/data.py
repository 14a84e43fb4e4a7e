"""A flow's query, write, file and send steps reaching a System through its connector.

The engine sends each operation as a :class:`DataRequest` through a :class:`DataTransport`:
:class:`ConnectorTransport` in production (one connection per System per process, from
``interlink.connectors``); `interlink flows test` answers them from a case's mocks
(``flows/mocks.py``). A connector's failure becomes a StepFailed that is retried under the
step's policy only when the connector says it is transient (the connection dropped, a
deadlock), never for a wrong statement or a refused row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from interlink.connectors.base import ConnectorError, OutgoingMessage, WriteMode
from interlink.connectors.connections import Connections
from interlink.errors import ConfigError, InterlinkError
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate
from interlink.flows.retry import StepFailed


@dataclass(frozen=True)
class DataRequest:
    """One operation a step makes on a System: a query (``sql``, ``params``), a write
    (``table``, ``rows``, ``mode``, ``key``), a file written whole (``path``, ``data``) or a
    message sent (``message``)."""

    flow: str
    step: str
    system: str
    operation: Literal["query", "write", "file", "send"]
    sql: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    max_rows: int | None = None
    table: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    mode: WriteMode = "insert"
    key: tuple[str, ...] = ()
    batch_size: int = 500
    path: str = ""
    data: bytes = b""
    message: OutgoingMessage | None = None

    @property
    def label(self) -> str:
        """How a person reads it: the statement's start, the table written, or where the
        message goes."""
        if self.operation == "query":
            return " ".join(self.sql.split())[:60]
        if self.operation == "file":
            return f"write {self.path}"
        if self.message is not None:
            return f"send to {self.message.to}"
        return f"{self.mode} {self.table}"


class DataTransport(Protocol):
    """Carries out a request: rows for a query, the count of rows written for a write, the
    bytes written for a file, nothing for a message sent; StepFailed saying whether to retry."""

    async def __call__(self, request: DataRequest) -> Any: ...


def system_lookup(estate: Estate) -> Callable[[str], System]:
    def system(name: str) -> System:
        item = estate.get("System", name)
        if item is None or not isinstance(item.obj, System):
            raise ConfigError(f"no System {name!r} in the estate")
        return item.obj

    return system


class ConnectorTransport:
    """Requests carried out over the Systems' connectors, one connection per System."""

    def __init__(
        self, systems: Callable[[str], System], connections: Connections | None = None
    ) -> None:
        self.systems = systems
        self.connections = connections or Connections()

    async def __call__(self, request: DataRequest) -> Any:
        try:
            system = self.systems(request.system)
            connector = system.spec.connector_name
            if connector is None:
                raise ConfigError(f"System/{request.system} has no connector")
            connection = await self.connections.get(
                request.system, connector, system.spec.connection, caller=request.flow
            )
            if request.operation == "query":
                return await connection.query(
                    request.sql, request.params, max_rows=request.max_rows
                )
            if request.operation == "file":
                await connection.write_file(request.path, request.data)
                return len(request.data)
            if request.message is not None:
                await connection.send(request.message)
                return None
            return await connection.write(
                request.table,
                request.rows,
                mode=request.mode,
                key=request.key,
                batch_size=request.batch_size,
            )
        except ConnectorError as exc:
            raise StepFailed(exc.message, retryable=exc.retryable) from None
        except InterlinkError as exc:  # no such System or connector, an unset secret
            raise StepFailed(exc.message, retryable=exc.retryable) from None

    async def retain(self, systems: Iterable[str]) -> None:
        await self.connections.retain(systems)

    async def aclose(self) -> None:
        await self.connections.aclose()
