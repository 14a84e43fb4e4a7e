"""The permission matrix, against a running admin API: every endpoint called by every kind of
credential (no token, each platform-wide role, a viewer and an operator of team ``sales``) on
a target its team owns and one it does not.

``EXPECTED`` is written here again on purpose: the code's table must equal it, so loosening a
permission in the code fails here until this copy is loosened too; and the calls show that
the running API applies it (a refusal is 401 or 403; anything else got past authorization).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from interlink.admin.app import create_app
from interlink.admin.permissions import PERMISSIONS, markdown
from interlink.flows.runs import FlowRuns
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import role_allows
from interlink.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[2]

# action -> (least role, scope); None for no token at all.
EXPECTED: dict[str, tuple[str | None, str]] = {
    "health.live": (None, "public"),
    "health.ready": (None, "public"),
    **dict.fromkeys(
        [
            "estate.read",
            "revisions.list",
            "revisions.get",
            "graph.read",
            "nodes.list",
            "events.list",
            "events.versions",
            "events.version",
            "compatibility.check",
            "events.log",
            "subscriptions.list",
            "replays.get",
            "dlq.list",
            "dlq.get",
            "notices.list",
            "metrics.read",
            "connections.list",
            "monitors.list",
            "inventory.read",
            "impact.read",
            "catalog.search",
            "catalog.term",
            "routes.comparison",
            "lineage.trace",
            "flows.list",
            "runs.list",
            "runs.get",
            "runs.payload",
            "alerts.list",
            "silences.list",
        ],
        ("viewer", "read"),
    ),
    **dict.fromkeys(
        [
            "subscriptions.enable",
            "subscriptions.replay",
            "dlq.retry",
            "dlq.discard",
            "flows.run",
            "runs.retry",
            "runs.cancel",
            "runs.retry_many",
            "silences.add",
            "silences.lift",
            "products.refresh",
            "products.sample",
        ],
        ("operator", "team"),
    ),
    "estate.reload": ("operator", "platform"),
    "estate.apply": ("admin", "platform"),
    "estate.write": ("admin", "platform"),
    "tokens.list": ("admin", "platform"),
    "tokens.create": ("admin", "platform"),
    "tokens.revoke": ("admin", "platform"),
    "audit.list": ("admin", "platform"),
    "audit.verify": ("admin", "platform"),
    "secrets.list": ("admin", "platform"),
    "secrets.set": ("admin", "platform"),
    "secrets.rotate": ("admin", "platform"),
    "secrets.delete": ("admin", "platform"),
    "dataplane.current": ("dataplane", "read"),
    "dataplane.bundle": ("dataplane", "read"),
    "dataplane.report": ("dataplane", "platform"),
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    content: bytes | None = None


NODE = {
    "admin_address": "10.0.0.7:8081",
    "gateway_address": "10.0.0.7:8080",
    "revision": None,
    "started_at": "2026-12-06T10:00:00+00:00",
    "health": {"gateway": "ok"},
}
HASH = "0" * 64


def calls(runs: dict[str, str], silences: dict[str, int]) -> dict[str, dict[str, Call]]:
    """Per action, the call on a target of team ``sales`` (``own``) and of team ``finance``
    (``other``); actions without a target have one call under both."""
    one = {
        "health.live": Call("GET", "/healthz"),
        "health.ready": Call("GET", "/readyz"),
        "estate.read": Call("GET", "/api/v1/estate"),
        "revisions.list": Call("GET", "/api/v1/estate/revisions"),
        "revisions.get": Call("GET", "/api/v1/estate/revisions/1"),
        "graph.read": Call("GET", "/api/v1/graph"),
        "nodes.list": Call("GET", "/api/v1/nodes"),
        "events.list": Call("GET", "/api/v1/events"),
        "events.versions": Call("GET", "/api/v1/events/customer.address-updated/versions"),
        "events.version": Call("GET", "/api/v1/events/customer.address-updated/versions/latest"),
        "compatibility.check": Call("POST", "/api/v1/compatibility", json={}),
        "events.log": Call("GET", "/api/v1/events/customer.address-updated/log"),
        "subscriptions.list": Call("GET", "/api/v1/subscriptions"),
        "replays.get": Call("GET", "/api/v1/replays/1"),
        "dlq.list": Call("GET", "/api/v1/dlq"),
        "dlq.get": Call("GET", "/api/v1/dlq/order-saga-orders:1"),
        "notices.list": Call("GET", "/api/v1/notices"),
        "metrics.read": Call("GET", "/metrics"),
        "connections.list": Call("GET", "/api/v1/connections"),
        "monitors.list": Call("GET", "/api/v1/monitors"),
        "inventory.read": Call("GET", "/api/v1/inventory"),
        "impact.read": Call("GET", "/api/v1/impact/System/crm"),
        "catalog.search": Call("GET", "/api/v1/catalog/search?q=customer"),
        "catalog.term": Call("GET", "/api/v1/catalog/terms/customer"),
        "routes.comparison": Call("GET", "/api/v1/routes/customers/comparison"),
        "lineage.trace": Call("GET", "/api/v1/lineage/customer/C1"),
        "flows.list": Call("GET", "/api/v1/flows"),
        "runs.list": Call("GET", "/api/v1/flows/runs"),
        "runs.get": Call("GET", f"/api/v1/flows/runs/{runs['sales']}"),
        "runs.payload": Call("GET", f"/api/v1/flows/runs/{runs['sales']}/payloads/{HASH}"),
        "alerts.list": Call("GET", "/api/v1/alerts"),
        "silences.list": Call("GET", "/api/v1/alerts/silences"),
        "estate.reload": Call("POST", "/api/v1/estate/reload"),
        "estate.apply": Call("POST", "/api/v1/estate/revisions", content=b"not a bundle"),
        "estate.write": Call("PUT", "/api/v1/estate/files?path=systems/perm.yaml", content=b"x: 1"),
        "tokens.list": Call("GET", "/api/v1/tokens"),
        "tokens.create": Call("POST", "/api/v1/tokens", json={"name": "made", "role": "viewer"}),
        "tokens.revoke": Call("DELETE", "/api/v1/tokens/nope1234"),
        "audit.list": Call("GET", "/api/v1/audit"),
        "audit.verify": Call("GET", "/api/v1/audit/verify"),
        "secrets.list": Call("GET", "/api/v1/secrets"),
        "secrets.set": Call("PUT", "/api/v1/secrets/perm-x", json={"value": "v"}),
        "secrets.rotate": Call("POST", "/api/v1/secrets/nope/rotate", json={"value": "v"}),
        "secrets.delete": Call("DELETE", "/api/v1/secrets/nope"),
        "dataplane.current": Call("GET", "/api/v1/estate/revisions/current"),
        "dataplane.bundle": Call("GET", f"/api/v1/estate/bundles/{HASH}"),
        "dataplane.report": Call("PUT", "/api/v1/nodes/edge-1", json=NODE),
    }
    found = {action: {"own": call, "other": call} for action, call in one.items()}
    subs = {"sales": "order-saga-orders", "finance": "erp-address-sync"}
    flows = {"sales": "order-saga", "finance": "address-sync"}
    monitors = {"sales": "customers-availability", "finance": "address-sync-runs"}
    products = {"sales": "customer-addresses", "finance": "finance-addresses"}
    replay = {"from_seq": 1}
    for side, team in (("own", "sales"), ("other", "finance")):
        sub, flow, run = subs[team], flows[team], runs[team]
        made = {
            "subscriptions.enable": Call("POST", f"/api/v1/subscriptions/{sub}/enable"),
            "subscriptions.replay": Call("POST", f"/api/v1/subscriptions/{sub}/replays", replay),
            "dlq.retry": Call("POST", "/api/v1/dlq/retry", {"subscription": sub}),
            "dlq.discard": Call("POST", "/api/v1/dlq/discard", {"ids": [f"{sub}:1"]}),
            "flows.run": Call("POST", f"/api/v1/flows/{flow}/runs", {}),
            "runs.retry": Call("POST", f"/api/v1/flows/runs/{run}/retry"),
            "runs.cancel": Call("POST", f"/api/v1/flows/runs/{run}/cancel"),
            "runs.retry_many": Call("POST", "/api/v1/flows/runs/retry", {"flow": flow}),
            "silences.add": Call(
                "POST",
                "/api/v1/alerts/silences",
                {"monitor": monitors[team], "for": "1h", "reason": "test"},
            ),
            "silences.lift": Call("DELETE", f"/api/v1/alerts/silences/{silences[team]}"),
            "products.refresh": Call("POST", f"/api/v1/products/{products[team]}/refresh"),
            "products.sample": Call("GET", f"/api/v1/products/{products[team]}/sample"),
        }
        for action, call in made.items():
            found.setdefault(action, {})[side] = call
    return found


@dataclass(frozen=True)
class Principal:
    name: str
    role: str | None  # None: no token
    team: str | None = None


PRINCIPALS = (
    Principal("anonymous", None),
    Principal("viewer", "viewer"),
    Principal("operator", "operator"),
    Principal("admin", "admin"),
    Principal("dataplane", "dataplane"),
    Principal("sales-viewer", "viewer", "sales"),
    Principal("sales-operator", "operator", "sales"),
)


def allowed(principal: Principal, action: str, side: str) -> bool:
    role, scope = EXPECTED[action]
    if scope == "public":
        return True
    if principal.role is None or not role_allows(principal.role, role):  # type: ignore[arg-type]
        return False
    if principal.team is None or scope == "read":
        return True
    return scope == "team" and side == "own"


class Served:
    """The admin API of a runtime on a loopback port, served by uvicorn in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the admin API did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Api:
    runtime: Runtime
    client: httpx.Client
    tokens: dict[str, str]
    runs: dict[str, str]
    silences: dict[str, int]


