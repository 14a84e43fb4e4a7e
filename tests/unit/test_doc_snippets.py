"""Every snippet README.md and docs/*.md show works as shown: YAML loads (and an estate object
validates), each `interlink …` command parses against the real CLI, Python compiles."""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from interlink.cli.main import cli
from interlink.estate.kinds import API_VERSION, KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([A-Za-z]*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELLS = {"sh", "shell", "bash", "console"}


def _snippets(*languages: str) -> Iterator[tuple[str, str]]:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) in languages:
                line = text.count("\n", 0, match.start()) + 1
                yield f"{doc.relative_to(ROOT)}:{line}", match.group(2)


def _params(*languages: str) -> list[object]:
    return [pytest.param(body, id=where) for where, body in _snippets(*languages)]


def _commands(body: str) -> Iterator[list[str]]:
    """The `interlink …` commands of a shell snippet, as argument lists (prompts, comments and
    line continuations handled)."""
    for raw in body.replace("\\\n", " ").splitlines():
        line = raw.strip().removeprefix("$ ")
        if not line.startswith("interlink "):
            continue
        words = shlex.split(line, comments=True)
        for op in ("|", "&&", ";", ">", "&"):  # what follows belongs to another command
            if op in words:
                words = words[: words.index(op)]
        yield words[1:]


def _parse(command: click.Command, args: list[str], parent: click.Context | None = None) -> None:
    """Parse ``args`` as the CLI would, down to the leaf command, without running anything."""
    with command.make_context(command.name or "interlink", args, parent=parent) as ctx:
        if isinstance(command, click.Group):
            # the subcommand and its arguments (Click 9 will keep them all in ``args``)
            rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]
            assert rest, f"{ctx.command_path} needs a subcommand"
            _, sub, rest = command.resolve_command(ctx, rest)
            assert sub is not None
            _parse(sub, rest, ctx)


def test_the_docs_have_snippets_of_each_language() -> None:
    assert len(list(_snippets("yaml"))) > 5
    assert len(list(_snippets(*SHELLS))) > 3
    assert len(list(_snippets("python"))) >= 2


def _estate_objects(body: str) -> Iterator[dict[str, object]]:
    """The whole estate objects of a YAML snippet: a known kind with its metadata. Snippets
    often leave `apiVersion` out for brevity; fragments without metadata are left out."""
    for data in yaml.safe_load_all(body):
        if (
            isinstance(data, dict)
            and data.get("apiVersion", API_VERSION) == API_VERSION
            and {"kind", "metadata"} <= data.keys()
            and data["kind"] in KINDS
        ):
            yield {"apiVersion": API_VERSION, **data}


def test_some_yaml_snippets_are_whole_estate_objects() -> None:
    assert sum(len(list(_estate_objects(body))) for _, body in _snippets("yaml")) >= 3


@pytest.mark.parametrize("body", _params("yaml"))
def test_yaml_snippets_load_and_estate_objects_validate(body: str) -> None:
    for data in _estate_objects(body):
        KINDS[str(data["kind"])].model_validate(data)


@pytest.mark.parametrize("body", _params(*SHELLS))
def test_interlink_commands_in_shell_snippets_parse(
    body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The docs say once that the admin commands read the token from INTERLINK_TOKEN.
    monkeypatch.setenv("INTERLINK_TOKEN", "il_docs_token")
    for args in _commands(body):
        try:
            _parse(cli, args)
        except click.exceptions.Exit:  # --help, --version: they parsed
            pass
        except click.UsageError as exc:
            pytest.fail(f"interlink {shlex.join(args)}: {exc.format_message()}")


@pytest.mark.parametrize("body", _params("python"))
def test_python_snippets_compile(body: str) -> None:
    assert _unawaited(body) == []


def test_a_coroutine_used_without_await_is_caught() -> None:
    assert _unawaited("rows = relay.failed()") == ["failed"]
    assert _unawaited("rows = await relay.failed()") == []
    with pytest.raises(SyntaxError):
        _unawaited("outbox.add(conn, {…})")


def _unawaited(body: str) -> list[str]:
    """The interlink coroutine methods ``body`` calls and never awaits (it must compile)."""
    tree = compile(body, "<snippet>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    awaited = {
        node.value.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Await)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
    }
    return sorted(
        {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COROUTINES
            and node.func.attr not in awaited
        }
    )


def _coroutine_methods() -> set[str]:
    import inspect

    from interlink.sdk import client, outbox

    names = set()
    for module in (client, outbox):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for name, _ in inspect.getmembers(cls, inspect.iscoroutinefunction):
                if not name.startswith("_"):
                    names.add(name)
    return names


COROUTINES = _coroutine_methods()


def test_a_command_the_cli_refuses_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLINK_TOKEN", "il_docs_token")
    assert list(_commands("$ interlink check . \\\n  --format json | jq .ok")) == [
        ["check", ".", "--format", "json"]
    ]
    _parse(cli, ["events", "replay", "subs", "--from", "1200"])
    with pytest.raises(click.UsageError):
        _parse(cli, ["check", ".", "--formats", "json"])
    with pytest.raises(click.UsageError):
        _parse(cli, ["events", "rewind", "subs"])
