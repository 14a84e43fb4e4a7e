"""The SFTP side of the ``sftp`` connector (see :mod:`interlink.connectors.sftp`): asyncssh
is imported here, when a System first connects, so that a process that never uses SFTP does not
pay for importing it."""

from __future__ import annotations

import asyncio
import posixpath
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncssh

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    FileInfo,
    ObjectNotFound,
)
from interlink.connectors.filepaths import file_path, file_prefix, is_temporary, temporary

T = TypeVar("T")


class _Pinned(asyncssh.SSHClient):
    """Trusts the one host key configured, and remembers which one the server showed."""

    def __init__(self, wanted: str) -> None:
        self._wanted = wanted.strip()
        self.presented: str | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key.get_fingerprint("sha256")
        if self._wanted.startswith("SHA256:"):
            return self.presented == self._wanted
        line = key.export_public_key("openssh").decode().split()
        return line[:2] == self._wanted.split()[:2]


def _sftp_error(exc: asyncssh.SFTPError, system: str, path: str) -> ConnectorError:
    text = exc.reason or type(exc).__name__
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return ObjectNotFound(f"no such file: {text}", system=system, object=path)
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return ConnectorError(f"refused: {text}", system=system, object=path)
    lost = isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection)
    return ConnectorError(text, system=system, object=path, retryable=lost)


class SftpConnection(Connection):
    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.system = system
        self._config = config
        self.root = str(config.get("root", "."))
        self.server = f"{config['host']}:{int(config.get('port', 22))}"
        self._ssh: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> asyncssh.SFTPClient:
        """The SFTP session, opened (again) when there is none."""
        async with self._lock:
            if self._sftp is not None and self._ssh is not None and not self._ssh.is_closed():
                return self._sftp
            await self._drop()
            config = self._config
            keys: list[asyncssh.SSHKey] | None = None
            if config.get("privateKey"):
                try:
                    keys = [
                        asyncssh.import_private_key(
                            str(config["privateKey"]), config.get("passphrase")
                        )
                    ]
                except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                    raise ConnectionFailed(
                        f"privateKey does not load: {exc}", system=self.system, object=self.server
                    ) from None
            elif not config.get("password"):
                raise ConnectionFailed(
                    "give password or privateKey to log in", system=self.system, object=self.server
                )
            client = _Pinned(str(config["hostKey"]))
            try:
                ssh, _ = await asyncio.wait_for(
                    asyncssh.create_connection(
                        lambda: client,
                        str(config["host"]),
                        int(config.get("port", 22)),
                        username=str(config["username"]),
                        password=config.get("password") or None,
                        client_keys=keys,
                        known_hosts=([], [], []),  # nothing trusted: _Pinned decides
                        agent_path=None,
                        config=None,
                        preferred_auth=("publickey" if keys else "password"),
                    ),
                    float(config.get("connectTimeout", 15)),
                )
                self._ssh = ssh
                self._sftp = await ssh.start_sftp_client()
            except asyncssh.HostKeyNotVerifiable:
                raise ConnectionFailed(
                    f"the server presented host key {client.presented}, not the configured "
                    "hostKey: refused (check the server's key; if it changed on purpose, "
                    "update hostKey)",
                    system=self.system,
                    object=self.server,
                ) from None
            except asyncssh.PermissionDenied:
                raise ConnectionFailed(
                    f"the server refused the login of {config['username']}",
                    system=self.system,
                    object=self.server,
                ) from None
            except (OSError, asyncssh.Error, TimeoutError) as exc:
                await self._drop()
                raise ConnectionFailed(
                    f"cannot connect: {_describe(exc)}",
                    system=self.system,
                    object=self.server,
                    retryable=True,
                ) from None
            return self._sftp

    async def _drop(self) -> None:
        ssh, self._ssh, self._sftp = self._ssh, None, None
        if ssh is not None:
            ssh.close()
            await ssh.wait_closed()

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, file_path(path, self.system))

    async def _run(self, path: str, fn: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        sftp = await self.connect()
        try:
            return await fn(sftp)
        except asyncssh.SFTPError as exc:
            error = _sftp_error(exc, self.system, path)
        except (OSError, asyncssh.Error) as exc:  # the connection dropped
            error = ConnectorError(
                f"the connection failed: {_describe(exc)}",
                system=self.system,
                object=path,
                retryable=True,
            )
        if error.retryable:
            async with self._lock:
                await self._drop()
        raise error

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        file_prefix(prefix, self.system)
        head = prefix.rpartition("/")[0]

        async def walk(sftp: asyncssh.SFTPClient) -> list[FileInfo]:
            found: list[FileInfo] = []
            folders = [head]
            while folders:
                folder = folders.pop()
                remote = posixpath.join(self.root, folder) if folder else self.root
                try:
                    entries = await sftp.readdir(remote)
                except asyncssh.SFTPNoSuchFile:
                    continue
                for entry in entries:
                    name = str(entry.filename)
                    if name in (".", ".."):
                        continue
                    path = f"{folder}/{name}" if folder else name
                    kind = entry.attrs.type
                    if kind == asyncssh.FILEXFER_TYPE_DIRECTORY:
                        if path.startswith(prefix[: len(path)]):
                            folders.append(path)
                    elif (
                        kind == asyncssh.FILEXFER_TYPE_REGULAR
                        and path.startswith(prefix)
                        and not is_temporary(path)
                    ):
                        modified = float(entry.attrs.mtime or 0)
                        found.append(FileInfo(path, int(entry.attrs.size or 0), modified))
            return sorted(found, key=lambda f: f.path)

        return await self._run(prefix or self.root, walk)

    async def read_file(self, path: str) -> bytes:
        remote = self._remote(path)

        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            async with sftp.open(remote, "rb") as handle:
                data: Any = await handle.read()  # bytes: the file is opened in binary
                return bytes(data)

        return await self._run(path, read)

    async def write_file(self, path: str, data: bytes) -> None:
        remote = self._remote(path)
        spare = posixpath.join(self.root, temporary(path, uuid.uuid4().hex[:12]))

        async def write(sftp: asyncssh.SFTPClient) -> None:
            await sftp.makedirs(posixpath.dirname(remote) or ".", exist_ok=True)
            try:
                async with sftp.open(spare, "wb") as handle:
                    await handle.write(data)
                await _replace(sftp, spare, remote)
            except BaseException:
                await _forget(sftp, spare)
                raise

        await self._run(path, write)

    async def move_file(self, path: str, to: str) -> None:
        source, target = self._remote(path), self._remote(to)

        async def move(sftp: asyncssh.SFTPClient) -> None:
            await sftp.stat(source)  # SFTPNoSuchFile names the source
            await sftp.makedirs(posixpath.dirname(target) or ".", exist_ok=True)
            await _replace(sftp, source, target)

        await self._run(path, move)

    async def delete_file(self, path: str) -> None:
        remote = self._remote(path)
        await self._run(path, lambda sftp: _forget(sftp, remote))

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


async def _replace(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    try:
        await sftp.posix_rename(source, target)
    except asyncssh.SFTPOpUnsupported:  # no posix-rename: SFTP's rename refuses an existing one
        await _forget(sftp, target)
        await sftp.rename(source, target)


async def _forget(sftp: asyncssh.SFTPClient, remote: str) -> None:
    try:
        await sftp.remove(remote)
    except asyncssh.SFTPNoSuchFile:
        return


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc)
    return text or type(exc).__name__
