"""Whatever bytes arrive, the gateway answers well-formed HTTP or closes, and stays up."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httptools
import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import GatewayThread, connect, start_gateway

TOKEN = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=12,
)
ANY_BYTES = st.binary(max_size=64)
PATH = st.one_of(
    st.sampled_from(["/api/customers", "/api/customers/1", "/reads", "/", "*", "/nowhere"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60).map(
        lambda s: "/" + s
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)
METHOD = st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]), TOKEN)
HEADER = st.tuples(
    st.one_of(TOKEN, ANY_BYTES.map(lambda b: b.decode("latin-1"))),
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
        ANY_BYTES.map(lambda b: b.decode("latin-1")),
    ),
)
SPECIAL = st.sampled_from(
    [
        ("Content-Length", "5"),
        ("Content-Length", "-1"),
        ("Content-Length", "99999999999999999999"),
        ("Transfer-Encoding", "chunked"),
        ("Transfer-Encoding", "gzip"),
        ("Expect", "100-continue"),
        ("Connection", "close"),
        ("Connection", "upgrade"),
        ("Upgrade", "websocket"),
        ("Host", "other.test"),
        ("X-Request-Id", "fuzz"),
        ("traceparent", "00-zz"),
    ]
)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTX/1.1", ""]))
    line = f"{draw(METHOD)} {draw(PATH)} {version}".encode("latin-1")
    headers = draw(st.lists(st.one_of(HEADER, SPECIAL), max_size=8))
    if draw(st.booleans()):
        headers.insert(0, ("Host", "gw"))
    head = line + b"\r\n" + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers)
    return head + b"\r\n" + draw(st.binary(max_size=80))


class _Check:
    """Parses whatever comes back; any malformed response fails the test."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.statuses: list[int] = []

    def on_message_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with UpstreamThread() as upstream:
        gateway = start_gateway(tmp_path_factory.mktemp("fuzz"), upstream.url)
        yield gateway
        gateway.stop()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw_requests())
def test_any_bytes_get_a_well_formed_answer_or_a_close(
    fuzz_gateway: GatewayThread, data: bytes
) -> None:
    check = _Check()
    with connect(fuzz_gateway.port, timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # no more is coming: nothing waits for a timeout
        except OSError:
            pass
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            check.parser.feed_data(chunk)  # raises on anything that is not HTTP/1.1
    assert all(100 <= status <= 599 for status in check.statuses)
    event(f"answered {sorted(set(check.statuses))}")


def test_the_gateway_is_still_up_after_the_fuzzing(fuzz_gateway: GatewayThread) -> None:
    assert httpx.get(fuzz_gateway.url + "/api/customers").status_code == 200
    assert fuzz_gateway.connections() <= 1
