"""One open connection per System per process, for the flow engine's query, write and file
steps and the triggers that poll or watch a System.

A System's connection is opened on first use from its ``connection`` (references resolved, the
schema's defaults filled in) and kept. When the estate reloads with another connection for the
System (or another connector), the next use closes the old one and opens the new one;
:meth:`Connections.retain` closes those of Systems no longer there, and :meth:`aclose` closes
them all when the process stops.

A caller that names itself (``caller``: the flow) gets the connection wrapped in
:class:`~interlink.connectors.observed.Observed`, which counts its every operation in
:attr:`Connections.calls` (the observed connector calls, flushed to the store by the runtime).

Errors leave through here with every resolved secret of the System masked, whatever the
connector put in its message; a connector that raises something other than a
:class:`ConnectorError` has it wrapped into one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from interlink.connectors.base import (
    Connection,
    ConnectorError,
    Fetched,
    FileInfo,
    Inbox,
    OutgoingMessage,
    Received,
    Row,
    StreamRead,
    WriteMode,
)
from interlink.connectors.observed import CallCounts, Observed
from interlink.connectors.registry import Registry, registry
from interlink.errors import ConfigError, InterlinkError
from interlink.estate.references import (
    REDACTED,
    REFERENCE,
    SecretSource,
    has_reference,
    resolve,
)

T = TypeVar("T")


def resolve_config(value: Any, secrets: SecretSource | None = None) -> Any:
    """``value`` with every reference in its strings resolved."""
    if isinstance(value, str):
        return resolve(value, secrets) if has_reference(value) else value
    if isinstance(value, Mapping):
        return {k: resolve_config(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_config(v, secrets) for v in value]
    return value


def _secrets(raw: Any, resolved: Any, source: SecretSource | None = None) -> set[str]:
    """The resolved values of the references in ``raw``: each whole string that holds one, and
    each reference's own value (a password inside a URL)."""
    if isinstance(raw, str) and has_reference(raw) and isinstance(resolved, str):
        found = {resolved}
        for match in REFERENCE.finditer(raw):
            if match.group(0) != raw:
                found.add(resolve(match.group(0), source))
        return {value for value in found if len(value) >= 3}
    if isinstance(raw, Mapping) and isinstance(resolved, Mapping):
        return set().union(*(_secrets(v, resolved.get(k), source) for k, v in raw.items()))
    if isinstance(raw, list) and isinstance(resolved, list):
        pairs = zip(raw, resolved, strict=False)
        return set().union(*(_secrets(v, r, source) for v, r in pairs))
    return set()


class Masked(Connection):
    """A connection whose errors never carry the System's secrets."""

    def __init__(self, inner: Connection, system: str, secrets: set[str]) -> None:
        self.inner = inner
        self.system = system
        self._secrets = sorted(secrets, key=len, reverse=True)

    def _mask(self, exc: BaseException, obj: str | None) -> ConnectorError:
        if isinstance(exc, ConnectorError):
            detail, retryable, obj = exc.detail, exc.retryable, exc.object
            kind: type[ConnectorError] = type(exc)
        else:
            detail, retryable = f"{type(exc).__name__}: {exc}", False
            kind = ConnectorError
        for secret in self._secrets:
            detail = detail.replace(secret, REDACTED)
        return kind(detail, system=self.system, object=obj, retryable=retryable)

    async def _call(self, call: Awaitable[T], obj: str | None) -> T:
        """What ``call`` returns; its error said of ``obj``, with no secret in it."""
        try:
            return await call
        except Exception as exc:
            raise self._mask(exc, obj) from None

    async def query(
        self, sql: str, params: Mapping[str, Any], *, max_rows: int | None = None
    ) -> list[Row]:
        return await self._call(self.inner.query(sql, params, max_rows=max_rows), None)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> Fetched:
        return await self._call(self.inner.fetch(sql, params), None)

    async def write(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        mode: WriteMode = "insert",
        key: Sequence[str] = (),
        batch_size: int = 500,
    ) -> int:
        written = self.inner.write(table, rows, mode=mode, key=key, batch_size=batch_size)
        return await self._call(written, table)

    async def send(self, message: OutgoingMessage) -> None:
        await self._call(self.inner.send(message), message.to)

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        inbox = await self._call(self.inner.subscribe(source, options), source)
        return _MaskedInbox(inbox, self, source)

    async def read_stream(self, stream: str, state: Any, limit: int) -> StreamRead:
        return await self._call(self.inner.read_stream(stream, state, limit), stream)

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        return await self._call(self.inner.list_files(prefix), prefix or None)

    async def read_file(self, path: str) -> bytes:
        return await self._call(self.inner.read_file(path), path)

    async def write_file(self, path: str, data: bytes) -> None:
        await self._call(self.inner.write_file(path, data), path)

    async def move_file(self, path: str, to: str) -> None:
        await self._call(self.inner.move_file(path, to), path)

    async def delete_file(self, path: str) -> None:
        await self._call(self.inner.delete_file(path), path)

    async def close(self) -> None:
        await self.inner.close()


