"""The JSON Schema of estate documents: what `interlink schema` prints and the console's edit
forms are drawn from, so editors, the CLI and the console agree on one description."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from interlink.estate.kinds import KINDS


def estate_json_schema() -> dict[str, Any]:
    """One JSON Schema for any estate document, so editors can complete and validate it."""
    any_kind = Union[tuple(KINDS.values())]  # type: ignore[valid-type]  # noqa: UP007
    adapter: TypeAdapter[Any] = TypeAdapter(
        Annotated[any_kind, Field(discriminator="kind")]  # type: ignore[arg-type]
    )
    schema = adapter.json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://interlink.dev/schemas/estate-v1.json",
        "title": "Interlink estate object (interlink/v1)",
        **schema,
    }


@functools.cache
def _cached() -> dict[str, Any]:
    return estate_json_schema()


def kind_schema(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema of one kind's documents and the definitions its ``$ref`` point into, both
    taken from :func:`estate_json_schema` (not to be changed: they are shared)."""
    defs: dict[str, Any] = _cached()["$defs"]
    if kind not in KINDS:
        raise KeyError(kind)
    return defs[KINDS[kind].__name__], defs
