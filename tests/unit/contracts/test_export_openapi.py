"""`interlink export openapi ROUTE`: a Route's contract as the gateway exposes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlink.contracts.openapi_export import METHODS, route_openapi, validated
from interlink.contracts.route_paths import public_path
from interlink.errors import ContractError, NotFound
from interlink.estate.model import Estate
from tests.unit.contracts.export_helpers import checked, dangling
from tests.unit.estate.helpers import RETAIL, copy_retail, edit

V2_SERVERS = "servers:\n  - url: /v2\n    description: The new CRM serves v2 under /v2.\n"

ROUTES = "gateway/routes.yaml"


@pytest.fixture(scope="module")
def retail() -> Estate:
    return checked(RETAIL)


@pytest.fixture(scope="module")
def customers(retail: Estate) -> dict[str, Any]:
    return route_openapi(retail, "customers")


@pytest.fixture
def editable(tmp_path: Path) -> Path:
    return copy_retail(tmp_path / "retail")


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``"GET /path"`` → operation."""
    return {
        f"{method.upper()} {path}": op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_paths_are_the_public_ones_under_the_route(customers: dict[str, Any]) -> None:
    assert list(customers["paths"]) == [
        "/api/customers",
        "/api/customers/{id}",
        "/api/customers/{id}/address",
    ]
    assert sorted(operations(customers)) == [
        "GET /api/customers",
        "GET /api/customers/{id}",
        "POST /api/customers",
        "PUT /api/customers/{id}/address",
    ]


def test_the_server_is_the_gateway(retail: Estate, customers: dict[str, Any]) -> None:
    assert [s["url"] for s in customers["servers"]] == ["http://127.0.0.1:8080"]
    other = route_openapi(retail, "customers", server="https://api.example.com")
    assert [s["url"] for s in other["servers"]] == ["https://api.example.com"]


def test_security_is_what_the_route_accepts(customers: dict[str, Any]) -> None:
    schemes = customers["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "The API key of a Consumer. Requires the scopes: customers:read.",
    }
    assert (schemes["jwt"]["type"], schemes["jwt"]["scheme"]) == ("http", "bearer")
    assert "https://login.example.com" in schemes["jwt"]["description"]
    # OpenAPI 3.0: requirements on apiKey and http schemes list no scopes.
    assert customers["security"] == [{"apiKey": []}, {"jwt": []}]
    assert customers["x-required-scopes"] == ["customers:read"]
    for op in operations(customers).values():
        assert "security" not in op  # the contract's own requirement on POST is gone
        assert "401" in op["responses"]
        assert "403" in op["responses"]


def test_a_deprecated_api_deprecates_every_operation(customers: dict[str, Any]) -> None:
    info = customers["info"]
    assert info["x-sunset"] == "2027-06-30"
    assert info["x-successor"] == "customers-v2"
    assert "Use customers-v2 instead, at /api/v2/customers." in info["description"]
    assert info["description"].startswith("Customer master data, served by the CRM.")
    assert (info["x-interlink-route"], info["x-interlink-api"]) == ("customers", "customers-v1")
    for op in operations(customers).values():
        assert op["deprecated"] is True
        assert op["x-sunset"] == "2027-06-30"


def test_the_export_is_valid_openapi(customers: dict[str, Any]) -> None:
    assert customers["openapi"] == "3.0.3"
    assert dangling(customers) == []
    assert validated(customers, RETAIL / "contracts" / "customers-v1.openapi.yaml", "x")


def test_the_validator_catches_a_broken_export(customers: dict[str, Any]) -> None:
    broken = {
        **customers,
        "paths": {"/api/customers/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    with pytest.raises(ContractError, match="path parameter 'id' is not declared"):
        validated(broken, RETAIL / "contracts" / "customers-v1.openapi.yaml", "Route/customers")


def test_the_route_methods_limit_the_operations(editable: Path) -> None:
    edit(
        editable / ROUTES,
        "match: {path: /api/customers}",
        "match: {path: /api/customers, methods: [GET]}",
    )
    doc = route_openapi(checked(editable), "customers")
    assert sorted(operations(doc)) == ["GET /api/customers", "GET /api/customers/{id}"]
    assert "/api/customers/{id}/address" not in doc["paths"]


def test_the_contract_server_path_is_part_of_the_upstream_path(editable: Path) -> None:
    # The v2 route forwards /api/v2/customers/… to /v2/customers/…; the contract says where.
    edit(
        editable / "contracts" / "customers-v2.openapi.yaml",
        V2_SERVERS,
        "servers: [{url: 'http://crm.internal/v2'}]\n",
    )
    doc = route_openapi(checked(editable), "customers-v2")
    assert list(doc["paths"]) == [
        "/api/v2/customers",
        "/api/v2/customers/{id}",
        "/api/v2/customers/{id}/address",
    ]
    assert [s["url"] for s in doc["servers"]] == ["http://127.0.0.1:8080"]
    assert doc["security"] == [{"apiKey": []}]
    assert all("deprecated" not in op for op in operations(doc).values())
    assert "x-sunset" not in doc["info"]


def test_a_route_reaching_no_contract_path_is_an_error(editable: Path) -> None:
    # Without its server path, customers-v2's contract has nothing under /v2/customers.
    edit(editable / "contracts" / "customers-v2.openapi.yaml", V2_SERVERS, "")
    with pytest.raises(ContractError) as caught:
        route_openapi(checked(editable), "customers-v2")
    assert caught.value.message == (
        "Route/customers-v2 reaches no path of Api/customers-v2: none of its contract's paths "
        "lies under /v2/customers"
    )


def test_openapi_3_1_carries_the_scopes_in_the_requirements(editable: Path) -> None:
    edit(editable / "contracts" / "customers-v1.openapi.yaml", "openapi: 3.0.3", "openapi: 3.1.0")
    doc = route_openapi(checked(editable), "customers")
    assert doc["security"] == [{"apiKey": ["customers:read"]}, {"jwt": ["customers:read"]}]
    assert "x-required-scopes" not in doc


def test_an_api_key_in_the_query_is_a_second_scheme(editable: Path) -> None:
    edit(
        editable / ROUTES,
        "methods: [{type: apiKey}]\n    scopes: [customers:read]",
        "methods: [{type: apiKey, header: X-Key, query: key}]\n    scopes: [customers:read]",
    )
    doc = route_openapi(checked(editable), "customers-v2")
    schemes = doc["components"]["securitySchemes"]
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-Key")
    assert (schemes["apiKeyQuery"]["in"], schemes["apiKeyQuery"]["name"]) == ("query", "key")
    assert doc["security"] == [{"apiKey": []}, {"apiKeyQuery": []}]


def test_a_route_without_auth_has_no_security(editable: Path) -> None:
    routes = editable / ROUTES
    edit(routes, "  auth:\n    methods: [{type: apiKey}]\n    scopes: [customers:read]\n", "")
    (editable / "policies.yaml").unlink()  # its rule ROUTE_AUTH refuses such a route
    doc = route_openapi(checked(editable), "customers-v2")
    assert "security" not in doc
    assert "securitySchemes" not in doc["components"]
    assert all("401" not in op["responses"] for op in operations(doc).values())


def test_a_publish_route_accepts_the_latest_event_schema(retail: Estate) -> None:
    doc = route_openapi(retail, "address-changes")
    assert doc["openapi"] == "3.1.0"
    assert list(doc["paths"]) == ["/api/address-changes"]
    (op,) = doc["paths"]["/api/address-changes"].values()
    assert list(doc["paths"]["/api/address-changes"]) == ["post"]
    assert op["operationId"] == "publishCustomerAddressUpdated"
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/customer.address-updated.v2"
    schema = doc["components"]["schemas"]["customer.address-updated.v2"]
    assert schema["title"] == "customer.address-updated v2"
    assert sorted(op["responses"]) == ["202", "401", "403", "422"]
    assert doc["security"] == [{"apiKey": ["events:publish:customer.address-updated"]}]
    assert doc["info"]["version"] == "2"
    assert dangling(doc) == []


def test_a_templated_publish_route_declares_its_parameters(editable: Path) -> None:
    edit(editable / ROUTES, "path: /api/address-changes,", "path: '/api/{region}/address-changes',")
    doc = route_openapi(checked(editable), "address-changes")
    (op,) = doc["paths"]["/api/{region}/address-changes"].values()
    assert op["parameters"] == [
        {"name": "region", "in": "path", "required": True, "schema": {"type": "string"}}
    ]


def test_a_proxy_route_without_an_api_has_nothing_to_export(editable: Path) -> None:
    edit(editable / ROUTES, "  api: customers-v1\n", "")
    with pytest.raises(ContractError) as caught:
        route_openapi(checked(editable), "customers")
    assert caught.value.message == "Route/customers names no api: it has no contract to export"


def test_an_unknown_route_suggests_the_nearest(retail: Estate) -> None:
    with pytest.raises(NotFound) as caught:
        route_openapi(retail, "custmers")
    assert caught.value.message == "unknown route 'custmers' (did you mean 'customers'?)"
    with pytest.raises(NotFound) as caught:
        route_openapi(retail, "zzz")
    assert caught.value.message == "unknown route 'zzz'"


@pytest.mark.parametrize(
    ("path", "match", "rewrite", "expected"),
    [
        ("/customers", "/api/customers", "/customers", "/api/customers"),
        ("/customers/{id}", "/api/customers", "/customers", "/api/customers/{id}"),
        ("/customersx", "/api/customers", "/customers", None),
        ("/orders", "/api/customers", "/customers", None),
        ("/customers/{id}", "/customers", None, "/customers/{id}"),
        ("/other", "/customers", None, None),
        ("/a/b", "/", None, "/a/b"),
        ("/a/b", "/api", "/", "/api/a/b"),
        ("/t/{tenant}/x", "/api/{org}", "/t/{t}", "/api/{tenant}/x"),
        ("/customers/", "/api/c", "/customers", "/api/c"),
        ("/customers/{id}/", "/api/c", "/customers", "/api/c/{id}/"),
    ],
)
def test_public_paths(path: str, match: str, rewrite: str | None, expected: str | None) -> None:
    assert public_path(path, match, rewrite) == expected
