"""A polling source over a prefix of a System with a files connector (``trigger.watch``).

Each poll lists the prefix (files under ``moveTo`` and ``errorTo`` left out, and those whose
name does not match ``pattern``), reads each new file and makes it one item: its key is the
path, size and version (modification time, or the store's etag), and its input
``{"path", "name", "size", "modified", "rows" | "content"}``. Only once the items' runs are
recorded (and the checkpoint stored) does :meth:`WatchSource.settle` move or delete the files:
a process stopped between the two lists the same files again after its restart (or on the node
that takes the trigger over), finds their runs recorded under the same keys, records none
again, and moves them then.

With ``then: keep`` the files stay, and the checkpoint holds a digest of each file's key seen
in the last listing: a file is run once, and again only when it changes (a new size or time).
A poll reads at most ``limit`` files and ``maxBytes`` in all (or the one file), then says there
is more. A file that cannot be read as its format says, or is larger than ``maxBytes``, starts
no run: it is moved to ``errorTo`` with a ``.error.txt`` beside it saying why (``keep``: left
where it is), and a warning is logged. Nothing is dropped silently.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interlink.connectors.base import Connection, ConnectorError, FileInfo, ObjectNotFound
from interlink.connectors.connections import Connections
from interlink.connectors.formats import FormatError, decode
from interlink.flows.triggers.sources import JSON, Batch, Item

log = logging.getLogger("interlink.flows.triggers")


def file_key(info: FileInfo) -> str:
    """What names a version of a file for good: its path, size and version."""
    version = info.etag or repr(info.modified)
    return f"{info.path}:{info.size}:{version}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class WatchSource:
    """Watches ``prefix`` of ``system``; ``label`` names the trigger in log lines."""

    label: str
    system: str
    connector: str
    connection: Mapping[str, Any] | None
    prefix: str = ""
    pattern: str | None = None
    format: str = "text"
    then: str = "move"
    move_to: str = "done/"
    error_to: str = "error/"
    max_bytes: int = 10_000_000
    flow: str | None = None  # the flow it feeds: its calls are counted under it
    connections: Connections = field(default_factory=Connections, compare=False, repr=False)
    _pending: dict[str, FileInfo] = field(default_factory=dict, compare=False, repr=False)

    trigger_kind = "watch"

    async def _connection(self) -> Connection:
        return await self.connections.get(
            self.system, self.connector, self.connection, caller=self.flow
        )

    def _folder(self, folder: str) -> str:
        return folder if not folder or folder.endswith("/") else f"{folder}/"

    def _watched(self, info: FileInfo) -> bool:
        if self.then == "move" and info.path.startswith(self._folder(self.move_to)):
            return False
        if info.path.startswith(self._folder(self.error_to)) and self.then != "keep":
            return False
        name = info.path.rpartition("/")[2]
        return self.pattern is None or fnmatch.fnmatchcase(name, self.pattern)

    def _under(self, folder: str, path: str) -> str:
        """Where ``path`` goes in ``folder``: its place under the prefix's folder kept."""
        base = self.prefix.rpartition("/")[0]
        rest = path[len(base) + 1 :] if base else path
        return f"{self._folder(folder)}{rest}"

    async def poll(self, cursor: JSON, limit: int) -> Batch:
        connection = await self._connection()
        listed = [f for f in await connection.list_files(self.prefix) if self._watched(f)]
        keep = self.then == "keep"
        seen = set(cursor.get("seen") or ()) if keep and isinstance(cursor, dict) else set()
        still: list[str] = []
        items: list[Item] = []
        more = False
        read = 0  # bytes held by this batch: at most maxBytes, or one file
        for info in listed:
            key = file_key(info)
            digest = _digest(key)
            if digest in seen:
                still.append(digest)
                continue
            fits = info.size > self.max_bytes or not items or read + info.size <= self.max_bytes
            if len(items) >= limit or not fits:  # one too large is set aside at once
                more = True
                continue
            if info.size <= self.max_bytes:
                read += info.size
            item = await self._read(connection, info, key)
            if item is None and not keep:
                continue
            still.append(digest)  # keep: a bad file is reported once per version
            if item is not None:
                items.append(item)
                self._pending[key] = info
        return Batch(items, {"seen": sorted(still)} if keep else None, more=more)

    async def _read(self, connection: Connection, info: FileInfo, key: str) -> Item | None:
        """The file's item; None when it is gone, or was not what its format says (then set
        aside and reported)."""
        if info.size > self.max_bytes:
            await self._reject(
                connection, info, f"{info.size} bytes, more than maxBytes ({self.max_bytes})"
            )
            return None
        try:
            data = await connection.read_file(info.path)
        except ObjectNotFound:
            return None  # taken away since the listing: the next one says what is there
        try:
            body = self._body(data)
        except FormatError as exc:
            await self._reject(connection, info, str(exc))
            return None
        modified = datetime.fromtimestamp(info.modified, UTC).isoformat().replace("+00:00", "Z")
        name = info.path.rpartition("/")[2]
        return Item(
            key, {"path": info.path, "name": name, "size": len(data), "modified": modified, **body}
        )

    def _body(self, data: bytes) -> dict[str, Any]:
        if self.format == "bytes":
            return {"content": base64.b64encode(data).decode(), "encoding": "base64"}
        if self.format == "text":
            try:
                return {"content": data.decode("utf-8")}
            except UnicodeDecodeError as exc:
                raise FormatError(f"not UTF-8 text (byte {exc.start})") from None
        rows = decode(self.format, data)  # type: ignore[arg-type]
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise FormatError("the file holds no rows: an array of objects, or one object")
        return {"rows": rows}

    async def _reject(self, connection: Connection, info: FileInfo, why: str) -> None:
        said = ConnectorError(why, system=self.system, object=info.path).message
        if self.then == "keep":
            log.warning("%s: a file is not run: %s; it is left where it is", self.label, said)
            return
        to = self._under(self.error_to, info.path)
        await connection.write_file(f"{to}.error.txt", f"{said}\n".encode())
        await connection.move_file(info.path, to)
        log.warning("%s: a file is not run: %s; moved to %s", self.label, said, to)

    async def settle(self, items: Sequence[Item]) -> None:
        """The items' runs are recorded: move or delete their files."""
        if self.then == "keep":
            return
        connection = await self._connection()
        for item in items:
            info = self._pending.pop(item.key, None)
            if info is None:
                continue
            try:
                if self.then == "move":
                    await connection.move_file(info.path, self._under(self.move_to, info.path))
                else:
                    await connection.delete_file(info.path)
            except ObjectNotFound:
                continue  # moved already, by an earlier pass that stopped before saying so