class _MaskedInbox(Inbox):
    """An inbox whose errors, and its messages' ack and nack errors, carry no secret."""

    def __init__(self, inner: Inbox, masked: Masked, source: str) -> None:
        self._inner = inner
        self._masked = masked
        self._source = source

    async def receive(self) -> Received:
        received = await self._masked._call(self._inner.receive(), self._source)
        return _MaskedReceived(received, self._masked)

    async def close(self) -> None:
        await self._inner.close()


class _MaskedReceived(Received):
    def __init__(self, inner: Received, masked: Masked) -> None:
        self._inner = inner
        self._masked = masked
        self.key, self.body, self.headers = inner.key, inner.body, inner.headers
        self.source = inner.source
        self.acks_in_call_order = inner.acks_in_call_order  # _call awaits it first thing

    async def ack(self) -> None:
        await self._masked._call(self._inner.ack(), self.source)

    async def nack(self) -> None:
        await self._masked._call(self._inner.nack(), self.source)


@dataclass
class _Open:
    fingerprint: str
    connection: Connection


class Connections:
    """The process's connections to Systems, one per System."""

    def __init__(
        self, connectors: Registry | None = None, secrets: SecretSource | None = None
    ) -> None:
        self._registry = connectors
        self._secrets = secrets
        #: Every operation of a named caller, counted (see connectors/observed.py).
        self.calls = CallCounts()
        self._open: dict[str, _Open] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closed = False

    async def get(
        self,
        system: str,
        connector: str,
        connection: Mapping[str, Any] | None,
        *,
        caller: str | None = None,
    ) -> Connection:
        """The open connection to ``system``; opened (or reopened, when its configuration
        changed) as needed. ConnectorError or ConfigError when it cannot be had. With
        ``caller`` (a flow's name), its operations are counted under it."""
        shared = await self._shared(system, connector, connection)
        return shared if caller is None else Observed(shared, caller, self.calls)

    async def _shared(
        self, system: str, connector: str, connection: Mapping[str, Any] | None
    ) -> Connection:
        if self._closed:
            raise ConfigError("the connections are closed: this process is stopping")
        fingerprint = json.dumps([connector, connection or {}], sort_keys=True, default=str)
        lock = self._locks.setdefault(system, asyncio.Lock())
        async with lock:
            current = self._open.get(system)
            if current is not None and current.fingerprint == fingerprint:
                return current.connection
            if current is not None:
                del self._open[system]
                await _close(current.connection)
            opened = await self._connect(system, connector, connection or {})
            self._open[system] = _Open(fingerprint, opened)
            return opened

    async def _connect(self, system: str, connector: str, raw: Mapping[str, Any]) -> Connection:
        return await open_connection(
            self._registry or registry(), system, connector, raw, self._secrets
        )

    async def retain(self, systems: Iterable[str]) -> None:
        """Close the connections of every System not in ``systems`` (after a reload)."""
        keep = set(systems)
        for name in [n for n in self._open if n not in keep]:
            gone = self._open.pop(name)
            await _close(gone.connection)

    def systems(self) -> list[str]:
        """The Systems with an open connection."""
        return sorted(self._open)

    async def aclose(self) -> None:
        self._closed = True
        opened, self._open = self._open, {}
        for item in opened.values():
            await _close(item.connection)


async def open_connection(
    connectors: Registry,
    system: str,
    connector: str,
    raw: Mapping[str, Any],
    secrets: SecretSource | None = None,
) -> Masked:
    """A connection to ``system`` from its ``connection`` as the estate gives it: validated,
    references resolved, defaults filled in, its resolved secrets told to it and masked in its
    errors. ConfigError or ConnectorError when it cannot be had."""
    found = connectors.get(connector)
    spec = found.spec
    problems = spec.problems(raw)
    if problems:
        path, message = problems[0]
        where = ".".join(str(p) for p in path)
        raise ConfigError(f"System/{system}: connection{'.' + where if where else ''}: {message}")
    config = spec.defaults(resolve_config(dict(raw), secrets))
    hidden = _secrets(raw, config, secrets)
    masked = Masked(_NoConnection(system), system, hidden)
    try:
        inner = await found.open(config, system)
    except InterlinkError as exc:
        if isinstance(exc, ConnectorError):
            raise masked._mask(exc, exc.object) from None
        raise
    except Exception as exc:  # a third-party connector failing in its own way
        raise masked._mask(exc, None) from None
    inner.hide(hidden)
    masked.inner = inner
    return masked


class _NoConnection(Connection):
    def __init__(self, system: str) -> None:
        self.system = system

    async def close(self) -> None:
        return None


async def _close(connection: Connection) -> None:
    try:
        await connection.close()
    except Exception:  # closing what may already be broken: nothing to tell anyone
        return
