"""The broker side of the ``amqp`` connector (see :mod:`interlink.connectors.amqp`): aio-pika
is imported here, when a System first connects, so that a process that never uses AMQP does not
pay for importing it."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika import exceptions as amqp_errors
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.message import decode_timestamp
from aiormq.abc import DeliveredMessage
from pamqp import commands
from yarl import URL

from interlink.connectors.base import (
    Connection,
    ConnectionFailed,
    ConnectorError,
    Inbox,
    ObjectNotFound,
    OutgoingMessage,
    Received,
    error_text,
    settle,
)

DEFAULT_PREFETCH = 10


def _where(url: str) -> str:
    """The broker as errors name it: host, port and vhost, never the credentials."""
    parsed = URL(url)
    vhost = parsed.path[1:] if len(parsed.path) > 1 else "/"
    return f"{parsed.host}:{parsed.port or 5672} vhost {vhost}"


async def _connect(url: str, timeout: float, system: str) -> AbstractConnection:
    where = _where(url)
    try:
        return await aio_pika.connect(url, timeout=timeout)
    except (amqp_errors.ProbableAuthenticationError, aiormq.exceptions.ConnectionNotAllowed):
        raise ConnectionFailed(
            f"the broker refused the login of user {URL(url).user!r} (or its vhost)",
            system=system,
            object=where,
        ) from None
    except amqp_errors.AuthenticationError:
        raise ConnectionFailed(
            f"the broker refused the credentials of user {URL(url).user!r}",
            system=system,
            object=where,
        ) from None
    except aiormq.exceptions.InvalidFrameError:
        # Connection.Close instead of Connection.OpenOk: the vhost is not there for this user.
        raise ConnectionFailed(
            "the broker refused to open the vhost (it does not exist, or the user has no "
            "access to it)",
            system=system,
            object=where,
        ) from None
    except (TimeoutError, OSError, amqp_errors.AMQPConnectionError) as exc:
        raise ConnectionFailed(
            f"cannot connect: {error_text(exc)}", system=system, object=where, retryable=True
        ) from None


def _body(message: OutgoingMessage) -> tuple[bytes, str]:
    if isinstance(message.body, str):
        return message.body.encode(), "text/plain; charset=utf-8"
    return json.dumps(message.body, separators=(",", ":")).encode(), "application/json"


def _header(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else json.dumps(value, default=str)


def message_key(
    message_id: str | None, body: bytes, headers: Mapping[str, Any], timestamp: Any
) -> str:
    """A message's key: its id, or a hash of what it carries (stable across redeliveries)."""
    if message_id:
        return str(message_id)
    digest = hashlib.sha256(body)
    named = {str(k): _header(v) for k, v in headers.items()}
    digest.update(json.dumps(named, sort_keys=True).encode())
    digest.update(str(timestamp or "").encode())
    return "sha256:" + digest.hexdigest()


_PENDING, _ACKED, _DONE = 0, 1, 2


