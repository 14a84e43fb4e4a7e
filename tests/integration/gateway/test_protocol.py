"""The gateway's HTTP/1.1 server under abuse: pipelining, limits, malformed input, slow clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.gateway import Limits
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import (
    FAST,
    GatewayThread,
    Setup,
    closed_soon,
    connect,
    exchange,
    read_responses,
    start_gateway,
)

SMALL = Limits(
    max_header_bytes=2048,
    max_body_bytes=1000,
    max_headers=20,
    max_request_line=512,
    header_timeout=1.0,
    keep_alive_timeout=1.0,
    body_timeout=1.0,
    shutdown_timeout=1.0,
)


@pytest.fixture
def small(tmp_path: Path, upstream: UpstreamThread) -> Iterator[GatewayThread]:
    # The byte limits come from the Platform; the timeouts from the serve settings.
    gateway = start_gateway(
        tmp_path,
        upstream.url,
        limits=SMALL,
        platform={"gateway": {"maxHeaderBytes": 2048, "maxBodyBytes": 1000}},
    )
    yield gateway
    gateway.stop()


def get(path: str, extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\n" + extra + b"\r\n"


def test_pipelined_requests_are_answered_in_order(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        # The first is the slowest: order must come from the requests, not the upstream.
        sock.sendall(
            get("/api/customers/1", b"x-echo-delay: 0.3\r\n")
            + b"POST /api/customers/2 HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc"
            + get("/nowhere")
            + get("/api/customers/3")
        )
        responses, closed = read_responses(sock, 4)
    assert not closed
    assert [r.status for r in responses] == [200, 200, 404, 200]
    first, second, _, fourth = (json.loads(r.body) if r.status == 200 else None for r in responses)
    assert first is not None
    assert second is not None
    assert fourth is not None
    assert first["path"] == "/base/customers/1"
    assert (second["path"], second["body"]) == ("/base/customers/2", "abc")
    assert fourth["path"] == "/base/customers/3"


def test_many_pipelined_requests_on_one_connection(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"".join(get(f"/api/customers/{i}") for i in range(200)))
        responses, _ = read_responses(sock, 200)
    assert [json.loads(r.body)["path"] for r in responses] == [
        f"/base/customers/{i}" for i in range(200)
    ]


def test_headers_too_large_is_431(small: GatewayThread) -> None:
    (response,), closed = exchange(
        small.port, get("/api/customers", b"x-big: " + b"a" * 4000 + b"\r\n")
    )
    assert response.status == 431
    assert json.loads(response.body)["status"] == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert closed


def test_a_head_that_never_ends_is_431_without_buffering_it(small: GatewayThread) -> None:
    with connect(small.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: gw\r\nx-endless: ")
        try:
            for _ in range(100):
                sock.sendall(b"a" * 10_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        responses, closed = read_responses(sock, 1, linger=2)
    assert [r.status for r in responses] in ([431], [])  # a reset may beat the answer
    assert closed or responses


def test_too_many_headers_is_431(small: GatewayThread) -> None:
    extra = b"".join(b"x-h%d: v\r\n" % i for i in range(30))
    (response,), _ = exchange(small.port, get("/api/customers", extra))
    assert response.status == 431


def test_a_request_line_too_long_is_414(small: GatewayThread) -> None:
    (response,), _ = exchange(small.port, get("/api/customers/" + "x" * 1000))
    assert response.status == 414


def test_a_declared_body_too_large_is_413_before_it_is_sent(small: GatewayThread) -> None:
    with connect(small.port) as sock:
        sock.sendall(
            b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        (response,), _ = read_responses(sock, 1)
        assert response.status == 413
        assert response.headers["connection"] == "close"
        assert "limit is 1000" in json.loads(response.body)["detail"]


def test_a_chunked_body_growing_too_large_is_413(small: GatewayThread) -> None:
    with connect(small.port) as sock:
        sock.sendall(
            b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(10):
                sock.sendall(b"100\r\n" + b"z" * 256 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        responses, closed = read_responses(sock, 1, linger=2)
    assert [r.status for r in responses] == [413]
    assert closed


def test_a_body_within_the_limit_passes(small: GatewayThread) -> None:
    body = b"q" * 1000
    (response,), _ = exchange(
        small.port,
        b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\n" + body,
    )
    assert json.loads(response.body)["body_bytes"] == 1000


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: gw\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: gw\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: gw\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_requests_get_400_and_a_closed_connection(
    setup: Setup, request_bytes: bytes
) -> None:
    responses, closed = exchange(setup.gateway.port, request_bytes)
    assert [r.status for r in responses] == [400]
    assert json.loads(responses[0].body)["status"] == 400
    assert closed


def test_a_malformed_request_after_good_ones_is_answered_in_turn(setup: Setup) -> None:
    responses, closed = exchange(
        setup.gateway.port, get("/api/customers/1") + b"NOT HTTP AT ALL\r\n\r\n", count=2
    )
    assert [r.status for r in responses] == [200, 400]
    assert closed


def test_http_1_1_without_host_is_400(setup: Setup) -> None:
    (response,), _ = exchange(setup.gateway.port, b"GET /api/customers HTTP/1.1\r\n\r\n")
    assert response.status == 400
    assert "Host" in json.loads(response.body)["detail"]


def test_two_host_headers_are_400(setup: Setup) -> None:
    (response,), _ = exchange(
        setup.gateway.port, b"GET /api/customers HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    )
    assert response.status == 400


def test_a_slow_head_is_cut_off_after_the_header_timeout(setup: Setup) -> None:
    started = time.monotonic()
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"GET /api/customers HTTP/1.1\r\n")
        for _ in range(20):
            try:
                sock.sendall(b"x-slow: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
        responses, closed = read_responses(sock, 1, timeout=5, linger=2)
    elapsed = time.monotonic() - started
    assert closed
    assert [r.status for r in responses] in ([408], [])
    assert elapsed < FAST.header_timeout + 2


def test_a_connection_that_sends_nothing_is_closed(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        assert closed_soon(sock, timeout=FAST.header_timeout + 2)


def test_an_idle_keep_alive_connection_is_closed(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(get("/api/customers"))
        (response,), _ = read_responses(sock, 1)
        assert response.status == 200
        started = time.monotonic()
        assert closed_soon(sock, timeout=FAST.keep_alive_timeout + 2)
        assert time.monotonic() - started > FAST.keep_alive_timeout - 0.5


def test_a_stalled_body_is_cut_off(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nabc")
        responses, closed = read_responses(sock, 1, timeout=FAST.body_timeout + 3, linger=2)
    assert closed
    assert [r.status for r in responses] in ([408], [])


def test_a_client_that_leaves_mid_request_frees_everything(setup: Setup) -> None:
    for _ in range(20):
        with connect(setup.gateway.port) as sock:
            sock.sendall(get("/api/customers", b"x-echo-delay: 0.2\r\n"))
    deadline = time.monotonic() + 5
    while setup.gateway.connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert setup.gateway.connections() == 0
    (response,), _ = exchange(setup.gateway.port, get("/api/customers"))
    assert response.status == 200


def test_a_client_that_half_closes_still_gets_its_answer(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(get("/api/customers"))
        sock.shutdown(1)
        (response,), _ = read_responses(sock, 1)
    assert response.status == 200


def test_an_upgrade_request_is_answered_as_plain_http_then_closed(setup: Setup) -> None:
    responses, closed = exchange(
        setup.gateway.port,
        get("/api/customers", b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
        + b"\x81\x05hello",  # what a client would send once switched
    )
    assert [r.status for r in responses] == [200]
    seen = json.loads(responses[0].body)
    assert "upgrade" not in seen["headers"]
    assert "connection" not in seen["headers"]
    assert closed
