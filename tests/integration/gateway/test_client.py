"""The HTTP/1.1 client the gateway proxies with, against a real loopback upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from interlink.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from interlink.http import HttpClient, Response
from interlink.testing.upstreams import UpstreamThread


def run(test: Callable[[HttpClient], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        client = HttpClient(**options)
        try:
            await test(client)
        finally:
            await client.aclose()

    uvloop.run(main())


async def echo(response: Response) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(await response.read())
    return body


def test_requests_with_bodies_of_every_kind(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        response = await client.request(
            "POST", upstream.url + "/a?b=1", {"X-Thing": "1", "Connection": "x"}, b"hello"
        )
        assert response.status == 200
        assert response.header("content-type") == "application/json"
        seen = await echo(response)
        assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/a", "b=1")
        assert seen["body"] == "hello"
        assert seen["headers"]["x-thing"] == "1"
        assert "connection" not in seen["headers"]
        assert seen["headers"]["host"] == f"127.0.0.1:{upstream.port}"

        async def parts() -> AsyncIterator[bytes]:
            for part in (b"one ", b"", b"two"):
                yield part

        seen = await echo(await client.request("PUT", upstream.url + "/", body=parts()))
        assert seen["body"] == "one two"
        assert seen["headers"]["transfer-encoding"] == "chunked"
        seen = await echo(
            await client.request("PUT", upstream.url + "/", body=parts(), content_length=7)
        )
        assert seen["body"] == "one two"
        assert seen["headers"]["content-length"] == "7"

    run(test)


def test_connections_are_kept_alive_and_reused(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        for i in range(10):
            assert (await echo(await client.request("GET", f"{upstream.url}/{i}")))[
                "path"
            ] == f"/{i}"
        head = await client.request("HEAD", upstream.url + "/")
        assert head.status == 200
        assert await head.read() == b""
        no_content = await client.request("GET", upstream.url + "/", {"x-echo-status": "204"})
        assert no_content.status == 204
        assert await no_content.read() == b""
        assert (await echo(await client.request("GET", upstream.url + "/after")))[
            "path"
        ] == "/after"

    run(test)
    assert upstream.connections == 1


def test_a_connection_the_upstream_closes_is_not_reused(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        await echo(await client.request("GET", upstream.url, {"x-echo-connection": "close"}))
        await echo(await client.request("GET", upstream.url))
        unframed = await client.request("GET", upstream.url + "/u", {"x-echo-unframed": "1"})
        assert (await echo(unframed))["path"] == "/u"  # the body ends with the connection
        await echo(await client.request("GET", upstream.url))

    run(test)
    assert upstream.connections == 3


def test_a_kept_alive_connection_closed_by_the_upstream_is_replaced(
    upstream: UpstreamThread,
) -> None:
    async def test(client: HttpClient) -> None:
        await echo(await client.request("GET", upstream.url))
        upstream.call(upstream.upstream.drop_connections)
        await asyncio.sleep(0.1)
        assert (await echo(await client.request("GET", upstream.url + "/again")))[
            "path"
        ] == "/again"

    run(test)
    assert upstream.connections == 2


def test_the_pool_is_bounded(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        delayed = {"x-echo-delay": "0.2"}
        responses = await asyncio.gather(
            *(client.request("GET", f"{upstream.url}/{i}", delayed) for i in range(6))
        )
        assert sorted([(await echo(r))["path"] for r in responses]) == [f"/{i}" for i in range(6)]

    run(test, max_connections=2)
    assert upstream.connections == 2


def test_a_pool_that_stays_busy_is_503(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        slow = asyncio.ensure_future(client.request("GET", upstream.url, {"x-echo-delay": "1"}))
        await asyncio.sleep(0.1)
        with pytest.raises(UpstreamUnavailable, match="all 1 connections"):
            await client.request("GET", upstream.url, connect_timeout=0.2)
        await echo(await slow)

    run(test, max_connections=1)


def test_timeouts_and_refusals(upstream: UpstreamThread) -> None:
    async def test(client: HttpClient) -> None:
        with pytest.raises(UpstreamTimeout, match=r"did not answer within 0\.2s") as timeout:
            await client.request("GET", upstream.url, {"x-echo-delay": "2"}, read_timeout=0.2)
        assert timeout.value.status == 504
        with pytest.raises(UpstreamError, match="cannot connect") as refused:
            await client.request("GET", "http://127.0.0.1:9/")
        assert refused.value.status == 502
        assert not refused.value.request_sent
        response = await client.request("GET", upstream.url, {"x-echo-close": "mid-body"})
        with pytest.raises(UpstreamError, match="in the middle of a response"):
            await response.read()
        assert (await echo(await client.request("GET", upstream.url)))["method"] == "GET"

    run(test)


def test_a_large_body_streams_both_ways(upstream: UpstreamThread) -> None:
    size = 64 * 1024 * 1024

    async def test(client: HttpClient) -> None:
        async def upload() -> AsyncIterator[bytes]:
            piece = b"u" * 1024 * 1024
            for _ in range(size // len(piece)):
                yield piece

        seen = await echo(await client.request("POST", upstream.url, body=upload()))
        assert seen["body_bytes"] == size
        response = await client.request("GET", upstream.url, {"x-echo-stream": str(size)})
        total = 0
        async for chunk in response.body:
            total += len(chunk)
        assert total == size

    run(test)