@pytest.fixture
def api(retail_dir: Path) -> Iterator[Api]:
    # A data product of team finance beside the example's one of sales.
    product = (retail_dir / "data" / "customer-addresses.yaml").read_text(encoding="utf-8")
    copy = product.replace("name: customer-addresses", "name: finance-addresses")
    copy = copy.replace("owner: sales", "owner: finance")
    assert copy.count("finance") == 2
    (retail_dir / "data" / "finance-addresses.yaml").write_text(copy, encoding="utf-8")
    runtime = Runtime.open(ServeSettings(retail_dir))
    store = runtime.store
    tokens = {
        p.name: store.tokens.create(p.role, p.name, team=p.team)[0]  # type: ignore[arg-type]
        for p in PRINCIPALS
        if p.role is not None
    }
    made = FlowRuns(store.db)
    runs = {
        team: made.create(flow, "r1", {}, "api", {}, "gone-node", 0.0).id
        for team, flow in (("sales", "order-saga"), ("finance", "address-sync"))
    }
    until = store.db.now() + timedelta(hours=1)
    silences = {
        team: store.alerts.silence(monitor=monitor, until=until, reason="held", by="test").id
        for team, monitor in (("sales", "customers-availability"), ("finance", "address-sync-runs"))
    }
    served = Served(create_app(runtime))
    with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=30) as client:
        yield Api(runtime, client, tokens, runs, silences)
    served.stop()
    runtime.close()


