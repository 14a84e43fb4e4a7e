"""Flow templates: reusable flows with parameters, shipped in ``estate/templates/``.

A template is one YAML file: a title, a one-line description, its ``parameters`` (a JSON
Schema 2020-12 object, each field described, defaults allowed), an ``example`` of them, the
``flow`` (a Flow's spec) and the flow ``tests`` (cases as a ``<flow>.test.yaml`` holds them),
where ``${param:NAME}`` stands for a parameter. A placeholder that is a whole value becomes the
parameter's value whatever its type (a list of key columns, an object); inside a longer string
it becomes its text. A default may name another parameter (``${param:table}``).

A template is used two ways: `interlink init --template NAME` writes the flow and its tests
into an estate, to be read and changed like any other; or a Flow names it
(``spec.template`` and ``spec.parameters``) and the loader expands it before validating, so
`check`, `serve` and `interlink flows test` (the template's cases, unless the flow has its
own test file) see an ordinary flow that follows the template as it ships.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema_rs
import yaml

from interlink.errors import InterlinkError
from interlink.estate.findings import Finding
from interlink.estate.hints import did_you_mean
from interlink.estate.yamlsource import Document

PLACEHOLDER = re.compile(r"\$\{param:([A-Za-z][A-Za-z0-9_]*)\}")
#: What a Flow naming a template may not give itself: the template's to say.
FROM_TEMPLATE = ("trigger", "steps")

Problem = tuple[tuple[str | int, ...], str]


@dataclass(frozen=True)
class FlowTemplate:
    name: str
    title: str
    description: str
    parameters: Mapping[str, Any]  # JSON Schema of the parameters
    example: Mapping[str, Any]
    flow: Mapping[str, Any]
    tests: list[Any]

    def problems(self, given: Any) -> list[Problem]:
        """What is wrong in ``given`` for this template; none when it fits."""
        if not isinstance(given, Mapping):
            return [((), "parameters is a mapping of name: value")]
        validator = jsonschema_rs.Draft202012Validator(dict(self.parameters))
        out: list[Problem] = []
        for error in validator.iter_errors(dict(given)):
            unexpected = getattr(error.kind, "unexpected", None)
            if error.kind.name == "additionalProperties" and unexpected:
                known = ", ".join(self.parameters.get("properties", {}))
                out += [
                    ((str(u),), f"{self.name} takes no parameter {u!r} ({known})")
                    for u in unexpected
                ]
            elif error.kind.name == "required":
                missing = getattr(error.kind, "property", None)
                out.append(((), f"parameter {str(missing)!r} is required"))
            else:
                out.append((tuple(error.instance_path), error.message))
        return out

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` with each parameter it leaves out at its default."""
        values = dict(given)
        props: Mapping[str, Any] = self.parameters.get("properties", {})
        for name, prop in props.items():
            if name not in values and isinstance(prop, Mapping) and "default" in prop:
                values[name] = copy.deepcopy(prop["default"])
        # A default naming another parameter takes that one's value.
        return {name: substitute(value, values) for name, value in values.items()}

    def render(self, given: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        """The flow's spec and its test cases with ``given`` in place; InterlinkError when
        ``given`` does not fit."""
        problems = self.problems(given)
        if problems:
            path, message = problems[0]
            where = ".".join(str(p) for p in path)
            raise InterlinkError(f"template {self.name}: {where + ': ' if where else ''}{message}")
        values = self.values(given)
        return substitute(self.flow, values), substitute(self.tests, values)


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with each ``${param:NAME}`` replaced (see the module's docstring)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None:
            name = whole.group(1)
            return copy.deepcopy(params[name]) if name in params else value
        return PLACEHOLDER.sub(lambda m: _text(params, m), value)
    if isinstance(value, Mapping):
        return {k: substitute(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params) for v in value]
    return value


def _text(params: Mapping[str, Any], match: re.Match[str]) -> str:
    value = params.get(match.group(1))
    if value is None or isinstance(value, dict | list):
        return match.group(0)
    return str(value)


@functools.cache
def templates() -> dict[str, FlowTemplate]:
    """The shipped templates by name."""
    out: dict[str, FlowTemplate] = {}
    for entry in sorted(resources.files("interlink.estate.templates").iterdir(), key=str):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        name = entry.name.removesuffix(".yaml")
        out[name] = FlowTemplate(
            name=name,
            title=data["title"],
            description=data["description"],
            parameters=data["parameters"],
            example=data["example"],
            flow=data["flow"],
            tests=data.get("tests", []),
        )
    return out


def template(name: str) -> FlowTemplate:
    """The template called ``name``; InterlinkError naming the others when there is none."""
    found = templates().get(name)
    if found is None:
        raise InterlinkError(
            f"unknown template {name!r} (available: {', '.join(sorted(templates()))})"
        )
    return found


def expand(data: dict[str, Any], doc: Document) -> tuple[dict[str, Any], list[Finding]]:
    """A Flow document with the template its spec names expanded in place, or the findings
    that stop it (an unknown template, parameters that do not fit, steps given twice)."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or "template" not in spec:
        return data, []
    name = spec["template"]
    found = templates().get(name) if isinstance(name, str) else None
    if found is None:
        hint = did_you_mean(str(name), list(templates())) or "templates: " + ", ".join(templates())
        where = doc.location(("spec", "template"))
        return data, [
            Finding("error", "FLOW_TEMPLATE", f"unknown template {name!r}", where, hint=hint)
        ]
    out: list[Finding] = []
    for field in FROM_TEMPLATE:
        if field in spec:
            out.append(
                Finding(
                    "error",
                    "FLOW_TEMPLATE",
                    f"{field} comes from template {name}: a flow naming a template gives "
                    "only its parameters (and timeout, onError, inputSchema)",
                    doc.location(("spec", field), key=True),
                )
            )
    given = spec.get("parameters", {})
    for path, message in found.problems(given):
        where = doc.location(("spec", "parameters", *path))
        out.append(Finding("error", "FLOW_TEMPLATE", f"template {name}: {message}", where))
    if out:
        return data, out
    flow, _ = found.render(given)
    return {**data, "spec": {**flow, **spec}}, []
