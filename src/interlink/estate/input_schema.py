"""Compiling a Flow's ``inputSchema``: one place, so ``check`` and the engine agree on it."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema_rs

from interlink.errors import ContractError


def _no_remote(uri: str) -> Any:
    raise ValueError(f"{uri} is outside the schema; an inputSchema refers only inside itself")


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    try:
        return jsonschema_rs.validator_for(
            json.loads(text), validate_formats=True, retriever=_no_remote
        )
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        message = str(getattr(exc, "message", exc)).split("\n", 1)[0]
        raise ContractError(f"the inputSchema is not a usable JSON Schema: {message}") from None


def input_validator(schema: dict[str, Any]) -> Any:
    """The ``jsonschema-rs`` validator of ``schema`` (2020-12 unless it says otherwise),
    compiled once per schema; ContractError when it cannot be compiled."""
    return _compiled(json.dumps(schema, sort_keys=True))