def test_the_code_table_is_the_expected_matrix() -> None:
    assert {p.action: (p.role, p.scope) for p in PERMISSIONS} == EXPECTED
    assert len({p.action for p in PERMISSIONS}) == len(PERMISSIONS)
    for p in PERMISSIONS:
        assert (p.scope == "team") == (p.target is not None), p.action


def test_every_endpoint_of_the_app_has_an_entry_and_every_entry_an_endpoint(api: Api) -> None:
    paths = create_app(api.runtime).openapi()["paths"]
    served = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert served == {(p.method, p.path) for p in PERMISSIONS}


def test_every_role_scope_and_action_against_the_running_api(api: Api) -> None:
    table = calls(api.runs, api.silences)
    assert set(table) == set(EXPECTED)
    wrong = []
    for action, sides in table.items():
        for side, call in sides.items():
            for principal in PRINCIPALS:
                token = api.tokens.get(principal.name)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = api.client.request(
                    call.method, call.path, headers=headers, json=call.json, content=call.content
                )
                refused = response.status_code in (401, 403)
                if refused != (not allowed(principal, action, side)):
                    wrong.append(
                        f"{principal.name} {action} ({side}): {response.status_code} "
                        f"{response.text[:200]}"
                    )
                if refused:
                    assert response.headers["content-type"] == "application/problem+json"
                    want = 401 if token is None else 403
                    assert response.status_code == want, (principal.name, action, response.text)
    assert wrong == []


def test_a_team_token_is_told_which_team_owns_the_target(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['sales-operator']}"}
    response = api.client.post("/api/v1/subscriptions/erp-address-sync/enable", headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Subscription/erp-address-sync is owned by team finance: a token of team sales "
        "cannot subscriptions.enable it"
    )
    response = api.client.post("/api/v1/flows/runs/retry", headers=headers, json={})
    assert response.status_code == 403
    assert (
        "must name what it acts on: the Flow the body's `flow` names" in response.json()["detail"]
    )
    response = api.client.post("/api/v1/estate/reload", headers=headers)
    assert response.json()["detail"] == (
        "estate.reload is platform-wide: a token of team sales cannot do it"
    )


