"""The nats-py side of the ``nats`` connector (see :mod:`interlink.connectors.nats`):
nats-py is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.errors import NoStreamResponseError, NotFoundError
from yarl import URL

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    Inbox,
    ObjectNotFound,
    OutgoingMessage,
    Received,
    StatementError,
    error_text,
    settle,
)

DEFAULT_BATCH = 10
#: How long one fetch waits on the server before asking again.
FETCH_WAIT = 5.0


def durable_name(trigger: str) -> str:
    """A consumer name from a trigger's id: letters, digits, - and _ only."""
    return "interlink-" + re.sub(r"[^A-Za-z0-9_-]", "_", trigger)


class NatsReceived(Received):
    def __init__(self, msg: Msg, source: str, system: str) -> None:
        self._msg = msg
        self._system = system
        headers = dict(msg.headers or {})
        meta = msg.metadata
        self.key = headers.get("Nats-Msg-Id") or f"{meta.stream}:{meta.sequence.stream}"
        self.body = msg.data
        self.headers = headers
        self.source = source

    async def ack(self) -> None:
        # a failure: not acked, the message is redelivered after ackWait and its run found
        await settle(
            "ack",
            lambda: self._msg.ack_sync(timeout=FETCH_WAIT),
            system=self._system,
            source=self.source,
        )

    async def nack(self) -> None:
        await settle("nak", self._msg.nak, system=self._system, source=self.source)


class NatsInbox(Inbox):
    def __init__(
        self, subscription: JetStreamContext.PullSubscription, subject: str, batch: int, system: str
    ) -> None:
        self._sub = subscription
        self._subject = subject
        self._batch = batch
        self._system = system
        self._buffer: list[Msg] = []

    async def receive(self) -> Received:
        while not self._buffer:
            try:
                self._buffer = await self._sub.fetch(self._batch, timeout=FETCH_WAIT)
            except (NatsTimeout, TimeoutError):
                await self._still_there()  # a deleted stream only ever times out
                continue  # nothing yet: ask again
            except NatsError as exc:
                raise ConnectorError(
                    f"fetching failed: {error_text(exc)}",
                    system=self._system,
                    object=self._subject,
                    retryable=True,
                ) from None
        return NatsReceived(self._buffer.pop(0), self._subject, self._system)

    async def _still_there(self) -> None:
        try:
            await self._sub.consumer_info()
        except NotFoundError:
            raise ConnectorError(
                "the consumer or its stream is gone (deleted?)",
                system=self._system,
                object=self._subject,
                retryable=True,
            ) from None
        except (NatsError, TimeoutError):
            return  # the server slow or away: the next fetch says so

    async def close(self) -> None:
        # Fetched but not handed out: back to the server now rather than after ackWait.
        buffered, self._buffer = self._buffer, []
        for msg in buffered:
            with contextlib.suppress(Exception):
                await msg.nak()
        # Unsubscribing leaves the durable consumer on the server: its position stays.
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


