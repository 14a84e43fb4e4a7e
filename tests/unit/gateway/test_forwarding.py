"""Headers across the gateway: hop-by-hop dropped, forwarding appended, ids carried."""

from __future__ import annotations

import re

import pytest

from interlink.gateway.forwarding import client_headers, upstream_headers
from interlink.gateway.ids import new_traceparent, request_id, valid_traceparent
from interlink.gateway.request import Request
from interlink.http.headers import Headers

TRACE = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request(headers: Headers, client: str = "10.0.0.7", host: str | None = "api.test") -> Request:
    special: dict[bytes, bytes] = {}
    for name, value in headers:
        special[name] = special[name] + b", " + value if name in special else value
    req = Request(b"GET", "/x", b"", "1.1", headers, True, client, special)
    req.host = host
    return req


def as_dict(headers: Headers) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        out.setdefault(name, []).append(value)
    return out


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    req = request(
        [
            (b"host", b"api.test"),
            (b"connection", b"keep-alive, x-secret-hop"),
            (b"keep-alive", b"timeout=5"),
            (b"x-secret-hop", b"1"),
            (b"te", b"trailers"),
            (b"upgrade", b"websocket"),
            (b"proxy-authorization", b"Basic abc"),
            (b"expect", b"100-continue"),
            (b"content-length", b"3"),
            (b"accept", b"application/json"),
            (b"authorization", b"Bearer t"),
        ]
    )
    out = as_dict(upstream_headers(req))
    for dropped in (b"host", b"connection", b"keep-alive", b"x-secret-hop", b"te", b"upgrade"):
        assert dropped not in out
    assert b"proxy-authorization" not in out
    assert b"expect" not in out
    assert b"content-length" not in out  # the client re-frames the body
    assert out[b"accept"] == [b"application/json"]
    assert out[b"authorization"] == [b"Bearer t"]
    assert out[b"via"] == [b"1.1 interlink"]


def test_forwarding_headers_append_the_client() -> None:
    out = as_dict(upstream_headers(request([(b"host", b"api.test")])))
    assert out[b"x-forwarded-for"] == [b"10.0.0.7"]
    assert out[b"x-forwarded-proto"] == [b"http"]
    assert out[b"x-forwarded-host"] == [b"api.test"]
    assert out[b"forwarded"] == [b'for=10.0.0.7;host="api.test";proto=http']
    prior = request(
        [
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"forwarded", b"for=203.0.113.9"),
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-host", b"spoofed"),
        ],
        client="2001:db8::1",
    )
    out = as_dict(upstream_headers(prior))
    assert out[b"x-forwarded-for"] == [b"203.0.113.9, 2001:db8::1"]
    assert out[b"forwarded"] == [b'for=203.0.113.9, for="[2001:db8::1]";host="api.test";proto=http']
    assert out[b"x-forwarded-proto"] == [b"http"]  # this hop's, not the client's claim
    assert out[b"x-forwarded-host"] == [b"api.test"]


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced() -> None:
    assert request_id(b"abc-123_x.y:z") == "abc-123_x.y:z"
    for bad in (None, b"", b"has space", b"x" * 200, b'quote"', b"\xff"):
        generated = request_id(bad)
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    out = as_dict(upstream_headers(request([(b"x-request-id", b"r-1")])))
    assert out[b"x-request-id"] == [b"r-1"]


def test_traceparent_is_propagated_when_valid_and_made_up_otherwise() -> None:
    out = as_dict(upstream_headers(request([(b"traceparent", TRACE), (b"tracestate", b"k=v")])))
    assert out[b"traceparent"] == [TRACE]
    assert out[b"tracestate"] == [b"k=v"]
    out = as_dict(
        upstream_headers(request([(b"traceparent", b"garbage"), (b"tracestate", b"k=v")]))
    )
    assert valid_traceparent(out[b"traceparent"][0])
    assert out[b"traceparent"] != [b"garbage"]
    assert b"tracestate" not in out  # it belongs to the trace that was dropped
    out = as_dict(upstream_headers(request([])))
    assert valid_traceparent(out[b"traceparent"][0])


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (TRACE, True),
        (b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", True),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", False),
        (b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
        (b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        (b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", False),
    ],
)
def test_traceparent_validation(value: bytes, valid: bool) -> None:
    assert valid_traceparent(value) is valid


def test_generated_traceparents_are_valid_and_distinct() -> None:
    made = {new_traceparent() for _ in range(1000)}
    assert len(made) == 1000
    assert all(valid_traceparent(t) for t in made)


def test_response_headers_lose_hop_by_hop_and_gain_the_request_id() -> None:
    req = request([(b"x-request-id", b"rid-7")])
    out, length = client_headers(
        [
            (b"Content-Type", b"text/plain"),
            (b"Content-Length", b"12"),
            (b"Connection", b"keep-alive, X-Private"),
            (b"X-Private", b"1"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
        ],
        req,
    )
    assert length == 12
    assert out == [
        (b"Content-Type", b"text/plain"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"x-request-id", b"rid-7"),
    ]
    kept, _ = client_headers([(b"X-Request-Id", b"upstream-id")], req)
    assert kept == [(b"X-Request-Id", b"upstream-id")]
