"""The registry (plugins included), `interlink connectors`, and the generated docs."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from interlink.cli.main import main
from interlink.connectors.base import Connection, Connector
from interlink.connectors.docs import GENERATED_MARKER, reference_markdown
from interlink.connectors.registry import BUILT_IN, Registry, discover
from interlink.connectors.spec import ConnectorSpec
from interlink.connectors.sqlite import SPEC as SQLITE
from interlink.errors import NotFound
from interlink.testing.connectors import check_spec

DOCS = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"


class Sheets(Connector):
    spec = ConnectorSpec(
        name="sheets",
        title="Sheets",
        description="Rows of a spreadsheet.",
        interface="sql",
        config={
            "type": "object",
            "properties": {
                "token": {"type": "string", "writeOnly": True, "description": "API token"}
            },
            "required": ["token"],
        },
        capabilities=SQLITE.capabilities,
        example='kind: System\nspec:\n  connector: sheets\n  connection: {token: "${secret:t}"}\n',
    )

    async def open(self, config: Any, system: str) -> Connection:
        raise AssertionError("the registry and docs read a connector's spec; none opens one")


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, "interlink.connectors")


def test_plugins_load_and_a_bad_one_is_one_line() -> None:
    found = discover(
        [
            _entry("sheets", f"{__name__}:Sheets"),
            _entry("broken", "interlink_no_such_package:Thing"),
            _entry("notone", "json:dumps"),
            _entry("sqlite", f"{__name__}:Sheets"),
            _entry("other", f"{__name__}:Sheets"),
        ]
    )
    assert found.names() == [
        "airbyte",
        "amqp",
        "chat",
        "directory",
        "http",
        "mariadb",
        "mqtt",
        "nats",
        "postgresql",
        "redis-streams",
        "s3",
        "sftp",
        "sheets",
        "singer",
        "smtp",
        "sqlite",
    ]
    assert found.problems == [
        "connector plugin 'broken' left out: cannot import interlink_no_such_package:Thing: "
        "ModuleNotFoundError: No module named 'interlink_no_such_package'",
        "connector plugin 'notone' left out: json:dumps is not an interlink Connector",
        "connector plugin 'sqlite': a built-in has that name; ignored",
        f"connector plugin 'other' left out: {__name__}:Sheets is named 'sheets', registered "
        "as 'other'",
    ]
    assert all("\n" not in p for p in found.problems)


def test_an_unknown_connector_says_did_you_mean() -> None:
    with pytest.raises(NotFound, match=r"no connector 'mysql'.*known: airbyte, amqp, chat"):
        Registry([cls() for cls in BUILT_IN]).get("mysql")
    with pytest.raises(NotFound, match="did you mean 'sqlite'"):
        Registry([cls() for cls in BUILT_IN]).get("sqlit")


def test_every_built_in_spec_is_sound() -> None:
    for cls in BUILT_IN:
        check_spec(cls())
    check_spec(Sheets())


def test_a_malformed_spec_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="field port has no description"):
        ConnectorSpec(
            name="x",
            title="X",
            description="x",
            interface="sql",
            config={"type": "object", "properties": {"port": {"type": "integer"}}},
            capabilities=(),
            example="",
        )
    with pytest.raises(ValueError, match="secret field key is a string"):
        ConnectorSpec(
            name="x",
            title="X",
            description="x",
            interface="sql",
            config={
                "type": "object",
                "properties": {"key": {"type": "object", "writeOnly": True, "description": "k"}},
            },
            capabilities=(),
            example="",
        )


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_list_show_and_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "connectors", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        "NAME",
        "airbyte",
        "amqp",
        "chat",
        "directory",
        "http",
        "mariadb",
        "mqtt",
        "nats",
        "postgresql",
        "redis-streams",
        "s3",
        "sftp",
        "singer",
        "smtp",
        "sqlite",
    ]
    code, out, _ = _cli(capsys, "connectors", "show", "mariadb")
    assert code == 0
    assert "password        string (secret: ${secret:…} only)" in out
    assert "connector: mariadb" in out
    code, out, _ = _cli(capsys, "connectors", "show", "postgresql", "--schema")
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["password"]["writeOnly"] is True
    code, out, err = _cli(capsys, "connectors", "show", "postgres")
    assert code == 2
    assert err == (
        "interlink: error: no connector 'postgres' (did you mean 'postgresql'?); "
        "known: airbyte, amqp, chat, directory, http, mariadb, mqtt, nats, postgresql, "
        "redis-streams, s3, sftp, singer, smtp, sqlite\n"
    )


def test_the_connectors_reference_in_docs_is_current() -> None:
    """docs/connectors.md's generated part: `interlink connectors docs` rewrites it."""
    text = DOCS.read_text(encoding="utf-8")
    assert GENERATED_MARKER in text
    generated = text[text.index(GENERATED_MARKER) :]
    assert generated == reference_markdown(
        [cls().spec for cls in sorted(BUILT_IN, key=lambda c: c.spec.name)]
    )


def test_docs_command_keeps_the_intro(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "c.md"
    page.write_text(f"# Mine\n\nintro\n\n{GENERATED_MARKER}\nstale text\n", encoding="utf-8")
    code, _, _ = _cli(capsys, "connectors", "docs", "-o", str(page))
    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Mine\n\nintro\n\n" + GENERATED_MARKER)
    assert "stale text" not in text
    assert "### postgresql" in text
