"""`interlink sources`: run a System's tap (singer, airbyte) once, to see what it declares,
whether it reaches its source, and which streams it offers, before a Flow polls one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from interlink.cli.admin import estate_option, no_estate
from interlink.connectors.connections import open_connection
from interlink.connectors.registry import registry
from interlink.connectors.taps import Catalog, CheckResult, TapConnection
from interlink.errors import ConfigError, NotFound
from interlink.estate.hints import did_you_mean
from interlink.estate.kinds import System
from interlink.estate.loader import load_estate

T = TypeVar("T")

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print what the tap answered, as JSON."
)


@click.group("sources")
def sources_group() -> None:
    """A System's tap (connector singer or airbyte): its spec, a check, its streams."""


def _run(estate_dir: Path, name: str, operation: Callable[[TapConnection], Awaitable[T]]) -> T:
    """``operation`` on System ``name``'s tap, opened as a serving node would open it."""
    estate, _ = load_estate(estate_dir)
    if not estate.objects:
        raise no_estate(estate_dir, "--estate DIR")
    item = estate.get("System", name)
    if item is None or not isinstance(item.obj, System):
        hint = did_you_mean(name, estate.names("System"))
        raise NotFound(f"no System {name!r} in the estate" + (f" ({hint})" if hint else ""))
    spec = item.obj.spec
    connectors = registry()
    connector = spec.connector_name
    if connector is None or connectors.interface(connector) != "records":
        raise ConfigError(
            f"System/{name} runs no tap (its connector is {connector or 'none'}): these "
            "commands run a System with connector singer or airbyte"
        )

    async def run() -> T:
        masked = await open_connection(connectors, name, connector, spec.connection or {})
        tap = masked.inner
        assert isinstance(tap, TapConnection)
        try:
            return await operation(tap)
        except Exception as exc:  # said with the System's secrets masked
            raise masked._mask(exc, tap.tap.name) from None
        finally:
            await masked.close()

    return asyncio.run(run())


def _fields(schema: Mapping[str, Any]) -> list[str]:
    required = set(schema.get("required") or ())
    props = schema.get("properties") or {}
    width = max((len(str(n)) for n in props), default=0)
    lines = []
    for name, declared in props.items():
        prop: Mapping[str, Any] = declared if isinstance(declared, Mapping) else {}
        kind = prop.get("type", "any")
        notes = [n for n, on in (("required", name in required), ("secret", _secret(prop))) if on]
        extra = f" ({', '.join(notes)})" if notes else ""
        about = str(prop.get("description") or prop.get("title") or "").split("\n")[0]
        text = kind if isinstance(kind, str) else "|".join(map(str, kind))
        lines.append(f"  {name:<{width}}  {text}{extra}{': ' + about if about else ''}")
    return lines or ["  (no fields)"]


def _secret(prop: Mapping[str, Any]) -> bool:
    return bool(prop.get("airbyte_secret") or prop.get("secret") or prop.get("writeOnly"))


@sources_group.command("spec")
@click.argument("system")
@estate_option
@json_option
def spec_command(system: str, estate_dir: Path, as_json: bool) -> None:
    """The config the System's tap takes, as it declares it (Singer: --about)."""
    schema = _run(estate_dir, system, lambda tap: tap.spec())
    if as_json:
        click.echo(json.dumps(schema, indent=2))
        return
    click.echo(f"System/{system}: the tap's config")
    for line in _fields(schema):
        click.echo(line)


@sources_group.command("check")
@click.argument("system")
@estate_option
def check_command(system: str, estate_dir: Path) -> None:
    """Whether the System's tap reaches its source with its config (Singer: a discovery)."""
    result: CheckResult = _run(estate_dir, system, lambda tap: tap.check())
    said = f": {result.message}" if result.message else ""
    if not result.ok:
        click.echo(f"interlink: System/{system}: check failed{said}", err=True)
        raise SystemExit(1)
    click.echo(f"System/{system}: check succeeded{said}")


@sources_group.command("discover")
@click.argument("system")
@estate_option
@json_option
def discover_command(system: str, estate_dir: Path, as_json: bool) -> None:
    """The streams the System's tap offers: a Flow's trigger.poll reads one by name."""
    catalog: Catalog = _run(estate_dir, system, lambda tap: tap.discover())
    if as_json:
        click.echo(json.dumps(catalog.raw, indent=2))
        return
    rows = [
        (
            s.name,
            ",".join(s.key) or "-",
            ",".join(s.cursor) or "-",
            ",".join(s.modes) or "-",
            str(s.fields),
        )
        for s in catalog.streams
    ]
    head = ("STREAM", "KEY", "CURSOR", "MODES", "FIELDS")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for row in [head, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))
