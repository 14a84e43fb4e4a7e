"""Helpers shared by the export tests: a checked estate, the AsyncAPI validator, $ref checks."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema_rs

from interlink.estate.check import check_estate
from interlink.estate.model import Estate

ASYNCAPI_SCHEMA = Path(__file__).parents[2] / "data" / "asyncapi-3.0.0.schema.json"


def checked(root: Path) -> Estate:
    """The estate at ``root``, which must check without errors."""
    result = check_estate(root)
    assert result.runnable, [f.render(root) for f in result.errors]
    return result.estate


@functools.cache
def asyncapi_validator() -> Any:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(schema)


def asyncapi_errors(doc: Any) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}" for e in asyncapi_validator().iter_errors(doc)]


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` value in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def pointer(doc: Any, ref: str) -> Any:
    """What a local ``#/…`` reference points at; KeyError when it points at nothing."""
    assert ref.startswith("#/"), ref
    current = doc
    for raw in ref[2:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        current = current[int(part)] if isinstance(current, list) else current[part]
    return current


def dangling(doc: Any) -> list[str]:
    """The local references of ``doc`` that point at nothing."""
    out = []
    for ref in refs(doc):
        try:
            pointer(doc, ref)
        except (KeyError, IndexError, ValueError):
            out.append(ref)
    return out
