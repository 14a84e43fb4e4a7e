"""The OpenAPI document of a Route that publishes an event instead of proxying.

Such a Route has no Api contract: the gateway validates the request body against the event's
latest active schema and publishes it, answering 202 once it is durable. The document is
OpenAPI 3.1, whose schemas are JSON Schema 2020-12 like event schemas, so the schema is kept
whole under ``components.schemas``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from interlink.contracts.export_sources import (
    embed_schema,
    escape_pointer,
    event_schemas,
    latest_active,
)
from interlink.contracts.route_security import security_requirements, security_schemes
from interlink.errors import ContractError
from interlink.estate.kinds import Event, Route
from interlink.estate.model import Estate

OPENAPI_VERSION = "3.1.0"
_BODY_METHODS = ("POST", "PUT", "PATCH")


def publish_openapi(estate: Estate, route: Route, url: str) -> tuple[dict[str, Any], Path]:
    """The document, and the schema file its relative ``$ref``s resolve against."""
    assert route.spec.publish is not None
    name = route.spec.publish.event
    item = estate.get("Event", name)
    if item is None:
        raise ContractError(f"{route.key} publishes Event/{name}, which does not exist")
    event = item.obj
    assert isinstance(event, Event)
    latest = latest_active(event_schemas(estate, item))
    key = f"{name}.v{latest.version.version}"
    methods = [m for m in route.spec.match.methods or ["POST"] if m in _BODY_METHODS]
    if not methods:
        raise ContractError(f"{route.key} publishes {name} but matches no method with a body")
    operation: dict[str, Any] = {
        "operationId": "publish" + "".join(p.title() for p in re.split(r"[^A-Za-z0-9]+", name)),
        "summary": f"Publish {name}",
        "description": f"The body, valid against schema version {latest.version.version}, "
        f"is published as a {name} event.",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{escape_pointer(key)}"}
                }
            },
        },
        "responses": {
            "202": {"description": "Accepted: the event is stored and will be delivered."},
            "422": {"description": "The body does not match the event's schema."},
        },
    }
    # A templated match path names parameters the document must declare.
    params = re.findall(r"\{([^{}/]+)\}", route.spec.match.path)
    if params:
        operation["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    info: dict[str, Any] = {
        "title": f"{event.metadata.title or name} ingestion",
        "version": str(latest.version.version),
    }
    if event.metadata.description:
        info["description"] = event.metadata.description
    info["x-interlink-route"] = route.name
    info["x-interlink-event"] = name
    auth = route.spec.auth
    components: dict[str, Any] = {
        "schemas": {key: embed_schema(latest.schema, f"/components/schemas/{escape_pointer(key)}")}
    }
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "servers": [{"url": url, "description": f"Interlink gateway, route {route.name}"}],
    }
    if auth is not None:
        components["securitySchemes"] = security_schemes(auth, OPENAPI_VERSION)
        doc["security"] = security_requirements(
            auth, components["securitySchemes"], OPENAPI_VERSION
        )
        operation["responses"]["401"] = {"description": "No valid credential was presented."}
        if auth.scopes:
            operation["responses"]["403"] = {
                "description": "The credential lacks a required scope."
            }
    operations: dict[str, Any] = {}
    for method in methods:
        op = copy.deepcopy(operation)
        if len(methods) > 1:  # operation ids are unique within a document
            op["operationId"] += method.title()
        operations[method.lower()] = op
    doc["paths"] = {route.spec.match.path: operations}
    doc["components"] = components
    return doc, item.resolve_file(latest.version.file)
