"""The estate reference in Markdown, generated from the models so it cannot drift from them."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from interlink.estate.durations import format_duration
from interlink.estate.kinds import KINDS
from interlink.estate.not_yet import NO_EFFECT, NOT_RUN, NOT_RUN_NOTE


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return "duration" if _is_duration(args[1:]) else _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(dict.fromkeys(parts))
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[1])}"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        return {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "date": "date",
            "datetime": "date-time",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation)


def _is_duration(metadata: typing.Iterable[Any]) -> bool:
    return any(isinstance(m, WithJsonSchema) and "duration" in str(m.json_schema) for m in metadata)


def _field_type(info: FieldInfo) -> str:
    return "duration" if _is_duration(info.metadata) else _type_name(info.annotation)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined or value in ([], {}):
        return ""
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, float) and _is_duration(info.metadata):
        return f"`{format_duration(value)}`"
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        return "`" + ", ".join(format_duration(v) for v in value) + "`"
    return f"`{value}`"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models_in(a)]


def _table(model: type[BaseModel], no_effect: dict[str, str] | None = None) -> list[str]:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in ("kind", "api_version", "metadata") and model.__name__ in KINDS:
            continue
        alias = info.alias or name
        doc = (info.description or "").replace("|", "\\|")
        if no_effect and name in no_effect:
            doc = f"**No effect yet**: {no_effect[name]}. {doc}".rstrip()
        rows.append(f"| `{alias}` | {_field_type(info)} | {_default(info)} | {doc} |")
    return rows


def reference_markdown() -> str:
    """One section per kind, then one per nested object, each a table of its fields."""
    out = [
        "# Estate reference",
        "",
        "Generated from the models by `interlink schema --format markdown`; every object "
        "has `apiVersion: interlink/v1`, `kind`, `metadata` and `spec`.",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    queue: list[type[BaseModel]] = []
    metadata = KINDS["System"].model_fields["metadata"].annotation
    assert isinstance(metadata, type)
    for cls in [metadata, *KINDS.values()]:
        out += [f"## {cls.__name__}", ""]
        if cls.__doc__ and cls.__name__ in KINDS:
            out += [cls.__doc__.strip().splitlines()[0], ""]
        if cls.__name__ in NOT_RUN:
            plural = NOT_RUN[cls.__name__][1]
            note = f" ({NOT_RUN_NOTE[cls.__name__]})" if cls.__name__ in NOT_RUN_NOTE else ""
            out += [f"Checked, not run yet: {plural} do not run, and `check` says so{note}.", ""]
        no_effect = {
            str(e.path[1]): e.missing
            for e in NO_EFFECT
            if e.kind == cls.__name__ and len(e.path) == 2 and e.path[0] == "spec"
        }
        spec = cls.model_fields.get("spec")
        model = spec.annotation if spec is not None and cls.__name__ in KINDS else cls
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        out += [*_table(model, no_effect), ""]
        seen.add(model)
        queue.extend(m for f in model.model_fields.values() for m in _models_in(f.annotation))
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        out += [f"### {model.__name__}", "", *_table(model), ""]
        queue.extend(m for f in model.model_fields.values() for m in _models_in(f.annotation))
    return "\n".join(out)
