"""`interlink audit verify|list|export`: the store's audit log of changes and privileged
actions, and whether its hash chain is intact."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import click

from interlink.cli.admin import estate_option, open_estate_store, store_url_option
from interlink.cli.flows import since_moment
from interlink.errors import ConfigError
from interlink.store import ACTIONS, AuditEntry, AuditFilter


@click.group("audit")
def audit_group() -> None:
    """The audit log: who changed what, from where, and how it ended."""


def _filters(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        (
            click.option("--since", help="Entries from then on: 2h, 30m, or an ISO time."),
            click.option(
                "--action",
                type=click.Choice(ACTIONS),
                metavar="ACTION",
                help=f"Entries of this action only: {', '.join(ACTIONS)}.",
            ),
            click.option("--who", help="Entries by this token id or name (or cli-local)."),
        )
    ):
        fn = option(fn)
    return fn


@audit_group.command("verify")
@estate_option
@store_url_option
def verify_command(estate_dir: Path, store_url: str | None) -> None:
    """Walk the hash chain; name the first entry edited, inserted or deleted (exit 1)."""
    with open_estate_store(estate_dir, store_url) as store:
        verdict = store.audit.verify()
    if not verdict.ok:
        click.echo(f"interlink: audit log broken: {verdict.problem}", err=True)
        sys.exit(1)
    click.echo(
        f"audit log intact: {verdict.checked} entr{'y' if verdict.checked == 1 else 'ies'}, "
        f"head {verdict.head_seq} {verdict.head_hash}"
    )


@audit_group.command("list")
@_filters
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="The newest N."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead.")
@estate_option
@store_url_option
def list_command(
    since: str | None,
    action: str | None,
    who: str | None,
    limit: int,
    as_json: bool,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """The newest entries that match, oldest first."""
    match = AuditFilter(since_moment(since), action, who)
    with open_estate_store(estate_dir, store_url) as store:
        found = store.audit.list(match, limit, newest=True)
    if as_json:
        _json_lines(found, sys.stdout)
        return
    for entry in found:
        click.echo(_line(entry))


@audit_group.command("export")
@_filters
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of stdout.",
)
@estate_option
@store_url_option
def export_command(
    since: str | None,
    action: str | None,
    who: str | None,
    output: Path | None,
    estate_dir: Path,
    store_url: str | None,
) -> None:
    """Every entry that matches as JSON lines, hashes included, oldest first: to keep
    elsewhere, or to check with other tools."""
    match = AuditFilter(since_moment(since), action, who)
    with open_estate_store(estate_dir, store_url) as store:
        entries = store.audit.entries(match)
        if output is None:
            _json_lines(entries, sys.stdout)
            return
        try:
            with output.open("w", encoding="utf-8") as out:
                count = _json_lines(entries, out)
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"{count} entr{'y' if count == 1 else 'ies'} written to {output}", err=True)


def _json_lines(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    count = 0
    for entry in entries:
        out.write(json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


def _line(entry: AuditEntry) -> str:
    who = entry.who_name if entry.who_id is None else f"{entry.who_name} ({entry.who_id})"
    result = entry.result if entry.reason is None else f"{entry.result}: {entry.reason}"
    details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
    return (
        f"{entry.seq:>6}  {entry.at:%Y-%m-%d %H:%M:%S}  {who} from {entry.address}  "
        f"{entry.action} {entry.target}  {result}  {details}"
    )
