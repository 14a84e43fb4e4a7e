"""The event log on NATS JetStream (nats-py).

Layout (names per ``nats_names``): one file-backed stream per event type, ``{prefix}_{type}``
on subject ``{prefix}.ev.{type}``, with the type's dedup window as ``duplicate_window`` and its
payload cap plus ``HEADER_ROOM`` as ``max_msg_size`` (JetStream counts headers; the body cap is
checked here). One durable pull consumer per subscription, ``{prefix}_{subscription}``, with
explicit acks and ``backoff`` = ``common.redelivery_delays(ack_wait)``: an event handed out and
not acked comes back after ack_wait (10 s by default, short so that what a dead node pulled
moves on soon; ``extend`` holds it longer), then 2x, 5x and 10x it. Only streams and consumers
named with this bus's prefix are ever changed or deleted, so estates can share a server, and
``ensure`` deletes or moves one only with ``prune``.

Each message carries ``Nats-Msg-Id`` (the envelope's dedup id) and the type, id, source and key
in ``Interlink-*`` headers, so a consumer needs no body parsing. A batch is published pipelined:
every message goes out before any ack is awaited.

Failure behaviour: the client reconnects forever on its own, and while it is disconnected
nothing is buffered (``pending_size=0``), so a publish fails at once instead of sitting in a
buffer. Every wait is bounded (``timeout`` for publishes and acks, ``api_timeout`` for the rest),
and a publish that cannot be confirmed raises ``BusUnavailable`` with ``retry_after``; part of
the batch may then be stored, which the dedup window makes safe to retry.

How durable an acknowledged publish is depends on the server: its file store syncs to disk
periodically, so a lost machine can take the last moments with it unless the stream is
replicated (``replicas=3`` on a cluster) or the server syncs on every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from interlink.errors import (
    BusError,
    BusUnavailable,
    ConfigError,
    PayloadTooLarge,
    UnknownConsumer,
    UnknownEventType,
)
from interlink.events.backends.common import SHARED_ACK_WAIT, check_batch, redelivery_delays
from interlink.events.backends.nats_names import (
    HEADER_ID,
    HEADER_KEY,
    HEADER_SOURCE,
    check_prefix,
    consumer_name,
    decode_header,
    header_bytes,
    headers_for,
    owned,
    stream_name,
    subject,
)
from interlink.events.backends.nats_pull import fetch
from interlink.events.bus import (
    Appended,
    Bus,
    ConsumerSpec,
    Envelope,
    Message,
    StreamInfo,
    StreamSpec,
)
from interlink.store.base import redact_url

logger = logging.getLogger("interlink.events")

HEADER_ROOM: Final = 4096  # bytes of headers allowed on top of the body cap
NO_DEDUP: Final = 0.001  # seconds; NATS has no "off", and 0 means its 2-minute default
RECONNECT_WAIT: Final = 1  # seconds between reconnect attempts
MSG_TOO_LARGE: Final = 10054  # JetStream error code: message size exceeds maximum allowed
READ_CHUNK: Final = 1024
# Redelivery never gives up (a stuck event is the delivery layer's call); servers before 2.10
# refuse -1 together with backoff, hence a number no consumer reaches.
MAX_DELIVER: Final = 1_000_000_000
_PAGE: Final = 256  # JetStream list APIs return at most this many per call
_STREAM_DESCRIPTION: Final = "interlink events of type "


@dataclass(frozen=True)
class _Stream:
    type: str
    name: str
    subject: str
    max_payload: int  # bytes of body
    max_msg_size: int  # bytes of body and headers, as the server counts them
    dedup: bool


@dataclass(frozen=True)
class _Consumer:
    name: str  # the subscription's name
    durable: str
    stream: _Stream


class NatsBus(Bus):
    """``Bus`` on JetStream at ``url``, owning the streams and consumers named ``{prefix}_…``.

    ``timeout`` bounds a publish (all its acks) and an ack; ``api_timeout`` the JetStream API
    calls; ``publish_window`` the messages in flight over all concurrent publishes.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        connect_timeout: float = 2.0,
        timeout: float = 2.0,
        api_timeout: float = 5.0,
        ack_wait: float = SHARED_ACK_WAIT,
        max_ack_pending: int = 10_000,
        publish_window: int = 20_000,
        replicas: int = 1,
    ) -> None:
        self.prefix = check_prefix(prefix)
        self._url = url
        self._safe_url = redact_url(url)
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._api_timeout = api_timeout
        self._ack_wait = ack_wait
        self._max_ack_pending = max_ack_pending
        self._replicas = replicas
        self._window = publish_window  # messages in flight at most, over all publishes
        self._in_flight = 0
        self._window_open = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._streams: dict[str, _Stream] = {}
        self._consumers: dict[str, _Consumer] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._held: dict[str, dict[int, Msg]] = {}  # pulled, not yet acked: consumer → seq → msg
        self._last_error: str | None = None

    # --- life cycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._nc is not None:
            return
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=[self._url],
                    name="interlink",
                    connect_timeout=max(1, math.ceil(self._connect_timeout)),
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,
                    pending_size=0,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                timeout=self._connect_timeout,
            )
        except Exception as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=1.0)
            if isinstance(exc, ValueError):
                raise ConfigError(f"invalid NATS URL {self._safe_url}: {exc}") from None
            # The client retries until the timeout; its last failure says more than the timeout.
            why = self._last_error if isinstance(exc, TimeoutError) else None
            raise BusUnavailable(
                f"cannot connect to NATS at {self._safe_url}: {why or self._describe(exc)}",
                retry_after=RECONNECT_WAIT,
            ) from None
        self._nc = nc
        # nats-py's own stall limit is disabled: ``publish_window`` bounds messages in flight.
        self._js = nc.jetstream(timeout=self._api_timeout, publish_async_max_pending=1 << 30)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is None:
            return
        self._held.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=self._timeout)

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = self._describe(exc)
        logger.debug("NATS client error: %s", self._last_error)

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # not when close() hangs up
            logger.warning("lost the connection to NATS at %s; reconnecting", self._safe_url)

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS at %s", self._safe_url)

    # --- topology ---------------------------------------------------------------------------------

    async def ensure(
        self,
        streams: Sequence[StreamSpec],
        consumers: Sequence[ConsumerSpec],
        *,
        prune: bool = False,
    ) -> None:
        js = self._jetstream()
        with self._translate("ensuring streams and consumers"):
            for spec in streams:
                self._streams[spec.type] = await self._ensure_stream(js, spec)
            wanted: dict[str, tuple[_Stream, ConsumerSpec]] = {}
            for c in consumers:
                wanted[consumer_name(self.prefix, c.name)] = (await self._stream(c.type), c)
            existing = await self._our_consumers(js)
            for durable, (stream, c) in wanted.items():
                current = existing.get(durable)
                if current is not None and current[0] != stream.name:
                    if not prune:
                        logger.warning(
                            "consumer %s reads another type on this server; left as it is "
                            "until the node running the current revision reconciles",
                            durable,
                        )
                        self._forget(c.name)
                        continue
                    await js.delete_consumer(current[0], durable)  # its type changed
                    current = None
                await self._ensure_consumer(js, stream, durable, c, current)
                self._consumers[c.name] = _Consumer(c.name, durable, stream)
            if prune:
                for durable, (stream_name_, _) in existing.items():
                    if durable not in wanted:
                        await js.delete_consumer(stream_name_, durable)
                        logger.info("removed consumer %s: no subscription names it", durable)
                listed = {c.name for c in consumers}
                for name in [n for n in self._consumers if n not in listed]:
                    self._forget(name)

    async def _ensure_stream(self, js: JetStreamContext, spec: StreamSpec) -> _Stream:
        name = stream_name(self.prefix, spec.type)
        config = api.StreamConfig(
            name=name,
            description=f"{_STREAM_DESCRIPTION}{spec.type}",
            subjects=[subject(self.prefix, spec.type)],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_msg_size=spec.max_payload_bytes + HEADER_ROOM,
            duplicate_window=spec.dedup_window if spec.dedup_window > 0 else NO_DEDUP,
            num_replicas=self._replicas,
        )
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            info = await js.add_stream(config)
        else:
            current = info.config
            if (
                current.subjects != config.subjects
                or current.max_msg_size != config.max_msg_size
                or not math.isclose(current.duplicate_window, config.duplicate_window)
            ):
                info = await js.update_stream(config)
        nc = self._connection()
        # Only a body cap above the server's limit is a conflict worth a warning; when they are
        # equal (both 1 MiB by default) the header room is simply taken from the body, and an
        # event too large for the server is refused by ``_prepare`` with its size.
        if spec.max_payload_bytes > nc.max_payload:
            logger.warning(
                "events of type %s may be up to %d bytes, but the NATS server takes at most %d "
                "with headers: raise its max_payload or lower events.maxPayloadBytes",
                spec.type,
                spec.max_payload_bytes,
                nc.max_payload,
            )
        return self._describe_stream(spec.type, info)

    def _describe_stream(self, type_: str, info: api.StreamInfo) -> _Stream:
        config = info.config
        max_msg_size = config.max_msg_size or 0
        if self._nc is not None and self._nc.max_payload > 0:  # what the server itself takes
            max_msg_size = min(max_msg_size, self._nc.max_payload)
        return _Stream(
            type=type_,
            name=stream_name(self.prefix, type_),
            subject=subject(self.prefix, type_),
            max_payload=max((config.max_msg_size or 0) - HEADER_ROOM, 0),
            max_msg_size=max_msg_size,
            dedup=config.duplicate_window > NO_DEDUP,
        )

    async def _ensure_consumer(
        self,
        js: JetStreamContext,
        stream: _Stream,
        durable: str,
        spec: ConsumerSpec,
        current: tuple[str, api.ConsumerInfo] | None,
    ) -> None:
        settings: dict[str, Any] = {
            "description": f"interlink subscription {spec.name}",
            "ack_wait": self._ack_wait,
            "backoff": redelivery_delays(self._ack_wait),
            "max_ack_pending": self._max_ack_pending,
        }
        if current is not None:
            config = current[1].config
            if all(_same(getattr(config, key), value) for key, value in settings.items()):
                return  # keeps its cursor; start_at applies only at creation
            try:
                await js.add_consumer(stream.name, config.evolve(**settings))
            except nats.js.errors.APIError as exc:
                logger.warning("cannot update consumer %s: %s", durable, exc.description)
            return
        config = api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            max_deliver=MAX_DELIVER,
            filter_subject=stream.subject,
            **settings,
        )
        if spec.resume_after is not None:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = spec.resume_after + 1
        elif spec.start_at == "new":
            config.deliver_policy = api.DeliverPolicy.NEW
        elif spec.start_at == "earliest":
            config.deliver_policy = api.DeliverPolicy.ALL
        else:
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = _utc(spec.start_at)
        await js.add_consumer(stream.name, config)

    async def _our_consumers(self, js: JetStreamContext) -> dict[str, tuple[str, api.ConsumerInfo]]:
        """Every consumer this prefix owns, on every stream it owns: durable → (stream, info)."""
        found: dict[str, tuple[str, api.ConsumerInfo]] = {}
        for stream in await self._our_streams(js):
            offset = 0
            while True:
                page = await js.consumers_info(stream, offset=offset)
                for info in page:
                    if owned(self.prefix, info.name) and info.config.durable_name:
                        found[info.name] = (stream, info)
                offset += len(page)
                if len(page) < _PAGE:
                    break
        return found

    async def _our_streams(self, js: JetStreamContext) -> list[str]:
        names: list[str] = []
        offset = 0
        while True:
            page = await js.streams_info(offset=offset)
            names.extend(
                s.config.name for s in page if s.config.name and owned(self.prefix, s.config.name)
            )
            offset += len(page)
            if len(page) < _PAGE:
                return names

    async def _stream(self, type_: str) -> _Stream:
        """The stream of ``type_``, looked up on the server the first time."""
        known = self._streams.get(type_)
        if known is not None:
            return known
        js = self._jetstream()
        with self._translate(f"looking up the stream of {type_!r}"):
            try:
                info = await js.stream_info(stream_name(self.prefix, type_))
            except nats.js.errors.NotFoundError:
                raise UnknownEventType(f"no stream for event type {type_!r}") from None
        stream = self._streams[type_] = self._describe_stream(type_, info)
        return stream

    async def _consumer(self, name: str) -> _Consumer:
        known = self._consumers.get(name)
        if known is not None:
            return known
        js = self._jetstream()
        durable = consumer_name(self.prefix, name)
        with self._translate(f"looking up consumer {name!r}"):
            found = (await self._our_consumers(js)).get(durable)
        if found is None:
            raise UnknownConsumer(f"no consumer named {name!r}")
        stream = next((s for s in self._streams.values() if s.name == found[0]), None)
        if stream is None:
            stream = await self._stream_by_name(found[0])
        consumer = self._consumers[name] = _Consumer(name, durable, stream)
        return consumer

    async def _stream_by_name(self, name: str) -> _Stream:
        js = self._jetstream()
        with self._translate(f"looking up stream {name}"):
            info = await js.stream_info(name)
        type_ = (info.config.description or "").removeprefix(_STREAM_DESCRIPTION)
        stream = self._streams[type_] = self._describe_stream(type_, info)
        return stream

    def _forget(self, name: str) -> None:
        self._consumers.pop(name, None)
        self._held.pop(name, None)
        self._locks.pop(name, None)

    # --- publishing -------------------------------------------------------------------------------

    async def publish(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        js = self._jetstream()
        if not envelopes:
            return []
        streams = {t: await self._stream(t) for t in {e.type for e in envelopes}}
        check_batch(envelopes, {t: s.max_payload for t, s in streams.items()})
        messages = [_prepare(envelope, streams[envelope.type]) for envelope in envelopes]
        if not self._connection().is_connected:
            raise BusUnavailable(
                f"NATS at {self._safe_url} is disconnected; reconnecting",
                retry_after=RECONNECT_WAIT,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        await self._reserve(len(envelopes), deadline)
        futures: list[asyncio.Future[api.PubAck]] = []
        try:
            with self._translate("publishing"):
                for subject_, body, headers in messages:
                    future = await js.publish_async(subject_, body, headers=headers)
                    future.add_done_callback(self._release)
                    futures.append(future)
                remaining = deadline - loop.time()
                if remaining > 0:
                    await asyncio.wait(futures, timeout=remaining)
            return [self._appended(future) for future in futures]
        finally:
            self._in_flight -= len(envelopes) - len(futures)  # reserved, never sent
            for future in futures:
                future.cancel()  # a no-op for the settled; frees the rest

    async def _reserve(self, count: int, deadline: float) -> None:
        """Wait until ``count`` more messages fit the publish window; a bigger batch goes alone."""
        loop = asyncio.get_running_loop()
        while self._in_flight and self._in_flight + count > self._window:
            self._window_open.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._unavailable("publishing", "too many events in flight")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._window_open.wait(), remaining)
        self._in_flight += count

    def _release(self, _: asyncio.Future[api.PubAck]) -> None:
        self._in_flight -= 1
        self._window_open.set()

    def _appended(self, future: asyncio.Future[api.PubAck]) -> Appended:
        if not future.done():
            raise self._unavailable("publishing", f"no ack within {self._timeout:g}s")
        exc = future.exception()
        if exc is None:
            ack = future.result()
            return Appended(ack.seq, duplicate=bool(ack.duplicate))
        if isinstance(exc, nats.js.errors.APIError) and exc.err_code == MSG_TOO_LARGE:
            raise PayloadTooLarge(f"NATS refused an event as too large: {exc.description}")
        if isinstance(exc, nats.js.errors.NoStreamResponseError):
            self._streams.clear()  # looked up again next time: maybe it was deleted
        raise self._error("publishing", exc) from exc

    # --- consuming --------------------------------------------------------------------------------

    async def pull(self, consumer: str, max_messages: int, timeout: float) -> list[Message]:
        nc = self._connection()
        target = await self._consumer(consumer)
        if max_messages < 1:
            return []
        # One pull at a time per consumer, as on the embedded bus.
        async with self._locks.setdefault(consumer, asyncio.Lock()):
            try:
                with self._translate(f"pulling for {consumer!r}"):
                    msgs = await fetch(
                        nc,
                        target.stream.name,
                        target.durable,
                        max_messages,
                        timeout,
                        self._timeout,
                    )
            except BusUnavailable:
                raise
            except BusError:
                self._forget(consumer)  # it may have been deleted: look it up again next time
                raise
        held = self._held.setdefault(consumer, {})
        out: list[Message] = []
        for msg in msgs:
            metadata = msg.metadata
            held[metadata.sequence.stream] = msg
            out.append(_message(target.stream.type, msg, metadata))
        out.sort(key=lambda m: m.seq)
        return out

    async def ack(self, consumer: str, seqs: Sequence[int]) -> None:
        self._jetstream()
        await self._consumer(consumer)
        held = self._held.get(consumer, {})
        msgs = [(seq, held.pop(seq)) for seq in dict.fromkeys(seqs) if seq in held]
        if not msgs:
            return
        results = await asyncio.gather(
            *(msg.ack_sync(timeout=self._timeout) for _, msg in msgs), return_exceptions=True
        )
        failed = [
            (seq, msg, r)
            for (seq, msg), r in zip(msgs, results, strict=True)
            if isinstance(r, BaseException)
        ]
        for seq, msg, _ in failed:
            held[seq] = msg  # may be acked again; the server redelivers it otherwise
        if failed:
            raise self._error(f"acking for {consumer!r}", failed[0][2])

    async def pending(self, consumer: str) -> int:
        js = self._jetstream()
        target = await self._consumer(consumer)
        with self._translate(f"asking for the lag of {consumer!r}"):
            try:
                info = await js.consumer_info(target.stream.name, target.durable)
            except nats.js.errors.NotFoundError:
                self._forget(consumer)
                raise UnknownConsumer(f"no consumer named {consumer!r}") from None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def handed_out(self, consumer: str) -> tuple[int, int]:
        js = self._jetstream()
        target = await self._consumer(consumer)
        with self._translate(f"asking about {consumer!r}"):
            try:
                info = await js.consumer_info(target.stream.name, target.durable)
            except nats.js.errors.NotFoundError:
                self._forget(consumer)
                raise UnknownConsumer(f"no consumer named {consumer!r}") from None
        delivered = int(info.delivered.stream_seq or 0) if info.delivered else 0
        floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        return delivered, floor

    async def extend(self, consumer: str, seqs: Sequence[int]) -> None:
        held = self._held.get(consumer, {})
        msgs = [held[seq] for seq in dict.fromkeys(seqs) if seq in held]
        with self._translate(f"extending the ack wait of {consumer!r}"):
            for msg in msgs:
                await msg.in_progress()

    # --- reading ----------------------------------------------------------------------------------

    async def read(self, type: str, start: int | datetime, limit: int) -> list[Message]:
        js = self._jetstream()
        nc = self._connection()
        stream = await self._stream(type)
        if limit < 1:
            return []
        # An ephemeral pull consumer streams a range in a few round trips; it is deleted after
        # use, and the server drops it by itself if this process dies first.
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            max_ack_pending=-1,
            filter_subject=stream.subject,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        if isinstance(start, datetime):
            config.deliver_policy = api.DeliverPolicy.BY_START_TIME
            config.opt_start_time = _utc(start)
        else:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = max(start, 1)
        # Not "{prefix}_…": ensure() must never take a reader for a subscription's consumer.
        config.name = f"{self.prefix}-read-{uuid.uuid4().hex[:16]}"
        out: list[Message] = []
        with self._translate(f"reading {type!r}"):
            info = await js.add_consumer(stream.name, config)
            try:
                want = min(limit, int(info.num_pending or 0))
                while len(out) < want:
                    batch = min(want - len(out), READ_CHUNK)
                    msgs = await fetch(nc, stream.name, info.name, batch, 1.0, self._api_timeout)
                    if not msgs:
                        break
                    out.extend(_message(type, msg, msg.metadata) for msg in msgs)
            finally:
                with contextlib.suppress(nats.errors.Error):
                    await js.delete_consumer(stream.name, info.name)
        return out

    async def info(self, type: str) -> StreamInfo:
        js = self._jetstream()
        stream = await self._stream(type)
        with self._translate(f"asking about {type!r}"):
            try:
                state = (await js.stream_info(stream.name)).state
            except nats.js.errors.NotFoundError:
                self._streams.pop(type, None)
                raise UnknownEventType(f"no stream for event type {type!r}") from None
        count = int(state.messages)
        return StreamInfo(type, int(state.first_seq) if count else 0, int(state.last_seq), count)

    # --- helpers ----------------------------------------------------------------------------------

    def _connection(self) -> Client:
        if self._nc is None:
            raise BusUnavailable("the NATS bus is not open", retry_after=RECONNECT_WAIT)
        return self._nc

    def _jetstream(self) -> JetStreamContext:
        self._connection()
        assert self._js is not None
        return self._js

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        """Turn nats-py's exceptions into the bus's, one line each, credentials never shown."""
        try:
            yield
        except BusError:
            raise
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise self._error(doing, exc) from exc

    def _error(self, doing: str, exc: BaseException) -> BusError:
        if isinstance(exc, BusError):
            return exc
        if isinstance(exc, nats.js.errors.ServiceUnavailableError):
            return self._unavailable(doing, "JetStream is not available")
        if isinstance(exc, nats.js.errors.NoStreamResponseError):
            return self._unavailable(doing, "no stream answered")
        if isinstance(exc, nats.errors.MaxPayloadError):
            return PayloadTooLarge(f"an event exceeds the NATS server's max_payload ({doing})")
        if isinstance(exc, nats.js.errors.APIError):
            return BusError(f"NATS refused {doing}: {exc.description or exc}")
        return self._unavailable(doing, self._describe(exc))

    def _unavailable(self, doing: str, why: str) -> BusUnavailable:
        return BusUnavailable(
            f"NATS at {self._safe_url}: {doing} failed: {why}", retry_after=RECONNECT_WAIT
        )

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError) and not str(exc):
            return "no answer in time"
        if isinstance(exc, nats.errors.OutboundBufferLimitError):
            return "disconnected; reconnecting"  # nothing is buffered meanwhile
        text = " ".join(str(exc).split()) or type(exc).__name__
        return text.replace(self._url, self._safe_url)


