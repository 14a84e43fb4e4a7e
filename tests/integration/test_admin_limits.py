"""The admin API's limits and errors, through a real `interlink serve`: request heads held to
the gateway's limits, numbers past 64 bits refused by name, the token checked before the body."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from interlink.testing.processes import TOKEN, InterlinkProcess, free_port

HEADER_TIMEOUT = 1  # seconds, via --gateway-header-timeout


class Admin:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(self.base + path, headers=headers, timeout=10, **kw)


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    from interlink.cli.estate import write_example

    estate = tmp_path_factory.mktemp("limits") / "estate"
    write_example("retail", estate)
    port = free_port()
    args = ["serve", str(estate), "--admin-listen", f"127.0.0.1:{port}"]
    args += ["--gateway-header-timeout", str(HEADER_TIMEOUT)]
    proc = InterlinkProcess(args, env={"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0"}).start()
    try:
        token = proc.wait_for(
            r"admin token \(shown once, store it now\): " + TOKEN.pattern, timeout=60
        )
        proc.wait_for(r"admin API on http://", timeout=60)
        yield Admin(port, token.group(1))
    finally:
        proc.stop()


def _exchange(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _problem(raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), json.loads(body), fields


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/estate/revisions?before=99999999999999999999", "/query/before"),
        ("/api/v1/estate/revisions/99999999999999999999", "/path/revision_id"),
        ("/api/v1/events/customer.address-updated/log?after=99999999999999999999", "/query/after"),
        ("/api/v1/events/customer.address-updated/log?after=9223372036854775807", "/query/after"),
        ("/api/v1/replays/99999999999999999999", "/path/replay_id"),
        ("/api/v1/dlq/crm-sync:99999999999999999999", "/path/delivery_id"),
        ("/api/v1/estate/revisions?before=-1", "/query/before"),
        # Times that leave the years 1 to 9999 once in UTC.
        ("/api/v1/connections?since=0001-01-01T00:00:00%2B23:59", "/query/since"),
        ("/api/v1/connections?since=9999-12-31T23:59:59-23:59", "/query/since"),
        (
            "/api/v1/events/customer.address-updated/log?since=0001-01-01T00:00%2B01:00",
            "/query/since",
        ),
    ],
)
def test_numbers_past_64_bits_and_times_past_9999_are_a_422_naming_the_parameter(
    admin: Admin, path: str, parameter: str
) -> None:
    response = admin.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in response.json()["errors"]] == [parameter]


def test_a_replay_from_past_64_bits_is_a_422(admin: Admin) -> None:
    response = httpx.post(
        f"{admin.base}/api/v1/subscriptions/x/replays",
        json={"from_seq": 1 << 64},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/body/from_seq"]


def test_the_largest_64_bit_id_is_looked_up(admin: Admin) -> None:
    response = admin.get(f"/api/v1/estate/revisions/{(1 << 63) - 1}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/tokens"),
        ("POST", "/api/v1/dlq/retry"),
        ("POST", "/api/v1/alerts/silences"),
        ("POST", "/api/v1/flows/runs/retry"),
        ("PUT", "/api/v1/nodes/n1"),
    ],
)
@pytest.mark.parametrize("body", [b"{not json", b'{"a": "\xff"}'])
def test_without_a_token_a_bad_body_is_a_401(
    admin: Admin, method: str, path: str, body: bytes
) -> None:
    response = httpx.request(
        method, admin.base + path, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


def test_with_a_token_a_bad_body_is_still_a_422(admin: Admin) -> None:
    response = httpx.post(
        f"{admin.base}/api/v1/tokens",
        content=b"{not json",
        headers={"Authorization": f"Bearer {admin.token}", "content-type": "application/json"},
    )
    assert response.status_code == 422


def test_a_huge_header_is_a_431(admin: Admin) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    status, problem, fields = _problem(_exchange(admin.port, head))
    assert status == 431
    assert problem["status"] == 431
    assert fields["content-type"] == "application/problem+json"
    assert fields["connection"] == "close"


def test_a_head_that_never_ends_is_refused_without_reading_it_all(admin: Admin) -> None:
    total = 10 * 1_048_576
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = _send_until_refused(sock, total)
    assert sent < total  # refused and closed long before 10 MB was taken


def _send_until_refused(sock: socket.socket, total: int) -> int:
    """How much of ``total`` bytes of header value was sent before the server closed."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass
    return sent


def test_too_many_fields_is_a_431(admin: Admin) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(120))
    status, problem, _ = _problem(_exchange(admin.port, b"GET /healthz HTTP/1.1\r\n" + fields))
    assert (status, problem["status"]) == (431, 431)


def test_a_slow_head_is_answered_408_and_closed(admin: Admin) -> None:
    """Slowloris: a byte of header at a time. The connection is closed once the header timeout
    has passed, however steadily bytes arrive."""
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        received = b""
        for _ in range(100):  # a byte every 0.1 s: 10 s, far past the 1 s allowed
            try:
                sock.sendall(b"a")
                sock.settimeout(0.1)
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail("the slow head was still being read after 10 s")
    status, problem, _ = _problem(received)
    assert (status, problem["status"]) == (408, 408)


def test_a_connection_that_sends_nothing_is_closed(admin: Admin) -> None:
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        assert sock.recv(100) == b""  # closed by the server, not by the 10 s timeout


def test_a_kept_alive_connection_serves_requests_in_turn(admin: Admin) -> None:
    with httpx.Client(base_url=admin.base) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(HEADER_TIMEOUT / 2)
