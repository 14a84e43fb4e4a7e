"""The gateway in front of a real loopback upstream: routing, rewriting, headers, errors."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.gateway.ids import valid_traceparent
from tests.integration.gateway.conftest import (
    Setup,
    connect,
    exchange,
    read_responses,
    start_gateway,
)
from tests.unit.gateway.helpers import compile_dir, route, write_estate

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_requests_are_rewritten_and_forwarded_with_their_context(setup: Setup) -> None:
    response = httpx.get(
        setup.gateway.url + "/api/customers/42?expand=orders&x=1",
        headers={"X-Request-Id": "req-1", "traceparent": TRACE, "Accept": "application/json"},
    )
    seen = echo(response)
    assert seen["method"] == "GET"
    assert seen["path"] == "/base/customers/42"
    assert seen["query"] == "expand=orders&x=1"
    headers = seen["headers"]
    assert headers["host"] == f"127.0.0.1:{setup.upstream.port}"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{setup.gateway.port}"
    assert headers["forwarded"] == f'for=127.0.0.1;host="127.0.0.1:{setup.gateway.port}";proto=http'
    assert headers["x-request-id"] == "req-1"
    assert headers["traceparent"] == TRACE
    assert headers["accept"] == "application/json"
    assert headers["via"] == "1.1 interlink"
    assert "connection" not in headers
    assert response.headers["x-request-id"] == "req-1"


def test_missing_or_bad_ids_are_made_up(setup: Setup) -> None:
    response = httpx.get(
        setup.gateway.url + "/api/customers", headers={"X-Request-Id": "bad id", "traceparent": "x"}
    )
    headers = echo(response)["headers"]
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert valid_traceparent(headers["traceparent"].encode())
    assert response.headers["x-request-id"] == headers["x-request-id"]


def test_no_route_is_a_404_problem(setup: Setup) -> None:
    response = httpx.get(setup.gateway.url + "/nowhere", headers={"X-Request-Id": "r-404"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://interlink.dev/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no route matches GET /nowhere",
        "instance": "r-404",
    }


def test_a_method_no_route_allows_is_a_405_with_allow(setup: Setup) -> None:
    response = httpx.delete(setup.gateway.url + "/reads")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    problem = response.json()
    assert problem["status"] == 405
    assert problem["detail"] == "DELETE is not allowed on /reads"
    assert problem["instance"] == response.headers["x-request-id"]


def test_keep_alive_connections_are_reused_on_both_sides(setup: Setup) -> None:
    with httpx.Client(base_url=setup.gateway.url) as client:
        for i in range(20):
            assert echo(client.get(f"/api/customers/{i}"))["path"] == f"/base/customers/{i}"
    assert setup.upstream.connections == 1


def test_bodies_are_forwarded_with_their_framing(setup: Setup) -> None:
    url = setup.gateway.url + "/api/customers"
    seen = echo(httpx.post(url, content=b'{"name": "Ada"}'))
    assert seen["body"] == '{"name": "Ada"}'
    assert seen["headers"]["content-length"] == "15"

    def chunks() -> Any:
        yield b"part one, "
        yield b"part two"

    seen = echo(httpx.post(url, content=chunks()))
    assert seen["body"] == "part one, part two"
    empty = echo(httpx.put(url, content=b""))
    assert empty["body_bytes"] == 0
    assert empty["headers"]["content-length"] == "0"


def test_head_gets_the_headers_without_a_body(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        for _ in range(2):  # twice: the connections stay usable after a bodiless answer
            sock.sendall(b"HEAD /api/customers HTTP/1.1\r\nHost: gw\r\n\r\n")
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = re.search(rb"content-length: (\d+)", head.lower())
            assert length is not None
            assert int(length.group(1)) > 0
            sock.sendall(b"GET /api/customers HTTP/1.1\r\nHost: gw\r\n\r\n")
            (get,), closed = read_responses(sock, 1)
            assert not closed
            assert get.status == 200
            assert json.loads(get.body)["method"] == "GET"


def test_expect_100_continue(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(
            b"POST /api/customers HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        (response,), _ = read_responses(sock, 1)
        assert response.status == 200
        seen = json.loads(response.body)
        assert seen["body"] == "hello"
        assert "expect" not in seen["headers"]


def test_an_unknown_expectation_is_417(setup: Setup) -> None:
    (response,), _ = exchange(
        setup.gateway.port, b"GET /api/customers HTTP/1.1\r\nHost: gw\r\nExpect: magic\r\n\r\n"
    )
    assert response.status == 417


def test_an_upstream_that_is_down_is_a_502_naming_the_system(setup: Setup) -> None:
    response = httpx.get(setup.gateway.url + "/down/x")
    assert response.status_code == 502
    problem = response.json()
    assert problem["system"] == "down"
    assert problem["detail"].startswith("down: cannot connect to http://127.0.0.1:9")
    assert problem["title"] == "Bad Gateway"


def test_a_slow_upstream_is_a_504_after_the_route_read_timeout(setup: Setup) -> None:
    response = httpx.get(setup.gateway.url + "/slow", headers={"x-echo-delay": "2"})
    assert response.status_code == 504
    problem = response.json()
    assert problem["system"] == "crm"
    assert "did not answer within 0.3s" in problem["detail"]
    assert response.elapsed.total_seconds() < 1.5
    # a fast answer on the same route is fine
    assert httpx.get(setup.gateway.url + "/slow").status_code == 200


def test_an_upstream_closing_without_answering_is_a_502(setup: Setup) -> None:
    response = httpx.get(setup.gateway.url + "/api/customers", headers={"x-echo-close": "now"})
    assert response.status_code == 502
    assert "closed the connection without answering" in response.json()["detail"]


def test_an_upstream_failing_mid_body_cuts_the_client_connection(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"GET /api/customers HTTP/1.1\r\nHost: gw\r\nx-echo-close: mid-body\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"content-length: 1000000" in head.lower()
        assert len(body) < 1_000_000  # cut short, never passed off as complete
    assert httpx.get(setup.gateway.url + "/api/customers").status_code == 200


def test_upstream_status_codes_and_errors_pass_through(setup: Setup) -> None:
    response = httpx.get(setup.gateway.url + "/api/customers", headers={"x-echo-status": "503"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"


def test_large_responses_stream_through(setup: Setup) -> None:
    size = 50 * 1024 * 1024
    digest = hashlib.sha256()
    received = 0
    with httpx.stream(
        "GET", setup.gateway.url + "/api/customers", headers={"x-echo-stream": str(size)}
    ) as response:
        assert response.headers["content-length"] == str(size)
        for chunk in response.iter_raw():
            received += len(chunk)
            digest.update(chunk)
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(b"x" * size).hexdigest()


def test_http_1_0_clients_get_close_delimited_or_keep_alive_answers(setup: Setup) -> None:
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"GET /api/customers HTTP/1.0\r\n\r\n")
        (response,), closed = read_responses(sock, 1)
        assert response.status == 200
        assert closed or response.headers.get("connection") == "close"
    with connect(setup.gateway.port) as sock:
        sock.sendall(b"GET /api/customers HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        (response,), _ = read_responses(sock, 1)
        assert response.headers["connection"] == "keep-alive"


def test_absolute_form_targets_are_routed_by_their_host(setup: Setup) -> None:
    (response,), _ = exchange(
        setup.gateway.port,
        b"GET http://shop.test/api/customers/7 HTTP/1.1\r\nHost: ignored.test\r\n\r\n",
    )
    seen = json.loads(response.body)
    assert seen["path"] == "/base/customers/7"
    assert seen["headers"]["x-forwarded-host"] == "shop.test"


def test_dot_segments_cannot_reach_around_a_route(setup: Setup) -> None:
    (response,), _ = exchange(
        setup.gateway.port, b"GET /reads/../api/customers/%31 HTTP/1.1\r\nHost: gw\r\n\r\n"
    )
    assert json.loads(response.body)["path"] == "/base/customers/1"
    (response,), _ = exchange(setup.gateway.port, b"GET /../etc HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert response.status == 400


def test_a_new_config_applies_to_the_next_request(tmp_path: Path, setup: Setup) -> None:
    assert httpx.get(setup.gateway.url + "/added").status_code == 404
    root = write_estate(
        tmp_path / "estate2",
        {"crm": setup.upstream.url},
        [route("added", "/added", "crm")],
    )
    setup.gateway.update(compile_dir(root))
    for _ in range(50):
        if httpx.get(setup.gateway.url + "/added").status_code == 200:
            break
    assert echo(httpx.get(setup.gateway.url + "/added"))["path"] == "/added"
    assert httpx.get(setup.gateway.url + "/api/customers").status_code == 404


def test_graceful_stop_finishes_open_requests(tmp_path: Path) -> None:
    from interlink.testing.upstreams import UpstreamThread

    with UpstreamThread() as upstream:
        gateway = start_gateway(tmp_path, upstream.url)
        idle = connect(gateway.port)
        results: list[int] = []

        def slow_request() -> None:
            results.append(
                httpx.get(
                    gateway.url + "/api/customers", headers={"x-echo-delay": "0.5"}, timeout=10
                ).status_code
            )

        thread = threading.Thread(target=slow_request)
        thread.start()
        deadline = time.monotonic() + 10
        while gateway.connections() < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)  # the slow request has reached the upstream
        gateway.stop()
        thread.join()
        assert results == [200]
        idle.settimeout(2)
        assert idle.recv(10) == b""  # the idle keep-alive connection was closed
        idle.close()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", gateway.port), 1):
            pass
