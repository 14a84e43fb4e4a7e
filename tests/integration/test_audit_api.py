"""Every change and privileged action of the admin API leaves an audit entry: done, refused
(403) or failed, with who, from where and never a token; and the audit endpoints themselves."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.bundle import BUNDLE_MEDIA_TYPE, pack_estate
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import ACTIONS


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.admin, self.admin_info = runtime.store.tokens.create("admin", "root")
        self.operator, self.operator_info = runtime.store.tokens.create("operator", "oncall")
        self.viewer, self.viewer_info = runtime.store.tokens.create("viewer", "dashboard")

    def call(self, method: str, path: str, token: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        response = self.client.request(method, path, headers=headers, **kw)
        return response.status_code, response.json() if response.content else None

    def last(self) -> dict[str, Any]:
        status, page = self.call("GET", "/api/v1/audit?limit=1000", self.admin)
        assert status == 200
        entries: list[dict[str, Any]] = page["entries"]
        return entries[-1]


@pytest.fixture
def api(retail_dir: Path, store_url: str) -> Iterator[Api]:
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Api(runtime)
    runtime.close()


def test_the_start_revision_is_recorded(api: Api) -> None:
    [started] = api.runtime.store.audit.list()
    assert (started.action, started.who_name, started.result) == ("estate.reload", "system", "ok")
    assert started.details["source"] == "start"


def test_tokens_and_silences_are_recorded_with_who_and_where(api: Api) -> None:
    status, made = api.call(
        "POST", "/api/v1/tokens", api.admin, json={"role": "viewer", "name": "ci"}
    )
    assert status == 201
    entry = api.last()
    assert entry["action"] == "token.create"
    assert entry["target"] == f"token/{made['id']}"
    assert entry["who"] == {"id": api.admin_info.id, "name": "root", "role": "admin"}
    assert entry["address"] == "testclient"
    assert entry["details"] == {"name": "ci", "role": "viewer", "team": None}
    assert entry["result"] == "ok"

    assert api.call("DELETE", f"/api/v1/tokens/{made['id']}", api.admin)[0] == 204
    assert (api.last()["action"], api.last()["target"]) == ("token.revoke", f"token/{made['id']}")
    assert api.call("DELETE", "/api/v1/tokens/nosuchid", api.admin)[0] == 404
    failed = api.last()
    assert (failed["action"], failed["result"]) == ("token.revoke", "failed")
    assert "not found" in failed["reason"]

    new = {"monitor": "customers-availability", "for": "2h", "reason": "CRM upgrade"}
    status, silence = api.call("POST", "/api/v1/alerts/silences", api.operator, json=new)
    assert status == 201
    entry = api.last()
    assert (entry["action"], entry["target"]) == ("alert.silence", "monitor/customers-availability")
    assert entry["details"] == {
        "reason": "CRM upgrade",
        "seconds": 7200.0,
        "silence": silence["id"],
    }
    assert api.call("DELETE", f"/api/v1/alerts/silences/{silence['id']}", api.operator)[0] == 200
    assert api.last()["action"] == "alert.unsilence"

    # The tokens' values appear nowhere in the log.
    status, page = api.call("GET", "/api/v1/audit", api.admin)
    text = repr(page)
    for token in (made["token"], api.admin, api.operator, api.viewer):
        assert token not in text


def test_refused_attempts_are_recorded(api: Api) -> None:
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/v1/tokens", {"json": {"role": "admin", "name": "x"}}, "token.create"),
        ("DELETE", "/api/v1/tokens/abcd1234", {}, "token.revoke"),
        ("POST", "/api/v1/estate/reload", {}, "estate.reload"),
        ("POST", "/api/v1/estate/revisions", {"content": b"x"}, "estate.apply"),
        (
            "PUT",
            "/api/v1/estate/files",
            {"content": b"x", "params": {"path": "a.yaml"}},
            "estate.write",
        ),
        ("POST", "/api/v1/dlq/retry", {"json": {"ids": ["a"]}}, "dlq.retry"),
        ("POST", "/api/v1/dlq/discard", {"json": {"ids": ["a"]}}, "dlq.discard"),
        ("POST", "/api/v1/subscriptions/s/enable", {}, "subscription.enable"),
        ("POST", "/api/v1/subscriptions/s/replays", {"json": {"from_seq": 1}}, "replay.start"),
        ("POST", "/api/v1/flows/address-sync/runs", {"json": {}}, "flow.run"),
        ("POST", "/api/v1/flows/runs/retry", {"json": {}}, "flow.retry"),
        ("POST", "/api/v1/flows/runs/r1/retry", {}, "flow.retry"),
        ("POST", "/api/v1/flows/runs/r1/cancel", {}, "flow.cancel"),
        ("POST", "/api/v1/alerts/silences", {"json": {}}, "alert.silence"),
        ("DELETE", "/api/v1/alerts/silences/1", {}, "alert.unsilence"),
    ]
    for method, path, kw, action in cases:
        status, problem = api.call(method, path, api.viewer, **kw)
        assert status == 403, path
        entry = api.last()
        assert (entry["action"], entry["result"], entry["target"]) == (action, "refused", path)
        assert entry["who"]["name"] == "dashboard"
        assert entry["reason"] == problem["detail"]
    # Reads are not audited, refused or not.
    before = api.last()["seq"]
    assert api.call("GET", "/api/v1/tokens", api.viewer)[0] == 403
    assert api.last()["seq"] == before


def test_actions_of_components_not_running_here_are_recorded_as_failed(api: Api) -> None:
    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("POST", "/api/v1/dlq/retry", {"json": {"ids": ["s:1"]}}, "dlq.retry", "dlq/s:1"),
        ("POST", "/api/v1/dlq/discard", {"json": {"ids": ["s:1"]}}, "dlq.discard", "dlq/s:1"),
        ("POST", "/api/v1/subscriptions/s/enable", {}, "subscription.enable", "subscription/s"),
        (
            "POST",
            "/api/v1/subscriptions/s/replays",
            {"json": {"from_seq": 1}},
            "replay.start",
            "subscription/s",
        ),
        ("POST", "/api/v1/flows/address-sync/runs", {"json": {}}, "flow.run", "flow/address-sync"),
        ("POST", "/api/v1/flows/runs/retry", {"json": {"flow": "f"}}, "flow.retry", "flow/f"),
        ("POST", "/api/v1/flows/runs/r1/retry", {}, "flow.retry", "run/r1"),
        ("POST", "/api/v1/flows/runs/r1/cancel", {}, "flow.cancel", "run/r1"),
    ]
    for method, path, kw, action, target in cases:
        status, problem = api.call(method, path, api.operator, **kw)
        assert status == 404, path
        entry = api.last()
        assert (entry["action"], entry["result"], entry["target"]) == (action, "failed", target)
        assert entry["reason"] == problem["detail"]
        assert entry["who"]["name"] == "oncall"


def test_reload_and_apply_are_recorded(api: Api, retail_dir: Path) -> None:
    assert api.call("POST", "/api/v1/estate/reload", api.operator)[0] == 200
    entry = api.last()
    assert (entry["action"], entry["result"]) == ("estate.reload", "ok")
    assert entry["details"]["changed"] is False

    teams = retail_dir / "teams.yaml"
    kept = teams.read_text(encoding="utf-8")
    teams.write_text("not: [valid", encoding="utf-8")
    assert api.call("POST", "/api/v1/estate/reload", api.operator)[0] == 422
    entry = api.last()
    assert (entry["action"], entry["result"]) == ("estate.reload", "failed")
    assert "errors" in entry["reason"]

    teams.write_text(kept, encoding="utf-8")
    bundle = pack_estate(api.runtime.snapshot.estate)
    status, applied = api.call(
        "POST",
        "/api/v1/estate/revisions",
        api.admin,
        content=bundle,
        headers={"content-type": BUNDLE_MEDIA_TYPE},
    )
    assert status == 201
    entry = api.last()
    assert (entry["action"], entry["result"]) == ("estate.apply", "ok")
    assert entry["details"]["revision"] == applied["revision"]["id"]


def test_the_audit_endpoints(api: Api) -> None:
    for n in range(3):
        api.call("POST", "/api/v1/tokens", api.admin, json={"name": f"t{n}"})
    assert api.call("GET", "/api/v1/audit", api.operator)[0] == 403
    status, page = api.call("GET", "/api/v1/audit?action=token.create&limit=2", api.admin)
    assert status == 200
    assert [e["details"]["name"] for e in page["entries"]] == ["t0", "t1"]
    after = page["next_after"]
    status, page = api.call("GET", f"/api/v1/audit?action=token.create&after={after}", api.admin)
    assert [e["details"]["name"] for e in page["entries"]] == ["t2"]
    assert page["next_after"] is None
    assert api.call("GET", "/api/v1/audit?action=token.eat", api.admin)[0] == 422
    assert api.call("GET", f"/api/v1/audit?who={api.admin_info.id}", api.admin)[1]["entries"]

    status, verdict = api.call("GET", "/api/v1/audit/verify", api.admin)
    assert status == 200
    assert verdict["ok"] is True
    assert verdict["problem"] is None
    assert verdict["checked"] == verdict["head_seq"] == 4
    with api.runtime.store.db.transaction() as session:
        session.execute("UPDATE audit_log SET who_name = 'someone' WHERE seq = 2")
    verdict = api.call("GET", "/api/v1/audit/verify", api.admin)[1]
    assert (verdict["ok"], verdict["broken_at"]) == (False, 2)


def test_the_openapi_document_lists_the_audited_routes(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    audited = {
        op["x-audit-action"]
        for path in document["paths"].values()
        for op in path.values()
        if "x-audit-action" in op
    }
    local_only = {"consumer_key.create", "consumer_key.revoke", "flow.resume", "secret.rewrap"}
    local_only.add("console.sign_in")  # the console's form, not an API operation
    local_only.add("console.link")  # `interlink console link`, on the store
    assert audited == set(ACTIONS) - local_only
    assert "/api/v1/audit" in document["paths"]
    assert "/api/v1/audit/verify" in document["paths"]


def test_a_nodes_own_reloads_are_recorded_as_the_systems(api: Api, retail_dir: Path) -> None:
    teams = retail_dir / "teams.yaml"
    asyncio.run(api.runtime.reload("sighup"))  # nothing changed: nothing recorded
    assert len(api.runtime.store.audit.list()) == 1
    teams.write_text(teams.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    result = asyncio.run(api.runtime.reload("watch"))
    assert result.changed
    entry = api.runtime.store.audit.list()[-1]
    assert (entry.action, entry.who_name, entry.result) == ("estate.reload", "system", "ok")
    assert entry.details == {
        "source": "watch",
        "revision": result.revision.id if result.revision else None,
        "hash": result.revision.hash if result.revision else None,
    }
    teams.write_text("not: [valid", encoding="utf-8")
    asyncio.run(api.runtime.reload("sighup"))
    entry = api.runtime.store.audit.list()[-1]
    assert (entry.details, entry.result) == ({"source": "sighup"}, "failed")
    assert entry.reason is not None
    assert entry.reason.startswith("the estate has ")


def test_a_refusal_stands_when_the_audit_log_cannot_take_it(api: Api) -> None:
    with api.runtime.store.db.transaction() as session:
        session.execute("DROP TABLE audit_head")
    status, problem = api.call("POST", "/api/v1/tokens", api.viewer, json={"name": "x"})
    assert status == 403
    assert problem["detail"] == "this needs the admin role; the token has viewer"