class _Acks:
    """The acks of one channel's deliveries, coalesced. A message acked when every message
    delivered before it on the channel is settled (acked or nacked) joins the next ack sent,
    one ``basic.ack`` with ``multiple`` for the latest of them: a consumer settling in the
    order messages came (the consume trigger) sends one ack frame for a run of messages
    instead of one each. A message acked before an earlier one is settled is acked alone, at
    once; a nack is sent at once, and counts as settled only once it is sent, so an ack with
    ``multiple`` never covers a message whose nack is not on its way."""

    def __init__(self) -> None:
        # [message, state] in delivery order, up to the first not settled yet.
        self._order: deque[list[Any]] = deque()
        self._round: asyncio.Future[None] | None = None  # the acks the next frame sends
        self._writer: asyncio.Task[None] | None = None

    def delivered(self, message: DeliveredMessage) -> list[Any]:
        entry = [message, _PENDING]
        self._order.append(entry)
        return entry

    async def ack(self, entry: list[Any]) -> None:
        for earlier in self._order:
            if earlier is entry:
                break
            if earlier[1] == _PENDING:  # out of order: alone, at once
                await _ack(entry[0])
                entry[1] = _DONE
                return
        entry[1] = _ACKED
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
        sent = self._round
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await asyncio.shield(sent)

    async def nack(self, entry: list[Any]) -> None:
        message: DeliveredMessage = entry[0]
        await message.channel.basic_nack(_tag(message), requeue=True)
        entry[1] = _DONE

    def _drop_settled(self) -> list[Any] | None:
        """Forget the settled messages at the head; the latest of them waiting for its ack."""
        latest = None
        while self._order and self._order[0][1] != _PENDING:
            entry = self._order.popleft()
            if entry[1] == _ACKED:
                latest = entry
        return latest

    async def _write(self) -> None:
        await asyncio.sleep(0)  # the acks made in the same turn of the loop join this one
        while self._round is not None:
            sent, self._round = self._round, None
            latest = self._drop_settled()
            try:
                if latest is not None:
                    await _ack(latest[0], multiple=True)
            except Exception as exc:
                sent.set_exception(exc)
                sent.exception()  # retrieved: its waiters may all have been cancelled
            else:
                sent.set_result(None)


def _tag(message: DeliveredMessage) -> int:
    tag = message.delivery_tag
    assert tag is not None  # a delivery to a consumer always has one
    return tag


async def _ack(message: DeliveredMessage, *, multiple: bool = False) -> None:
    await message.channel.basic_ack(_tag(message), multiple=multiple)


class AmqpReceived(Received):
    """A delivery as aiormq hands it over (not wrapped in aio-pika's IncomingMessage, whose
    building costs more than the rest of the receive)."""

    acks_in_call_order = True  # _Acks.ack orders it before it first waits

    def __init__(self, message: DeliveredMessage, source: str, system: str, acks: _Acks) -> None:
        self._acks = acks
        self._entry = acks.delivered(message)
        self._system = system
        properties = message.header.properties
        headers = properties.headers or {}
        # The timestamp as aio-pika gave it, so a message's key is what it was before.
        stamp = decode_timestamp(properties.timestamp)
        self.key = message_key(properties.message_id, message.body, headers, stamp)
        self.body = message.body
        self.headers = {str(k): _header(v) for k, v in headers.items()}
        self.source = source

    async def ack(self) -> None:
        # a failure: the channel is gone, and the broker hands the message out again
        await settle(
            "ack", lambda: self._acks.ack(self._entry), system=self._system, source=self.source
        )

    async def nack(self) -> None:
        await settle(
            "nack", lambda: self._acks.nack(self._entry), system=self._system, source=self.source
        )


