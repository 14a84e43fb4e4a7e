"""Operating the event mesh of a real `interlink serve`: dead letters, replay, 410 and enabling,
team notices, roles, problems and metrics, over the admin API and the CLI.

The example estate's analytics subscription retries on ``[2s, 10s, 30s]``; the copy used here
retries once after 1s, so a failing event reaches the dead-letter queue in about a second.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.events.signing import generate_secret
from interlink.sdk import Publisher
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from tests.e2e.webhooks import Receiver, serve_in_thread

TYPE = "customer.address-updated"
ANALYTICS = "analytics-address-updates"
LOGISTICS = "logistics-address-updates"
ALERT_PATH = "/alerts/T0SECRETPATH"  # the team webhook's URL, only ever in a secret
CHAT_PATH = "/chat/B0CHATTOKEN"  # a literal chat URL in the estate: shown as scheme://host/…


def address(n: int) -> dict[str, object]:
    return {
        "customerId": f"C{n:06d}",
        "address": {"street": f"{n} Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
        "changedAt": "2026-11-22T10:00:00Z",
    }


@dataclass
class TeamHooks:
    """The analytics team's webhook and chat channels: keeps what each path received."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self) -> ThreadingHTTPServer:
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                assert self.headers["content-type"] == "application/json"
                with hooks.lock:
                    hooks.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return serve_in_thread(Handler)

    def at(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for p, doc in self.received if p == path]


