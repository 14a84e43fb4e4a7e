"""Writing exported documents as YAML or JSON text.

Exports are read by people as much as by programs, so YAML keeps the order keys were built in and
writes multi-line strings (contract text inside a catalog entry) as literal blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

import yaml

from interlink.errors import ConfigError

Format = Literal["yaml", "json"]
FORMATS: tuple[Format, ...] = ("yaml", "json")


class _Dumper(yaml.SafeDumper):
    """Safe YAML with literal blocks for multi-line text and indented block sequences."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a shared list is written out again: anchors confuse many readers


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Trailing spaces on a line cannot be kept in a literal block; those strings stay quoted.
    if "\n" in value and not any(line.endswith(" ") for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def to_yaml_all(documents: Iterable[Any]) -> str:
    """Several documents in one stream, each starting with ``---``."""
    return yaml.dump_all(
        list(documents),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        explicit_start=True,
    )


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(data: Any, fmt: str) -> str:
    if fmt == "yaml":
        return to_yaml(data)
    if fmt == "json":
        return to_json(data)
    raise ConfigError(f"unknown format '{fmt}' (use yaml or json)")
