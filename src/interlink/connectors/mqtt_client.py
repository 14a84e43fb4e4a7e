"""The aiomqtt side of the ``mqtt`` connector (see :mod:`interlink.connectors.mqtt`):
aiomqtt is imported here, when a System first connects, so that a process that never
uses it does not pay for importing it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import struct
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

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

#: The user property a message's key travels in.
KEY_PROPERTY = "message-id"
#: CONNACK reasons that say the credentials were refused (MQTT 3.1.1 codes 4 and 5; MQTT 5's
#: bad user name or password, not authorised): trying again will not help.
_REFUSED = {4, 5, 134, 135}


DEFAULT_SESSION_EXPIRY = 86400


def _paho(client: aiomqtt.Client) -> paho.Client:
    """The paho client aiomqtt wraps: its manual acks and connect timeout are not exposed."""
    return client._client


def client_id(system: str, source: str) -> str:
    """The session's client id for ``source`` of ``system``: 23 letters and digits, which
    every MQTT server accepts."""
    return "il" + hashlib.sha256(f"{system}\n{source}".encode()).hexdigest()[:21]


def message_key(topic: str, payload: bytes, properties: Properties | None) -> str:
    """The message's ``message-id`` user property, else a hash of its topic and payload."""
    for name, value in getattr(properties, "UserProperty", None) or ():
        if name == KEY_PROPERTY and value:
            return str(value)
    return "sha256:" + hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()