class AmqpInbox(Inbox):
    """Consumes one queue on a connection of its own, reopened after it drops."""

    def __init__(self, url: str, timeout: float, queue: str, prefetch: int, system: str) -> None:
        self._url = url
        self._timeout = timeout
        self._queue_name = queue
        self._prefetch = prefetch
        self._system = system
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._arrived: asyncio.Queue[DeliveredMessage | BaseException] = asyncio.Queue()
        self._acks = _Acks()  # the channel's, new with each channel
        self.on_close: Callable[[AmqpInbox], None] = lambda _inbox: None

    async def open(self) -> None:
        """Connect and start consuming; ObjectNotFound when the queue does not exist."""
        arrived: asyncio.Queue[DeliveredMessage | BaseException] = asyncio.Queue()
        self._arrived = arrived
        connection = await _connect(self._url, self._timeout, self._system)
        try:
            channel = await connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=self._prefetch)
            try:
                queue = await channel.declare_queue(self._queue_name, passive=True)
            except amqp_errors.ChannelNotFoundEntity:
                raise ObjectNotFound(
                    f"no queue {self._queue_name!r} on the broker",
                    system=self._system,
                    object=self._queue_name,
                ) from None

            async def deliver(message: DeliveredMessage) -> None:
                arrived.put_nowait(message)

            def dropped(_sender: Any, exc: BaseException | None = None) -> None:
                arrived.put_nowait(
                    ConnectorError(
                        f"the consumer's channel closed: {error_text(exc) if exc else 'closed'}",
                        system=self._system,
                        object=self._queue_name,
                        retryable=True,
                    )
                )

            def cancelled(_frame: Any) -> None:
                arrived.put_nowait(
                    ConnectorError(
                        "the broker cancelled the consumer (the queue deleted?)",
                        system=self._system,
                        object=self._queue_name,
                        retryable=True,
                    )
                )

            channel.close_callbacks.add(dropped)
            underlay = await channel.get_underlay_channel()
            underlay.on_consumer_cancel_callbacks.add(cancelled)
            # aiormq's own consumer: aio-pika's would wrap each delivery in an IncomingMessage
            # and a second task first.
            await underlay.basic_consume(queue.name, deliver, no_ack=False)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel, self._acks = connection, channel, _Acks()

    async def receive(self) -> Received:
        if self._channel is None or self._channel.is_closed:
            await self._drop()
            await self.open()
        item = await self._arrived.get()
        if isinstance(item, BaseException):
            await self._drop()
            raise item
        return AmqpReceived(item, self._queue_name, self._system, self._acks)

    async def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken: nothing to close
                return

    async def close(self) -> None:
        self.on_close(self)
        await self._drop()


class AmqpConnection(Connection):
    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.system = system
        self._url = str(config["url"])
        self._exchange_name = str(config.get("exchange") or "")
        self._timeout = float(config.get("timeout") or 10)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._inboxes: set[AmqpInbox] = set()

    async def connect(self) -> None:
        await self._publisher()

    async def _publisher(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is not None and self._channel and not self._channel.is_closed:
                return self._exchange
            if self._connection is None or self._connection.is_closed:
                self._connection = await _connect(self._url, self._timeout, self.system)
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            if self._exchange_name:
                try:
                    exchange = await channel.get_exchange(self._exchange_name, ensure=True)
                except amqp_errors.ChannelNotFoundEntity:
                    raise ObjectNotFound(
                        f"no exchange {self._exchange_name!r} on the broker",
                        system=self.system,
                        object=self._exchange_name,
                    ) from None
            else:
                exchange = channel.default_exchange
            self._channel, self._exchange = channel, exchange
            return exchange

    async def send(self, message: OutgoingMessage) -> None:
        exchange = await self._publisher()
        body, content_type = _body(message)
        outgoing = aio_pika.Message(
            body,
            headers=dict(message.headers),
            content_type=content_type,
            message_id=message.key,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        where = f"{self._exchange_name or 'default exchange'} → {message.to}"
        try:
            await exchange.publish(
                outgoing, routing_key=message.to, mandatory=True, timeout=self._timeout
            )
        except amqp_errors.DeliveryError as exc:
            if isinstance(exc.frame, commands.Basic.Return):
                raise ObjectNotFound(
                    f"no queue takes routing key {message.to!r}: the broker returned the message",
                    system=self.system,
                    object=where,
                ) from None
            raise ConnectorError(
                "the broker refused the message (nack)",
                system=self.system,
                object=where,
                retryable=True,
            ) from None
        except (TimeoutError, OSError, amqp_errors.AMQPError, RuntimeError) as exc:
            self._exchange = None  # the channel or connection is gone: the next send reopens
            raise ConnectorError(
                f"publishing failed: {error_text(exc)}",
                system=self.system,
                object=where,
                retryable=True,
            ) from None

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        prefetch = int(options.get("prefetch") or DEFAULT_PREFETCH)
        inbox = AmqpInbox(self._url, self._timeout, source, prefetch, self.system)
        await inbox.open()
        self._inboxes.add(inbox)
        inbox.on_close = self._inboxes.discard
        return inbox

    async def close(self) -> None:
        for inbox in list(self._inboxes):
            await inbox.close()
        self._inboxes.clear()
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            await connection.close()
