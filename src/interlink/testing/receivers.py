"""A webhook receiver for tests: checks Standard Webhooks signatures and does what it is told.

``Receiver`` listens on 127.0.0.1 on a free port. For every request it verifies the signature
(when it holds a secret) with :func:`interlink.events.signing.verify`, answers, and records a
:class:`Received`. A ``webhook-id`` it already accepted on the same path counts as a duplicate:
answered 200 and left out of ``delivered``. Without instructions it answers 204; rules change that::

    receiver.fail(2)                          # the next two requests get 500
    receiver.gone()                           # 410 from now on
    receiver.throttle("120")                  # one 429 with Retry-After: 120
    receiver.hang(when=lambda r: r.path == "/slow")   # never answer those (until release())
    receiver.script(Reply(503, delay=0.05), times=3, when=lambda r: r.event["subject"] == "a")
    receiver.answer(lambda r: Reply(200, body=r.body), when=lambda r: r.method == "PUT")

Rules are tried in the order given; the first that matches and has uses left answers.
``max_concurrency`` is the most requests it held open at once, for ``maxInFlight`` checks.
``webhooks`` narrows signature checks to the paths it accepts, for a receiver that is also an
ordinary HTTP system (its other requests carry no signature: ``verified`` is None).

``python -m interlink.testing.receivers --port 9200 [--secret whsec_…]`` runs one in its own
process; ``GET /__receiver`` answers with its counts as JSON (for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import TracebackType
from typing import Any, Self, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from interlink.errors import SignatureError
from interlink.events.delivery.clock import Clock
from interlink.events.signing import verify

STATS_PATH = "/__receiver"


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # real seconds to wait before answering
    hang: bool = False  # do not answer until ``release()`` (or the receiver stops)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: datetime  # on the receiver's clock
    verified: bool | None  # None when the receiver holds no secret
    duplicate: bool
    status: int  # what it answered (0 while a hanging request is open)
    query: str = ""  # the request target's query, without the '?'
    method: str = "POST"

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    @property
    def event_id(self) -> str | None:
        """The CloudEvent's ``id`` (unique only with its ``source``; ``webhook-id`` is both)."""
        found = self.event.get("id")
        return found if isinstance(found, str) else None

    @cached_property
    def event(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


Predicate = Callable[[Received], bool]
#: Computes the answer to a request (a stateful stand-in system).
Answerer = Callable[[Received], Reply]


@dataclass
class _Rule:
    reply: Reply | Answerer
    times: int | None  # None: forever
    when: Predicate | None


@dataclass
class _Request:
    path: str
    headers: dict[str, str]
    body: bytearray
    judged: tuple[Received, Reply] | None = None
    query: str = ""
    method: str = "POST"


class _Protocol(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.url = b""
        self.current: _Request | None = None
        self.queue: deque[_Request] = deque()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.receiver._open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver._open.discard(self)
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (HttpParserError, HttpParserUpgrade):
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.current = _Request("", {}, bytearray())

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        assert self.current is not None
        self.current.body += chunk

    def on_message_complete(self) -> None:
        request = self.current
        assert request is not None
        assert self.transport is not None
        self.current = None
        request.path, _, request.query = self.url.decode("latin-1").partition("?")
        request.method = self.parser.get_method().decode("latin-1")
        receiver = self.receiver
        if request.path == STATS_PATH:
            body = json.dumps(receiver.counts).encode()
            self.transport.write(_response(Reply(200, {"content-type": "application/json"}, body)))
            return
        # Judged on arrival, so rules apply in the order requests came in.
        seen, reply = request.judged = receiver._judge(request)
        idle = self.worker is None or self.worker.done()
        if idle and not (reply.delay or reply.hang):
            receiver._record(seen, reply.status)  # the common case: no task per request
            self.transport.write(_response(reply))
            return
        self.queue.append(request)
        if idle:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self.queue:
            request = self.queue.popleft()
            assert request.judged is not None
            reply = await self.receiver._hold(*request.judged)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(_response(reply))


def _response(reply: Reply) -> bytes:
    head = [f"HTTP/1.1 {reply.status} X", f"content-length: {len(reply.body)}"]
    head += [f"{k}: {v}" for k, v in reply.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply.body


class Receiver:
    def __init__(
        self,
        *,
        secret: str | bytes | Sequence[str | bytes] | None = None,
        clock: Clock | None = None,
        tolerance: int = 300,
        default: Reply | None = None,
        keep: bool = True,
        webhooks: Callable[[str], bool] | None = None,
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.tolerance = tolerance
        self.default = default or Reply()
        self.keep = keep  # False: count only (benchmarks)
        self.webhooks = webhooks  # the paths whose requests are signature-checked (None: all)
        self.requests: list[Received] = []
        self.delivered: list[Received] = []
        self.counts = {"requests": 0, "delivered": 0, "duplicates": 0, "bad_signatures": 0}
        self.active = 0
        self.max_concurrency = 0
        self._rules: list[_Rule] = []
        self._accepted: set[tuple[str, str]] = set()  # (path, webhook-id): one per endpoint
        self._released = asyncio.Event()
        self._changed = asyncio.Event()
        self._open: set[_Protocol] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    # --- life cycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Protocol(self), "127.0.0.1", port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.close()
            for proto in list(self._open):
                if proto.transport is not None:
                    proto.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- scripting -------------------------------------------------------------------------

    def script(self, reply: Reply, *, times: int | None = 1, when: Predicate | None = None) -> None:
        self._rules.append(_Rule(reply, times, when))

    def answer(
        self, answerer: Answerer, *, times: int | None = None, when: Predicate | None = None
    ) -> None:
        """Let ``answerer`` compute the reply to the requests ``when`` matches."""
        self._rules.append(_Rule(answerer, times, when))

    def fail(
        self, times: int | None = 1, *, status: int = 500, body: bytes = b"", **kw: Any
    ) -> None:
        self.script(Reply(status, body=body), times=times, **kw)

    def gone(self, times: int | None = None, **kw: Any) -> None:
        self.script(Reply(410, body=b"gone"), times=times, **kw)

    def throttle(self, retry_after: str, *, times: int | None = 1, status: int = 429) -> None:
        self.script(Reply(status, {"retry-after": retry_after}), times=times)

    def hang(self, times: int | None = None, *, when: Predicate | None = None) -> None:
        self._released.clear()
        self.script(Reply(hang=True), times=times, when=when)

    def release(self) -> None:
        """Let hanging requests answer with the default reply; later ones hang no more."""
        self._rules = [r for r in self._rules if not (isinstance(r.reply, Reply) and r.reply.hang)]
        self._released.set()

    def clear(self) -> None:
        self._rules.clear()

    # --- what it got -----------------------------------------------------------------------

    def delivered_ids(self) -> list[str | None]:
        """The event ids delivered, in order (duplicates by ``webhook-id`` left out)."""
        return [r.event_id for r in self.delivered]

    def delivered_events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.delivered]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Return once ``condition()`` holds (checked after every request); fail after
        ``timeout`` real seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_delivered(self, count: int, timeout: float = 10.0) -> None:
        await self.wait_for(lambda: len(self.delivered) >= count, timeout)

    # --- answering -------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    def _check(self, request: _Request) -> bool | None:
        if self.secret is None or (self.webhooks is not None and not self.webhooks(request.path)):
            return None
        now = self.clock.now().timestamp() if self.clock is not None else time.time()
        try:
            verify(
                self.secret, request.headers, bytes(request.body), tolerance=self.tolerance, now=now
            )
        except SignatureError:
            return False
        return True

    def _choose(self, seen: Received) -> Reply:
        for rule in self._rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.when is not None and not rule.when(seen):
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule.reply if isinstance(rule.reply, Reply) else rule.reply(seen)
        return self.default

    async def _hold(self, seen: Received, reply: Reply) -> Reply:
        """Wait as the reply says (delay, hang), then record the request."""
        if reply.delay or reply.hang:
            self.active += 1
            self.max_concurrency = max(self.max_concurrency, self.active)
            self._signal()
            try:
                if reply.hang:
                    await self._released.wait()
                    reply = self.default
                if reply.delay:
                    await asyncio.sleep(reply.delay)
            finally:
                self.active -= 1
        self._record(seen, reply.status)
        return reply

    def _judge(self, request: _Request) -> tuple[Received, Reply]:
        verified = self._check(request)
        webhook_id = request.headers.get("webhook-id")
        duplicate = webhook_id is not None and (request.path, webhook_id) in self._accepted
        seen = Received(
            request.path,
            request.headers,
            bytes(request.body),
            self._now(),
            verified,
            duplicate,
            0,
            request.query,
            request.method,
        )
        if verified is False:
            return seen, Reply(401, body=b"bad signature")
        if duplicate:
            return seen, Reply(200)
        return seen, self._choose(seen)

    def _record(self, seen: Received, status: int) -> None:
        final = Received(
            seen.path,
            seen.headers,
            seen.body,
            seen.at,
            seen.verified,
            seen.duplicate,
            status,
            seen.query,
            seen.method,
        )
        counts = self.counts
        counts["requests"] += 1
        if seen.verified is False:
            counts["bad_signatures"] += 1
        elif seen.duplicate:
            counts["duplicates"] += 1
        elif 200 <= status < 300:
            counts["delivered"] += 1
            if seen.webhook_id is not None:
                self._accepted.add((seen.path, seen.webhook_id))
            if self.keep:
                self.delivered.append(final)
        if self.keep:
            self.requests.append(final)
        self._signal()

    def _signal(self) -> None:
        self._changed.set()


async def _serve(port: int, secret: str | None) -> None:
    receiver = Receiver(secret=secret, keep=False)
    await receiver.start(port)
    print(f"receiver listening on {receiver.url}", flush=True)
    await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A webhook receiver that counts what it gets.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default=None, help="verify signatures with this secret")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.run(_serve(args.port, args.secret))
    except ImportError:
        asyncio.run(_serve(args.port, args.secret))


if __name__ == "__main__":
    main()
