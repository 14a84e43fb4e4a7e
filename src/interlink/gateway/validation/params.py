"""Reading an operation's parameters from a request, as OpenAPI serialises them.

Every value arrives as text. Each parameter is read by its ``style`` and ``explode`` and turned
into the JSON value its schema describes before it is validated:

- scalars: ``"42"`` is the integer 42 when the schema admits integers, ``"1.5"`` a number,
  ``"true"``/``"false"`` a boolean; anything else stays a string (and fails a typed schema);
- arrays: ``form`` with ``explode`` (the query default) repeats the name (``?id=1&id=2``),
  without it the values are comma-separated (``?id=1,2``); ``spaceDelimited`` and
  ``pipeDelimited`` split on those; ``simple`` (path and header default) splits on commas;
- objects: ``form`` with ``explode`` reads the schema's properties as query parameters of their
  own, without it ``k,v,k,v``; ``deepObject`` reads ``name[k]=v``; ``simple`` reads ``k,v`` or,
  exploded, ``k=v``;
- ``content`` instead of ``schema`` (a JSON value in a parameter) is parsed as JSON.

Path segments are percent-decoded here; query values also read ``+`` as a space. Parameters the
contract does not declare are allowed, as OpenAPI does not forbid them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_plus, unquote_to_bytes

_INTEGER = re.compile(r"-?[0-9]{1,300}")
_NUMBER = re.compile(r"-?[0-9]{1,300}(\.[0-9]{1,300})?([eE][+-]?[0-9]{1,4})?")
_DELIMITERS: Final = {"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|"}

Types = frozenset[str] | None


class Malformed(ValueError):
    """A parameter value that cannot be read at all (not JSON, though declared so)."""


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter, with what reading it needs."""

    name: str  # header names in lower case
    location: str  # "path" | "query" | "header"
    required: bool
    style: str
    explode: bool
    shape: str  # "scalar" | "array" | "object" | "json"
    types: Types = None  # of the value (scalar), its items (array)
    properties: dict[str, Types] = field(default_factory=dict)  # of an object's properties
    # A scalar written as it is (``simple`` or ``form`` style): read by :func:`coerce` alone.
    plain: bool = False


def coerce(text: str, types: Types) -> Any:
    """``text`` as the JSON value the types admit; the text itself when none fits."""
    if types is None or types == _STRING:
        return text
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        if _INTEGER.fullmatch(text):
            return int(text)
        number = float(text)
        if math.isfinite(number):
            return number
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "null" in types and text == "" and "string" not in types:
        return None
    return text


_STRING = frozenset({"string"})


def split_query(query: bytes) -> dict[str, list[str]]:
    """``a=1&b=x+y&a=2`` → ``{"a": ["1", "2"], "b": ["x y"]}`` (form encoding, UTF-8)."""
    found: dict[str, list[str]] = {}
    text = query.decode("ascii") if query.isascii() else query.decode("utf-8", "replace")
    encoded = "%" in text or "+" in text
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if encoded:
            name = unquote_plus(name, encoding="utf-8", errors="replace")
            value = unquote_plus(value, encoding="utf-8", errors="replace")
        values = found.get(name)
        if values is None:
            found[name] = [value]
        else:
            values.append(value)
    return found


def path_segment(segment: str) -> str:
    """A path segment as the client meant it: percent-decoded, as UTF-8."""
    if "%" not in segment and segment.isascii():
        return segment
    return unquote_to_bytes(segment.encode("latin-1")).decode("utf-8", "replace")


def read_query(param: Param, query: dict[str, list[str]]) -> Any:
    """The value of ``param`` in the query, or ``_ABSENT``."""
    shape = param.shape
    values = query.get(param.name)
    if shape == "object":
        return _query_object(param, query)
    if values is None:
        return ABSENT
    if shape == "scalar":
        return coerce(values[0], param.types)
    if shape == "json":
        return _json(values[0])
    # array
    if param.explode and param.style == "form":
        items = values
    else:
        delimiter = _DELIMITERS.get(param.style, ",")
        items = [part for value in values for part in value.split(delimiter)]
    return [coerce(item, param.types) for item in items]


def _query_object(param: Param, query: dict[str, list[str]]) -> Any:
    if param.style == "deepObject":
        prefix = param.name + "["
        found = {
            name[len(prefix) : -1]: values[0]
            for name, values in query.items()
            if name.startswith(prefix) and name.endswith("]")
        }
    elif param.explode:
        found = {name: query[name][0] for name in param.properties if name in query}
    else:
        values = query.get(param.name)
        if values is None:
            return ABSENT
        found = _pairs(values[0].split(","))
    if not found:
        return ABSENT
    return {k: coerce(v, param.properties.get(k)) for k, v in found.items()}


def read_text(param: Param, text: str) -> Any:
    """A path or header value (``simple``, ``label`` or ``matrix`` style)."""
    style = param.style
    if style == "label" and text.startswith("."):
        text = text[1:]
    elif style == "matrix":
        prefix = f";{param.name}="
        text = text[len(prefix) :] if text.startswith(prefix) else text.lstrip(";")
    shape = param.shape
    if shape == "scalar":
        return coerce(text, param.types)
    if shape == "json":
        return _json(text)
    delimiter = "." if style == "label" and param.explode else ","
    parts = [part.strip() if param.location == "header" else part for part in text.split(delimiter)]
    if shape == "array":
        return [coerce(part, param.types) for part in parts]
    pairs = _assignments(parts) if param.explode else _pairs(parts)
    return {k: coerce(v, param.properties.get(k)) for k, v in pairs.items()}


def _assignments(parts: list[str]) -> dict[str, str]:
    found = {}
    for part in parts:
        name, _, value = part.partition("=")
        found[name] = value
    return found


def _pairs(parts: list[str]) -> dict[str, str]:
    return dict(zip(parts[::2], parts[1::2], strict=False))


def _json(text: str) -> Any:
    try:
        return loads(text)
    except (ValueError, RecursionError):
        raise Malformed("is not valid JSON") from None


def loads(data: str | bytes) -> Any:
    """Strict JSON in UTF-8: ``NaN`` and ``Infinity`` are not JSON, and are refused."""
    return _DECODER.decode(data.decode("utf-8") if isinstance(data, bytes) else data)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER: Final = json.JSONDecoder(parse_constant=_no_constant)


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
