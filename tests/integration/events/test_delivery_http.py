"""Webhook sending against raw loopback servers that answer exactly as scripted: the request
on the wire, and what each kind of answer (or silence) becomes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from interlink.estate.references import SecretSource
from interlink.events.delivery.queue import Job, JobKey
from interlink.events.delivery.webhook import (
    ClientLimits,
    HttpxClient,
    PooledClient,
    SigningKeys,
    WebhookClient,
    WebhookSender,
    webhook_id,
)
from interlink.events.signing import generate_secret, verify
from interlink.testing.clock import T0, FakeClock

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamWriter, int], Awaitable[bool]]
SECRET = generate_secret()
JOB = Job(JobKey("orders", 7), "evt-7", None, b'{"id":"evt-7","source":"shop"}', 0, T0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    """Reads each request; ``handler`` writes the answer and says whether to keep going."""

    handler: Handler
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append((head, await reader.readexactly(length)))
                if not await self.handler(writer, len(self.requests)):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?x=1"


Serve = Callable[[Handler], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        return server

    yield start
    for listening in servers:
        listening.close()


def answer(raw: bytes, keep: bool = True, delay: float = 0.0) -> Handler:
    async def handler(writer: asyncio.StreamWriter, n: int) -> bool:
        if delay:
            await asyncio.sleep(delay)
        writer.write(raw)
        await writer.drain()
        return keep

    return handler


@pytest.fixture(params=["pooled", "httpx"])
def client(request: pytest.FixtureRequest) -> WebhookClient:
    limits = ClientLimits(max_connections=2, body_limit=4097)
    return PooledClient(limits) if request.param == "pooled" else HttpxClient(limits)


def sender(client: WebhookClient, url: str, timeout: float = 2.0) -> WebhookSender:
    source = SecretSource(environ={"INTERLINK_SECRET_HOOK": SECRET})
    keys = SigningKeys("orders", "${secret:hook}", source)
    return WebhookSender(url, client, FakeClock(), keys=keys, timeout=timeout)


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
    }


async def test_the_request_on_the_wire_is_a_signed_structured_cloudevent(
    serve: Serve, client: WebhookClient
) -> None:
    server = await serve(answer(b"HTTP/1.1 204 No Content\r\n\r\n"))
    send = sender(client, server.url)
    for _ in range(3):
        assert (await send.send(JOB)).ok
    await send.aclose()
    assert server.connections == 1  # kept alive
    head, body = server.requests[0]
    assert head.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    headers = headers_of(head)
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["content-type"] == "application/cloudevents+json"
    assert headers["webhook-id"] == webhook_id("shop", "evt-7")
    assert headers["webhook-timestamp"] == str(int(T0.timestamp()))
    assert body == JOB.body
    verify(SECRET, headers, body, now=T0.timestamp())


@pytest.mark.parametrize(
    ("raw", "ok", "status", "retry_after", "gone"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", True, 200, None, False),
        (
            b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            True,
            202,
            None,
            False,
        ),
        (b"HTTP/1.1 410 Gone\r\ncontent-length: 4\r\n\r\ngone", False, 410, None, True),
        (
            b"HTTP/1.1 429 X\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n",
            False,
            429,
            30.0,
            False,
        ),
        (b"HTTP/1.1 503 X\r\nRetry-After: 7\r\ncontent-length: 0\r\n\r\n", False, 503, 7.0, False),
        (
            b"HTTP/1.1 500 X\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n",
            False,
            500,
            None,
            False,
        ),
        (
            b"HTTP/1.1 301 Moved\r\nlocation: /x\r\ncontent-length: 0\r\n\r\n",
            False,
            301,
            None,
            False,
        ),
    ],
)
async def test_what_each_answer_means(
    serve: Serve,
    client: WebhookClient,
    raw: bytes,
    ok: bool,
    status: int,
    retry_after: float | None,
    gone: bool,
) -> None:
    server = await serve(answer(raw))
    send = sender(client, server.url)
    attempt = await send.send(JOB)
    await send.aclose()
    assert (attempt.ok, attempt.status, attempt.retry_after, attempt.gone) == (
        ok,
        status,
        retry_after,
        gone,
    )


async def test_failed_answers_keep_the_start_of_the_body(
    serve: Serve, client: WebhookClient
) -> None:
    chunked = await serve(
        answer(b"HTTP/1.1 500 X\r\ntransfer-encoding: chunked\r\n\r\n4\r\noops\r\n0\r\n\r\n")
    )
    big = b"y" * 200_000
    long = await serve(answer(b"HTTP/1.1 400 X\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)))
    until_close = await serve(answer(b"HTTP/1.1 502 X\r\n\r\nbad upstream", keep=False))
    attempt = await sender(client, chunked.url).send(JOB)
    assert (attempt.status, attempt.response, attempt.error) == (500, "oops", "HTTP 500")
    attempt = await sender(client, long.url).send(JOB)
    assert attempt.response == "y" * 4097  # the queue cuts it to 4 KiB and marks the cut
    attempt = await sender(client, until_close.url).send(JOB)
    assert (attempt.status, attempt.response) == (502, "bad upstream")
    await client.aclose()


async def test_silence_and_broken_connections_are_failed_attempts(
    serve: Serve, client: WebhookClient
) -> None:
    silent = await serve(answer(b"HTTP/1.1 204 No Content\r\n\r\n", delay=10))
    attempt = await sender(client, silent.url, timeout=0.1).send(JOB)
    assert (attempt.ok, attempt.status, attempt.error) == (False, None, "no answer within 0.1s")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    attempt = await sender(client, f"http://127.0.0.1:{closed_port}/").send(JOB)
    assert (attempt.ok, attempt.status) == (False, None)
    assert attempt.error

    half = await serve(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", keep=False))
    attempt = await sender(client, half.url).send(JOB)
    assert not attempt.ok

    garbage = await serve(answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", keep=False))
    attempt = await sender(client, garbage.url).send(JOB)
    assert (attempt.ok, attempt.status) == (False, None)
    await client.aclose()


async def test_connections_are_bounded(serve: Serve) -> None:
    server = await serve(answer(b"HTTP/1.1 204 No Content\r\n\r\n", delay=0.02))
    client = PooledClient(ClientLimits(max_connections=3))
    send = sender(client, server.url)
    attempts = await asyncio.gather(*(send.send(JOB) for _ in range(12)))
    await send.aclose()
    assert all(a.ok for a in attempts)
    assert server.connections == 3
