"""`interlink events publish|tail|replay` and `interlink dlq list|show|retry|discard`.

These talk to a running platform: publishing goes to the gateway port like any publisher, the
rest to the admin API with an admin token (``--token`` or ``INTERLINK_TOKEN``).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import click
import httpx

from interlink.errors import AuthError, ConfigError, InterlinkError, NotFound

_admin = click.option(
    "--admin",
    "admin_url",
    envvar="INTERLINK_ADMIN_URL",
    default="http://127.0.0.1:8081",
    show_default=True,
    help="Admin API of the running platform.",
)
_token = click.option(
    "--token", envvar="INTERLINK_TOKEN", help="Admin token (or INTERLINK_TOKEN).", required=True
)


#: Most violations of one problem shown; the rest are counted.
MAX_VIOLATIONS = 20


def _problem_message(response: httpx.Response) -> str:
    """The problem's title and detail; with several violations, its title and each of them
    (up to a bound), one a line, since the detail names only the first."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    detail = str(body.get("detail") or f"HTTP {response.status_code}")
    title = body.get("title")
    violations = [v for v in body.get("violations") or () if isinstance(v, dict)]
    if len(violations) > 1:  # one is the detail already
        lines = [f"{title or detail} ({len(violations)} violations):"]
        for v in violations[:MAX_VIOLATIONS]:
            pointer = v.get("pointer")
            lines.append(f"  {pointer}: {v.get('message')}" if pointer else f"  {v.get('message')}")
        if len(violations) > MAX_VIOLATIONS:
            lines.append(f"  and {len(violations) - MAX_VIOLATIONS} more")
        return "\n".join(lines)
    return f"{title}: {detail}" if title and title != detail else detail


class _Api:
    """A small client of the admin API that turns every failure into an InterlinkError."""

    def __init__(self, base: str, token: str) -> None:
        self._client = httpx.Client(
            base_url=base.rstrip("/"),
            headers={"authorization": f"Bearer {token}"},
            timeout=30.0,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"cannot reach the admin API at {self._client.base_url}: {exc}"
            ) from None
        if response.status_code in (401, 403):
            raise AuthError(_problem_message(response))
        if response.status_code == 404:
            raise NotFound(_problem_message(response))
        if response.status_code >= 400:
            raise InterlinkError(_problem_message(response))
        return response.json()


@click.group("events")
def events_group() -> None:
    """Publish, watch and replay events on a running platform."""


