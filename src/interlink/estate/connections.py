"""`check` rules for connectors: a System's connector exists and its connection is valid for
it, a Flow's query and write steps reach a System with a SQL connector, its send steps a System
whose connector sends messages, its file steps and ``trigger.watch`` one with a files
connector, its ``trigger.poll`` a System that can be polled (its JSONata compiling) and its
``trigger.consume`` one whose connector receives messages.

The connectors live above the estate (``interlink.connectors``); the estate sees them through a
:class:`ConnectorCatalog`, which the callers of `check` pass in (the connectors' registry).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from interlink.errors import ExpressionError
from interlink.estate.findings import Finding
from interlink.estate.flow_rules import every_step, path_leaves_base
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import Api, DataProduct, Flow, System
from interlink.estate.kinds.flow import FileStep, PollTrigger, QueryStep, SendStep, WriteStep
from interlink.estate.model import Estate, Loaded
from interlink.estate.sql_tables import parse_tables
from interlink.estate.yamlsource import PathKey
from interlink.expressions import compile_expression

CONNECTOR_UNKNOWN = "CONNECTOR_UNKNOWN"
CONNECTION_INVALID = "CONNECTION_INVALID"
FLOW_SQL_SYSTEM = "FLOW_SQL_SYSTEM"
FLOW_POLL_SOURCE = "FLOW_POLL_SOURCE"
FLOW_FILE_SYSTEM = "FLOW_FILE_SYSTEM"
FLOW_WATCH_SOURCE = "FLOW_WATCH_SOURCE"
FLOW_SEND_SYSTEM = "FLOW_SEND_SYSTEM"
FLOW_CONSUME_SOURCE = "FLOW_CONSUME_SOURCE"
FLOW_POLL_BATCH = "FLOW_POLL_BATCH"
PRODUCT_SOURCE = "PRODUCT_SOURCE"

#: The rules as `check --list-rules` shows them: code, description.
CONNECTION_RULES = (
    (CONNECTOR_UNKNOWN, "a System's connector is a built-in or installed connector"),
    (
        CONNECTION_INVALID,
        "a System's connection is valid for its connector's config schema; its secret fields "
        "are ${secret:…} references",
    ),
    (FLOW_SQL_SYSTEM, "a Flow's query and write steps name a System with a SQL connector"),
    (
        FLOW_POLL_SOURCE,
        "a Flow's trigger.poll names a System whose connector can trigger (a table or query on "
        "a SQL connector, a path on a System with a baseUrl, a stream on a tap: singer, "
        "airbyte), and its JSONata compiles",
    ),
    (
        FLOW_FILE_SYSTEM,
        "a Flow's file steps name a System with a files connector, and a fixed path is quoted",
    ),
    (
        FLOW_WATCH_SOURCE,
        "a Flow's trigger.watch names a System whose files connector can trigger",
    ),
    (FLOW_SEND_SYSTEM, "a Flow's send steps name a System whose connector sends messages"),
    (
        FLOW_CONSUME_SOURCE,
        "a Flow's trigger.consume names a System whose connector receives messages, with "
        "options its connector takes",
    ),
    (
        FLOW_POLL_BATCH,
        "a Flow whose trigger.poll has each: batch gives its write steps rows (the run's input "
        "is {rows, cursor, first, last}, not a row)",
    ),
    (
        PRODUCT_SOURCE,
        "a DataProduct's source names a System whose connector reads its type: sql on a SQL "
        "connector (a plain table name unless a query is given), csv, json and parquet on a "
        "files connector, http on a System with a baseUrl (location a path under it)",
    ),
)


class ConnectorCatalog(Protocol):
    """What `check` asks of the installed connectors."""

    def names(self) -> list[str]: ...

    def interface(self, name: str) -> str | None:
        """How flows talk to Systems of the connector (``sql``, ``http``…); None if unknown."""

    def problems_of(
        self, name: str, connection: Mapping[str, Any]
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Where ``connection`` is wrong for the connector, and why."""

    def capabilities(self, name: str) -> list[str]:
        """What the connector can do for a flow (``trigger``, ``read``…); none if unknown."""

    def option_problems(
        self, name: str, capability: str, options: Mapping[str, Any]
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Where ``options`` are wrong for the connector's ``capability``, and why."""


def connection_findings(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("System"):
        assert isinstance(item.obj, System)
        spec = item.obj.spec
        if spec.connector is None:
            continue
        if catalog.interface(spec.connector) is None:
            hint = did_you_mean(spec.connector, catalog.names())
            yield item.finding(
                ("spec", "connector"),
                CONNECTOR_UNKNOWN,
                f"{item.key}: no connector {spec.connector!r}",
                hint=hint or f"known: {', '.join(catalog.names())}",
            )
            continue
        for path, message in catalog.problems_of(spec.connector, spec.connection or {}):
            at = ("spec", "connection", *path) if spec.connection is not None else ("spec",)
            where = ".".join(str(p) for p in path)
            yield item.finding(
                at,
                CONNECTION_INVALID,
                f"{item.key}: connection{'.' + where if where else ''}: {message}",
            )
    yield from _sql_steps(estate, catalog)
    yield from _send_steps(estate, catalog)
    yield from _poll_triggers(estate, catalog)
    yield from _file_steps(estate, catalog)
    yield from _watch_triggers(estate, catalog)
    yield from _consume_triggers(estate, catalog)
    yield from _product_sources(estate, catalog)


def _connector(estate: Estate, name: str) -> str | None:
    """The connector of System ``name``; None when it has none, or there is no such System."""
    found = estate.get("System", name)
    if found is None or not isinstance(found.obj, System):
        return None
    return found.obj.spec.connector_name


def _lacks(
    estate: Estate,
    catalog: ConnectorCatalog,
    name: str,
    interface: str,
    capability: str | None = None,
) -> str | None:
    """What System ``name`` has instead of a connector of ``interface`` (that has
    ``capability``), said as "connector X" or "no connector"; None when it has one, or when
    another rule says what is wrong (no such System, an unknown connector)."""
    found = estate.get("System", name)
    if found is None or not isinstance(found.obj, System):
        return None  # REF_UNKNOWN says so
    connector = found.obj.spec.connector_name
    actual = catalog.interface(connector) if connector else None
    if connector is not None and actual is None:
        return None  # an unknown connector is reported at the System
    if actual == interface and (
        capability is None or capability in catalog.capabilities(connector or "")
    ):
        return None
    return f"connector {connector}" if connector else "no connector"


def _cannot_trigger(estate: Estate, catalog: ConnectorCatalog, name: str) -> str | None:
    """The connector of System ``name`` when it is a known one without the trigger
    capability."""
    connector = _connector(estate, name)
    if connector is None or catalog.interface(connector) is None:
        return None
    return None if "trigger" in catalog.capabilities(connector) else connector


#: A path written as it is, not as JSONata: `out/orders.csv` would divide out by orders.csv.
#: Field names (`file.path`) are JSONata too: only a / or a file's extension tells a path.
_BARE_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$")
_EXTENSION = re.compile(r"\.(csv|json|jsonl|ndjson|parquet|txt|xml|tsv|gz|zip)$")


def _file_steps(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        for placed in every_step(item.obj.spec):
            step = placed.step
            if not isinstance(step, FileStep):
                continue
            bare = ("/" in step.path or _EXTENSION.search(step.path)) and _BARE_PATH.match(
                step.path
            )
            if bare:
                yield item.finding(
                    (*placed.path, "path"),
                    FLOW_FILE_SYSTEM,
                    f"{item.key}: step '{step.name}' (file): path is JSONata, and "
                    f"{step.path!r} reads as an expression, not a path",
                    hint=f"quote a fixed path: \"'{step.path}'\"",
                )
            what = _lacks(estate, catalog, step.system, "files")
            if what is not None:
                yield item.finding(
                    (*placed.path, "system"),
                    FLOW_FILE_SYSTEM,
                    f"{item.key}: step '{step.name}' (file) needs a System with a files "
                    f"connector; System/{step.system} has {what}",
                    hint="give the System connector: directory or sftp, and its connection",
                )


def _watch_triggers(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        trigger = item.obj.spec.trigger
        watch = trigger.watch if trigger is not None else None
        if watch is None:
            continue
        at = ("spec", "trigger", "watch", "system")
        what = _lacks(estate, catalog, watch.system, "files")
        if what is not None:
            yield item.finding(
                at,
                FLOW_WATCH_SOURCE,
                f"{item.key}: trigger.watch lists files of System/{watch.system}, which has "
                f"{what}: a System with a files connector is watched",
                hint="give the System connector: directory or sftp, and its connection",
            )
            continue
        connector = _cannot_trigger(estate, catalog, watch.system)
        if connector is not None:
            yield item.finding(
                at,
                FLOW_WATCH_SOURCE,
                f"{item.key}: trigger.watch: connector {connector} of System/{watch.system} "
                "cannot trigger flows (it has no trigger capability)",
            )


def _sql_steps(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        for placed in every_step(item.obj.spec):
            step = placed.step
            if not isinstance(step, QueryStep | WriteStep):
                continue
            what = _lacks(estate, catalog, step.system, "sql")
            if what is None:
                continue
            yield item.finding(
                (*placed.path, "system"),
                FLOW_SQL_SYSTEM,
                f"{item.key}: step '{step.name}' ({step.type}) needs a System with a SQL "
                f"connector; System/{step.system} has {what}",
                hint="give the System connector: postgresql, mariadb or sqlite, and its connection",
            )


def _messages(catalog: ConnectorCatalog) -> str:
    """The connectors that send and receive messages, for hints."""
    names = [n for n in catalog.names() if catalog.interface(n) == "messages"]
    return ", ".join(names) or "none installed"


def _send_steps(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        for placed in every_step(item.obj.spec):
            step = placed.step
            if not isinstance(step, SendStep):
                continue
            what = _lacks(estate, catalog, step.system, "messages", "write")
            if what is None:
                continue
            yield item.finding(
                (*placed.path, "system"),
                FLOW_SEND_SYSTEM,
                f"{item.key}: step '{step.name}' (send) needs a System whose connector sends "
                f"messages; System/{step.system} has {what}",
                hint=f"give the System one of the connectors: {_messages(catalog)}",
            )


def _consume_triggers(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        trigger = item.obj.spec.trigger
        consume = trigger.consume if trigger is not None else None
        if consume is None:
            continue
        at = ("spec", "trigger", "consume")
        what = _lacks(estate, catalog, consume.system, "messages", "trigger")
        if what is not None:
            yield item.finding(
                (*at, "system"),
                FLOW_CONSUME_SOURCE,
                f"{item.key}: trigger.consume needs a System whose connector receives "
                f"messages; System/{consume.system} has {what}",
                hint=f"give the System one of the connectors: {_messages(catalog)}",
            )
            continue
        connector = _connector(estate, consume.system)
        if connector is None or catalog.interface(connector) is None:
            continue  # no such System (REF_UNKNOWN), or an unknown connector
        for path, message in catalog.option_problems(connector, "trigger", consume.options):
            where = ".".join(str(p) for p in path)
            yield item.finding(
                (*at, "options", *path) if path else (*at, "options"),
                FLOW_CONSUME_SOURCE,
                f"{item.key}: trigger.consume.options{'.' + where if where else ''}: "
                f"connector {connector} {message}"
                if message.startswith("takes no option")
                else f"{item.key}: trigger.consume.options{'.' + where if where else ''}: "
                f"{message}",
            )


def _poll_triggers(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        trigger = item.obj.spec.trigger
        poll = trigger.poll if trigger is not None else None
        if poll is None:
            continue
        at = ("spec", "trigger", "poll")
        if poll.stream is not None:
            yield from _stream_poll(estate, catalog, item, poll, at)
        elif poll.sql:
            yield from _sql_poll(estate, catalog, item, poll, at)
        else:
            yield from _http_poll(estate, item, poll, at)
        if poll.per_batch:
            yield from _batch_writes(item)


#: Steps after which the message is still the batch trigger's input object (or has a field more).
_KEEP_MESSAGE = frozenset({"write", "idempotency", "wait", "publish"})


def _batch_writes(item: Loaded) -> Iterator[Finding]:
    """A write step reached with the batch's input as its message, writing it as one row."""
    assert isinstance(item.obj, Flow)
    for index, step in enumerate(item.obj.spec.steps):
        if isinstance(step, WriteStep) and step.rows is None:
            yield item.finding(
                ("spec", "steps", index),
                FLOW_POLL_BATCH,
                f"{item.key}: step '{step.name}' writes the message as one row, and with "
                "trigger.poll each: batch the message is {rows, cursor, first, last}",
                hint="give the step rows: rows",
            )
        keeps = step.type in _KEEP_MESSAGE or (isinstance(step, QueryStep) and step.into)
        if not keeps:
            return


def _sql_poll(
    estate: Estate, catalog: ConnectorCatalog, item: Loaded, poll: PollTrigger, at: PathKey
) -> Iterator[Finding]:
    assert poll.system is not None
    polled = poll.table or "its query"
    what = _lacks(estate, catalog, poll.system, "sql")
    if what is not None:
        yield item.finding(
            (*at, "system"),
            FLOW_POLL_SOURCE,
            f"{item.key}: trigger.poll reads {polled} from System/{poll.system}, which has "
            f"{what}: a table or query is polled on a System with a SQL connector",
            hint="give the System connector: postgresql, mariadb or sqlite; or poll a path "
            "over HTTP",
        )
    elif (connector := _cannot_trigger(estate, catalog, poll.system)) is not None:
        yield item.finding(
            (*at, "system"),
            FLOW_POLL_SOURCE,
            f"{item.key}: trigger.poll: connector {connector} of System/{poll.system} cannot "
            "trigger flows (it has no trigger capability)",
        )


def _stream_poll(
    estate: Estate, catalog: ConnectorCatalog, item: Loaded, poll: PollTrigger, at: PathKey
) -> Iterator[Finding]:
    what = _lacks(estate, catalog, poll.system or "", "records")
    if what is not None:
        yield item.finding(
            (*at, "stream"),
            FLOW_POLL_SOURCE,
            f"{item.key}: trigger.poll reads stream {poll.stream!r} from System/{poll.system}, "
            f"which has {what}: a stream is read from a tap",
            hint="give the System connector: singer or airbyte, and the tap's command; or poll "
            "a table, query or path",
        )


def _http_poll(estate: Estate, item: Loaded, poll: PollTrigger, at: PathKey) -> Iterator[Finding]:
    system = poll.system
    if poll.api is not None:
        api = estate.get("Api", poll.api)
        if api is None or not isinstance(api.obj, Api):
            return  # REF_UNKNOWN says so
        system = api.obj.spec.system
    found = estate.get("System", system or "")
    if found is not None and isinstance(found.obj, System) and found.obj.spec.base_url is None:
        yield item.finding(
            (*at, "api" if poll.api else "system"),
            FLOW_POLL_SOURCE,
            f"{item.key}: trigger.poll GETs {poll.path} from System/{system}, which has no baseUrl",
        )
    assert poll.path is not None
    if path_leaves_base(poll.path) or poll.path.startswith("//"):
        yield item.finding(
            (*at, "path"),
            FLOW_POLL_SOURCE,
            f"{item.key}: trigger.poll path {poll.path!r} has '.' or '..' segments or starts "
            "with '//'; it must stay under the System's base URL",
        )
    for name in ("items", "key", "cursor"):
        source = getattr(poll, name)
        if not isinstance(source, str):
            continue
        try:
            compile_expression(source)
        except ExpressionError as exc:
            yield item.finding(
                (*at, name),
                "FLOW_EXPRESSION",
                f"{item.key}: trigger.poll: {name} does not compile: {exc}",
            )


#: The connector interface each DataProduct source type is read through.
_SOURCE_INTERFACE = {"sql": "sql", "csv": "files", "json": "files", "parquet": "files"}
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


def _http_source(estate: Estate, item: Loaded, system: str, location: str) -> Iterator[Finding]:
    found = estate.get("System", system)
    if found is not None and isinstance(found.obj, System) and found.obj.spec.base_url is None:
        yield item.finding(
            ("spec", "source", "system"),
            PRODUCT_SOURCE,
            f"{item.key}: an http source needs a System with a baseUrl; System/{system} has none",
        )
    if not location.startswith("/") or path_leaves_base(location):
        yield item.finding(
            ("spec", "source", "location"),
            PRODUCT_SOURCE,
            f"{item.key}: an http source's location is a path under the System's baseUrl "
            f"(starting with /, no . or .. segments), not {location!r}",
        )


def _composed_source(estate: Estate, item: Loaded) -> Iterator[Finding]:
    """A products source's query is one SELECT over other DataProducts."""
    assert isinstance(item.obj, DataProduct)
    at = ("spec", "source", "query")
    try:
        tables = parse_tables(item.obj.spec.source.query or "")
    except ValueError as exc:
        yield item.finding(at, PRODUCT_SOURCE, f"{item.key}: its source query is refused: {exc}")
        return
    products = {
        p.obj.metadata.name.lower(): p.obj.metadata.name for p in estate.loaded_of("DataProduct")
    }
    name = item.obj.metadata.name
    for table in sorted(tables):
        if products.get(table) == name:
            yield item.finding(at, PRODUCT_SOURCE, f"{item.key}: its source query reads itself")
        elif table not in products:
            yield item.finding(
                at,
                PRODUCT_SOURCE,
                f"{item.key}: its source query reads {table!r}, which is no DataProduct",
                hint=did_you_mean(table, list(products)),
            )


def _product_sources(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("DataProduct"):
        assert isinstance(item.obj, DataProduct)
        source = item.obj.spec.source
        if source.system is None or source.location is None:
            yield from _composed_source(estate, item)
            continue
        if source.type.value == "http":
            yield from _http_source(estate, item, source.system, source.location)
            continue
        interface = _SOURCE_INTERFACE[source.type.value]
        what = _lacks(estate, catalog, source.system, interface)
        if what is not None:
            yield item.finding(
                ("spec", "source", "system"),
                PRODUCT_SOURCE,
                f"{item.key}: a {source.type.value} source needs a System with a {interface} "
                f"connector; System/{source.system} has {what}",
                hint="sql: postgresql, mariadb or sqlite; files: directory, sftp or s3",
            )
        if (
            source.type.value == "sql"
            and source.query is None
            and not _TABLE.match(source.location)
        ):
            yield item.finding(
                ("spec", "source", "location"),
                PRODUCT_SOURCE,
                f"{item.key}: a sql source's location is a table name (letters, digits, _; "
                f"optionally schema.table), not {source.location!r}",
                hint="give a query for anything else",
            )
        if source.type.value != "sql" and source.query is not None:
            yield item.finding(
                ("spec", "source", "query"),
                PRODUCT_SOURCE,
                f"{item.key}: query applies to a sql source, not a {source.type.value} file",
            )
