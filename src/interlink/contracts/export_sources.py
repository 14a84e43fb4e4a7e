"""What the exports read from a checked estate: event schemas, and where the gateway listens."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from interlink.errors import ContractError
from interlink.estate.kinds import Event, Platform
from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.contracts import SchemaVersion
from interlink.estate.model import Estate, Loaded

# Addresses a server binds to that no client can dial.
_ANY_HOST = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared with, never bound to


@dataclass(frozen=True)
class EventSchema:
    """One schema version of an Event, with the JSON Schema its file holds."""

    version: SchemaVersion
    schema: Any


def event_schemas(estate: Estate, item: Loaded) -> list[EventSchema]:
    """Every schema version of an Event, oldest first, with its loaded JSON Schema."""
    event = item.obj
    assert isinstance(event, Event)
    out: list[EventSchema] = []
    for version in event.spec.schemas:
        contract = estate.contracts.get(item.resolve_file(version.file))
        if contract is None:  # only a broken estate lacks it, and those are not exported
            raise ContractError(f"{item.key}: schema version {version.version} is not loaded")
        out.append(EventSchema(version, contract.data))
    return out


def latest_active(schemas: list[EventSchema]) -> EventSchema:
    """The newest active version; else the newest one that is not retired; else the newest."""
    for wanted in ((Lifecycle.ACTIVE,), (Lifecycle.ACTIVE, Lifecycle.DEPRECATED, Lifecycle.DRAFT)):
        chosen = [s for s in schemas if s.version.lifecycle in wanted]
        if chosen:
            return chosen[-1]
    return schemas[-1]


def gateway_host(platform: Platform) -> str:
    """``host:port`` clients reach the gateway on: its listen address, with a wildcard bind
    address replaced by localhost."""
    host, _, port = platform.spec.gateway.listen.rpartition(":")
    if host in _ANY_HOST:
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def gateway_url(platform: Platform, host: str | None = None) -> str:
    """The gateway's public base URL; ``host`` is a Route's exact host match, when it has one."""
    if host and not host.startswith("*."):
        if ":" not in host:
            host = f"{host}:{gateway_host(platform).rpartition(':')[2]}"
        return f"http://{host}"
    return f"http://{gateway_host(platform)}"


def embed_schema(schema: Any, pointer: str) -> Any:
    """A copy of a standalone JSON Schema fit to sit at ``pointer`` inside another document.

    Its own ``$id`` is dropped and its local ``#/…`` references are prefixed with ``pointer``,
    so they resolve inside the host document (readers resolve them against the whole document).
    """
    copied = copy.deepcopy(schema)
    if isinstance(copied, dict):
        copied.pop("$id", None)
    return _rebase(copied, pointer)


def _rebase(node: Any, pointer: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and (value == "#" or value[:2] == "#/"):
                node[key] = "#" + pointer + value[1:]
            elif key not in ("enum", "const", "examples", "default"):
                _rebase(value, pointer)
    elif isinstance(node, list):
        for item in node:
            _rebase(item, pointer)
    return node


def escape_pointer(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")
