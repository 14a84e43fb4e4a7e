"""Route precedence: host, then path, then methods, then name; never file order."""

from __future__ import annotations

import itertools
import random

import pytest

from interlink.gateway.routing import (
    HostPattern,
    Matched,
    MethodNotAllowed,
    PathPattern,
    RouteKey,
    Router,
    split_host,
    with_implied,
)


def key(
    name: str, path: str, host: str | None = None, methods: list[str] | None = None
) -> RouteKey[str]:
    return RouteKey(
        name,
        PathPattern.parse(path),
        HostPattern.parse(host) if host else None,
        with_implied(methods),
        name,
    )


ROUTES = [
    key("root", "/"),
    key("customers", "/customers"),
    key("customer", "/customers/{id}"),
    key("me", "/customers/me"),
    key("orders", "/customers/{id}/orders"),
    key("a-b", "/a/b"),
    key("a-x-c", "/a/{x}/c"),
    key("v2-get", "/v2/items", methods=["GET"]),
    key("v2-write", "/v2/items", methods=["POST", "PUT"]),
    key("v3-get", "/v3/items", methods=["GET"]),
    key("v3-any", "/v3/items"),
    key("only-post", "/only", methods=["POST"]),
    key("only-put", "/only", methods=["PUT"]),
    key("exact-host", "/", host="api.example.com"),
    key("exact-host-port", "/", host="api.example.com:8443"),
    key("exact-host-customers", "/customers", host="api.example.com"),
    key("wild", "/customers", host="*.example.com"),
    key("wild-deeper", "/customers", host="*.eu.example.com"),
]

# (host, path, method) → expected route name (or "405 ALLOW…" / "404")
TABLE = [
    # the longest literal prefix wins; / catches the rest
    (None, "/", "GET", "root"),
    (None, "/anything/else", "GET", "root"),
    (None, "/customers", "GET", "customers"),
    (None, "/customers/", "GET", "customers"),
    (None, "/customersX", "GET", "root"),
    # a template segment matches one non-empty segment and beats a shorter pattern
    (None, "/customers/42", "GET", "customer"),
    (None, "/customers/42/profile", "GET", "customer"),
    # a literal segment beats a template at the same position
    (None, "/customers/me", "GET", "me"),
    (None, "/customers/me/orders", "GET", "me"),
    (None, "/customers/42/orders", "GET", "orders"),
    (None, "/customers/42/orders/7", "GET", "orders"),
    # at the first difference, literal beats template even if the template pattern is longer
    (None, "/a/b/c", "GET", "a-b"),
    (None, "/a/z/c", "GET", "a-x-c"),
    (None, "/a/z/d", "GET", "root"),
    # methods: GET implies HEAD; a route listing methods beats one that lists none
    (None, "/v2/items", "GET", "v2-get"),
    (None, "/v2/items", "HEAD", "v2-get"),
    (None, "/v2/items", "PUT", "v2-write"),
    (None, "/v3/items", "GET", "v3-get"),
    (None, "/v3/items", "DELETE", "v3-any"),
    # no route on the path allows the method, and a less specific route takes it
    (None, "/v2/items", "DELETE", "root"),
    # hosts: exact (with port first), then wildcards (more labels first), then none
    ("api.example.com", "/", "GET", "exact-host"),
    ("api.example.com", "/customers/42", "GET", "exact-host-customers"),
    ("api.example.com:8443", "/x", "GET", "exact-host-port"),
    ("api.example.com:9000", "/x", "GET", "exact-host"),
    ("shop.example.com", "/customers", "GET", "wild"),
    ("a.b.example.com", "/customers", "GET", "wild"),
    ("shop.eu.example.com", "/customers", "GET", "wild-deeper"),
    ("example.com", "/customers", "GET", "customers"),
    ("shop.example.com", "/elsewhere", "GET", "root"),
    ("other.org", "/customers/me", "GET", "me"),
]


def outcome(router: Router[str], host: str | None, path: str, method: str) -> str:
    found = router.match(host, path, method)
    if found is None:
        return "404"
    if isinstance(found, MethodNotAllowed):
        return "405 " + ",".join(found.allow)
    return found.value


@pytest.mark.parametrize(("host", "path", "method", "expected"), TABLE)
def test_precedence(host: str | None, path: str, method: str, expected: str) -> None:
    assert outcome(Router(ROUTES), host, path, method) == expected


def test_the_order_routes_are_given_in_never_matters() -> None:
    rng = random.Random(7)
    reference = Router(ROUTES)
    for _ in range(20):
        shuffled = ROUTES[:]
        rng.shuffle(shuffled)
        router = Router(shuffled)
        for host, path, method, _ in TABLE:
            assert outcome(router, host, path, method) == outcome(reference, host, path, method)


def test_405_lists_the_methods_of_every_route_on_the_path() -> None:
    router = Router(
        [key("only-post", "/only", methods=["POST"]), key("g", "/only", methods=["GET"])]
    )
    assert outcome(router, None, "/only", "DELETE") == "405 GET,HEAD,POST"
    assert outcome(router, None, "/elsewhere", "GET") == "404"


def test_ties_on_everything_but_the_name_go_to_the_first_name() -> None:
    for order in itertools.permutations(["b", "a", "c"]):
        router = Router([key(n, "/same", methods=["GET", "POST"]) for n in order])
        assert outcome(router, None, "/same", "GET") == "a"
    # fewer methods is more specific than more methods
    router = Router([key("a", "/m", methods=["GET", "POST"]), key("z", "/m", methods=["GET"])])
    assert outcome(router, None, "/m", "GET") == "z"
    assert outcome(router, None, "/m", "POST") == "a"


def test_match_reports_parameters_and_the_consumed_prefix() -> None:
    router = Router([key("orders", "/customers/{id}/orders"), key("c", "/api/customers")])
    found = router.match(None, "/customers/42/orders/7", "GET")
    assert isinstance(found, Matched)
    assert found.params == {"id": "42"}
    assert "/customers/42/orders/7"[found.prefix :] == "/7"
    found = router.match(None, "/api/customers", "GET")
    assert isinstance(found, Matched)
    assert found.params == {}
    assert found.prefix == len("/api/customers")


def test_an_empty_router_matches_nothing() -> None:
    assert Router[str]([]).match("h", "/", "GET") is None


@pytest.mark.parametrize(
    ("text", "segments", "params"),
    [
        ("/", (), ()),
        ("/customers/", ("customers",), ()),
        ("/customers/{id}", ("customers", None), ("id",)),
        ("/a/{x}/b/{y}", ("a", None, "b", None), ("x", "y")),
    ],
)
def test_path_patterns(text: str, segments: tuple[str | None, ...], params: tuple[str]) -> None:
    pattern = PathPattern.parse(text)
    assert pattern.segments == segments
    assert pattern.params == params


@pytest.mark.parametrize("text", ["/files/{name}.json", "/a/{x", "/a/{x}/{x}", "/a/{1x}"])
def test_template_segments_must_be_whole(text: str) -> None:
    with pytest.raises(ValueError, match="template"):
        PathPattern.parse(text)


@pytest.mark.parametrize(
    ("host", "bare"),
    [
        ("api.example.com", "api.example.com"),
        ("api.example.com:8080", "api.example.com"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
    ],
)
def test_split_host(host: str, bare: str) -> None:
    assert split_host(host) == bare