@dataclass
class Platform:
    proc: InterlinkProcess
    gateway: str
    admin: str
    token: str
    key: str
    analytics: Receiver
    logistics: Receiver
    team: TeamHooks
    team_port: int

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.admin}{path}", headers=self.auth, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.admin}{path}", headers=self.auth, **kwargs)

    def cli(self, *args: str, token: str | None = None) -> Any:
        return run_interlink([*args, "--admin", self.admin, "--token", token or self.token])

    def publish(self, *numbers: int) -> list[str]:
        with Publisher(self.gateway, source="crm", key=self.key) as events:
            receipts = events.publish_many([events.event(TYPE, address(n)) for n in numbers])
        return [r.id for r in receipts]

    def subscription(self, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = self.get("/api/v1/subscriptions").json()
        return next(s for s in found if s["name"] == name)

    def dead(self, subscription: str = ANALYTICS) -> list[dict[str, Any]]:
        page = self.get("/api/v1/dlq", params={"subscription": subscription}).json()
        items: list[dict[str, Any]] = page["items"]
        return items


def wait_until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@pytest.fixture
def platform(retail_dir: Path, tmp_path: Path) -> Iterator[Platform]:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    logistics, analytics, team = (
        Receiver(generate_secret()),
        Receiver(generate_secret()),
        TeamHooks(),
    )
    servers = [logistics.serve(), analytics.serve(), team.serve()]
    team_port = servers[2].server_port
    (secrets / "logistics-webhook-secret").write_text(logistics.secret)
    (secrets / "analytics-webhook-secret").write_text(analytics.secret)
    (secrets / "analytics-alert-hook").write_text(f"http://127.0.0.1:{team_port}{ALERT_PATH}")

    systems = retail_dir / "systems" / "operations.yaml"
    text = systems.read_text()
    for old, server in zip(("9103", "9104"), servers[:2], strict=True):
        text = text.replace(f"http://127.0.0.1:{old}", f"http://127.0.0.1:{server.server_port}")
    systems.write_text(text)
    subscriptions = retail_dir / "events" / "subscriptions.yaml"
    text = subscriptions.read_text()
    assert "retry: {schedule: [2s, 10s, 30s]}" in text
    subscriptions.write_text(text.replace("schedule: [2s, 10s, 30s]", "schedule: [1s]"))
    teams = retail_dir / "teams.yaml"
    text = teams.read_text()
    hook = '    - {type: webhook, to: "${secret:analytics-alert-hook}"}\n'
    assert hook in text
    chat = f"http://127.0.0.1:{team_port}{CHAT_PATH}"
    extra = (
        f"    - {{type: chat, to: {chat!r}}}\n    - {{type: email, to: bi-oncall@example.com}}\n"
    )
    teams.write_text(text.replace(hook, hook + extra))

    created = run_interlink(["consumers", "key", "create", "crm-publisher"], cwd=retail_dir)
    assert created.returncode == 0, created.stderr
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(
        ["serve", str(retail_dir), "--admin-listen", admin],
        env={"INTERLINK_SECRETS_DIR": str(secrets)},
    ).start()
    try:
        gateway = proc.wait_for(r"gateway on http://(\S+)").group(1)
        token = proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        yield Platform(
            proc,
            f"http://{gateway}",
            f"http://{admin}",
            token,
            created.stdout.strip(),
            analytics,
            logistics,
            team,
            team_port,
        )
    finally:
        proc.stop()
        for server in servers:
            server.shutdown()


def metric(text: str, name: str, subscription: str) -> float:
    match = re.search(rf'^{name}{{subscription="{subscription}"}} (\S+)$', text, re.M)
    assert match, f"{name} for {subscription} not in /metrics"
    return float(match.group(1))


def test_dead_letters_are_listed_shown_retried_and_discarded(platform: Platform) -> None:
    platform.analytics.status = 500
    first, second = platform.publish(1, 2)
    wait_until(lambda: len(platform.dead()) == 2)
    ids = [f"{ANALYTICS}:1", f"{ANALYTICS}:2"]

    listed = platform.dead()
    assert [d["id"] for d in listed] == ids
    assert [d["event_id"] for d in listed] == [first, second]
    for item in listed:
        assert item["state"] == "dead"
        assert item["attempts"] == 2  # the first attempt and the one retry of the schedule
        assert item["last_status"] == 500
        assert item["subscription"] == ANALYTICS

    shown = platform.get(f"/api/v1/dlq/{ids[0]}").json()
    assert shown["event"]["id"] == first
    assert shown["event"]["data"] == address(1)
    assert "warehouse down for maintenance" in shown["last_response"]
    assert shown["last_status"] == 500

    metrics = platform.get("/metrics").text
    assert metric(metrics, "interlink_delivery_dlq_depth", ANALYTICS) == 2
    assert metric(metrics, "interlink_delivery_failed_total", ANALYTICS) == 4
    assert metric(metrics, "interlink_delivery_retries_total", ANALYTICS) == 2
    assert metric(metrics, "interlink_delivery_dead_lettered_total", ANALYTICS) == 2
    figures = platform.subscription(ANALYTICS)["metrics"]
    assert figures["dead_lettered"] == 2
    assert figures["dlq_depth"] == 2

    cli_list = platform.cli("dlq", "list", "--subscription", ANALYTICS)
    assert cli_list.returncode == 0, cli_list.stderr
    lines = cli_list.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ids
    assert all("attempts 2" in line and "last 500" in line for line in lines)

    cli_show = platform.cli("dlq", "show", ids[1])
    assert cli_show.returncode == 0, cli_show.stderr
    assert json.loads(cli_show.stdout)["event"]["id"] == second

    platform.analytics.status = 204  # the warehouse is back
    retried = platform.cli("dlq", "retry", ids[0])
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "retried 1"
    wait_until(lambda: platform.analytics.seen[first] == 1)
    assert platform.analytics.events[first]["data"] == address(1)

    discarded = platform.cli("dlq", "discard", ids[1])
    assert discarded.returncode == 0, discarded.stderr
    assert discarded.stdout.strip() == "discarded 1"
    assert platform.dead() == []
    empty = platform.cli("dlq", "list")
    assert empty.returncode == 0
    assert (empty.stdout, empty.stderr) == ("", "no dead letters\n")
    is_problem(platform.get(f"/api/v1/dlq/{ids[1]}"), 404)
    gone = platform.cli("dlq", "show", ids[1])
    assert gone.returncode != 0
    assert "not found" in gone.stderr
    assert platform.analytics.seen[second] == 0
    audit = platform.get("/api/v1/audit").json()["entries"]
    assert [
        (e["action"], e["target"], e["details"], e["result"])
        for e in audit
        if e["action"].startswith("dlq.")
    ] == [
        ("dlq.retry", f"dlq/{ids[0]}", {"retried": 1}, "ok"),
        ("dlq.discard", f"dlq/{ids[1]}", {"discarded": 1}, "ok"),
    ]

    metrics = platform.get("/metrics").text
    assert metric(metrics, "interlink_delivery_delivered_total", ANALYTICS) == 1
    assert metric(metrics, "interlink_delivery_dlq_depth", ANALYTICS) == 0
    assert metric(metrics, "interlink_delivery_lag", ANALYTICS) == 0
    assert metric(metrics, "interlink_delivery_delivered_total", LOGISTICS) == 2
    assert re.search(
        rf'^interlink_delivery_latency_seconds_count{{subscription="{ANALYTICS}"}} 1$',
        metrics,
        re.M,
    )
    assert f'interlink_delivery_latency_seconds_bucket{{subscription="{LOGISTICS}",' in metrics
    assert platform.logistics.bad == platform.analytics.bad == 0


def test_replay_from_a_sequence_and_from_a_time(platform: Platform) -> None:
    ids = platform.publish(*range(5))
    wait_until(lambda: all(platform.analytics.seen[i] == 1 for i in ids))

    replayed = platform.cli("events", "replay", ANALYTICS, "--from", "1")
    assert replayed.returncode == 0, replayed.stderr
    assert f"replaying to {ANALYTICS}" in replayed.stdout
    assert re.search(r"^replay \d+: 5 read, 5 queued$", replayed.stdout, re.M)
    # Copies carry the same webhook-id again: the receiver sees the same events twice.
    wait_until(lambda: all(platform.analytics.seen[i] == 2 for i in ids))
    assert set(platform.analytics.seen) == set(ids)
    assert all(len(platform.analytics.webhook_ids[i]) == 1 for i in ids)
    assert all(platform.logistics.seen[i] == 1 for i in ids)  # other subscriptions untouched

    time.sleep(0.05)
    since = datetime.now(UTC).replace(tzinfo=None).isoformat()  # no offset: read as UTC
    time.sleep(0.05)
    later = platform.publish(5, 6)
    wait_until(lambda: all(platform.analytics.seen[i] == 1 for i in later))
    by_time = platform.cli("events", "replay", ANALYTICS, "--from", since)
    assert by_time.returncode == 0, by_time.stderr
    assert re.search(r"^replay \d+: 2 read, 2 queued$", by_time.stdout, re.M)
    wait_until(lambda: all(platform.analytics.seen[i] == 2 for i in later))
    assert all(platform.analytics.seen[i] == 2 for i in ids)

    started = platform.post(f"/api/v1/subscriptions/{ANALYTICS}/replays", json={"from_seq": 6})
    assert started.status_code == 202, started.text
    replay_id = started.json()["id"]
    wait_until(lambda: platform.get(f"/api/v1/replays/{replay_id}").json()["done"])
    status = platform.get(f"/api/v1/replays/{replay_id}").json()
    assert (status["read"], status["enqueued"], status["last"], status["error"]) == (2, 2, 7, None)
    last = platform.get("/api/v1/audit", params={"action": "replay.start"}).json()["entries"][-1]
    assert (last["target"], last["details"]) == (
        f"subscription/{ANALYTICS}",
        {"from_seq": 6, "replay": replay_id},
    )
    wait_until(lambda: all(platform.analytics.seen[i] == 3 for i in later))

    is_problem(platform.get("/api/v1/replays/999999"), 404)
    replays = f"/api/v1/subscriptions/{ANALYTICS}/replays"
    for bad in (
        {},
        {"from_seq": 1, "from_time": "2026-01-01T00:00:00Z"},
        {"from_seq": 0},
        {"from_seq": 1, "to_seq": 2, "to_time": "2026-01-01T00:00:00Z"},
        {"from": 1},
        {"from_time": "yesterday"},
    ):
        is_problem(platform.post(replays, json=bad), 422)
    is_problem(platform.post(replays, content=b"{not json"), 422)
    is_problem(platform.post(replays, json={"from_seq": 3, "to_seq": 2}), 400)
    is_problem(platform.post("/api/v1/subscriptions/nope/replays", json={"from_seq": 1}), 404)
    # A flow subscription replays too (its copies start no second run of an event's flow);
    # this one's flow cannot start yet, so they wait in its queue.
    flow = platform.post("/api/v1/subscriptions/erp-address-sync/replays", json={"from_seq": 1})
    assert flow.status_code == 202, flow.text

    unparsed = platform.cli("events", "replay", ANALYTICS, "--from", "yesterday")
    assert unparsed.returncode != 0
    assert "give a sequence number or an ISO time" in unparsed.stderr
    unknown = platform.cli("events", "replay", "nope", "--from", "1")
    assert unknown.returncode != 0
    assert "nope" in unknown.stderr


def test_gone_disables_tells_the_team_and_enable_resumes(platform: Platform) -> None:
    platform.analytics.status = 410
    (first,) = platform.publish(1)
    wait_until(lambda: platform.subscription(ANALYTICS)["state"] == "disabled")
    status = platform.subscription(ANALYTICS)
    assert "410 Gone" in status["reason"]
    assert platform.subscription(LOGISTICS)["state"] == "running"

    # The owning team is told on its webhook (a JSON document) and its chat (Slack's shape).
    wait_until(lambda: platform.team.at(ALERT_PATH) and platform.team.at(CHAT_PATH))
    (document,) = platform.team.at(ALERT_PATH)
    assert document["kind"] == "subscription-disabled"
    assert document["subject"] == f"Subscription/{ANALYTICS}"
    assert document["team"] == "analytics"
    assert document["details"]["status"] == "410"
    assert "410 Gone" in document["summary"]
    (chat,) = platform.team.at(CHAT_PATH)
    assert set(chat) == {"text"}
    assert f"Subscription/{ANALYTICS}" in chat["text"]

    notices = platform.get("/api/v1/notices").json()["items"]
    (notice,) = notices
    assert notice["subject"] == f"Subscription/{ANALYTICS}"
    channels = {c["type"]: c for c in notice["channels"]}
    assert channels["webhook"]["state"] == "sent"
    assert channels["webhook"]["target"] == "${secret:analytics-alert-hook}"
    assert channels["chat"]["state"] == "sent"
    assert channels["chat"]["target"] == f"http://127.0.0.1:{platform.team_port}/…"
    assert channels["email"]["state"] == "skipped"
    assert "SMTP" in channels["email"]["detail"]
    assert "T0SECRETPATH" not in platform.proc.output
    assert "B0CHATTOKEN" not in platform.proc.output
    assert "notice kind=subscription-disabled" in platform.proc.output

    (second,) = platform.publish(2)  # queues while the subscription is off
    time.sleep(1.0)
    assert platform.analytics.seen[second] == 0
    assert platform.subscription(ANALYTICS)["metrics"]["lag"] >= 1

    platform.analytics.status = 204
    enabled = platform.post(f"/api/v1/subscriptions/{ANALYTICS}/enable")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json() == {"subscription": ANALYTICS, "enabled": True, "changed": True}
    wait_until(lambda: platform.analytics.seen[first] == 1 and platform.analytics.seen[second] == 1)
    assert platform.subscription(ANALYTICS)["state"] == "running"
    again = platform.post(f"/api/v1/subscriptions/{ANALYTICS}/enable").json()
    assert again["changed"] is False
    is_problem(platform.post("/api/v1/subscriptions/nope/enable"), 404)
    assert platform.dead() == []


def test_roles_unknown_ids_and_bad_bodies(platform: Platform) -> None:
    created = platform.post("/api/v1/tokens", json={"role": "viewer", "name": "dashboards"})
    assert created.status_code == 201, created.text
    viewer = {"authorization": f"Bearer {created.json()['token']}"}
    platform.analytics.status = 500
    platform.publish(1)
    wait_until(lambda: len(platform.dead()) == 1)
    dead_id = f"{ANALYTICS}:1"

    for path in (
        "/api/v1/subscriptions",
        "/api/v1/dlq",
        f"/api/v1/dlq/{dead_id}",
        "/api/v1/notices",
        f"/api/v1/events/{TYPE}/log",
        "/metrics",
    ):
        assert httpx.get(f"{platform.admin}{path}", headers=viewer).status_code == 200, path
        is_problem(httpx.get(f"{platform.admin}{path}"), 401)
    for path, body in (
        ("/api/v1/dlq/retry", {"ids": [dead_id]}),
        ("/api/v1/dlq/discard", {"ids": [dead_id]}),
        (f"/api/v1/subscriptions/{ANALYTICS}/replays", {"from_seq": 1}),
        (f"/api/v1/subscriptions/{ANALYTICS}/enable", None),
    ):
        is_problem(httpx.post(f"{platform.admin}{path}", headers=viewer, json=body), 403)
    refused = platform.cli("dlq", "retry", dead_id, token=created.json()["token"])
    assert refused.returncode != 0
    assert "operator" in refused.stderr
    refused = platform.cli(
        "events", "replay", ANALYTICS, "--from", "1", token=created.json()["token"]
    )
    assert refused.returncode != 0
    assert len(platform.dead()) == 1  # nothing changed

    for path in (f"/api/v1/dlq/{ANALYTICS}:999", "/api/v1/dlq/nope:1", "/api/v1/dlq/garbage"):
        is_problem(platform.get(path), 404)
    is_problem(platform.post("/api/v1/dlq/retry", json={"ids": [f"{ANALYTICS}:999"]}), 404)
    is_problem(platform.post("/api/v1/dlq/discard", json={"ids": [dead_id, "x:9"]}), 404)
    is_problem(platform.post("/api/v1/dlq/retry", json={"subscription": "nope"}), 404)
    is_problem(platform.get("/api/v1/events/no.such.event/log"), 404)
    is_problem(platform.get("/api/v1/dlq", params={"cursor": "garbage"}), 400)
    is_problem(platform.post("/api/v1/dlq/retry", json={}), 400)
    is_problem(platform.post("/api/v1/dlq/discard", json={"ids": []}), 400)
    both = {"ids": [dead_id], "subscription": ANALYTICS}
    is_problem(platform.post("/api/v1/dlq/retry", json=both), 400)
    invalid = is_problem(platform.post("/api/v1/dlq/retry", json={"ids": "x"}), 422)
    assert invalid["errors"][0]["pointer"] == "/body/ids"
    is_problem(platform.post("/api/v1/dlq/retry", json={"id": [dead_id]}), 422)
    is_problem(platform.get("/api/v1/dlq", params={"limit": 0}), 422)
    assert len(platform.dead()) == 1  # none of that changed anything

    platform.analytics.status = 204
    retried = platform.post("/api/v1/dlq/retry", json={"subscription": ANALYTICS})
    assert retried.json() == {"retried": 1}
    wait_until(lambda: sum(platform.analytics.seen.values()) == 1)


def test_unknown_names_are_404_with_the_nearest_name(platform: Platform) -> None:
    typo = "analytics-address-update"
    hint = f"did you mean '{ANALYTICS}'?"
    for response in (
        platform.get("/api/v1/dlq", params={"subscription": typo}),
        platform.post(f"/api/v1/subscriptions/{typo}/enable"),
        platform.post(f"/api/v1/subscriptions/{typo}/replays", json={"from_seq": 1}),
        platform.post("/api/v1/dlq/retry", json={"subscription": typo}),
    ):
        assert hint in is_problem(response, 404)["detail"]
    route = is_problem(platform.get("/api/v1/routes/customer/comparison"), 404)
    assert "did you mean 'customers'?" in route["detail"]
    event = is_problem(platform.get("/api/v1/events/customer.address-update/log"), 404)
    assert f"did you mean '{TYPE}'?" in event["detail"]
    kind = is_problem(platform.get("/api/v1/estate", params={"kind": "Sytem"}), 404)
    assert "did you mean 'System'?" in kind["detail"]

    listed = platform.cli("dlq", "list", "--subscription", typo)
    assert listed.returncode == 2
    (line,) = listed.stderr.splitlines()
    assert hint in line
    empty = platform.cli("dlq", "list", "--subscription", ANALYTICS)
    assert empty.returncode == 0, empty.stderr
    assert (empty.stdout, empty.stderr) == ("", f"no dead letters of {ANALYTICS}\n")
