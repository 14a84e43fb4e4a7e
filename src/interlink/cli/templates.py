"""`interlink flows templates` and `interlink init --template`: the shipped flow templates,
shown, and written into an estate as an ordinary flow with its tests."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from interlink.errors import InterlinkError
from interlink.estate.flow_templates import PLACEHOLDER, FlowTemplate, template, templates


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``name=value`` pairs, each value read as YAML (``key=[id]`` is a list, ``n=5`` a
    number, anything else text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise InterlinkError(f"--param {pair!r}: write it as name=value")
        try:
            out[name] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            out[name] = text
    return out


def write_template(
    name: str,
    directory: Path,
    *,
    flow: str,
    owner: str | None,
    params: Mapping[str, Any],
    force: bool = False,
) -> list[Path]:
    """Write Flow ``flow`` from template ``name`` and its test file under ``directory/flows``;
    InterlinkError when the parameters do not fit or a file is there (unless ``force``)."""
    found = template(name)
    spec, cases = found.render(params)
    folder = directory / "flows"
    flow_file, test_file = folder / f"{flow}.yaml", folder / f"{flow}.test.yaml"
    for path in (flow_file, test_file):
        if path.exists() and not force:
            raise InterlinkError(f"{path} exists (use --force to replace it)")
    metadata: dict[str, Any] = {"name": flow}
    if owner:
        metadata["owner"] = owner
    document = {"apiVersion": "interlink/v1", "kind": "Flow", "metadata": metadata, "spec": spec}
    header = f"# {found.title}: written from template {name}; change it as you need.\n"
    tests = f"# Cases for Flow/{flow}, from template {name}: `interlink flows test` runs them.\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        flow_file.write_text(header + _yaml(document), encoding="utf-8")
        test_file.write_text(tests + _yaml({"cases": cases}), encoding="utf-8")
    except OSError as exc:
        raise InterlinkError(f"cannot write {folder}: {exc.strerror}") from exc
    return [flow_file, test_file]


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def describe(found: FlowTemplate) -> str:
    """A template as `interlink flows templates NAME` shows it."""
    props: Mapping[str, Any] = found.parameters.get("properties", {})
    required = set(found.parameters.get("required", []))
    lines = [f"{found.name}: {found.title}", f"  {found.description}", "", "parameters:"]
    for pname, prop in props.items():
        default = prop.get("default")
        whole = PLACEHOLDER.fullmatch(default) if isinstance(default, str) else None
        shown = f"{whole.group(1)}'s value" if whole else json.dumps(default)
        mark = "required" if pname in required else f"default {shown}"
        lines.append(f"  {pname} ({mark}): {prop.get('description', '')}")
    example = " ".join(
        "--param " + shlex.quote(f"{k}={v if isinstance(v, str) else json.dumps(v)}")
        for k, v in found.example.items()
    )
    lines += [
        "",
        "example:",
        f"  interlink init ESTATE --template {found.name} --name NAME {example}",
    ]
    return "\n".join(lines)


@click.command("templates")
@click.argument("name", required=False)
def templates_command(name: str | None) -> None:
    """List the shipped flow templates, or show NAME's parameters and an example."""
    if name is not None:
        click.echo(describe(template(name)))
        return
    for found in templates().values():
        click.echo(f"{found.name:<16} {found.description}")
