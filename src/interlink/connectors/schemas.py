"""JSON Schema fragments several connectors' specs are built of: the way to a server, a login's
secret, TLS, a connect timeout, a send step's ``to``. Each returns a fresh dict, so a spec may
extend its own copy."""

from __future__ import annotations

from typing import Any, Final

#: The dialect every connection schema is written in.
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def host(peer: str = "server") -> dict[str, Any]:
    """The host of the ``peer`` (server, broker) a System connects to."""
    return {"type": "string", "minLength": 1, "description": f"{peer} host name or IP"}


def port(default: int, description: str = "server port") -> dict[str, Any]:
    """A TCP port, ``default`` when not given."""
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 65535,
        "default": default,
        "description": description,
    }


def password(login: str = "user") -> dict[str, Any]:
    """The ``login``'s password, never shown back, given as a secret reference."""
    return {
        "type": "string",
        "writeOnly": True,
        "description": f"the {login}'s password, as a ${{secret:NAME}} reference",
    }


def tls(peer: str = "server") -> dict[str, Any]:
    """Whether to connect over TLS (off unless set), checking the ``peer``'s certificate."""
    return {
        "type": "boolean",
        "default": False,
        "description": f"connect over TLS, checking the {peer}'s certificate",
    }


def connect_timeout(description: str) -> dict[str, Any]:
    """Whole seconds to wait for the server, 10 unless set."""
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 300,
        "default": 10,
        "description": description,
    }


def send_to(target: str) -> dict[str, Any]:
    """The options of a send step whose ``to`` names the ``target`` (a topic, a stream)."""
    return {
        "type": "object",
        "properties": {"to": {"type": "string", "description": f"the {target}"}},
        "required": ["to"],
    }


def connection(properties: dict[str, Any], required: list[str], **more: Any) -> dict[str, Any]:
    """A System's ``connection`` schema: an object of ``properties``, the ``required`` ones
    given, nothing else; ``more`` keywords (``anyOf``, ``dependentRequired``) before that."""
    return {
        "$schema": DIALECT,
        "type": "object",
        "properties": properties,
        "required": required,
        **more,
        "additionalProperties": False,
    }
