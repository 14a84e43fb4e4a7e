"""OpenAPI diff: one case per kind of change, requests and responses judged in opposite ways."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlink.contracts import Difference, diff_files, diff_openapi
from interlink.errors import ContractError
from tests.unit.contracts.assertions import by_code

Spec = dict[str, Any]
CUSTOMER = "/customers/{id}"
JSON = "application/json"


def base() -> Spec:
    customer = {
        "type": "object",
        "required": ["id", "zip"],
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "zip": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "closed"]},
            "nick": {"type": "string", "nullable": True},
            "score": {"type": "integer", "format": "int32"},
        },
    }
    customer_in = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "readOnly": True},
            "name": {"type": "string", "maxLength": 50},
            "tier": {"type": "string", "enum": ["gold", "silver"]},
            "age": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "default": 10},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "customers", "version": "1"},
        "security": [{"apiKey": []}],
        "paths": {
            CUSTOMER: {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "parameters": [
                        {
                            "name": "expand",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["orders", "notes"]},
                        },
                        {"$ref": "#/components/parameters/Trace"},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "headers": {"ETag": {"schema": {"type": "string"}}},
                            "content": {
                                JSON: {"schema": {"$ref": "#/components/schemas/Customer"}}
                            },
                        },
                        "404": {"description": "not found"},
                    },
                },
                "put": {
                    "requestBody": {
                        "required": False,
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/CustomerIn"}}},
                    },
                    "responses": {"204": {"description": "saved"}},
                },
            },
            "/orders": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
        "components": {
            "schemas": {"Customer": customer, "CustomerIn": customer_in},
            "parameters": {
                "Trace": {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
            },
        },
    }


def schemas(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"]
    return found


def customer_props(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = schemas(spec)["Customer"]["properties"]
    return found


def input_props(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = schemas(spec)["CustomerIn"]["properties"]
    return found


def get_op(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][CUSTOMER]["get"]
    return found


def put_op(spec: Spec) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][CUSTOMER]["put"]
    return found


GET = "#/paths/~1customers~1{id}/get"
PUT = "#/paths/~1customers~1{id}/put"
RESPONSE = f"{GET}/responses/200/content/application~1json/schema"
REQUEST = f"{PUT}/requestBody/content/application~1json/schema"


def _add_path(spec: Spec) -> None:
    spec["paths"]["/invoices"] = {"get": {"responses": {"200": {"description": "ok"}}}}


def _add_required_query(spec: Spec) -> None:
    get_op(spec)["parameters"].append(
        {"name": "region", "in": "query", "required": True, "schema": {"type": "string"}}
    )


def _add_optional_query(spec: Spec) -> None:
    get_op(spec)["parameters"].append(
        {"name": "region", "in": "query", "schema": {"type": "string"}}
    )


def _require_expand(spec: Spec) -> None:
    get_op(spec)["parameters"][0]["required"] = True


def _drop_required_zip(spec: Spec) -> None:
    customer_props(spec).pop("zip")
    schemas(spec)["Customer"]["required"].remove("zip")


def _drop_json_response(spec: Spec) -> None:
    content = get_op(spec)["responses"]["200"]["content"]
    content["application/xml"] = content.pop(JSON)


def _drop_json_request(spec: Spec) -> None:
    content = put_op(spec)["requestBody"]["content"]
    content["text/plain"] = content.pop(JSON)


def _security_for_get(*alternatives: dict[str, list[str]]) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        get_op(spec)["security"] = list(alternatives)

    return change


Case = tuple[str, Callable[[Spec], None], str, bool, str | None]

CASES: list[Case] = [
    ("path-removed", lambda s: s["paths"].pop("/orders"), "PATH_REMOVED", True, "#/paths/~1orders"),
    ("path-added", _add_path, "PATH_ADDED", False, "#/paths/~1invoices"),
    (
        "operation-removed",
        lambda s: s["paths"][CUSTOMER].pop("put"),
        "OPERATION_REMOVED",
        True,
        PUT,
    ),
    (
        "operation-added",
        lambda s: s["paths"][CUSTOMER].update(delete={"responses": {}}),
        "OPERATION_ADDED",
        False,
        "#/paths/~1customers~1{id}/delete",
    ),
    (
        "operation-deprecated",
        lambda s: get_op(s).update(deprecated=True),
        "OPERATION_DEPRECATED",
        False,
        GET,
    ),
    (
        "response-property-removed",
        lambda s: customer_props(s).pop("nick"),
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        True,
        f"{RESPONSE}/properties/nick",
    ),
    (
        "response-required-property-removed",
        _drop_required_zip,
        "REQUIRED_ATTRIBUTE_REMOVED",
        True,
        f"{RESPONSE}/properties/zip",
    ),
    (
        "response-property-added",
        lambda s: customer_props(s).update(email={"type": "string"}),
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        False,
        f"{RESPONSE}/properties/email",
    ),
    (
        "response-type-changed",
        lambda s: customer_props(s)["zip"].update(type="integer"),
        "TYPE_CHANGED",
        True,
        f"{RESPONSE}/properties/zip",
    ),
    (
        "response-type-widened",
        lambda s: customer_props(s)["score"].update(type="number"),
        "TYPE_EXTENDED",
        True,
        f"{RESPONSE}/properties/score",
    ),
    (
        "response-format-widened",
        lambda s: customer_props(s)["score"].update(format="int64"),
        "FORMAT_EXTENDED",
        True,
        f"{RESPONSE}/properties/score",
    ),
    (
        "request-type-widened",
        lambda s: input_props(s)["age"].update(type="number"),
        "TYPE_EXTENDED",
        False,
        f"{REQUEST}/properties/age",
    ),
    (
        "request-format-added",
        lambda s: input_props(s)["name"].update(format="email"),
        "FORMAT_ADDED",
        True,
        f"{REQUEST}/properties/name",
    ),
    (
        "response-enum-widened",
        lambda s: customer_props(s)["status"]["enum"].append("frozen"),
        "ENUM_EXTENDED",
        True,
        f"{RESPONSE}/properties/status",
    ),
    (
        "response-enum-narrowed",
        lambda s: customer_props(s)["status"]["enum"].pop(),
        "ENUM_NARROWED",
        False,
        f"{RESPONSE}/properties/status",
    ),
    (
        "request-enum-narrowed",
        lambda s: input_props(s)["tier"]["enum"].pop(),
        "ENUM_NARROWED",
        True,
        f"{REQUEST}/properties/tier",
    ),
    (
        "request-enum-widened",
        lambda s: input_props(s)["tier"]["enum"].append("bronze"),
        "ENUM_EXTENDED",
        False,
        f"{REQUEST}/properties/tier",
    ),
    (
        "query-enum-narrowed",
        lambda s: get_op(s)["parameters"][0]["schema"]["enum"].pop(),
        "ENUM_NARROWED",
        True,
        f"{GET}/parameters/0/schema",
    ),
    (
        "request-max-length-lowered",
        lambda s: input_props(s)["name"].update(maxLength=20),
        "MAX_LENGTH_DECREASED",
        True,
        f"{REQUEST}/properties/name",
    ),
    (
        "request-minimum-raised",
        lambda s: input_props(s)["age"].update(minimum=18),
        "MINIMUM_INCREASED",
        True,
        f"{REQUEST}/properties/age",
    ),
    (
        "request-pattern-added",
        lambda s: input_props(s)["name"].update(pattern="^[A-Z]"),
        "PATTERN_ADDED",
        True,
        f"{REQUEST}/properties/name",
    ),
    (
        "response-max-length-added",
        lambda s: customer_props(s)["zip"].update(maxLength=10),
        "MAX_LENGTH_ADDED",
        False,
        f"{RESPONSE}/properties/zip",
    ),
    (
        "request-default-changed",
        lambda s: input_props(s)["limit"].update(default=5),
        "DEFAULT_CHANGED",
        True,
        f"{REQUEST}/properties/limit",
    ),
    (
        "response-default-added",
        lambda s: customer_props(s)["zip"].update(default="00000"),
        "DEFAULT_ADDED",
        False,
        f"{RESPONSE}/properties/zip",
    ),
    (
        "request-required-property-added",
        lambda s: schemas(s)["CustomerIn"].update(required=["name"]),
        "REQUIRED_ATTRIBUTE_ADDED",
        True,
        f"{REQUEST}/properties/name",
    ),
    (
        "request-optional-property-added",
        lambda s: input_props(s).update(email={"type": "string"}),
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        False,
        f"{REQUEST}/properties/email",
    ),
    (
        "request-property-removed",
        lambda s: input_props(s).pop("age"),
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        False,
        f"{REQUEST}/properties/age",
    ),
    (
        "required-parameter-added",
        _add_required_query,
        "REQUIRED_PARAMETER_ADDED",
        True,
        f"{GET}/parameters/2",
    ),
    ("optional-parameter-added", _add_optional_query, "PARAMETER_ADDED", False, None),
    (
        "parameter-removed",
        lambda s: get_op(s)["parameters"].pop(0),
        "PARAMETER_REMOVED",
        True,
        f"{GET}/parameters/0",
    ),
    (
        "parameter-made-required",
        _require_expand,
        "PARAMETER_BECAME_REQUIRED",
        True,
        f"{GET}/parameters/0",
    ),
    (
        "parameter-style-changed",
        lambda s: get_op(s)["parameters"][0].update(style="pipeDelimited"),
        "PARAMETER_SERIALIZATION_CHANGED",
        True,
        None,
    ),
    (
        "referenced-header-parameter-removed",
        lambda s: get_op(s)["parameters"].pop(1),
        "PARAMETER_REMOVED",
        True,
        f"{GET}/parameters/1",
    ),
    (
        "request-body-became-required",
        lambda s: put_op(s)["requestBody"].update(required=True),
        "REQUEST_BODY_BECAME_REQUIRED",
        True,
        f"{PUT}/requestBody",
    ),
    (
        "request-body-removed",
        lambda s: put_op(s).pop("requestBody"),
        "REQUEST_BODY_REMOVED",
        True,
        f"{PUT}/requestBody",
    ),
    (
        "request-content-type-removed",
        _drop_json_request,
        "REQUEST_CONTENT_TYPE_REMOVED",
        True,
        f"{PUT}/requestBody/content/application~1json",
    ),
    (
        "response-content-type-removed",
        _drop_json_response,
        "RESPONSE_CONTENT_TYPE_REMOVED",
        True,
        f"{GET}/responses/200/content/application~1json",
    ),
    (
        "success-status-removed",
        lambda s: get_op(s)["responses"].pop("200"),
        "RESPONSE_STATUS_REMOVED",
        True,
        f"{GET}/responses/200",
    ),
    (
        "error-status-removed",
        lambda s: get_op(s)["responses"].pop("404"),
        "RESPONSE_STATUS_REMOVED",
        False,
        f"{GET}/responses/404",
    ),
    (
        "status-added",
        lambda s: get_op(s)["responses"].update({"429": {"description": "slow down"}}),
        "RESPONSE_STATUS_ADDED",
        False,
        f"{GET}/responses/429",
    ),
    (
        "response-header-removed",
        lambda s: get_op(s)["responses"]["200"].pop("headers"),
        "RESPONSE_HEADER_REMOVED",
        True,
        f"{GET}/responses/200/headers/ETag",
    ),
    (
        "security-requirement-added",
        _security_for_get({"apiKey": [], "oauth": ["read"]}),
        "SECURITY_REQUIREMENT_ADDED",
        True,
        f"{GET}/security",
    ),
    (
        "security-alternative-removed",
        _security_for_get({"oauth": []}),
        "SECURITY_ALTERNATIVE_REMOVED",
        True,
        f"{GET}/security",
    ),
    (
        "security-alternative-added",
        _security_for_get({"apiKey": []}, {"oauth": []}),
        "SECURITY_ALTERNATIVE_ADDED",
        False,
        f"{GET}/security",
    ),
    (
        "security-made-anonymous",
        _security_for_get(),
        "SECURITY_REQUIREMENT_REMOVED",
        False,
        f"{GET}/security",
    ),
    (
        "response-became-nullable-3-0",
        lambda s: customer_props(s)["zip"].update(nullable=True),
        "TYPE_EXTENDED",
        True,
        f"{RESPONSE}/properties/zip",
    ),
    (
        "request-became-nullable-3-1",
        lambda s: input_props(s)["name"].update(type=["string", "null"]),
        "TYPE_EXTENDED",
        False,
        f"{REQUEST}/properties/name",
    ),
    (
        "response-one-of-member-added",
        lambda s: customer_props(s).update(
            zip={"oneOf": [{"type": "string"}, {"type": "object", "required": ["code"]}]}
        ),
        "ONE_OF_MEMBER_ADDED",
        True,
        f"{RESPONSE}/properties/zip/oneOf/1",
    ),
    (
        "request-any-of-member-added",
        lambda s: input_props(s).update(
            age={
                "anyOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "string", "pattern": "^\\d+$"},
                ]
            }
        ),
        "ANY_OF_MEMBER_ADDED",
        False,
        f"{REQUEST}/properties/age/anyOf/1",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "code", "breaking", "pointer"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_openapi_change(
    mutate: Callable[[Spec], None], code: str, breaking: bool, pointer: str | None
) -> None:
    old = base()
    new = copy.deepcopy(old)
    mutate(new)
    report = diff_openapi(old, new)
    difference = by_code(report.differences, code)
    assert difference.breaking is breaking, difference
    if pointer is not None:
        assert difference.pointer == pointer
    assert report.compatible is not any(d.breaking for d in report.differences)


def test_identical_documents_have_no_differences() -> None:
    report = diff_openapi(base(), base())
    assert report.compatible
    assert report.differences == []


def test_example_pointer_and_message() -> None:
    old, new = base(), base()
    customer_props(new)["zip"]["type"] = "integer"
    difference = by_code(diff_openapi(old, new).differences, "TYPE_CHANGED")
    assert difference.pointer == (
        "#/paths/~1customers~1{id}/get/responses/200/content/application~1json/schema/properties/zip"
    )
    assert difference.message.startswith(
        "property 'zip' of the 200 response of GET /customers/{id} changed type from string "
        "to integer"
    )
    assert difference.severity == "breaking"


def test_renamed_path_parameter_is_the_same_path() -> None:
    old, new = base(), base()
    item = new["paths"].pop(CUSTOMER)
    item["parameters"][0]["name"] = "customerId"
    new["paths"]["/customers/{customerId}"] = item
    report = diff_openapi(old, new)
    assert report.compatible
    assert [d.code for d in report.differences] == ["PATH_PARAMETER_RENAMED"]
    assert report.differences[0].severity == "info"


def test_read_only_properties_do_not_count_in_requests() -> None:
    old, new = base(), base()
    input_props(new)["id"]["type"] = "integer"
    schemas(new)["CustomerIn"]["required"] = ["id"]
    assert diff_openapi(old, new).differences == []


def test_all_of_is_merged_for_comparison() -> None:
    old, new = base(), base()
    customer = schemas(new)["Customer"]
    schemas(new)["Customer"] = {
        "allOf": [
            {
                "type": "object",
                "required": ["id"],
                "properties": {"id": customer["properties"]["id"]},
            },
            {
                "type": "object",
                "required": ["zip"],
                "properties": {k: v for k, v in customer["properties"].items() if k != "id"},
            },
        ]
    }
    assert diff_openapi(old, new).differences == []
    schemas(new)["Customer"]["allOf"][1]["properties"]["zip"]["type"] = "integer"
    difference = by_code(diff_openapi(old, new).differences, "TYPE_CHANGED")
    assert difference.pointer == f"{RESPONSE}/properties/zip"


def test_request_and_response_read_the_same_change_oppositely() -> None:
    old, new = base(), base()
    shared = {"type": "string", "enum": ["a", "b"]}
    old_shared, new_shared = copy.deepcopy(shared), {"type": "string", "enum": ["a", "b", "c"]}
    input_props(old)["kind"] = old_shared
    customer_props(old)["kind"] = copy.deepcopy(old_shared)
    input_props(new)["kind"] = new_shared
    customer_props(new)["kind"] = copy.deepcopy(new_shared)
    verdicts = {d.pointer.split("/")[3]: d.breaking for d in diff_openapi(old, new).differences}
    assert verdicts == {"get": True, "put": False}


def test_cross_file_refs(tmp_path: Path) -> None:
    for side, zip_type in (("old", "string"), ("new", "integer")):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "models.yaml").write_text(
            f"Customer:\n  type: object\n  properties:\n    zip: {{type: {zip_type}}}\n"
        )
        spec = base()
        get_op(spec)["responses"]["200"]["content"][JSON]["schema"] = {
            "$ref": "models.yaml#/Customer"
        }
        (folder / "api.json").write_text(json.dumps(spec))
    report = diff_files(tmp_path / "old" / "api.json", tmp_path / "new" / "api.json")
    difference = by_code(report.differences, "TYPE_CHANGED")
    assert difference.pointer == f"{RESPONSE}/properties/zip"


def test_recursive_component_schemas_terminate() -> None:
    old, new = base(), base()
    for spec, leaf in ((old, "string"), (new, "integer")):
        schemas(spec)["Node"] = {
            "type": "object",
            "properties": {
                "label": {"type": leaf},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        }
        customer_props(spec)["tree"] = {"$ref": "#/components/schemas/Node"}
    breaking = [d.pointer for d in diff_openapi(old, new).breaking]
    assert breaking == [f"{RESPONSE}/properties/tree/properties/label"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"swagger": "2.0"}, "only OpenAPI 3.x"),
        ({"openapi": 3}, "only OpenAPI 3.x"),
        ({"openapi": "3.0.0", "paths": []}, "expected a mapping"),
        ({"openapi": "3.0.0", "paths": {"/a": {"get": "nope"}}}, "at #/paths/~1a/get"),
        (
            {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"in": "query"}]}}}},
            "needs string 'name'",
        ),
    ],
)
def test_unusable_documents_are_contract_errors(document: Spec, message: str) -> None:
    valid = {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [], "responses": {}}}}}
    with pytest.raises(ContractError, match=message):
        diff_openapi(valid, document)


def test_every_difference_is_classified() -> None:
    old, new = base(), base()
    for _, mutate, *_ in CASES[:12]:
        try:
            mutate(new)
        except (KeyError, IndexError):
            continue
    differences: list[Difference] = diff_openapi(old, new).differences
    assert differences
    assert {d.severity for d in differences} <= {"breaking", "non-breaking", "info"}
    assert all(d.pointer.startswith("#/paths/") for d in differences)


def test_extensions_are_not_paths_or_statuses() -> None:
    old, new = base(), base()
    new["paths"]["x-owner"] = "team-crm"
    get_op(new)["responses"]["x-cache"] = {"ttl": 5}
    assert diff_openapi(old, new).differences == []
