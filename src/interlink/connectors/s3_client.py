"""The obstore side of the ``s3`` connector (see :mod:`interlink.connectors.s3`):
obstore is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import obstore
from obstore.exceptions import (
    BaseError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    FileInfo,
    ObjectNotFound,
    StatementError,
)

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig


_STATUS = re.compile(r"non-2xx status code: (\d{3})")
_CODE = re.compile(r"<Code>([^<]{1,64})</Code>")
_MESSAGE = re.compile(r"<Message>([^<]{1,300})</Message>")
#: What a store answers when it does not know the key or its signature does not match.
_CREDENTIALS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken")
_PAGE = 1000  # keys a list request asks for, as S3's own maximum


def check_path(path: str, system: str, *, prefix: bool = False) -> str:
    """``path`` when it is a relative path of ``/``-separated names (a listing's prefix may
    be empty or end in ``/``); StatementError otherwise."""
    parts = path.split("/")
    if prefix and parts[-1] == "":
        parts = parts[:-1]
    bad = (
        (not path and not prefix)
        or path.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 32 or c == "\x7f" for c in path)
    )
    if bad:
        raise StatementError(
            "a path is names separated by /, relative to the System's root, without . or .. "
            "or control characters",
            system=system,
            object=repr(path),
        )
    return path


def _endpoint(config: Mapping[str, Any]) -> str | None:
    endpoint = config.get("endpoint")
    if not endpoint:
        return None
    parts = urlsplit(str(endpoint).rstrip("/"))
    if config.get("pathStyle", True):
        return urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    # A virtual-hosted request names the bucket in the host; the store wants it said.
    return urlunsplit((parts.scheme, f"{config['bucket']}.{parts.netloc}", "", "", ""))


class S3Connection(Connection):
    def __init__(self, store: S3Store, config: Mapping[str, Any], system: str) -> None:
        self._store = store
        self.system = system
        self._bucket = str(config["bucket"])
        self._where = _endpoint(config) or f"AWS S3 ({config.get('region', 'us-east-1')})"

    def _error(self, exc: Exception, obj: str) -> ConnectorError:
        """The obstore error ``exc`` as a ConnectorError: the store's code and message, never
        its request (the URL and the debug dump say nothing a user needs)."""
        if isinstance(exc, ValueError) and not isinstance(exc, BaseError):
            return StatementError(" ".join(str(exc).split())[:200], system=self.system, object=obj)
        text = str(exc)
        status_match, code_match = _STATUS.search(text), _CODE.search(text)
        status = int(status_match.group(1)) if status_match else None
        code = code_match.group(1) if code_match else ""
        said = _MESSAGE.search(text)
        reason = f"{status} {code}".strip() + (f": {said.group(1)}" if said else "")
        if code == "NoSuchBucket":
            return ObjectNotFound(
                f"the bucket does not exist at {self._where}",
                system=self.system,
                object=f"bucket {self._bucket}",
            )
        if isinstance(exc, NotFoundError) or code == "NoSuchKey":
            return ObjectNotFound("no such file", system=self.system, object=obj)
        if code in _CREDENTIALS or status == 401 or isinstance(exc, UnauthenticatedError):
            return ConnectionFailed(
                f"the store refused the credentials ({reason or 'unauthenticated'})",
                system=self.system,
                object=f"bucket {self._bucket}",
            )
        if status == 403 or isinstance(exc, PermissionDeniedError):
            return ConnectorError(
                f"access denied ({reason or 'forbidden'})", system=self.system, object=obj
            )
        if status is None:
            # No answer at all: refused, unreachable, timed out.
            cause = "timed out" if "timed out" in text.lower() else "no answer"
            return ConnectionFailed(
                f"cannot reach the store at {self._where} ({cause})",
                system=self.system,
                object=f"bucket {self._bucket}",
                retryable=True,
            )
        return ConnectorError(
            f"the store answered {reason}",
            system=self.system,
            object=obj,
            retryable=status >= 500 or status in (408, 429),
        )

    async def probe(self) -> None:
        """One list request: the endpoint answers, the bucket exists, the keys are taken."""
        try:
            stream = obstore.list(self._store, chunk_size=1)
            async for _ in stream:
                break
        except Exception as exc:
            raise self._error(exc, f"bucket {self._bucket}") from None

    async def list_files(self, prefix: str = "") -> list[FileInfo]:
        check_path(prefix, self.system, prefix=True)
        # The store matches prefixes by whole names: list the folder, then filter by text.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        found: list[FileInfo] = []
        try:
            async for chunk in obstore.list(self._store, folder or None, chunk_size=_PAGE):
                for meta in chunk:
                    path = meta["path"]
                    if path.startswith(prefix):
                        found.append(
                            FileInfo(
                                path=path,
                                size=meta["size"],
                                modified=meta["last_modified"].timestamp(),
                                etag=meta["e_tag"],
                            )
                        )
        except Exception as exc:
            raise self._error(exc, prefix or "/") from None
        return sorted(found, key=lambda f: f.path)

    async def read_file(self, path: str) -> bytes:
        check_path(path, self.system)
        try:
            got = await obstore.get_async(self._store, path)
            return bytes(await got.bytes_async())
        except Exception as exc:
            raise self._error(exc, path) from None

    async def write_file(self, path: str, data: bytes) -> None:
        check_path(path, self.system)
        try:
            await obstore.put_async(self._store, path, data)
        except Exception as exc:
            raise self._error(exc, path) from None

    async def move_file(self, path: str, to: str) -> None:
        check_path(path, self.system)
        check_path(to, self.system)
        try:
            await obstore.rename_async(self._store, path, to, overwrite=True)
        except Exception as exc:
            raise self._error(exc, path) from None

    async def delete_file(self, path: str) -> None:
        check_path(path, self.system)
        try:
            await obstore.delete_async(self._store, path)
        except Exception as exc:
            error = self._error(exc, path)
            if isinstance(error, ObjectNotFound) and error.object == path:
                return  # already gone: what was asked
            raise error from None

    async def close(self) -> None:
        """Nothing to close: the store's HTTP client goes with the object."""


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`S3Connector.open` does."""
    timeout = timedelta(seconds=int(config.get("timeout", 30)))
    endpoint = _endpoint(config)
    client: ClientConfig = {
        "timeout": timeout,
        "connect_timeout": min(timeout, timedelta(seconds=10)),
        "allow_http": bool(endpoint and endpoint.startswith("http://")),
    }
    retry: RetryConfig = {
        "max_retries": 2,
        "retry_timeout": timeout,
        "backoff": {"init_backoff": timedelta(milliseconds=100)},
    }
    options: dict[str, Any] = {
        "region": str(config.get("region", "us-east-1")),
        "virtual_hosted_style_request": not config.get("pathStyle", True),
    }
    if endpoint:
        options["endpoint"] = endpoint
    if config.get("accessKeyId"):
        options["access_key_id"] = str(config["accessKeyId"])
        options["secret_access_key"] = str(config["secretAccessKey"])
    prefix = str(config.get("prefix") or "").strip("/")
    try:
        store = S3Store(
            str(config["bucket"]),
            prefix=prefix or None,
            client_options=client,
            retry_config=retry,
            **options,
        )
    except Exception as exc:  # a config the store refuses: say which part, not the values
        raise ConnectorError(
            f"the store's configuration is refused ({type(exc).__name__})",
            system=system,
            object=f"bucket {config['bucket']}",
        ) from None
    connection = S3Connection(store, config, system)
    await connection.probe()
    return connection
