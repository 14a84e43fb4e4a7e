"""Compiling an estate for the gateway: what is served, what is not yet, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.gateway import Limits
from interlink.gateway.routing import Matched
from tests.unit.gateway.helpers import compile_dir, route, write_estate


def test_routes_compile_with_their_upstreams_and_timeouts(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://crm.internal:8080/base/", "legacy": "https://legacy.example.com"},
        [
            route(
                "customers",
                "/api/customers",
                "crm",
                upstreams=[
                    {"system": "crm", "path": "/v1", "weight": 90},
                    {"system": "legacy", "weight": 10},
                    {"system": "legacy", "shadow": True},
                ],
                rewrite={"path": "/customers"},
                resilience={"timeouts": {"connect": "250ms", "read": "3s"}},
            )
        ],
    )
    config = compile_dir(root)
    assert config.unserved == ()
    (compiled,) = config.routes
    assert [u.system for u in compiled.primary] == ["crm", "legacy"]
    crm = compiled.primary[0]
    assert str(crm.origin) == "http://crm.internal:8080"
    assert crm.base == "/base/v1"
    assert compiled.primary[1].origin.tls
    assert compiled.connect_timeout == 0.25
    assert compiled.read_timeout == 3.0
    found = config.router.match("any", "/api/customers/1", "GET")
    assert isinstance(found, Matched)
    assert found.value is compiled


def test_limits_come_from_the_platform_and_the_serve_settings(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [route("r", "/", "crm")],
        platform={"gateway": {"maxBodyBytes": 1000, "maxHeaderBytes": 2048}},
    )
    config = compile_dir(root, Limits(header_timeout=1.5))
    assert config.limits.max_body_bytes == 1000
    assert config.limits.max_header_bytes == 2048
    assert config.limits.header_timeout == 1.5


def test_routes_that_cannot_be_served_yet_are_left_out_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MISSING_CRM_URL", raising=False)
    root = write_estate(
        tmp_path,
        {"crm": "http://crm", "far": "${env:MISSING_CRM_URL}"},
        [
            route("ok", "/ok", "crm"),
            route("secured", "/secured", "crm", auth={"methods": [{"type": "apiKey"}]}),
            route("far-away", "/far", "far"),
            route("bad-template", "/files/{name}.json", "crm"),
        ],
    )
    config = compile_dir(root, check=False)
    assert [r.name for r in config.routes] == ["ok"]
    reasons = {u.route: u.reason for u in config.unserved}
    assert reasons == {
        "bad-template": "segment '{name}.json' of '/files/{name}.json': "
        "a template segment is one whole {name}",
        "far-away": "baseUrl of System/far: environment variable MISSING_CRM_URL is not set",
        "secured": "API keys need the store's key ring, which this gateway has not",
    }
    line = config.unserved_line()
    assert line is not None
    assert line.startswith("3 routes not served yet: bad-template (")
    assert config.router.match(None, "/secured", "GET") is None


def test_the_retail_example_names_each_route_it_cannot_serve_yet(
    retail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_CRM_LEGACY_TOKEN", "t")  # crm-legacy's credentials
    config = compile_dir(retail_dir)
    reasons = {u.route: u.reason for u in config.unserved}
    assert reasons["address-changes"].startswith("publishes event customer.address-updated")
    assert reasons["customers"].startswith("API keys need the store's key ring")
    assert config.routes == ()
