"""``directory``: a directory on the node (or a share mounted there), its files read and written
in a worker thread.

Paths are relative to ``root`` and checked (``filepaths.py``); a path that resolves outside the
root through a symbolic link is refused too. A write goes to a hidden temporary file in the
same directory, flushed to disk, then renamed over the target, so a reader sees the old file or
the new one and never half of it; a move is a rename (missing directories are created).
"""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from interlink.connectors import schemas
from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    Connector,
    ConnectorError,
    FileInfo,
    ObjectNotFound,
    StatementError,
)
from interlink.connectors.filepaths import file_path, file_prefix, is_temporary, temporary
from interlink.connectors.spec import Capability, ConnectorSpec

T = TypeVar("T")

#: What file connectors can do for a flow; the directory, SFTP and bucket connectors share it.
FILE_CAPABILITIES = (
    Capability(
        "trigger",
        "a Flow's trigger.watch starts a run per new file under a prefix, then moves, deletes "
        "or keeps it",
    ),
    Capability("read", "trigger.watch reads each file as rows (csv, jsonl, json) or content"),
    Capability(
        "write", "file steps write a whole file (csv, jsonl, json, parquet or text) atomically"
    ),
)

SPEC = ConnectorSpec(
    name="directory",
    title="Directory",
    description="A directory on the node (or a share mounted there): files listed, read, "
    "written atomically, moved.",
    interface="files",
    config=schemas.connection(
        {
            "root": {
                "type": "string",
                "minLength": 1,
                "description": "the directory every path is relative to: absolute, or "
                "relative to the working directory; no path leaves it",
            },
            "create": {
                "type": "boolean",
                "default": False,
                "description": "create the root when it is missing (otherwise a missing root "
                "is an error)",
            },
        },
        required=["root"],
    ),
    capabilities=FILE_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: exchange, owner: platform}
spec:
  domain: platform
  connector: directory
  connection:
    root: /srv/exchange
""",
)


def _error(exc: OSError, system: str, path: str) -> ConnectorError:
    text = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT:
        return ObjectNotFound(f"no such file: {text}", system=system, object=path)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ConnectorError(f"refused: {text}", system=system, object=path)
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.EEXIST):
        return StatementError(text, system=system, object=path)
    # A full disk, an I/O error, a share gone stale: it may pass.
    return ConnectorError(text, system=system, object=path, retryable=True)


class DirectoryConnection(Connection):
    def __init__(self, root: Path, system: str) -> None:
        self.root = root
        self.system = system

    def _local(self, path: str) -> Path:
        """The file ``path`` names; StatementError when it is not under the root."""
        local = self.root / file_path(path, self.system)
        if not local.resolve().is_relative_to(self.root):
            raise StatementError(
                "the path leads out of the System's root through a link",
                system=self.system,
                object=path,
            )
        return local

    async def _run(self, path: str, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return fn()
            except OSError as exc:
                raise _error(exc, self.system, path) from None

        return await asyncio.to_thread(guarded)

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        file_prefix(prefix, self.system)
        head = prefix.rpartition("/")[0]
        start = self.root / head if head else self.root

        def walk() -> list[FileInfo]:
            if not start.resolve().is_relative_to(self.root):
                raise StatementError(
                    "the prefix leads out of the System's root through a link",
                    system=self.system,
                    object=prefix,
                )
            found: list[FileInfo] = []
            if not start.is_dir():
                return found
            for folder, _, names in os.walk(start, onerror=_raise):
                for name in names:
                    local = Path(folder) / name
                    path = local.relative_to(self.root).as_posix()
                    if not path.startswith(prefix) or is_temporary(path):
                        continue
                    stat = local.stat()
                    found.append(
                        FileInfo(path, stat.st_size, stat.st_mtime, f"{stat.st_mtime_ns:x}")
                    )
            return sorted(found, key=lambda f: f.path)

        return await self._run(prefix or "/", walk)

    async def read_file(self, path: str) -> bytes:
        return await self._run(path, self._local(path).read_bytes)

    async def write_file(self, path: str, data: bytes) -> None:
        local = self._local(path)
        spare = self.root / temporary(path, uuid.uuid4().hex[:12])

        def write() -> None:
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                try:
                    out = open(spare, "wb")  # noqa: SIM115 - closed below
                except FileNotFoundError as exc:  # /proc and the like: no file is made there
                    raise ConnectorError(
                        f"refused: cannot create a file there ({exc.strerror})",
                        system=self.system,
                        object=path,
                    ) from None
                with out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(spare, local)
            finally:
                spare.unlink(missing_ok=True)

        await self._run(path, write)

    async def move_file(self, path: str, to: str) -> None:
        source, target = self._local(path), self._local(to)

        def move() -> None:
            if not source.is_file():
                raise ObjectNotFound("no such file", system=self.system, object=path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)

        await self._run(path, move)

    async def delete_file(self, path: str) -> None:
        local = self._local(path)
        await self._run(path, lambda: local.unlink(missing_ok=True))

    async def close(self) -> None:
        return None


def _raise(exc: OSError) -> None:
    raise exc


class DirectoryConnector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        given = str(config["root"])
        root = Path(given)

        def prepare() -> Path:
            if config.get("create", False):
                root.mkdir(parents=True, exist_ok=True)
            if not root.is_dir():
                raise ConnectionFailed(
                    "the root is not a directory (or is missing): create it, or set create",
                    system=system,
                    object=given,
                )
            return root.resolve()

        try:
            return DirectoryConnection(await asyncio.to_thread(prepare), system)
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot open the root: {exc.strerror or exc}", system=system, object=given
            ) from None
