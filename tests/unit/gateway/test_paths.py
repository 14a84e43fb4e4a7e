"""Request paths are routed in their canonical form, so spelling cannot bypass a route."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interlink.gateway.paths import normalize_path


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/", "/"),
        ("/api/customers", "/api/customers"),
        ("/api/customers/", "/api/customers/"),
        ("/api/public/../admin", "/api/admin"),
        ("/api/./customers", "/api/customers"),
        ("/api/customers/.", "/api/customers/"),
        ("/api/customers/..", "/api/"),
        ("/api/%61dmin", "/api/admin"),
        ("/api/%2e%2e/admin", "/admin"),
        ("/a%2fb", "/a%2Fb"),  # an encoded slash stays encoded: it is data, not a separator
        ("/a%20b", "/a%20b"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("//double//slash", "//double//slash"),
    ],
)
def test_canonical_paths(raw: str, canonical: str) -> None:
    assert normalize_path(raw) == canonical


@pytest.mark.parametrize("raw", ["", "*", "relative", "/..", "/a/../..", "/%zz", "/a%", "/a#b"])
def test_unacceptable_paths(raw: str) -> None:
    assert normalize_path(raw) is None


@given(st.text(alphabet="/.%2eAa1-_~", max_size=40))
def test_canonical_paths_never_climb_and_are_stable(raw: str) -> None:
    canonical = normalize_path("/" + raw)
    if canonical is not None:
        assert canonical.startswith("/")
        assert "/../" not in canonical + "/"
        assert normalize_path(canonical) == canonical
