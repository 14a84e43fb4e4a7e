"""`check` rules for connectors: a System's connector exists and its connection is valid for
it, and a Flow's query and write steps reach a System with a SQL connector.

The connectors live above the estate (``interlink.connectors``); the estate sees them through a
:class:`ConnectorCatalog`, which the callers of `check` pass in (the connectors' registry).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from interlink.estate.findings import Finding
from interlink.estate.flow_rules import every_step
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import Flow, System
from interlink.estate.kinds.flow import QueryStep, WriteStep
from interlink.estate.model import Estate

CONNECTOR_UNKNOWN = "CONNECTOR_UNKNOWN"
CONNECTION_INVALID = "CONNECTION_INVALID"
FLOW_SQL_SYSTEM = "FLOW_SQL_SYSTEM"

#: The rules as `check --list-rules` shows them: code, description.
CONNECTION_RULES = (
    (CONNECTOR_UNKNOWN, "a System's connector is a built-in or installed connector"),
    (
        CONNECTION_INVALID,
        "a System's connection is valid for its connector's config schema; its secret fields "
        "are ${secret:…} references",
    ),
    (FLOW_SQL_SYSTEM, "a Flow's query and write steps name a System with a SQL connector"),
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


def _sql_steps(estate: Estate, catalog: ConnectorCatalog) -> Iterator[Finding]:
    for item in estate.loaded_of("Flow"):
        assert isinstance(item.obj, Flow)
        for placed in every_step(item.obj.spec):
            step = placed.step
            if not isinstance(step, QueryStep | WriteStep):
                continue
            found = estate.get("System", step.system)
            if found is None or not isinstance(found.obj, System):
                continue  # REF_UNKNOWN says so
            connector = found.obj.spec.connector_name
            interface = catalog.interface(connector) if connector else None
            if interface == "sql" or (connector is not None and interface is None):
                continue  # an unknown connector is reported at the System
            what = f"connector {connector}" if connector else "no connector"
            yield item.finding(
                (*placed.path, "system"),
                FLOW_SQL_SYSTEM,
                f"{item.key}: step '{step.name}' ({step.type}) needs a System with a SQL "
                f"connector; System/{step.system} has {what}",
                hint="give the System connector: postgresql, mariadb or sqlite, and its connection",
            )