def _prepare(envelope: Envelope, stream: _Stream) -> tuple[str, bytes, dict[str, str]]:
    """Subject, body and headers of one event, refused here if the server would refuse it.

    nats-py's ``publish_async`` never resolves the future of a message the server rejects, so a
    rejection would only show as a missing ack; the one a caller can cause is checked first.
    """
    headers = headers_for(envelope, dedup=stream.dedup)
    size = len(envelope.body) + header_bytes(headers)
    if size > stream.max_msg_size:
        raise PayloadTooLarge(
            f"event {envelope.id[:64]!r} of type {envelope.type!r} is {size} bytes with its"
            f" headers; the stream accepts at most {stream.max_msg_size}"
        )
    return stream.subject, envelope.body, headers


def _message(type_: str, msg: Msg, metadata: Msg.Metadata) -> Message:
    headers = msg.headers or {}
    key = headers.get(HEADER_KEY)
    return Message(
        type=type_,
        seq=metadata.sequence.stream,
        id=decode_header(headers.get(HEADER_ID, "")),
        source=decode_header(headers.get(HEADER_SOURCE, "")),
        key=None if key is None else decode_header(key),
        body=msg.data,
        stored_at=metadata.timestamp,
        deliveries=metadata.num_delivered,
    )


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(math.isclose(a, b) for a, b in zip(current, wanted, strict=True))
        )
    if isinstance(wanted, float):
        return isinstance(current, int | float) and math.isclose(current, wanted)
    return bool(current == wanted)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