def test_an_endpoint_without_an_entry_is_refused(api: Api) -> None:
    app = create_app(api.runtime)

    @app.get("/api/v1/unlisted")
    async def unlisted() -> dict[str, str]:
        return {"secret": "out"}

    served = Served(app)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}") as client:
            headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
            response = client.get("/api/v1/unlisted", headers=headers)
    finally:
        served.stop()
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "no permission is declared for GET /api/v1/unlisted: refused"
    )


def test_the_docs_hold_the_table() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    start, end = "<!-- permissions:begin -->\n", "<!-- permissions:end -->"
    assert start in text
    assert end in text
    held = text.split(start, 1)[1].split(end, 1)[0]
    assert held == markdown(), (
        "docs/operations.md's permission table differs from the code's: paste in the output of "
        ".venv/bin/python -c 'from interlink.admin.permissions import markdown; "
        'print(markdown(), end="")\''
    )


def test_tokens_over_the_api_carry_team_and_expiry(api: Api) -> None:
    admin = {"Authorization": f"Bearer {api.tokens['admin']}"}
    body = {"name": "sales-oncall", "role": "operator", "team": "sales", "expires_in": "1h"}
    response = api.client.post("/api/v1/tokens", headers=admin, json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["team"], made["role"]) == ("sales", "operator")
    assert made["expires_at"] is not None
    listed = {t["id"]: t for t in api.client.get("/api/v1/tokens", headers=admin).json()}
    assert listed[made["id"]]["team"] == "sales"
    assert listed[made["id"]]["expires_at"] == made["expires_at"]
    assert "token" not in listed[made["id"]]

    for bad, pointer in (
        ({"name": "ci\nadmin"}, "/body/name"),
        ({"name": "x" * 65}, "/body/name"),
        ({"name": "a b"}, "/body/name"),
        ({"name": "ok", "expires_in": "soon"}, "/body/expires_in"),
        ({"name": "ok", "colour": "red"}, "/body/colour"),
    ):
        response = api.client.post("/api/v1/tokens", headers=admin, json=bad)
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer], bad
    unknown = {"name": "ok", "role": "viewer", "team": "sale"}
    response = api.client.post("/api/v1/tokens", headers=admin, json=unknown)
    assert response.status_code == 404
    assert "did you mean 'sales'" in response.json()["detail"]
    admin_of_team = {"name": "ok", "role": "admin", "team": "sales"}
    assert api.client.post("/api/v1/tokens", headers=admin, json=admin_of_team).status_code == 400


def test_an_expired_token_is_refused_naming_its_expiry(api: Api) -> None:
    store = api.runtime.store
    token, info = store.tokens.create("viewer", "brief", expires_in=timedelta(seconds=1))
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/estate", headers=headers).status_code == 200
    # Expire it where it is kept, rather than wait.
    past = store.db.ts(store.db.now() - timedelta(minutes=1))
    with store.db.transaction() as session:
        session.execute("UPDATE admin_tokens SET expires_at = ? WHERE id = ?", (past, info.id))
    response = api.client.get("/api/v1/estate", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert detail.startswith(f"the token {info.id} expired at ")
    assert detail.endswith(": ask an admin for a new one")


def test_the_last_platform_admin_is_not_revoked(api: Api) -> None:
    admin = {"Authorization": f"Bearer {api.tokens['admin']}"}
    listed = api.client.get("/api/v1/tokens", headers=admin).json()
    [only] = [t["id"] for t in listed if t["role"] == "admin" and not t["revoked"]]
    response = api.client.delete(f"/api/v1/tokens/{only}", headers=admin)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Last platform admin"
    assert problem["detail"].startswith(f"token {only} is the last active platform admin")
    made = api.client.post("/api/v1/tokens", headers=admin, json={"name": "b", "role": "admin"})
    assert api.client.delete(f"/api/v1/tokens/{only}", headers=admin).status_code == 204
    assert api.client.get("/api/v1/tokens", headers=admin).status_code == 401
    other = {"Authorization": f"Bearer {made.json()['token']}"}
    assert api.client.get("/api/v1/tokens", headers=other).status_code == 200


def test_the_grant_names_who_acted(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['sales-operator']}"}
    body = {"monitor": "customers-availability", "for": "1h", "reason": "deploy"}
    response = api.client.post("/api/v1/alerts/silences", headers=headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "token:sales-operator"
