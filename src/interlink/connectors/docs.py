"""The connectors as text: one line each for `interlink connectors list`, one page each for
`show`, and the reference part of ``docs/connectors.md``, all from the specs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from interlink.connectors.spec import ConnectorSpec

#: docs/connectors.md is hand-written above this line and generated below it.
GENERATED_MARKER = "<!-- Generated below by `interlink connectors docs`: do not edit by hand. -->"


def _type(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    kind = prop.get("type", "any")
    return kind if isinstance(kind, str) else " | ".join(kind)


def fields(spec: ConnectorSpec) -> list[tuple[str, str, str, str]]:
    """Each config field: name, type, what it needs (required, default, secret), description."""
    return schema_fields(spec.config)


def schema_fields(schema: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """Each field of an object's JSON Schema: name, type, notes, description."""
    required = set(schema.get("required") or ())
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        notes = []
        if name in required:
            notes.append("required")
        if "default" in prop:
            notes.append(f"default {json.dumps(prop['default'])}")
        if prop.get("writeOnly"):
            notes.append("secret: ${secret:…} only")
        if prop.get("x-secretInUrl"):
            notes.append("its password: ${secret:…} only")
        out.append((name, _type(prop), ", ".join(notes), str(prop.get("description", ""))))
    return out


def list_line(spec: ConnectorSpec) -> str:
    caps = ",".join(c.name for c in spec.capabilities)
    return f"{spec.name:<14} {spec.interface:<8} {caps:<25} {spec.description}"


def list_header() -> str:
    return f"{'NAME':<14} {'USES':<8} {'CAPABILITIES':<25} DESCRIPTION"


def show_text(spec: ConnectorSpec) -> str:
    lines = [f"{spec.name}: {spec.title}", spec.description, "", f"interface: {spec.interface}"]
    lines.append("")
    lines.append("connection:")
    rows = fields(spec)
    if not rows:
        lines.append("  (no fields)")
    width = max((len(r[0]) for r in rows), default=0)
    for name, kind, notes, description in rows:
        extra = f" ({notes})" if notes else ""
        lines.append(f"  {name:<{width}}  {kind}{extra}: {description}")
    lines += ["", "capabilities:"]
    for capability in spec.capabilities:
        lines.append(f"  {capability.name}: {capability.description}")
        for name, kind, notes, description in schema_fields(capability.options):
            extra = f" ({notes})" if notes else ""
            lines.append(f"    option {name}  {kind}{extra}: {description}")
    lines += ["", "example:", *("  " + line for line in spec.example.splitlines())]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def reference_markdown(specs: list[ConnectorSpec]) -> str:
    """The generated part of docs/connectors.md: every connector's fields, capabilities and
    example."""
    out = [GENERATED_MARKER, "", "## Built-in connectors", ""]
    out += ["| connector | interface | capabilities | what it is |", "| --- | --- | --- | --- |"]
    for spec in specs:
        caps = ", ".join(c.name for c in spec.capabilities)
        out.append(
            f"| [`{spec.name}`](#{spec.name}) | {spec.interface} | {caps} | "
            f"{_cell(spec.description)} |"
        )
    for spec in specs:
        out += ["", f"### {spec.name}", "", f"**{spec.title}.** {spec.description}", ""]
        rows = fields(spec)
        if rows:
            out += ["| field | type | | description |", "| --- | --- | --- | --- |"]
            for name, kind, notes, description in rows:
                out.append(f"| `{name}` | {_cell(kind)} | {_cell(notes)} | {_cell(description)} |")
        else:
            out.append("Its `connection` takes no field.")
        out += ["", "Capabilities:", ""]
        for c in spec.capabilities:
            out.append(f"- **{c.name}**: {c.description}")
            for name, kind, notes, description in schema_fields(c.options):
                extra = f", {notes}" if notes else ""
                out.append(f"  - option `{name}` ({kind}{extra}): {description}")
        out += ["", "```yaml", spec.example.rstrip("\n"), "```"]
    return "\n".join(out) + "\n"


def with_reference(page: str, specs: list[ConnectorSpec]) -> str:
    """``page`` (docs/connectors.md) with its generated part replaced by the current one."""
    intro = page.split(GENERATED_MARKER, 1)[0]
    return intro + reference_markdown(specs)