@events_group.command("publish")
@click.argument("event_type")
@click.option("--data", "data_text", help="The event data as JSON; default: read from stdin.")
@click.option(
    "--source", default="interlink-cli", show_default=True, help="The event's source (a URI)."
)
@click.option("--id", "event_id", help="Event id; default: a random UUID.")
@click.option(
    "--gateway",
    envvar="INTERLINK_GATEWAY_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The platform's gateway port.",
)
@click.option(
    "--key", envvar="INTERLINK_API_KEY", help="A Consumer API key (or INTERLINK_API_KEY)."
)
@click.option("--token", envvar="INTERLINK_TOKEN", help="Or an operator admin token.")
def publish(
    event_type: str,
    data_text: str | None,
    source: str,
    event_id: str | None,
    gateway: str,
    key: str | None,
    token: str | None,
) -> None:
    """Publish one event; prints its sequence number once it is durable."""
    raw = data_text if data_text is not None else sys.stdin.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"the event data is not JSON: {exc}") from None
    event = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    headers = {"content-type": "application/cloudevents+json"}
    if key:
        headers["x-api-key"] = key
    elif token:
        headers["authorization"] = f"Bearer {token}"
    else:
        raise ConfigError("publishing needs --key (a Consumer API key) or --token")
    try:
        response = httpx.post(
            f"{gateway.rstrip('/')}/events/{event_type}",
            content=json.dumps(event).encode(),
            headers=headers,
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the gateway at {gateway}: {exc}") from None
    if response.status_code != 202:
        raise InterlinkError(_problem_message(response))
    result = response.json()
    state = "duplicate of" if result.get("duplicate") else "accepted as"
    click.echo(f"{event['id']} {state} {event_type} #{result['seq']}")


@events_group.command("tail")
@click.argument("event_type")
@click.option("--from", "from_seq", type=int, default=None, help="Start after this sequence.")
@click.option("-f", "--follow", is_flag=True, help="Keep waiting for new events.")
@click.option(
    "--interval",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds between polls with --follow.",
)
@_admin
@_token
def tail(
    event_type: str,
    from_seq: int | None,
    follow: bool,
    interval: float,
    admin_url: str,
    token: str,
) -> None:
    """Print stored events of a type as JSON lines (the last 10 unless --from is given)."""
    api = _Api(admin_url, token)
    if from_seq is None:
        info = api.call("GET", f"/api/v1/events/{event_type}/log", params={"limit": 1})
        from_seq = max(0, int(info["last_seq"]) - 10)
    after = from_seq
    while True:
        page = api.call(
            "GET", f"/api/v1/events/{event_type}/log", params={"after": after, "limit": 500}
        )
        for item in page["events"]:
            click.echo(json.dumps({"seq": item["seq"], **item["event"]}, separators=(",", ":")))
            after = int(item["seq"])
        if not follow:
            return
        if not page["events"]:
            time.sleep(interval)


@events_group.command("replay")
@click.argument("subscription")
@click.option("--from", "start", required=True, help="A sequence number or an ISO time.")
@click.option("--to", "end", default=None, help="Last sequence number or ISO time.")
@_admin
@_token
def replay(subscription: str, start: str, end: str | None, admin_url: str, token: str) -> None:
    """Deliver a subscription's events again, from a sequence or a time, with progress."""
    body: dict[str, Any] = {}
    for name, value in (("from", start), ("to", end)):
        if value is None:
            continue
        if value.isdigit():
            body[f"{name}_seq"] = int(value)
        else:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ConfigError(
                    f"--{name} {value!r}: give a sequence number or an ISO time"
                ) from None
            body[f"{name}_time"] = value
    api = _Api(admin_url, token)
    status = api.call("POST", f"/api/v1/subscriptions/{subscription}/replays", json=body)
    total = max(1, int(status["last"]) - int(status["position"]) + int(status["read"]))
    with click.progressbar(length=total, label=f"replaying to {subscription}") as bar:
        shown = 0
        while True:
            bar.update(int(status["read"]) - shown)
            shown = int(status["read"])
            if status["done"]:
                break
            time.sleep(0.2)
            status = api.call("GET", f"/api/v1/replays/{status['id']}")
    if status.get("error"):
        raise InterlinkError(
            f"replay {status['id']} stopped after {status['read']} event(s): {status['error']}"
        )
    click.echo(f"replay {status['id']}: {status['read']} read, {status['enqueued']} queued")


@click.group("dlq")
def dlq_group() -> None:
    """The dead-letter queue of a running platform."""


@dlq_group.command("list")
@click.option("--subscription", default=None, help="Only the dead letters of this subscription.")
@click.option(
    "--limit",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="Most dead letters listed.",
)
@_admin
@_token
def dlq_list(subscription: str | None, limit: int, admin_url: str, token: str) -> None:
    """Dead letters, oldest first."""
    page = _Api(admin_url, token).call(
        "GET",
        "/api/v1/dlq",
        params={"limit": limit, **({"subscription": subscription} if subscription else {})},
    )
    if not page["items"]:
        # On stderr like the paging hint: stdout keeps one line per dead letter for scripts.
        click.echo(f"no dead letters{f' of {subscription}' if subscription else ''}", err=True)
    for item in page["items"]:
        status = item["last_status"] or "-"
        error = item["last_error"] or ""
        click.echo(
            f"{item['id']:<40} {item['event_id']:<38} attempts {item['attempts']:<3} "
            f"last {status} {error}".rstrip()
        )
    if page["next_cursor"]:
        click.echo(f"(more: --limit or the API with cursor={page['next_cursor']})", err=True)


@dlq_group.command("show")
@click.argument("delivery_id")
@_admin
@_token
def dlq_show(delivery_id: str, admin_url: str, token: str) -> None:
    """One dead letter: the event and the receiver's last answer, as JSON."""
    found = _Api(admin_url, token).call("GET", f"/api/v1/dlq/{delivery_id}")
    click.echo(json.dumps(found, indent=2))


@dlq_group.command("retry")
@click.argument("delivery_ids", nargs=-1)
@click.option("--subscription", default=None, help="Retry every dead letter of it.")
@_admin
@_token
def dlq_retry(
    delivery_ids: tuple[str, ...], subscription: str | None, admin_url: str, token: str
) -> None:
    """Send dead letters again from their first attempt."""
    if not delivery_ids and not subscription:
        raise ConfigError("name dead letters by id, or give --subscription")
    body: dict[str, Any] = {"ids": list(delivery_ids)}
    if subscription and not delivery_ids:
        body["subscription"] = subscription
    result = _Api(admin_url, token).call("POST", "/api/v1/dlq/retry", json=body)
    click.echo(f"retried {result['retried']}")


@dlq_group.command("discard")
@click.argument("delivery_ids", nargs=-1, required=True)
@_admin
@_token
def dlq_discard(delivery_ids: tuple[str, ...], admin_url: str, token: str) -> None:
    """Delete dead letters for good."""
    result = _Api(admin_url, token).call(
        "POST", "/api/v1/dlq/discard", json={"ids": list(delivery_ids)}
    )
    click.echo(f"discarded {result['discarded']}")
