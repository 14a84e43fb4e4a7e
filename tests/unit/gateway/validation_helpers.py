"""Estates with an Api and its OpenAPI contract, for the validation tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interlink.estate.check import check_estate
from interlink.estate.kinds import Route
from interlink.estate.model import Estate
from interlink.gateway.request import Request
from interlink.http.streams import BodyStream
from tests.unit.gateway.helpers import route, write_estate

COMMON = {
    "Money": {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    }
}


def contract(openapi: str = "3.0.3") -> dict[str, Any]:
    """Orders: path, query, header parameters, JSON bodies, $ref local and across files."""
    nullable = (
        {"type": "string", "nullable": True}
        if openapi.startswith("3.0")
        else {"type": ["string", "null"]}
    )
    return {
        "openapi": openapi,
        "info": {"title": "Orders", "version": "1.0.0"},
        "paths": {
            "/orders": {
                "get": {
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"$ref": "#/components/schemas/Status"},
                        },
                        {
                            "name": "tags",
                            "in": "query",
                            "schema": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "maxItems": 3,
                            },
                        },
                        {
                            "name": "ids",
                            "in": "query",
                            "explode": False,
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "urgent", "in": "query", "schema": {"type": "boolean"}},
                        {"$ref": "#/components/parameters/Tenant"},
                    ],
                    "responses": {
                        "200": {
                            "description": "orders",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["method"],
                                        "properties": {"method": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewOrder"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Order"}
                                }
                            },
                        }
                    },
                },
            },
            "/orders/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^O[0-9]{4}$"},
                    }
                ],
                "get": {"responses": {"200": {"description": "one order"}}},
                "patch": {
                    "requestBody": {
                        "content": {
                            "application/merge-patch+json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "note": nullable,
                                        "total": {"$ref": "common.json#/Money"},
                                    },
                                    "additionalProperties": False,
                                }
                            }
                        }
                    },
                    "responses": {"204": {"description": "patched"}},
                },
            },
            "/orders/{id}/lines/{line}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "line",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                        },
                    ],
                    "responses": {"200": {"description": "a line"}},
                }
            },
            "/orders/latest": {"get": {"responses": {"200": {"description": "the latest"}}}},
            "/files/{name}.json": {
                "put": {
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 5},
                        }
                    ],
                    "requestBody": {"content": {"application/octet-stream": {}}},
                    "responses": {"204": {"description": "stored"}},
                }
            },
            "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
        "components": {
            "parameters": {
                "Tenant": {
                    "name": "X-Tenant",
                    "in": "header",
                    "schema": {"type": "string", "enum": ["eu", "us"]},
                }
            },
            "schemas": {
                "Status": {"type": "string", "enum": ["open", "closed"]},
                "Line": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                        "price": {"$ref": "common.json#/Money"},
                    },
                },
                "NewOrder": {
                    "type": "object",
                    "required": ["customer", "lines"],
                    "properties": {
                        "customer": {"type": "string", "minLength": 1},
                        "note": nullable,
                        "lines": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Line"},
                        },
                        "delivery": {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["pickup"],
                                    "properties": {"pickup": {"type": "string"}},
                                },
                                {
                                    "type": "object",
                                    "required": ["address"],
                                    "properties": {
                                        "address": {"$ref": "#/components/schemas/Address"}
                                    },
                                },
                            ]
                        },
                    },
                },
                "Address": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {"city": {"type": "string", "maxLength": 20}},
                },
                "Order": {
                    "allOf": [
                        {"$ref": "#/components/schemas/NewOrder"},
                        {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string"}},
                        },
                    ]
                },
            },
        },
    }


def write_validation_estate(
    root: Path,
    upstream: str,
    *,
    doc: dict[str, Any] | None = None,
    validation: dict[str, str] | None = None,
    routes: list[dict[str, Any]] | None = None,
) -> Path:
    """An estate with System ``shop`` at ``upstream``, Api ``orders`` and route ``orders``
    (``/api/orders`` rewritten to ``/orders``)."""
    write_estate(
        root,
        {"shop": upstream},
        routes
        or [
            route(
                "orders",
                "/api/orders",
                "shop",
                api="orders",
                rewrite={"path": "/orders"},
                validation=validation or {"request": "enforce", "response": "record"},
            ),
            route(
                "files",
                "/api/files",
                "shop",
                api="orders",
                rewrite={"path": "/files"},
                validation=validation or {"request": "enforce", "response": "record"},
            ),
        ],
    )
    (root / "contracts").mkdir(exist_ok=True)
    (root / "contracts" / "orders.json").write_text(json.dumps(doc or contract()), "utf-8")
    (root / "contracts" / "common.json").write_text(json.dumps(COMMON), "utf-8")
    api = {
        "apiVersion": "interlink/v1",
        "kind": "Api",
        "metadata": {"name": "orders", "owner": "team"},
        "spec": {"system": "shop", "contract": "contracts/orders.json", "version": 1},
    }
    with (root / "estate.yaml").open("a", encoding="utf-8") as out:
        out.write("---\n" + json.dumps(api) + "\n")
    return root


def load(root: Path) -> Estate:
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    return result.estate


def the_route(estate: Estate, name: str = "orders") -> Route:
    found = estate.get("Route", name)
    assert found is not None
    assert isinstance(found.obj, Route)
    return found.obj


def request(
    method: str,
    path: str,
    query: bytes = b"",
    body: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Request:
    req = Request(method.encode(), path, query, "1.1", headers or [], True, "127.0.0.1", {})
    if body is not None:
        req.body = BodyStream.of(body)
        req.content_length = len(body)
    return req
