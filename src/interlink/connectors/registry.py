"""Which connectors this process knows: the built-ins, and third-party ones found through the
``interlink.connectors`` entry point group.

An entry point names a :class:`~interlink.connectors.base.Connector` subclass (or an instance).
One that does not import, or names something else, is left out with one readable line in
:attr:`Registry.problems` (logged, and shown by `interlink connectors list`): a broken plugin
never stops the platform. A plugin cannot replace a built-in of the same name.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from interlink.connectors.airbyte import AirbyteConnector
from interlink.connectors.amqp import AmqpConnector
from interlink.connectors.base import Connector
from interlink.connectors.chat import ChatConnector
from interlink.connectors.directory import DirectoryConnector
from interlink.connectors.http import HttpConnector
from interlink.connectors.mariadb import MariaDbConnector
from interlink.connectors.mqtt import MqttConnector
from interlink.connectors.nats import NatsConnector
from interlink.connectors.postgresql import PostgresConnector
from interlink.connectors.redis_streams import RedisStreamsConnector
from interlink.connectors.s3 import S3Connector
from interlink.connectors.sftp import SftpConnector
from interlink.connectors.singer import SingerConnector
from interlink.connectors.smtp import SmtpConnector
from interlink.connectors.spec import ConnectorSpec, Problem
from interlink.connectors.sqlite import SqliteConnector
from interlink.errors import NotFound
from interlink.estate.hints import did_you_mean

ENTRY_POINT_GROUP = "interlink.connectors"
BUILT_IN: tuple[type[Connector], ...] = (
    HttpConnector,
    PostgresConnector,
    MariaDbConnector,
    SqliteConnector,
    MqttConnector,
    RedisStreamsConnector,
    SingerConnector,
    AirbyteConnector,
    S3Connector,
    SmtpConnector,
    ChatConnector,
    DirectoryConnector,
    SftpConnector,
    AmqpConnector,
    NatsConnector,
)
log = logging.getLogger("interlink.connectors")


class Registry:
    """Connectors by name. It is also the estate's catalogue of them (`check` asks it whether a
    System's connector exists and its connection is valid)."""

    def __init__(self, connectors: Iterable[Connector], problems: Iterable[str] = ()) -> None:
        self._connectors: dict[str, Connector] = {}
        self.problems: list[str] = list(problems)
        for connector in connectors:
            name = connector.spec.name
            if name in self._connectors:
                self.problems.append(f"connector {name!r} is declared twice: the first one is used")
                continue
            self._connectors[name] = connector

    def names(self) -> list[str]:
        return sorted(self._connectors)

    def specs(self) -> list[ConnectorSpec]:
        return [self._connectors[name].spec for name in self.names()]

    def find(self, name: str) -> Connector | None:
        return self._connectors.get(name)

    def get(self, name: str) -> Connector:
        """The connector ``name``; NotFound, with a did-you-mean, when there is none."""
        found = self._connectors.get(name)
        if found is None:
            hint = did_you_mean(name, self.names())
            raise NotFound(
                f"no connector {name!r}"
                + (f" ({hint})" if hint else "")
                + f"; known: {', '.join(self.names())}"
            )
        return found

    # --- the estate's catalogue (interlink.estate.connections.ConnectorCatalog) -------------

    def interface(self, name: str) -> str | None:
        found = self._connectors.get(name)
        return found.spec.interface if found else None

    def capabilities(self, name: str) -> list[str]:
        found = self._connectors.get(name)
        return [c.name for c in found.spec.capabilities] if found else []

    def problems_of(self, name: str, connection: Mapping[str, Any]) -> list[Problem]:
        return self.get(name).spec.problems(connection)

    def option_problems(
        self, name: str, capability: str, options: Mapping[str, Any]
    ) -> list[Problem]:
        found = self._connectors.get(name)
        cap = found.spec.capability(capability) if found else None
        return cap.problems(options) if cap is not None else []


def _load(entry: EntryPoint) -> Connector:
    """The connector an entry point names; ValueError saying why not in one line."""
    try:
        target: Any = entry.load()
    except Exception as exc:  # a plugin's import may fail in any way: say so, go on
        raise ValueError(f"cannot import {entry.value}: {type(exc).__name__}: {exc}") from None
    if isinstance(target, type) and issubclass(target, Connector):
        try:
            target = target()
        except Exception as exc:
            raise ValueError(f"{entry.value}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(target, Connector):
        raise ValueError(f"{entry.value} is not an interlink Connector")
    spec = getattr(type(target), "spec", None)
    if not isinstance(spec, ConnectorSpec):
        raise ValueError(f"{entry.value} has no ConnectorSpec")
    if spec.name != entry.name:
        raise ValueError(f"{entry.value} is named {spec.name!r}, registered as {entry.name!r}")
    return target


def discover(entries: Iterable[EntryPoint] | None = None) -> Registry:
    """The built-ins and the installed plugins (or ``entries``, for tests)."""
    found: list[Connector] = [cls() for cls in BUILT_IN]
    builtin = {c.spec.name for c in found}
    problems: list[str] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP) if entries is None else entries:
        if entry.name in builtin:
            problems.append(f"connector plugin {entry.name!r}: a built-in has that name; ignored")
            continue
        try:
            found.append(_load(entry))
        except ValueError as exc:
            problems.append(f"connector plugin {entry.name!r} left out: {exc}")
    for problem in problems:
        log.warning("%s", problem)
    return Registry(found, problems)


@functools.cache
def registry() -> Registry:
    """The process's registry, discovered once."""
    return discover()
