"""`interlink consumers key create|list|revoke` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import click

from interlink.cli.main import cli
from interlink.store import open_store
from interlink.store.keyring import KeyRing
from interlink.testing.processes import run_interlink


def test_key_lifecycle(retail_dir: Path) -> None:
    created = run_interlink(
        ["consumers", "key", "create", "acme-logistics", "--name", "ci", "--expires", "30d"],
        cwd=retail_dir,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("ik_")
    assert "shown once" in created.stderr
    assert key not in created.stderr

    listed = run_interlink(["consumers", "key", "list", "--estate", str(retail_dir)])
    (line,) = listed.stdout.splitlines()
    key_id = line.split()[0]
    assert key.startswith(f"ik_{key_id}_")
    assert "acme-logistics" in line
    assert " active " in line
    assert key.split("_", 2)[2] not in listed.stdout

    with open_store(f"sqlite:///{retail_dir / '.interlink' / 'interlink.db'}") as store:
        ring = KeyRing(store)
        ring.refresh()
        found = ring.verify(key)
        assert found is not None
        assert found.consumer == "acme-logistics"

    revoked = run_interlink(["consumers", "key", "revoke", key_id, "--estate", str(retail_dir)])
    assert revoked.stdout.strip() == f"revoked {key_id}"
    listed = run_interlink(["consumers", "key", "list", "acme-logistics"], cwd=retail_dir)
    assert " revoked " in listed.stdout


def test_bad_input_is_one_line(retail_dir: Path) -> None:
    unknown = run_interlink(["consumers", "key", "create", "acme-logistic"], cwd=retail_dir)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "interlink: error: no Consumer 'acme-logistic' in the estate "
        "(did you mean 'acme-logistics'?)"
    )
    expiry = run_interlink(
        ["consumers", "key", "create", "mobile-app", "--expires", "soon"], cwd=retail_dir
    )
    assert expiry.returncode == 2
    assert expiry.stderr.strip() == (
        "interlink: error: --expires 'soon': give a duration (30d, 12h) or an ISO date (2027-01-31)"
    )
    listed = run_interlink(["consumers", "key", "list", "acme-logistic"], cwd=retail_dir)
    assert listed.returncode == 2
    assert listed.stderr.strip() == (
        "interlink: error: no Consumer 'acme-logistic' in the estate "
        "(did you mean 'acme-logistics'?)"
    )
    missing = run_interlink(["consumers", "key", "revoke", "nope"], cwd=retail_dir)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "interlink: error: key 'nope' not found"


def test_an_expiry_in_the_past_is_refused(retail_dir: Path) -> None:
    past = run_interlink(
        ["consumers", "key", "create", "mobile-app", "--expires", "2020-01-31"], cwd=retail_dir
    )
    assert past.returncode == 2
    assert past.stderr.strip() == (
        "interlink: error: --expires 2020-01-31 is in the past: give a future date or a duration"
    )
    listed = run_interlink(["consumers", "key", "list"], cwd=retail_dir)
    assert listed.stdout == ""


def test_a_directory_without_an_estate_is_refused(tmp_path: Path, retail_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        ["admin", "token", "create", "--name", "ci"],
        ["admin", "token", "list"],
        ["consumers", "key", "list"],
        ["consumers", "key", "create", "crm-publisher"],
    ):
        refused = run_interlink(args, cwd=empty)
        assert refused.returncode == 2, args
        (line,) = refused.stderr.splitlines()
        assert "holds no estate" in line
        assert "--estate" in line
        assert "--store-url" in line
    assert list(empty.iterdir()) == []

    url = f"sqlite:///{tmp_path / 'own.db'}"
    created = run_interlink(["admin", "token", "create", "--name", "ci", "--store-url", url])
    assert created.returncode == 0, created.stderr
    listed = run_interlink(["admin", "token", "list", "--store-url", url], cwd=empty)
    assert " ci" in listed.stdout, listed.stderr
    listed = run_interlink(["admin", "token", "list", "--estate", str(retail_dir)], cwd=empty)
    assert listed.returncode == 0, listed.stderr


def test_every_command_has_help() -> None:
    for args, text in (
        (["admin", "token", "list"], "Admin tokens"),
        (["admin", "token", "revoke"], "Revoke an admin token"),
        (["dlq", "list"], "--subscription TEXT"),
    ):
        shown = run_interlink([*args, "--help"])
        assert shown.returncode == 0
        assert text in shown.stdout, shown.stdout
    options = run_interlink(["dlq", "list", "--help"]).stdout
    line = next(x for x in options.splitlines() if "--subscription" in x)
    assert len(line.split()) > 2, line


def test_every_command_and_option_is_described() -> None:
    def undescribed(command: click.Command, path: str) -> list[str]:
        found = [] if command.help or command.short_help else [path]
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                found.append(f"{path} {param.opts[0]}")
        if isinstance(command, click.Group):
            with click.Context(command) as ctx:
                for name in command.list_commands(ctx):
                    sub = command.get_command(ctx, name)
                    assert sub is not None
                    assert sub.name == name  # the lazy top-level table names it rightly
                    found.extend(undescribed(sub, f"{path} {name}"))
        return found

    assert undescribed(cli, "interlink") == []
