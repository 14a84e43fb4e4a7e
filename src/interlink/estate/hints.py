"""Readable messages and "did you mean" hints for model validation errors."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails


def nearest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The closest valid spelling of ``word``, when one is close enough to be a typo."""
    options = list(choices)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in options}
        if word.lower() in lowered:
            return lowered[word.lower()]
    return matches[0] if matches else None


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    found = nearest(word, choices)
    return f"did you mean '{found}'?" if found else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        for arg in typing.get_args(annotation):
            out.extend(_models_in(arg))
    return out


def field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def models_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The model classes that could sit at ``loc`` (several inside unions)."""
    current = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        following: list[type[BaseModel]] = []
        for model in current:
            for name, info in model.model_fields.items():
                if part in (name, info.alias):
                    following.extend(_models_in(info.annotation))
        # No field of that name: ``part`` is a union tag (e.g. 'jwt'), so the members it names.
        current = following or [m for m in current if part in _tags(m)] or current
    return current


def _tags(model: type[BaseModel]) -> set[str]:
    """The values a model's Literal fields take: a discriminated union's tag among them."""
    found: set[str] = set()
    for info in model.model_fields.values():
        if typing.get_origin(info.annotation) is typing.Literal:
            found.update(a for a in typing.get_args(info.annotation) if isinstance(a, str))
    return found


def describe(
    error: ErrorDetails, root: type[BaseModel], path: tuple[int | str, ...]
) -> tuple[str, str | None]:
    """A one-line message and an optional hint for one pydantic error.

    ``path`` is where the error sits in the document's data (union tags and validator names that
    pydantic puts into ``loc`` are already left out).
    """
    kind = error["type"]
    loc = tuple(error["loc"])
    field = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        parents = models_at(root, loc[:-1])
        valid = sorted({n for m in parents for n in field_names(m)})
        hint = did_you_mean(field, valid)
        if hint is None and " " in field:
            hint = "a comma inside { } starts a new field: quote text that contains commas"
        elif hint is None and valid:
            hint = "valid fields: " + ", ".join(valid)
        inside = dotted(path[:-1])
        return f"unknown field '{field}'" + (f" in {inside}" if inside else ""), hint
    if kind == "missing":
        return f"missing required field '{dotted((*path, field))}'", None
    message = re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
    hint = None
    ctx = error.get("ctx") or {}
    expected = ctx.get("expected")
    if kind in ("enum", "literal_error") and isinstance(expected, str):
        options = re.findall(r"'([^']*)'", expected)
        value = error.get("input")
        if isinstance(value, str):
            hint = did_you_mean(value, options)
        message = f"must be one of {', '.join(options)}"
        if value is not None:
            message = f"{message}, got {value!r}"
    elif kind == "union_tag_invalid":
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        tag = str(ctx.get("tag", ""))
        hint = did_you_mean(tag, tags)
        message = f"unknown type '{tag}'; expected one of {', '.join(tags)}"
    elif kind == "string_pattern_mismatch" and field == "name":
        message = (
            "names are lower-case letters, digits, '.' and '-', starting with a letter or digit"
        )
    where = dotted(path)
    return (f"{where}: {message}" if where else message), hint


def dotted(path: tuple[int | str, ...]) -> str:
    """`spec.upstreams[0].system` for ('spec', 'upstreams', 0, 'system')."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
    return out
