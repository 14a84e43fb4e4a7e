"""`interlink schema`, `interlink graph` and `interlink init`: the estate as files and views."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import click

from interlink.cli.templates import parse_params, write_template
from interlink.connectors.registry import registry
from interlink.errors import InterlinkError
from interlink.estate.check import check_estate
from interlink.estate.findings import EstateLoadError
from interlink.estate.graph import build_graph
from interlink.estate.json_schema import estate_json_schema
from interlink.estate.reference import reference_markdown

EXAMPLES = ("retail",)


@click.command("schema")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown"]),
    default="json",
    show_default=True,
    help="markdown: the field reference of every kind",
)
def schema_command(output: Path | None, fmt: str) -> None:
    """Print the JSON Schema of estate files (for editor completion and validation)."""
    if fmt == "markdown":
        text = reference_markdown()
    else:
        text = json.dumps(estate_json_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@click.command("graph")
@click.argument("directory", type=click.Path(path_type=Path), default=".", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "json"]),
    default="mermaid",
    show_default=True,
    help="Mermaid or Graphviz text for a diagram, or JSON nodes and edges.",
)
def graph_command(directory: Path, fmt: str) -> None:
    """Print the estate graph: systems, APIs, events and every connection between them."""
    result = check_estate(directory, connectors=registry())
    if not result.runnable:
        raise EstateLoadError(result.findings)
    graph = build_graph(result.estate)
    if fmt == "json":
        click.echo(json.dumps(graph.to_json(), indent=2))
    elif fmt == "dot":
        click.echo(graph.to_dot(), nl=False)
    else:
        click.echo(graph.to_mermaid(), nl=False)


def write_example(name: str, target: Path, *, force: bool = False) -> list[Path]:
    """Copy a shipped example estate into ``target``; refuses to overwrite unless forced."""
    if name not in EXAMPLES:
        raise InterlinkError(f"unknown example '{name}' (available: {', '.join(EXAMPLES)})")
    if target.exists() and not target.is_dir():
        raise InterlinkError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise InterlinkError(f"{target} is not empty (use --force to write into it anyway)")
    source = resources.files("interlink.examples") / name
    with resources.as_file(source) as folder:
        written: list[Path] = []
        for file in sorted(Path(folder).rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".py":
                dest = target / file.relative_to(folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, dest)
                written.append(dest)
    return written


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--example",
    type=click.Choice(EXAMPLES),
    default="retail",
    show_default=True,
    help="Which shipped example estate to write.",
)
@click.option("--force", is_flag=True, help="Write into a non-empty directory.")
@click.option(
    "--template",
    "template_name",
    metavar="NAME",
    help="Write one flow from a template (see `interlink flows templates`) into the estate "
    "DIRECTORY instead of an example estate.",
)
@click.option("--name", "flow", metavar="FLOW", help="With --template: the flow's name.")
@click.option("--owner", metavar="TEAM", help="With --template: the Team owning the flow.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --template: a parameter, its value read as YAML (key=[id]); repeatable.",
)
def init_command(
    directory: Path,
    example: str,
    force: bool,
    template_name: str | None,
    flow: str | None,
    owner: str | None,
    params: tuple[str, ...],
) -> None:
    """Write an example estate to DIRECTORY to start from, or one flow from a template."""
    if template_name is not None:
        if flow is None:
            raise InterlinkError("--template needs --name: the flow's name")
        files = write_template(
            template_name,
            directory,
            flow=flow,
            owner=owner,
            params=parse_params(params),
            force=force,
        )
        click.echo(f"wrote Flow/{flow} from template {template_name}: {', '.join(map(str, files))}")
        click.echo(f"next: interlink check {directory} && interlink flows test {directory}")
        return
    if flow is not None or owner is not None or params:
        raise InterlinkError("--name, --owner and --param go with --template")
    try:
        written = write_example(example, directory, force=force)
    except OSError as exc:
        raise InterlinkError(f"cannot write {directory}: {exc.strerror}") from exc
    click.echo(f"wrote the {example} example estate ({len(written)} files) to {directory}")
    click.echo(f"next: interlink check {directory}")
