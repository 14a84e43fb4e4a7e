"""`interlink apply DIR`: check an estate here, then make it the current revision of every node
on the platform's store, through a node's admin API."""

from __future__ import annotations

from pathlib import Path

import click
import httpx

from interlink.cli.check import render_text
from interlink.cli.events import _problem_message
from interlink.connectors.registry import registry
from interlink.errors import AuthError, ConfigError, InterlinkError
from interlink.estate.check import check_estate, sort_key
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE, pack_estate
from interlink.runtime.servable import unservable_routes


@click.command("apply")
@click.argument("directory", type=click.Path(path_type=Path), default=".", required=False)
@click.option(
    "--admin",
    "admin_url",
    envvar="INTERLINK_ADMIN_URL",
    default="http://127.0.0.1:8081",
    show_default=True,
    help="Admin API of any node of the platform.",
)
@click.option(
    "--token", envvar="INTERLINK_TOKEN", required=True, help="An admin token (or INTERLINK_TOKEN)."
)
@click.pass_context
def apply_command(ctx: click.Context, directory: Path, admin_url: str, token: str) -> None:
    """Check the estate in DIRECTORY, upload it and make it the current revision of every node.
    It is recorded as a new revision even when its content ran before: this is how to roll
    back."""
    result = check_estate(directory, connectors=registry())
    result.findings.extend(unservable_routes(result))
    result.findings.sort(key=sort_key)
    if not result.ok:
        click.echo(render_text(result), nl=False)
        click.echo("interlink: not applied: fix the errors first", err=True)
        ctx.exit(1)
    bundle = pack_estate(result.estate)
    url = f"{admin_url.rstrip('/')}/api/v1/estate/revisions"
    try:
        response = httpx.post(
            url,
            content=bundle,
            headers={"authorization": f"Bearer {token}", "content-type": BUNDLE_MEDIA_TYPE},
            timeout=60.0,
        )
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the admin API at {admin_url}: {exc}") from None
    if response.status_code in (401, 403):
        raise AuthError(_problem_message(response))
    if response.status_code == 422 and "errors" in _json(response):
        click.echo("the platform refused the estate:", err=True)
        for error in _json(response)["errors"]:
            where = ":".join(str(error[k]) for k in ("file", "line", "col") if error.get(k))
            click.echo(f"  {where}: {error.get('message')}" if where else f"  {error}", err=True)
        ctx.exit(1)
    if response.status_code >= 400:
        raise InterlinkError(_problem_message(response))
    revision = response.json()["revision"]
    summary = revision["summary"]
    click.echo(
        f"revision {revision['id']} applied ({revision['hash'][:12]}): "
        f"{len(summary['added'])} added, {len(summary['changed'])} changed, "
        f"{len(summary['removed'])} removed"
    )


def _json(response: httpx.Response) -> dict[str, list[dict[str, object]]]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
