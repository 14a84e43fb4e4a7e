"""Forms drawn from JSON Schemas (the estate's, as `interlink schema` prints them, and the
connectors' specs), and the document a filled form stands for.

A property becomes a field when a form can say it plainly: a string (a secret reference when
the schema says ``writeOnly``), a choice of an enum, a boolean, a number, a list of scalars
(one per line), or an object of such properties (a fieldset). Anything else (lists of objects,
maps, unions of objects) is left to the YAML written beside the form, which is merged into the
document, so everything the schema allows can be said. The form never holds a model of its
own: a document is split into field values and the YAML left over, and joined back.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import jsonschema_rs
import yaml

from interlink.estate.references import is_reference

Widget = Literal["text", "secret", "select", "boolean", "integer", "number", "scalar", "lines"]
Path = tuple[str, ...]

#: Nesting past this is left to the YAML: a form that deep is no help to anyone.
MAX_DEPTH: Final = 6
#: The prefix of a field's name in the posted form: ``f:spec.domain``.
PREFIX: Final = "f:"
_SCALARS: Final = ("string", "integer", "number", "boolean")


@dataclass
class Field:
    """One input (or, with ``children``, a fieldset) of a generated form."""

    path: Path
    widget: Widget | Literal["group"]
    schema: dict[str, Any]  # what the value must satisfy, its $ref resolved
    required: bool = False
    description: str = ""
    options: tuple[str, ...] = ()
    default: Any = None
    children: list[Field] = field(default_factory=list)

    @property
    def name(self) -> str:
        return PREFIX + ".".join(self.path)

    @property
    def label(self) -> str:
        return self.path[-1]

    @property
    def id(self) -> str:
        return "field-" + "-".join(self.path)

    def leaves(self) -> list[Field]:
        if self.widget != "group":
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]


@dataclass
class Form:
    """The fields of one schema, and the paths left to the YAML beside them."""

    fields: list[Field]
    yaml_only: list[str]
    defs: dict[str, Any]

    def leaves(self) -> list[Field]:
        return [leaf for f in self.fields for leaf in f.leaves()]


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` replaced by what it names (its own keys kept over it)."""
    out = dict(schema)
    for _ in range(20):  # a chain of refs, never a loop in these schemas
        ref = out.pop("$ref", None)
        if not isinstance(ref, str):
            break
        target = defs.get(ref.rsplit("/", 1)[-1], {})
        out = {**target, **out}
    return out


