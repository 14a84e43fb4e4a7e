"""Which path a request takes to its upstream."""

from __future__ import annotations

import pytest

from interlink.gateway.rewrite import Rewrite, upstream_path
from interlink.gateway.routing import Matched, PathPattern, RouteKey, Router, with_implied


def rewrite_of(match: str, rewrite: str | None, base: str, path: str) -> str:
    pattern = PathPattern.parse(match)
    router = Router([RouteKey("r", pattern, None, with_implied(None), "r")])
    found = router.match(None, path, "GET")
    assert isinstance(found, Matched)
    compiled = Rewrite.parse(rewrite, pattern) if rewrite else None
    return upstream_path(path, found.prefix, compiled, found.params, base)


@pytest.mark.parametrize(
    ("match", "rewrite", "base", "path", "expected"),
    [
        ("/api/customers", "/customers", "", "/api/customers", "/customers"),
        ("/api/customers", "/customers", "", "/api/customers/42", "/customers/42"),
        ("/api/customers", "/customers", "", "/api/customers/", "/customers/"),
        ("/api/customers", "/customers", "/v1", "/api/customers/42", "/v1/customers/42"),
        ("/api/customers", "/", "", "/api/customers/42", "/42"),
        ("/api/customers", "/", "", "/api/customers", "/"),
        ("/api/customers", "/", "/svc", "/api/customers", "/svc"),
        ("/api/customers", None, "/svc", "/api/customers/42", "/svc/api/customers/42"),
        ("/", "/x", "", "/a/b", "/x/a/b"),
        ("/", None, "", "/", "/"),
        ("/api/c/{id}", "/customers/{id}/card", "", "/api/c/42", "/customers/42/card"),
        ("/api/c/{id}", "/customers/{id}", "/b", "/api/c/42/orders", "/b/customers/42/orders"),
    ],
)
def test_upstream_paths(
    match: str, rewrite: str | None, base: str, path: str, expected: str
) -> None:
    assert rewrite_of(match, rewrite, base, path) == expected


def test_a_rewrite_may_only_use_captured_parameters() -> None:
    with pytest.raises(ValueError, match=r"\{id\}"):
        Rewrite.parse("/customers/{id}", PathPattern.parse("/api/customers"))
