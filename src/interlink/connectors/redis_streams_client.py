"""The server side of the ``redis-streams`` connector (see
:mod:`interlink.connectors.redis_streams`): redis-py is imported here, when a System first
connects, so that a process that never uses Redis streams does not pay for importing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    Inbox,
    OutgoingMessage,
    Received,
    StatementError,
    error_text,
)
from interlink.connectors.bodies import encode_body

T = TypeVar("T")

DEFAULT_GROUP = "interlink"
DEFAULT_RECLAIM_AFTER = 30_000
DEFAULT_BLOCK = 2_000
DEFAULT_BATCH = 10
_STARTS = {"earliest": "0", "now": "$"}


def _str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _error(exc: RedisError, system: str, obj: str) -> ConnectorError:
    text = error_text(exc)
    if isinstance(exc, AuthenticationError):
        return ConnectionFailed(text, system=system, object=obj)
    if isinstance(exc, RedisConnectionError | RedisTimeout):
        return ConnectionFailed(text, system=system, object=obj, retryable=True)
    if isinstance(exc, NoPermissionError):
        return ConnectorError(text, system=system, object=obj)
    if isinstance(exc, ResponseError):
        return StatementError(text, system=system, object=obj)
    return ConnectorError(text, system=system, object=obj, retryable=True)


class _Server:
    """How to reach the server: opens clients, and says why a call failed."""

    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.config = config
        self.system = system
        self.where = f"{config['host']}:{int(config.get('port', 6379))}"
        self.timeout = float(config.get("connectTimeout", 10))

    def client(self, wait: float = 0) -> Redis:
        """A client whose sockets give up after the connect timeout, plus ``wait`` seconds
        for a blocking read; it never retries on its own (the caller decides)."""
        return Redis(
            host=self.config["host"],
            port=int(self.config.get("port", 6379)),
            db=int(self.config.get("database", 0)),
            username=self.config.get("username"),
            password=self.config.get("password"),
            ssl=bool(self.config.get("tls", False)),
            socket_connect_timeout=self.timeout,
            socket_timeout=self.timeout + wait,
            retry=Retry(NoBackoff(), 0),
            client_name="interlink",
        )

    async def call(self, operation: Awaitable[T], obj: str) -> T:
        try:
            return await operation
        except RedisError as exc:
            raise _error(exc, self.system, obj) from None


class RedisStreamsConnection(Connection):
    def __init__(self, server: _Server, client: Redis) -> None:
        self._server = server
        self.system = server.system
        self._client = client
        self._inboxes: set[StreamInbox] = set()

    async def send(self, message: OutgoingMessage) -> None:
        if not message.to:
            raise StatementError(
                "no stream to send to: give the send step `to`", system=self.system, object="stream"
            )
        payload, content_type = encode_body(message.body)
        fields: dict[str, str | bytes] = {
            "body": payload,
            "content-type": content_type,
            "headers": json.dumps(dict(message.headers), separators=(",", ":")),
        }
        if message.key:
            fields["key"] = message.key
        max_length = self._server.config.get("maxLength")
        await self._server.call(
            self._client.xadd(
                message.to,
                fields,  # type: ignore[arg-type]  # redis-py's stub wants one value type
                maxlen=int(max_length) if max_length else None,
                approximate=True,
            ),
            f"stream {message.to}",
        )

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        start = str(options.get("start") or "now")
        if start not in _STARTS:
            raise StatementError(
                f"start is earliest or now, not {start!r}",
                system=self.system,
                object=f"stream {source}",
            )
        inbox = StreamInbox(
            self._server,
            source,
            group=str(options.get("group") or DEFAULT_GROUP),
            consumer=str(options.get("consumer") or _consumer_name()),
            reclaim_after=int(options.get("reclaimAfter") or DEFAULT_RECLAIM_AFTER),
            block=int(options.get("block") or DEFAULT_BLOCK),
            batch=int(options.get("batch") or DEFAULT_BATCH),
            forget=self._inboxes.discard,
        )
        try:
            await inbox.create_group(_STARTS[start])
        except BaseException:
            await inbox.close()
            raise
        self._inboxes.add(inbox)
        return inbox

    async def close(self) -> None:
        for inbox in list(self._inboxes):
            await inbox.close()
        await self._client.aclose()


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamReceived(Received):
    def __init__(self, inbox: StreamInbox, entry_id: Any, fields: Mapping[Any, Any]) -> None:
        self._inbox = inbox
        self.key = _str(entry_id)
        self.source = inbox.stream
        named = {_str(k): v for k, v in fields.items()}
        if "body" in named:
            body = named["body"]
            self.body = body if isinstance(body, bytes) else str(body).encode()
        else:  # an entry another producer added: its fields as one JSON object
            self.body = json.dumps({k: _str(v) for k, v in named.items()}).encode()
        headers: dict[str, str] = {}
        with contextlib.suppress(ValueError, TypeError, KeyError):
            decoded = json.loads(named["headers"])
            if isinstance(decoded, dict):
                headers = {str(k): str(v) for k, v in decoded.items()}
        if "content-type" in named:
            headers.setdefault("content-type", _str(named["content-type"]))
        self.headers = headers

    async def ack(self) -> None:
        await self._inbox.ack(self.key)

    async def nack(self) -> None:
        # Left pending: the inbox claims it again once it has been idle for reclaimAfter.
        return None


class StreamInbox(Inbox):
    """The entries of one stream, read through a consumer group."""

    def __init__(
        self,
        server: _Server,
        stream: str,
        *,
        group: str,
        consumer: str,
        reclaim_after: int,
        block: int,
        batch: int,
        forget: Callable[[StreamInbox], None],
    ) -> None:
        self._server = server
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._reclaim_after = reclaim_after
        # A read ends in time to look for entries to claim, so a nacked one waits no longer
        # than about reclaimAfter, however quiet the stream.
        self._block = max(1, min(block, reclaim_after))
        self._batch = batch
        self._forget = forget
        self._client = server.client(wait=self._block / 1000)
        self._buffer: deque[StreamReceived] = deque()
        self._cursor = "0-0"
        self._next_claim = 0.0
        self._closed = False
        self._where = f"stream {stream}"

    def _closed_error(self) -> ConnectorError:
        return ConnectorError("the inbox is closed", system=self._server.system, object=self._where)

    async def create_group(self, start: str) -> None:
        try:
            await self._client.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # a group that exists is what was asked for
                raise _error(exc, self._server.system, self._where) from None
        except RedisError as exc:
            raise _error(exc, self._server.system, self._where) from None

    async def receive(self) -> Received:
        while True:
            if self._closed:
                raise self._closed_error()
            if self._buffer:
                return self._buffer.popleft()
            try:
                await self._fill()
            except RedisError as exc:
                if self._closed:
                    raise self._closed_error() from None
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # The stream or its group was deleted under us: start it again, at its end.
                    await self.create_group("$")
                    continue
                raise _error(exc, self._server.system, self._where) from None

    async def _fill(self) -> None:
        """Claim entries idle too long when it is time to look, else read new ones."""
        now = asyncio.get_running_loop().time()
        if now >= self._next_claim:
            result: Any = await self._client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self._reclaim_after,
                start_id=self._cursor,
                count=self._batch,
            )
            # [next cursor, entries, ids deleted meanwhile]; "0-0" once the list is done.
            self._cursor = _str(result[0])
            if self._cursor == "0-0":
                self._next_claim = now + self._reclaim_after / 2000
            self._buffer.extend(StreamReceived(self, i, f) for i, f in result[1] if f)
            if self._buffer:
                return
        read: Any = await self._client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self._batch, block=self._block
        )
        for _stream, entries in read or ():
            self._buffer.extend(StreamReceived(self, i, f) for i, f in entries if f)

    async def ack(self, entry_id: str) -> None:
        if self._closed:
            raise self._closed_error()
        await self._server.call(self._client.xack(self.stream, self.group, entry_id), self._where)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._forget(self)
        self._buffer.clear()  # pending in the group: claimed again by whoever reads next
        with contextlib.suppress(Exception):
            # A consumer with nothing pending is forgotten, so the group does not collect
            # one per process that ever read.
            pending = await asyncio.wait_for(
                self._client.xpending_range(
                    self.stream, self.group, "-", "+", 1, consumername=self.consumer
                ),
                self._server.timeout,
            )
            if not pending:
                await asyncio.wait_for(
                    self._client.xgroup_delconsumer(self.stream, self.group, self.consumer),
                    self._server.timeout,
                )
        await self._client.aclose()


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """A connection to the System's server, asked once (PING) so that a wrong host or refused
    credentials are said when the System is first used, not later at random."""
    server = _Server(config, system)
    client = server.client()
    try:
        await server.call(client.ping(), server.where)
    except ConnectorError as exc:
        await client.aclose()
        raise ConnectionFailed(
            exc.detail, system=system, object=server.where, retryable=exc.retryable
        ) from None
    return RedisStreamsConnection(server, client)