def _nullable(schema: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of the value of ``X | None``: X, with the outer description and default."""
    choices = schema.get("anyOf")
    if not isinstance(choices, list):
        return schema
    rest = [c for c in choices if c != {"type": "null"}]
    if len(rest) != 1:
        return schema
    inner = _resolve(rest[0], defs)
    outer = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**inner, **outer, "description": outer.get("description") or inner.get("description")}


def _scalar_union(schema: Mapping[str, Any]) -> bool:
    choices = schema.get("anyOf")
    return isinstance(choices, list) and all(c.get("type") in _SCALARS for c in choices)


def _widget(schema: dict[str, Any], defs: Mapping[str, Any]) -> Widget | None:
    if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
        return "select"
    kind = schema.get("type")
    if kind == "string":
        return "secret" if schema.get("writeOnly") is True else "text"
    if kind in ("boolean", "integer", "number"):
        return kind  # type: ignore[no-any-return]
    if _scalar_union(schema):
        return "scalar"
    if kind == "array":
        items = _resolve(schema.get("items") or {}, defs)
        if items.get("type") in _SCALARS or "enum" in items or _scalar_union(items):
            return "lines"
    return None


def _field(
    path: Path, raw: Mapping[str, Any], defs: Mapping[str, Any], required: bool, left: list[str]
) -> Field | None:
    schema = _nullable(_resolve(raw, defs), defs)
    description = str(schema.get("description") or "").split("\n")[0]
    if "const" in schema:
        return None  # the kind: fixed by the form chosen
    widget = _widget(schema, defs)
    if widget is not None:
        options = tuple(str(v) for v in schema.get("enum", ()))
        return Field(path, widget, schema, required, description, options, schema.get("default"))
    if schema.get("type") == "object" and schema.get("properties") and len(path) < MAX_DEPTH:
        group = Field(path, "group", schema, required, description)
        group.children = _fields(path, schema, defs, left)
        return group
    left.append(".".join(path))
    return None


def _fields(
    prefix: Path, schema: Mapping[str, Any], defs: Mapping[str, Any], left: list[str]
) -> list[Field]:
    required = set(schema.get("required") or ())
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        made = _field((*prefix, name), prop, defs, name in required, left)
        if made is not None:
            out.append(made)
    return out


def form_of(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> Form:
    """The form of an object ``schema`` whose ``$ref`` point into ``defs``."""
    known = dict(defs or {})
    left: list[str] = []
    top = _resolve(schema, known)
    fields = [f for f in _fields((), top, known, left) if f.path != ("apiVersion",)]
    return Form(fields, left, known)


def attach(form: Form, path: Path, schema: Mapping[str, Any], description: str) -> None:
    """Draw the object at ``path`` from ``schema`` instead (a System's connection, from its
    connector's spec): its fields replace what the estate's schema said of it."""
    left: list[str] = []
    group = Field(path, "group", dict(schema), False, description)
    group.children = _fields(path, schema, {}, left)
    parent = _find(form.fields, path[:-1])
    siblings = parent.children if parent is not None else form.fields
    for i, f in enumerate(siblings):
        if f.path == path:
            siblings[i] = group
            break
    else:
        siblings.append(group)
    dotted = ".".join(path)
    form.yaml_only = [p for p in form.yaml_only if p != dotted] + left


def _find(fields: list[Field], path: Path) -> Field | None:
    for f in fields:
        if f.path == path:
            return f
        if f.widget == "group" and path[: len(f.path)] == f.path:
            return _find(f.children, path)
    return None


# -- a document into the form's values and the YAML left over ------------------------------


def _get(data: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _pop(data: dict[str, Any], path: Path) -> None:
    """Remove ``path`` from ``data``, and the mappings it leaves empty."""
    trail = []
    node: Any = data
    for key in path[:-1]:
        trail.append((node, key))
        node = node.get(key)
        if not isinstance(node, dict):
            return
    node.pop(path[-1], None)
    for parent, key in reversed(trail):
        if parent[key] == {}:
            del parent[key]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _shown(leaf: Field, value: Any) -> str | None:
    """``value`` as the leaf's input shows it; None when the input cannot hold it."""
    if leaf.widget == "lines":
        if not isinstance(value, list) or not all(_plain(v) for v in value):
            return None
        return "\n".join(_text(v) for v in value)
    if not _plain(value) or (leaf.widget == "text" and not isinstance(value, str)):
        return None
    return _text(value)


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and "\n" not in str(value)


def split(form: Form, document: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The field values ``document`` fills in, and the YAML of what the fields cannot hold."""
    rest = copy.deepcopy(dict(document))
    rest.pop("apiVersion", None)
    rest.pop("kind", None)
    values: dict[str, str] = {}
    for leaf in form.leaves():
        value = _get(rest, leaf.path)
        if value is None:
            continue
        shown = _shown(leaf, value)
        if shown is not None:
            values[leaf.name] = shown
            _pop(rest, leaf.path)
    return values, dump(rest) if rest else ""


# -- the posted form into a document -------------------------------------------------------


@dataclass
class Built:
    """What a posted form stands for: the document, and what is wrong field by field."""

    document: dict[str, Any]
    errors: dict[str, str]  # field name (or "yaml") -> message
    values: dict[str, str]  # the posted field values, to show the form again as it was
    extra: str  # the posted YAML


def _scalar(text: str) -> Any:
    """A typed-in value of a union of scalars (a duration: 10m or 600), read as YAML reads it."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if _plain(value) else text


def _value(leaf: Field, text: str) -> Any:
    """The typed value of ``text`` in ``leaf``; ValueError saying what is wrong."""
    if leaf.widget == "boolean":
        if text not in ("true", "false"):
            raise ValueError("choose true or false")
        return text == "true"
    if leaf.widget == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if leaf.widget == "number":
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if leaf.widget == "lines":
        items = _resolve(leaf.schema.get("items") or {}, {})
        kind = items.get("type")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if kind == "integer":
            return [_value(Field(leaf.path, "integer", items), line) for line in lines]
        return lines if kind == "string" or "enum" in items else [_scalar(v) for v in lines]
    if leaf.widget == "scalar":
        return _scalar(text)
    if leaf.widget == "secret" and not is_reference(text):
        raise ValueError(
            "a secret is given as a reference, ${secret:NAME} or ${env:NAME}, never the value"
        )
    return text


def _problem(leaf: Field, value: Any, defs: Mapping[str, Any]) -> str | None:
    """What the leaf's schema says is wrong with ``value`` (the first thing), if anything."""
    schema = {**leaf.schema, "$defs": dict(defs)} if defs else dict(leaf.schema)
    for key in ("default", "title", "examples"):
        schema.pop(key, None)
    try:
        validator = jsonschema_rs.validator_for(schema)
    except (ValueError, jsonschema_rs.ValidationError):
        return None  # a keyword the validator does not know (gt on a duration): check says it
    for error in validator.iter_errors(value):
        if leaf.widget == "secret":
            return "does not fit the field"  # never echo a secret back
        return str(error.message)
    return None


def _set(data: dict[str, Any], path: Path, value: Any) -> None:
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def merge(into: dict[str, Any], extra: Mapping[str, Any], at: Path = ()) -> list[str]:
    """Merge ``extra`` into ``into``; the paths both set to different values (``into`` keeps
    its own)."""
    clashes = []
    for key, value in extra.items():
        here = (*at, str(key))
        mine = into.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            clashes += merge(mine, value, here)
        elif key in into and mine != value:
            clashes.append(".".join(here))
        else:
            into[key] = copy.deepcopy(value)
    return clashes


def _extra(text: str) -> tuple[dict[str, Any], str | None]:
    if not text.strip():
        return {}, None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return {}, f"not YAML{where}: {getattr(exc, 'problem', None) or exc}"
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, "the YAML here is a mapping of fields (such as spec: {...})"
    return data, None


def build(form: Form, kind: str, posted: Mapping[str, str], extra_text: str) -> Built:
    """The document the posted form says: apiVersion, kind, then the fields, then the YAML."""
    document: dict[str, Any] = {"apiVersion": "interlink/v1", "kind": kind}
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for leaf in form.leaves():
        text = str(posted.get(leaf.name, "")).strip()
        if leaf.widget == "lines":
            text = str(posted.get(leaf.name, "")).strip("\n")
        if not text.strip():
            continue
        values[leaf.name] = text
        try:
            value = _value(leaf, text.strip() if leaf.widget != "lines" else text)
        except ValueError as exc:
            errors[leaf.name] = str(exc)
            continue
        wrong = _problem(leaf, value, form.defs)
        if wrong is not None:
            errors[leaf.name] = wrong
            continue
        _set(document, leaf.path, value)
    extra, problem = _extra(extra_text)
    if problem is not None:
        errors["yaml"] = problem
    extra.pop("apiVersion", None)
    if extra.pop("kind", kind) != kind:
        errors["yaml"] = f"this form makes a {kind}: kind cannot be changed here"
    clashes = merge(document, extra)
    if clashes:
        errors["yaml"] = f"set both in the form and in the YAML: {', '.join(clashes)}"
    return Built(document, errors, values, extra_text)


def dump(data: Mapping[str, Any]) -> str:
    """``data`` as block YAML, in the order it was built (apiVersion, kind, metadata, spec)."""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100)