class _Broker:
    """How to reach the broker: opens aiomqtt clients, and says why one could not be had."""

    def __init__(self, config: Mapping[str, Any], system: str) -> None:
        self.config = config
        self.system = system
        self.where = f"{config['host']}:{int(config.get('port', 1883))}"
        self.timeout = float(config.get("connectTimeout", 10))

    async def connect(
        self, identifier: str | None = None, session_expiry: int | None = None
    ) -> aiomqtt.Client:
        """A connected client: a throwaway session, or ``identifier``'s persistent one kept
        ``session_expiry`` seconds after it disconnects, with acks left to the caller."""
        properties = None
        if session_expiry is not None:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = session_expiry
        client = aiomqtt.Client(
            self.config["host"],
            int(self.config.get("port", 1883)),
            username=self.config.get("username"),
            password=self.config.get("password"),
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=session_expiry is None,
            properties=properties,
            keepalive=int(self.config.get("keepalive", 60)),
            timeout=self.timeout,
            tls_context=ssl.create_default_context() if self.config.get("tls") else None,
        )
        _paho(client).connect_timeout = self.timeout
        if session_expiry is not None:
            _paho(client).manual_ack_set(True)
            _read_buffered(_paho(client))
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            refused = isinstance(exc, aiomqtt.MqttCodeError) and _code(exc.rc) in _REFUSED
            raise ConnectionFailed(
                error_text(exc), system=self.system, object=self.where, retryable=not refused
            ) from None
        return client

    async def disconnect(self, client: aiomqtt.Client) -> None:
        """Disconnect ``client`` (its session stays, when it has one), whatever its state."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.__aexit__(None, None, None), self.timeout)


def _read_buffered(client: paho.Client) -> None:
    """Let a consuming ``client`` read what the socket holds at once, not byte by byte.

    paho reads a packet's type and length a byte at a time (a ``recv`` each), and aiomqtt has
    it read one packet each time the socket is readable, so every message cost three reads and
    a wake-up of the loop. Here a read takes up to 64 KiB into a buffer the packets are taken
    from, and ``loop_read`` goes on while that buffer holds bytes (no readable event would
    come for them)."""
    buffer = bytearray()
    recv = client._sock_recv  # paho's: its TLS "want read/write" handling stays
    loop_read = client.loop_read

    def buffered_recv(size: int) -> bytes:
        if not buffer:
            data = recv(65536)
            if not data:
                return data  # the connection closed: paho says so
            buffer.extend(data)
        out = bytes(buffer[:size])
        del buffer[:size]
        return out

    def buffered_loop_read(max_packets: int = 1) -> MQTTErrorCode:
        rc = loop_read(max_packets)
        while buffer and rc == paho.MQTT_ERR_SUCCESS and client._sock is not None:
            rc = loop_read(max_packets)
        return rc

    client._sock_recv = buffered_recv  # type: ignore[method-assign,assignment]
    client.loop_read = buffered_loop_read  # type: ignore[method-assign]


def _puback(client: paho.Client, mid: int) -> None:
    """Send the PUBACK of ``mid``: written to the socket at once when nothing of paho's is
    waiting to go (one ``send``), else queued behind it as paho's ``ack`` does, which would
    wake the loop to register a writer and unregister it after, for these four bytes."""
    packet = struct.pack("!BBH", paho.PUBACK, 2, mid)
    sock = client._sock
    if sock is not None and not client._out_packet:
        try:
            sent = sock.send(packet)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            sent = 0
        except OSError:  # the connection is broken: paho hears it on its next read
            return
        client._last_msg_out = time.monotonic()  # paho's keepalive clock (time.monotonic)
        if sent == len(packet):
            return
        packet = packet[sent:]
    client._packet_queue(paho.PUBACK, packet, mid, 1)


def _code(rc: int | ReasonCode | None) -> int | None:
    return rc.value if isinstance(rc, ReasonCode) else rc


class _Publisher:
    """A client that publishes one message at a time and hears the broker refuse one: MQTT 5
    says so in the PUBACK's reason code (not authorised, a bad topic, over quota), which
    aiomqtt 2.5 takes for a success. Publishes are one at a time (the connection's lock), so a
    refusal heard while one is under way is its own."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.refused: ReasonCode | None = None
        wrapped = _paho(client)
        inner = wrapped.on_publish
        assert inner is not None, "aiomqtt sets on_publish"

        def on_publish(
            paho_client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
        ) -> None:
            if isinstance(reason, ReasonCode) and reason.is_failure:
                self.refused = reason
            inner(paho_client, userdata, mid, reason, properties)  # type: ignore[call-arg]

        wrapped.on_publish = on_publish


class MqttConnection(Connection):
    def __init__(self, broker: _Broker, publisher: aiomqtt.Client) -> None:
        self._broker = broker
        self.system = broker.system
        self._publisher: _Publisher | None = _Publisher(publisher)
        self._lock = asyncio.Lock()
        self._inboxes: set[MqttInbox] = set()

    async def send(self, message: OutgoingMessage) -> None:
        if not message.to:
            raise StatementError(
                "no topic to send to: give the send step `to`", system=self.system, object="topic"
            )
        payload, content_type = encode_body(message.body)
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = content_type
        user = [(str(k), str(v)) for k, v in message.headers.items()]
        if message.key:
            user.append((KEY_PROPERTY, message.key))
        if user:
            properties.UserProperty = user
        where = f"topic {message.to}"
        async with self._lock:
            # A connection the broker dropped since the last send is opened again, once.
            for attempt in (1, 2):
                publisher = self._publisher or _Publisher(await self._broker.connect())
                self._publisher = publisher
                publisher.refused = None
                try:
                    await publisher.client.publish(
                        message.to, payload, qos=1, properties=properties
                    )
                except ValueError as exc:  # paho refuses a topic with wildcards, or none
                    raise StatementError(
                        error_text(exc), system=self.system, object=where
                    ) from None
                except aiomqtt.MqttError as exc:
                    self._publisher = None
                    await self._broker.disconnect(publisher.client)
                    if attempt == 2:
                        raise ConnectorError(
                            f"not published: {error_text(exc)}",
                            system=self.system,
                            object=where,
                            retryable=True,
                        ) from None
                    continue
                if publisher.refused is not None:
                    raise ConnectorError(
                        f"the broker refused the message: {publisher.refused}",
                        system=self.system,
                        object=where,
                    )
                return

    async def subscribe(self, source: str, options: Mapping[str, Any]) -> Inbox:
        identifier = str(options.get("clientId") or client_id(self.system, source))
        expiry = int(options.get("sessionExpiry") or DEFAULT_SESSION_EXPIRY)
        inbox = MqttInbox(self._broker, source, identifier, expiry, self._inboxes.discard)
        await inbox.connect()  # a refused filter or broker is said now, not at the first receive
        self._inboxes.add(inbox)
        return inbox

    async def close(self) -> None:
        for inbox in list(self._inboxes):
            await inbox.close()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await self._broker.disconnect(publisher.client)


class MqttReceived(Received):
    acks_in_call_order = True  # the PUBACK is written at the call, nothing awaited first

    def __init__(self, inbox: MqttInbox, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        self._inbox = inbox
        self._client = client
        self._mid = message.mid
        self._qos = message.qos
        self.source = str(message.topic)
        self.body = bytes(message.payload)
        self.key = message_key(self.source, self.body, message.properties)
        headers = dict(getattr(message.properties, "UserProperty", None) or ())
        content_type = getattr(message.properties, "ContentType", None)
        if content_type:
            headers.setdefault("content-type", str(content_type))
        self.headers = headers

    async def ack(self) -> None:
        # Over another connection than the one it came on, the PUBACK would name another
        # message: the broker resends this one on the new connection instead.
        if self._client is self._inbox.current:
            if self._qos == 1:
                _puback(_paho(self._client), self._mid)
            else:
                _paho(self._client).ack(self._mid, self._qos)

    async def nack(self) -> None:
        await self._inbox.reconnect(self._client)


class MqttInbox(Inbox):
    """The messages on one topic filter, through a persistent session."""

    def __init__(
        self,
        broker: _Broker,
        source: str,
        identifier: str,
        session_expiry: int,
        forget: Callable[[MqttInbox], None],
    ) -> None:
        self._broker = broker
        self.source = source
        self.client_id = identifier
        self._expiry = session_expiry
        self._forget = forget
        self.current: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def _error(self, message: str, *, retryable: bool) -> ConnectorError:
        return ConnectorError(
            message, system=self._broker.system, object=f"topic {self.source}", retryable=retryable
        )

    async def connect(self) -> aiomqtt.Client:
        async with self._lock:
            if self._closed:
                raise self._error("the inbox is closed", retryable=False)
            if self.current is not None:
                return self.current
            client = await self._broker.connect(self.client_id, self._expiry)
            try:
                # Retained messages come with the first subscription only, not on every
                # reconnect; the session keeps the subscription anyway.
                granted = await client.subscribe(
                    self.source, options=SubscribeOptions(qos=1, retainHandling=1)
                )
            except (ValueError, aiomqtt.MqttError) as exc:
                await self._broker.disconnect(client)
                invalid = isinstance(exc, ValueError) or (
                    isinstance(exc, aiomqtt.MqttCodeError) and _code(exc.rc) == paho.MQTT_ERR_INVAL
                )
                raise self._error(
                    f"cannot subscribe: {error_text(exc)}", retryable=not invalid
                ) from None
            refused = [r for r in granted if isinstance(r, ReasonCode) and r.is_failure]
            if refused:
                await self._broker.disconnect(client)
                raise self._error(
                    f"the broker refused the subscription: {refused[0]}", retryable=False
                )
            self.current = client
            return client

    async def receive(self) -> Received:
        client = self.current or await self.connect()
        try:
            message = await anext(client.messages)
        except aiomqtt.MqttError as exc:
            await self.reconnect(client)
            if self._closed:
                raise self._error("the inbox is closed", retryable=False) from None
            raise self._error(
                f"the broker connection dropped: {error_text(exc)}", retryable=True
            ) from None
        return MqttReceived(self, client, message)

    async def reconnect(self, client: aiomqtt.Client) -> None:
        """Drop ``client`` without acking what it holds: the next receive connects again and
        the broker resends every message of the session not acked."""
        if self.current is client:
            self.current = None
        await self._broker.disconnect(client)

    async def close(self) -> None:
        self._closed = True
        self._forget(self)
        client, self.current = self.current, None
        if client is not None:
            await self._broker.disconnect(client)


async def open_connection(config: Mapping[str, Any], system: str) -> Connection:
    """Opens a System's connection: what :meth:`MqttConnector.open` does."""
    broker = _Broker(config, system)
    # Connect once now: a wrong host or refused credentials are said when the System is
    # first used, not later at random.
    return MqttConnection(broker, await broker.connect())
