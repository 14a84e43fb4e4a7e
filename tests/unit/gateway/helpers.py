"""Estates for gateway tests, written as JSON documents (which YAML reads too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interlink.estate.check import check_estate
from interlink.estate.loader import load_estate
from interlink.gateway import GatewayConfig, Limits, compile_gateway


def _obj(kind: str, name: str, spec: dict[str, Any] | None = None, **meta: Any) -> str:
    doc: dict[str, Any] = {"apiVersion": "interlink/v1", "kind": kind, "metadata": {"name": name}}
    doc["metadata"].update(meta)
    if spec is not None:
        doc["spec"] = spec
    return json.dumps(doc)


def route(name: str, path: str, *systems: str, **spec: Any) -> dict[str, Any]:
    """A Route to ``systems`` (first one primary); ``spec`` adds or overrides fields."""
    body: dict[str, Any] = {
        "match": {"path": path},
        "upstreams": [{"system": s} for s in systems],
    }
    match = spec.pop("match", None)
    if match:
        body["match"].update(match)
    body.update(spec)
    return {"name": name, "spec": body}


def write_estate(
    root: Path,
    systems: dict[str, str | None],
    routes: list[dict[str, Any]],
    platform: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
) -> Path:
    """An estate of one team, ``systems`` (name → base URL) and ``routes``; ``credentials``
    (System name → its ``credentials``) for the systems that have one."""
    root.mkdir(parents=True, exist_ok=True)
    docs = [
        _obj("Platform", "test", platform or {}),
        _obj("Team", "team"),
    ]
    for name, url in systems.items():
        spec: dict[str, Any] = {"domain": "test"}
        if url is not None:
            spec["baseUrl"] = url
        if credentials and name in credentials:
            spec["credentials"] = credentials[name]
        docs.append(_obj("System", name, spec, owner="team"))
    for item in routes:
        docs.append(_obj("Route", item["name"], item["spec"], owner="team"))
    (root / "estate.yaml").write_text("\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


def compile_dir(root: Path, limits: Limits | None = None, *, check: bool = True) -> GatewayConfig:
    """Compile the estate at ``root``; ``check=False`` skips the rules (to compile what
    `interlink check` would refuse, as the gateway must never crash on it either)."""
    if not check:
        estate, _ = load_estate(root)
        return compile_gateway(estate, limits)
    result = check_estate(root)
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    return compile_gateway(result.estate, limits)
