"""`interlink check` compiles the gateway's view: a Route it would not serve is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from interlink.cli.check import check_command
from interlink.estate.check import check_estate
from interlink.gateway import product_route
from interlink.runtime.servable import unservable_routes
from tests.unit.estate.helpers import RETAIL, TODAY
from tests.unit.gateway.helpers import route, write_estate


def _rendered(root: Path) -> list[str]:
    result = check_estate(root)
    assert result.ok, [f.render() for f in result.errors]
    return [f.render(result.estate.root) for f in unservable_routes(result)]


def test_a_route_the_gateway_would_drop_is_an_error_at_the_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_JWKS_URL", "ftp://keys")
    jwt = {"type": "jwt", "issuer": "i", "algorithms": ["RS256"], "jwksUrl": "${env:TEST_JWKS_URL}"}
    shadowed = [{"system": "crm"}, {"system": "crm", "shadow": True}]
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [
            route("ok", "/ok", "crm"),
            route("jwks", "/jwt", "crm", auth={"methods": [jwt]}),
            route("compared", "/c", "crm", upstreams=shadowed, compare={"ignore": ["servedBy"]}),
        ],
    )
    # estate.yaml: the Platform, the Team, the System, then the Routes, one JSON line each
    assert _rendered(root) == [
        "estate.yaml:9:1: error: Route/jwks would not be served: JWT jwksUrl is not an http(s) URL",
        "estate.yaml:11:1: error: Route/compared would not be served: "
        "compare.ignore: 'servedBy' is not a JSON pointer (/a/b, /a/*/c)",
    ]


def test_what_only_the_running_platform_has_is_not_held_against_a_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_CRM_URL", raising=False)
    root = write_estate(
        tmp_path,
        {"crm": "http://crm", "far": "${env:UNSET_CRM_URL}"},
        [
            route("keys", "/keys", "crm", auth={"methods": [{"type": "apiKey"}]}),
            route("far-away", "/far", "far"),
        ],
        platform={"gateway": {"rateLimitStore": "${env:UNSET_REDIS_URL}"}},
    )
    assert _rendered(root) == []
    monkeypatch.setenv("UNSET_CRM_URL", "http://crm/?q=1")  # set, it is judged
    assert _rendered(root) == [
        "estate.yaml:11:1: error: Route/far-away would not be served: "
        "baseUrl of System/far has a query string"
    ]


def test_the_retail_example_is_served_whole() -> None:
    result = check_estate(RETAIL, today=TODAY)
    assert unservable_routes(result) == []


def test_check_fails_on_a_route_that_would_not_be_served(tmp_path: Path) -> None:
    shadowed = [{"system": "crm"}, {"system": "crm", "shadow": True}]
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [route("compared", "/c", "crm", upstreams=shadowed, compare={"ignore": ["servedBy"]})],
    )
    result = CliRunner().invoke(check_command, [str(root)])
    assert result.exit_code == 1, result.output
    assert "estate.yaml:7:1: error: Route/compared would not be served: " in result.output
    assert result.output.endswith("4 objects in 1 files: 1 error, 0 warnings\n")


def test_a_route_with_api_keys_is_judged_on_everything_else(tmp_path: Path) -> None:
    shadowed = [{"system": "crm"}, {"system": "crm", "shadow": True}]
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [
            route(
                "keyed",
                "/k",
                "crm",
                upstreams=shadowed,
                compare={"ignore": ["servedBy"]},
                auth={"methods": [{"type": "apiKey"}]},
            )
        ],
    )
    assert _rendered(root) == [
        "estate.yaml:7:1: error: Route/keyed would not be served: "
        "compare.ignore: 'servedBy' is not a JSON pointer (/a/b, /a/*/c)"
    ]


def test_the_retail_example_is_served_whole_with_its_secrets_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_MOBILE_JWT_KEY", "k")
    result = check_estate(RETAIL, today=TODAY)
    assert unservable_routes(result) == []


def test_a_flow_route_is_served_without_the_flow_engine_check_runs_without(
    tmp_path: Path,
) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [route("runs", "/runs", match={"methods": ["POST"]}, upstreams=[], flow="ok")],
    )
    flow = {
        "apiVersion": "interlink/v1",
        "kind": "Flow",
        "metadata": {"name": "ok", "owner": "team"},
        "spec": {"steps": [{"name": "send", "type": "call", "system": "crm", "path": "/x"}]},
    }
    estate = root / "estate.yaml"
    estate.write_text(f"{estate.read_text()}---\n{json.dumps(flow)}\n")
    assert _rendered(root) == []


def test_a_product_route_is_judged_by_its_product(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every source type is read today: a type left out of the read ones stands for a new one.
    monkeypatch.setattr(product_route, "PRODUCT_SOURCES_READ", frozenset({"csv"}))
    root = write_estate(
        tmp_path,
        {"crm": "http://crm"},
        [route("rows", "/data/rows", upstreams=[], product="rows")],
    )
    product = {
        "apiVersion": "interlink/v1",
        "kind": "DataProduct",
        "metadata": {"name": "rows", "owner": "team"},
        "spec": {
            "domain": "sales",
            "source": {"system": "crm", "type": "http", "location": "/rows"},
            "contract": {"columns": [{"name": "id", "type": "integer"}]},
        },
    }
    estate = root / "estate.yaml"
    estate.write_text(f"{estate.read_text()}---\n{json.dumps(product)}\n")
    (found,) = _rendered(root)
    assert "Route/rows would not be served: serves DataProduct/rows, whose source is not" in found
    estate.write_text(estate.read_text().replace('"type": "http"', '"type": "csv"'))
    assert _rendered(root) == []  # served by its product, without the products running here