class NatsConnection(Connection):
    def __init__(self, client: Client, timeout: float, system: str) -> None:
        self._nc = client
        self._js = client.jetstream(timeout=timeout)
        self._timeout = timeout
        self.system = system

    async def send(self, message: OutgoingMessage) -> None:
        if not message.to:
            raise StatementError(
                "no subject to send to: give the send step `to`",
                system=self.system,
                object="subject",
            )
        if isinstance(message.body, str):
            payload = message.body.encode()
        else:
            payload = json.dumps(message.body, separators=(",", ":")).encode()
        headers = dict(message.headers)
        if message.key:
            headers["Nats-Msg-Id"] = message.key
        try:
            await self._js.publish(message.to, payload, headers=headers or None)
        except NoStreamResponseError:
            raise ObjectNotFound(
                f"no stream takes subject {message.to!r}", system=self.system, object=message.to
            ) from None
        except (NatsError, TimeoutError, OSError) as exc:
            raise ConnectorError(
                f"publishing failed: {error_text(exc)}",
                system=self.system,
                object=message.to,
                retryable=True,
            ) from None

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        stream = options.get("stream")
        durable = options.get("durable") or durable_name(str(options.get("trigger") or source))
        ack_wait = float(options.get("ackWait") or 30)
        try:
            if not stream:
                stream = await self._js.find_stream_name_by_subject(source)
            config = api.ConsumerConfig(
                durable_name=durable,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=ack_wait,
                filter_subject=source,
            )
            subscription = await self._js.pull_subscribe(
                source, durable=durable, stream=stream, config=config
            )
        except NotFoundError:
            what = f"stream {stream!r}" if stream else f"no stream takes subject {source!r}"
            raise ObjectNotFound(
                f"{what} not found" if stream else what, system=self.system, object=source
            ) from None
        except (NatsError, TimeoutError, OSError) as exc:
            raise ConnectorError(
                f"subscribing failed: {error_text(exc)}",
                system=self.system,
                object=source,
                retryable=True,
            ) from None
        batch = int(options.get("batch") or DEFAULT_BATCH)
        return NatsInbox(subscription, source, batch, self.system)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), timeout=self._timeout)


def _reset(exc: BaseException) -> bool:
    """Whether the server closed the connection under the client (as after refusing it)."""
    return isinstance(exc, ConnectionResetError) or "reset by peer" in error_text(exc)


async def _connect(
    url: str, options: Mapping[str, Any], timeout: float
) -> tuple[Client, BaseException | None, bool]:
    """One try at connecting: the client, why it failed (None when it did not), and whether
    the server refused the credentials."""
    client = Client()
    errors: list[Exception] = []
    refused = asyncio.Event()

    async def noted(exc: Exception) -> None:
        errors[:] = [exc]  # the last one says why a connect timed out
        if _refusal(exc):
            refused.set()  # trying again with the same credentials will not help

    connecting = asyncio.ensure_future(
        client.connect(
            servers=[url],
            name="interlink",
            connect_timeout=max(1, round(timeout)),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            error_cb=noted,
            **options,
        )
    )
    watching = asyncio.ensure_future(refused.wait())
    try:
        await asyncio.wait({connecting, watching}, timeout=timeout, return_when="FIRST_COMPLETED")
    finally:
        watching.cancel()
    failed: BaseException | None = None
    if not connecting.done():
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        failed = TimeoutError()
    elif connecting.exception() is not None:
        failed = connecting.exception()
    if failed is None:
        return client, None, False
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), timeout=1)
    last = errors[-1] if errors else failed
    return client, last, refused.is_set() or _refusal(last) or _refusal(failed)


def _refusal(exc: BaseException) -> bool:
    """Whether the server refused the credentials (it says so in an -ERR line)."""
    text = error_text(exc).lower()
    return "authorization" in text or "authentication" in text


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`NatsConnector.open` does."""
    url = str(config["url"])
    parsed = URL(url)
    where = f"{parsed.host}:{parsed.port or 4222}"
    timeout = float(config.get("timeout") or 5)
    options: dict[str, Any] = {}
    if config.get("user"):
        options["user"] = config["user"]
        options["password"] = config.get("password") or ""
    if config.get("token"):
        options["token"] = config["token"]
    # A server refusing the login writes -ERR and closes: a client that reads the close
    # first sees only a reset. Another try reads the -ERR (a few, all within the timeout).
    deadline = asyncio.get_running_loop().time() + timeout
    left = timeout
    for _ in range(3):
        client, failed, refused = await _connect(url, options, left)
        left = deadline - asyncio.get_running_loop().time()
        if failed is None or refused or not _reset(failed) or left <= 0:
            break
    if failed is not None:
        if refused:
            raise ConnectionFailed(
                "the server refused the credentials", system=system, object=where
            )
        why = error_text(failed)
        if why in ("", "TimeoutError") or isinstance(failed, NoServersError):
            why = "no answer in time"
        raise ConnectionFailed(
            f"cannot connect: {why}", system=system, object=where, retryable=True
        )
    return NatsConnection(client, timeout, system)
