"""Observed connections: requests per UTC hour from a consumer through a route to a System
(the gateway's), operations per UTC hour from a flow through a connector to a System, and the
event mesh's and the flows' links per UTC hour (publishes, deliveries, flow triggers and calls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from interlink.store.database import Database

_SELECT: Final = "SELECT hour, consumer, route, system, count, errors FROM observed_connections"
_ORDER: Final = " ORDER BY hour, consumer, route, system"


@dataclass(frozen=True)
class ObservedConnection:
    """Requests a consumer sent through a route to an upstream System within one UTC hour.

    ``consumer`` is "" for requests no authentication named a consumer for.
    """

    hour: datetime  # the start of the hour, UTC
    consumer: str
    route: str
    system: str
    count: int
    errors: int = 0  # of them answered with a 5xx (the upstream's, or the gateway's own)


def hour_start(value: datetime) -> datetime:
    """The UTC hour ``value`` falls in."""
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class ObservedConnections:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: list[ObservedConnection]) -> None:
        """Add each row's counts to those stored for its (hour, consumer, route, system)."""
        if not rows:
            return
        ts = self._db.ts
        with self._db.transaction() as session:
            session.executemany(
                "INSERT INTO observed_connections (hour, consumer, route, system, count, errors) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hour, consumer, route, system) "
                "DO UPDATE SET count = observed_connections.count + excluded.count, "
                "errors = observed_connections.errors + excluded.errors",
                [
                    (ts(hour_start(r.hour)), r.consumer, r.route, r.system, r.count, r.errors)
                    for r in rows
                ],
            )

    def list(
        self, since: datetime | None = None, route: str | None = None
    ) -> list[ObservedConnection]:
        """Stored counts for the hours starting at or after ``since``'s hour (all without it),
        of every route or of ``route`` only, ordered by hour, consumer, route and system."""
        where: list[str] = []
        params: list[object] = []
        if since is not None:
            where.append("hour >= ?")
            params.append(self._db.ts(hour_start(since)))
        if route is not None:
            where.append("route = ?")
            params.append(route)
        query = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + _ORDER
        with self._db.session() as session:
            rows = session.fetchall(query, tuple(params))
        return [ObservedConnection(self._db.dt(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


_CALLS: Final = (
    "SELECT hour, caller, system, direction, operation, calls, volume, errors "
    "FROM observed_connector_calls"
)
_CALLS_ORDER: Final = " ORDER BY hour, caller, system, direction, operation"


@dataclass(frozen=True)
class ObservedCall:
    """Operations a caller (a Flow) made through a connector on a System within one UTC hour.

    ``direction`` is ``read`` or ``write``; ``volume`` what the calls moved (rows, messages or
    bytes, by ``operation``); ``errors`` the calls that failed."""

    hour: datetime  # the start of the hour, UTC
    caller: str
    system: str
    direction: str
    operation: str
    calls: int
    volume: int
    errors: int


class ObservedCalls:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: list[ObservedCall]) -> None:
        """Add each row's counts to those stored for its (hour, caller, system, direction,
        operation)."""
        if not rows:
            return
        ts = self._db.ts
        with self._db.transaction() as session:
            session.executemany(
                "INSERT INTO observed_connector_calls (hour, caller, system, direction, "
                "operation, calls, volume, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (hour, caller, system, direction, operation) DO UPDATE SET "
                "calls = observed_connector_calls.calls + excluded.calls, "
                "volume = observed_connector_calls.volume + excluded.volume, "
                "errors = observed_connector_calls.errors + excluded.errors",
                [
                    (
                        ts(hour_start(r.hour)),
                        r.caller,
                        r.system,
                        r.direction,
                        r.operation,
                        r.calls,
                        r.volume,
                        r.errors,
                    )
                    for r in rows
                ],
            )

    def list(self, since: datetime | None = None) -> list[ObservedCall]:
        """Stored counts for the hours starting at or after ``since``'s hour (all without it)."""
        with self._db.session() as session:
            if since is None:
                rows = session.fetchall(_CALLS + _CALLS_ORDER)
            else:
                start = self._db.ts(hour_start(since))
                rows = session.fetchall(_CALLS + " WHERE hour >= ?" + _CALLS_ORDER, (start,))
        return [ObservedCall(self._db.dt(r[0]), *r[1:]) for r in rows]


_LINKS: Final = "SELECT hour, kind, source, target, via, count, errors, dead FROM observed_links"
_LINKS_ORDER: Final = " ORDER BY hour, kind, source, target, via"


@dataclass(frozen=True)
class ObservedLink:
    """What one estate object did to another within one UTC hour, as the mesh and the flows
    saw it.

    ``kind`` is ``publish`` (source: a Consumer, Route or Flow; target: the Event), ``deliver``
    (source: the Subscription; via: its Event), ``trigger`` (target: the Flow; via: the trigger
    kind) or ``call`` (source: the Flow; target: a System, Api or Flow; via: the step).
    Sources and targets are estate keys (``Kind/name``), ``""`` when unknown. ``errors`` are
    attempts that failed (refused, failed, retried), ``dead`` deliveries dead-lettered."""

    hour: datetime  # the start of the hour, UTC
    kind: str
    source: str
    target: str
    via: str
    count: int
    errors: int = 0
    dead: int = 0


class ObservedLinks:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: list[ObservedLink]) -> None:
        """Add each row's counts to those stored for its (hour, kind, source, target, via)."""
        if not rows:
            return
        ts = self._db.ts
        with self._db.transaction() as session:
            session.executemany(
                "INSERT INTO observed_links (hour, kind, source, target, via, count, errors, "
                "dead) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (hour, kind, source, target, via) DO UPDATE SET "
                "count = observed_links.count + excluded.count, "
                "errors = observed_links.errors + excluded.errors, "
                "dead = observed_links.dead + excluded.dead",
                [
                    (
                        ts(hour_start(r.hour)),
                        r.kind,
                        r.source,
                        r.target,
                        r.via,
                        r.count,
                        r.errors,
                        r.dead,
                    )
                    for r in rows
                ],
            )

    def list(self, since: datetime | None = None) -> list[ObservedLink]:
        """Stored counts for the hours starting at or after ``since``'s hour (all without it)."""
        with self._db.session() as session:
            if since is None:
                rows = session.fetchall(_LINKS + _LINKS_ORDER)
            else:
                start = self._db.ts(hour_start(since))
                rows = session.fetchall(_LINKS + " WHERE hour >= ?" + _LINKS_ORDER, (start,))
        return [ObservedLink(self._db.dt(r[0]), *r[1:]) for r in rows]
