"""A Route's contract as the gateway exposes it to callers.

The Api's OpenAPI document is rewritten to the public side of the gateway: its servers become
the gateway's URL, its paths the Route's public paths (only those the Route reaches), its
operations only the methods the Route matches, and its security what the Route's auth accepts.
A deprecated Api marks every operation deprecated and says when it goes and what replaces it.
A Route that publishes an event instead is described by ``publish_openapi``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interlink.contracts.export_sources import gateway_url
from interlink.contracts.publish_openapi import publish_openapi
from interlink.contracts.route_paths import public_path
from interlink.contracts.route_security import security_requirements, security_schemes
from interlink.errors import ContractError, NotFound
from interlink.estate.contract_files import load_contract
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import Api, Route
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.model import Estate, Loaded
from interlink.estate.yamlsource import Document

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_GOING = (Lifecycle.DEPRECATED, Lifecycle.RETIRED)


def find_route(estate: Estate, name: str) -> Loaded:
    """The Route called ``name``; NotFound with the nearest name as a hint otherwise."""
    found = estate.get("Route", name)
    if found is not None:
        return found
    names = estate.names("Route")
    hint = did_you_mean(name, names) if names else "the estate has no Route"
    raise NotFound(f"unknown route '{name}'" + (f" ({hint})" if hint else ""))


def route_openapi(estate: Estate, name: str, *, server: str | None = None) -> dict[str, Any]:
    """The OpenAPI document of Route ``name`` as callers of the gateway see it, validated."""
    item = find_route(estate, name)
    route = item.obj
    assert isinstance(route, Route)
    url = server or gateway_url(estate.platform, route.spec.match.host)
    if route.spec.api is None:
        if route.spec.publish is None:
            raise ContractError(f"{item.key} names no api: it has no contract to export")
        doc, base = publish_openapi(estate, route, url)
        return validated(doc, base, item.key)
    api_item = estate.get("Api", route.spec.api)
    if api_item is None:
        raise ContractError(f"{item.key} refers to Api/{route.spec.api}, which does not exist")
    api = api_item.obj
    assert isinstance(api, Api)
    contract = estate.contracts.get(api_item.resolve_file(api.spec.contract))
    if contract is None or not isinstance(contract.data, dict):
        raise ContractError(f"{api_item.key}: its contract is not loaded")
    doc = copy.deepcopy(contract.data)
    doc["paths"] = _paths(doc.get("paths") or {}, route, _server_path(doc))
    doc["servers"] = [{"url": url, "description": f"Interlink gateway, route {route.name}"}]
    if not doc["paths"]:
        prefix = route.spec.rewrite.path if route.spec.rewrite else route.spec.match.path
        raise ContractError(
            f"{item.key} reaches no path of {api_item.key}: none of its contract's paths "
            f"lies under {prefix}"
        )
    _secure(doc, route)
    _lifecycle(doc, estate, api)
    info = doc.setdefault("info", {})
    info["x-interlink-route"] = route.name
    info["x-interlink-api"] = api.name
    return validated(_ordered(doc), contract.path, item.key)


def validated(doc: dict[str, Any], path: Path, subject: str) -> dict[str, Any]:
    """``doc`` if it is valid OpenAPI (relative ``$ref``s resolve against ``path``)."""
    _, findings = load_contract(path, "openapi", [Document(path, 0, doc)])
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise ContractError(f"the OpenAPI exported for {subject} is not valid: {errors[0].message}")
    return doc


def _server_path(doc: dict[str, Any]) -> str:
    """The path part of the contract's first server URL: its paths are relative to it."""
    servers = doc.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        return ""
    server = servers[0]
    url = str(server.get("url", ""))
    variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}
    for name, variable in (variables or {}).items():
        if isinstance(variable, dict):
            url = url.replace("{" + str(name) + "}", str(variable.get("default", "")))
    return urlsplit(url).path.rstrip("/")


def _paths(paths: dict[str, Any], route: Route, base: str) -> dict[str, Any]:
    match, rewrite = route.spec.match, route.spec.rewrite
    allowed = {m.lower() for m in match.methods} if match.methods else set(METHODS)
    out: dict[str, Any] = {}
    for template, item in paths.items():
        upstream = base + template
        served = public_path(upstream, match.path, rewrite.path if rewrite else None)
        if served is None or not isinstance(item, dict):
            continue
        if "$ref" in item:  # a shared path item: its methods are not visible here
            out[served] = item
            continue
        # Servers inside the contract name the upstream, which callers never reach.
        kept = {
            key: value
            for key, value in item.items()
            if key != "servers" and (key not in METHODS or key in allowed)
        }
        if any(key in METHODS for key in kept):
            out[served] = kept
    return out


_FIRST = ("openapi", "info", "jsonSchemaDialect", "servers", "security", "x-required-scopes")


def _ordered(doc: dict[str, Any]) -> dict[str, Any]:
    """The usual reading order: what it is and where, then who may call it, then the paths."""
    head = {key: doc[key] for key in _FIRST if key in doc}
    return {**head, **{key: value for key, value in doc.items() if key not in head}}


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        op
        for item in doc["paths"].values()
        for key, op in item.items()
        if key in METHODS and isinstance(op, dict)
    ]


def _secure(doc: dict[str, Any], route: Route) -> None:
    """Security is what the Route's auth accepts: the gateway checks it for every operation."""
    components = doc.get("components")
    if isinstance(components, dict):
        components.pop("securitySchemes", None)
    doc.pop("security", None)
    doc.pop("x-required-scopes", None)
    for op in _operations(doc):
        op.pop("security", None)
        op.pop("servers", None)
    auth = route.spec.auth
    if auth is None:
        return
    schemes = security_schemes(auth, str(doc.get("openapi", "")))
    doc.setdefault("components", {})["securitySchemes"] = schemes
    doc["security"] = security_requirements(auth, schemes, str(doc.get("openapi", "")))
    if auth.scopes and not str(doc.get("openapi", "")).startswith("3.1"):
        doc["x-required-scopes"] = list(auth.scopes)
    for op in _operations(doc):
        responses = op.setdefault("responses", {})
        responses.setdefault("401", {"description": "No valid credential was presented."})
        if auth.scopes:
            responses.setdefault("403", {"description": "The credential lacks a required scope."})


def _lifecycle(doc: dict[str, Any], estate: Estate, api: Api) -> None:
    spec = api.spec
    if spec.lifecycle not in _GOING:
        return
    info = doc.setdefault("info", {})
    note = f"This API is {spec.lifecycle.value}"
    if spec.sunset:
        note += f" and stops answering on {spec.sunset.isoformat()}"
        info["x-sunset"] = spec.sunset.isoformat()
    note += "."
    if spec.successor:
        info["x-successor"] = spec.successor
        served = sorted(r.spec.match.path for r in estate.of(Route) if r.spec.api == spec.successor)
        note += f" Use {spec.successor} instead" + (f", at {', '.join(served)}." if served else ".")
    existing = str(info.get("description") or "").rstrip()
    info["description"] = f"{existing}\n\n{note}" if existing else note
    for op in _operations(doc):
        op["deprecated"] = True
        if spec.sunset:
            op["x-sunset"] = spec.sunset.isoformat()
