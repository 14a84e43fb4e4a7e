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

A message connection (a broker, mail, chat) answers :meth:`Connection.send` (one
:class:`OutgoingMessage`) and, when it can start flows, :meth:`Connection.subscribe` (an
:class:`Inbox` of :class:`Received` messages, each acked only once its run is recorded). A file
connection (a directory, SFTP, a bucket) answers :meth:`Connection.list_files`,
:meth:`Connection.read_file`, :meth:`Connection.write_file`, :meth:`Connection.move_file` and
:meth:`Connection.delete_file`, with paths relative to the System's root and ``/`` between parts.
A record connection (a Singer tap, an Airbyte source, run as a subprocess) answers
:meth:`Connection.read_stream`: the records of one stream from a saved state, and the state to
resume from after them.

``interlink.testing.connectors.run_conformance`` runs the interface's checks against it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from interlink.connectors.spec import ConnectorSpec
from interlink.errors import InterlinkError

WriteMode = Literal["insert", "upsert", "update"]
WRITE_MODES: tuple[WriteMode, ...] = ("insert", "upsert", "update")
Row = dict[str, Any]


def error_text(exc: BaseException) -> str:
    """A driver's error as one line of its text, or its type's name when it says nothing."""
    return " ".join(str(exc).split()) or type(exc).__name__


async def settle(
    verb: str, call: Callable[[], Awaitable[object]], *, system: str, source: str
) -> None:
    """A received message's ack or nack (``verb``), made by ``call``: one the broker did not
    take is a retryable ConnectorError, as the broker hands the message out again."""
    try:
        await call()
    except Exception as exc:
        raise ConnectorError(
            f"{verb} failed: {error_text(exc)}", system=system, object=source, retryable=True
        ) from None


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


@dataclass(frozen=True)
class Fetched:
    """What :meth:`Connection.fetch` read: the column names, and the rows as the driver gave
    them (dates, decimals and bytes as Python objects, not yet JSON), for a columnar reader."""

    names: list[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class OutgoingMessage:
    """What a ``send`` step hands a message connection.

    ``to`` is where it goes, as the connector names it: a routing key or queue (AMQP), a topic
    (MQTT), a subject (NATS), a stream (Redis), addresses separated by commas (mail), a channel
    (chat). ``body`` is a JSON value: a string is sent as UTF-8 text, anything else as JSON.
    ``key`` is stable across retries of the same step of the same run, so a connector that can
    deduplicate (a message id) sends it once."""

    to: str
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    subject: str | None = None  # mail's subject; others ignore it
    key: str | None = None


class Received(ABC):
    """One message an :class:`Inbox` handed out, not yet acknowledged.

    ``key`` names the message for good (a message id, a stream entry id): the flow run it starts
    is keyed by it, so a message handed out twice starts one run."""

    key: str
    body: bytes
    headers: Mapping[str, str]
    source: str  # the queue, topic, subject or stream it came from
    #: True when :meth:`ack` places the ack (queues its frame, or joins it to the next one)
    #: before it first waits for anything: acks called in order then go out in order, so a
    #: consumer acking in order need not wait for one to be sent before calling the next.
    acks_in_call_order: bool = False

    @abstractmethod
    async def ack(self) -> None:
        """The message is done with: the broker forgets it."""

    @abstractmethod
    async def nack(self) -> None:
        """The message was not taken: the broker hands it out again (now or after a delay)."""


class Inbox(ABC):
    """Messages arriving from one queue, topic, subject or stream of a System."""

    @abstractmethod
    async def receive(self) -> Received:
        """The next message, waiting for one; ConnectorError when the broker is away."""

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving; messages not acked are handed out again by the broker."""


@dataclass(frozen=True)
class FileInfo:
    """A file a file connection lists: its path under the System's root, size and version."""

    path: str
    size: int
    modified: float  # seconds since the epoch
    etag: str | None = None  # what the store says changes with the content, when it says


@dataclass(frozen=True)
class StreamRecord:
    """One record of a stream: its data, under a key stable for good (the same record read
    again has the same key)."""

    key: str
    data: Row


@dataclass(frozen=True)
class StreamRead:
    """What one read of a stream found: its records, the state to resume from next time
    (what the source last confirmed; records after it are read again), and whether it stopped
    with more waiting."""

    records: Sequence[StreamRecord]
    state: Any
    more: bool = False


class Connection(ABC):
    """An open connection (a pool of them, as the driver allows) to one System."""

    system: str

    def hide(self, secrets: Collection[str]) -> None:
        """The resolved secret values of the System's connection, told once it is open: a
        connection that logs what its System says (a subprocess's output) scrubs them."""
        del secrets  # most connections log nothing their System says

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        """The rows ``sql`` returns, with ``:name`` placeholders bound from ``params`` by the
        driver (never spliced into the text). More than ``max_rows`` rows is an error."""
        raise Unsupported("this connector runs no SQL", system=self.system)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        """What :meth:`query` reads, left as the driver's values: no per-row object is built,
        so a data product turns a large read into Arrow columns cheaply. A driver may give
        exact decimals as floats here (PostgreSQL's does)."""
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

    async def send(self, message: OutgoingMessage) -> None:
        """Send one message; return once the System has taken it (a publisher confirm, a PUBACK,
        the SMTP server's 250). ConnectorError when it was not."""
        raise Unsupported("this connector sends no messages", system=self.system)

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        """An inbox of the messages arriving on ``source`` (a queue, topic, subject, stream),
        with the trigger's ``options`` (a consumer group, a prefetch). A consume trigger also
        puts its id (``<flow>:<trigger name>``) at ``options["trigger"]``: what a durable
        consumer or consumer group that the estate does not name is named after."""
        raise Unsupported("this connector receives no messages", system=self.system)

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        """The files whose path starts with ``prefix``, sorted by path (subdirectories'
        files included; directories themselves are not listed)."""
        raise Unsupported("this connector holds no files", system=self.system)

    async def read_file(self, path: str) -> bytes:
        """The file's content; ObjectNotFound when there is none."""
        raise Unsupported("this connector holds no files", system=self.system)

    async def write_file(self, path: str, data: bytes) -> None:
        """Write the whole file, replacing one of that path; a reader never sees it half
        written (a temporary name then a rename, where the store has no atomic put)."""
        raise Unsupported("this connector holds no files", system=self.system)

    async def move_file(self, path: str, to: str) -> None:
        """Rename ``path`` to ``to`` (replacing it); ObjectNotFound when ``path`` is gone."""
        raise Unsupported("this connector holds no files", system=self.system)

    async def delete_file(self, path: str) -> None:
        """Delete the file; no error when it is already gone."""
        raise Unsupported("this connector holds no files", system=self.system)

    async def read_stream(self, stream: str, state: Any, limit: int) -> StreamRead:
        """The records of ``stream`` after ``state`` (``None``: from the source's configured
        start), stopping at the first state the source confirms after ``limit`` records."""
        raise Unsupported("this connector reads no record streams", system=self.system)

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
