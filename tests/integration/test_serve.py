"""`interlink serve` through the real entry point: admin API, tokens, reloads, shutdown."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.testing.processes import TOKEN, InterlinkProcess, free_port, run_interlink


class Served:
    def __init__(self, proc: InterlinkProcess, base: str, token: str) -> None:
        self.proc, self.base, self.token = proc, base, token

    def get(self, path: str, token: str | None = None, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(self.base + path, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]

    def revisions(self) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.get("/api/v1/estate/revisions").json()
        return body


def start(estate: Path, *extra: str) -> Served:
    port = free_port()
    # Module-scoped fixtures start it too, before the per-test free-port variable is set.
    listen = ("--admin-listen", f"127.0.0.1:{port}", "--gateway-listen", "127.0.0.1:0")
    proc = InterlinkProcess(["serve", str(estate), *listen, *extra])
    proc.start()
    try:
        token = proc.wait_for(r"admin token \(shown once, store it now\): " + TOKEN.pattern)
        proc.wait_for(r"admin API on http://")
    except BaseException:
        proc.stop()  # a start that timed out would otherwise outlive the run
        raise
    return Served(proc, f"http://127.0.0.1:{port}", token.group(1))


@pytest.fixture
def served(retail_dir: Path) -> Iterator[Served]:
    s = start(retail_dir)
    yield s
    s.proc.stop()


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the module's tests that only read (no token, reload or file change), so
    each does not pay for a start of its own; the others take ``served``, fresh per test."""
    from interlink.cli.estate import write_example

    estate = tmp_path_factory.mktemp("read-only") / "estate"
    write_example("retail", estate)
    s = start(estate)
    yield s
    s.proc.stop()


def wait_until(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_health_and_readiness_need_no_token(read_only: Served) -> None:
    assert httpx.get(read_only.base + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(read_only.base + "/readyz").json()
    assert ready == {"status": "ready", "revision": 1}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer il_abcdefgh_x"])
def test_api_rejects_missing_or_bad_tokens(read_only: Served, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(read_only.base + "/api/v1/estate", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


def test_the_start_and_the_initial_token_open_the_audit_log(served: Served) -> None:
    entries = served.get("/api/v1/audit").json()["entries"]
    assert [(e["action"], e["who"]["name"], e["result"]) for e in entries] == [
        ("estate.reload", "system", "ok"),
        ("token.create", "cli-local", "ok"),
    ]
    assert entries[1]["details"] == {"name": "initial", "role": "admin"}
    assert served.token not in repr(entries)
    assert served.get("/api/v1/audit/verify").json()["ok"] is True
    # And a one-time console link for that token, printed beside it.
    link = served.proc.wait_for(r"console sign-in link \(one use, within 10 minutes\): (\S+)")
    assert link.group(1).startswith(served.base + "/console/sign-in/link?code=")
    assert 'name="code"' in httpx.get(link.group(1)).text


def test_estate_lists_objects_with_references_unresolved(read_only: Served) -> None:
    body = read_only.get("/api/v1/estate").json()
    assert body["revision"]["id"] == 1
    keys = {f"{o['kind']}/{o['metadata']['name']}" for o in body["objects"]}
    assert len(keys) == 53
    assert "Route/customers" in keys
    route = next(
        o for o in body["objects"] if o["metadata"]["name"] == "customers" and o["kind"] == "Route"
    )
    jwt = route["spec"]["auth"]["methods"][1]
    assert jwt["secret"] == "${secret:mobile-jwt-key}"
    assert route["source"] == {"file": "gateway/routes.yaml", "line": 5}
    only = read_only.get("/api/v1/estate", params={"kind": "Team"}).json()["objects"]
    assert {o["kind"] for o in only} == {"Team"}


def test_graph_in_three_formats(read_only: Served) -> None:
    graph = read_only.get("/api/v1/graph").json()
    assert {"source": "System/crm", "target": "Api/customers-v1", "type": "exposes"} in graph[
        "edges"
    ]
    assert read_only.get("/api/v1/graph", params={"format": "mermaid"}).text.startswith("flowchart")
    assert read_only.get("/api/v1/graph", params={"format": "dot"}).text.startswith("digraph")
    bad = read_only.get("/api/v1/graph", params={"format": "png"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_openapi_document_describes_the_api(read_only: Served) -> None:
    doc = httpx.get(read_only.base + "/openapi.json").json()
    assert doc["info"]["title"] == "Interlink admin API"
    assert "/api/v1/estate/revisions" in doc["paths"]


def test_tokens_roles_and_revocation(served: Served) -> None:
    created = httpx.post(
        served.base + "/api/v1/tokens",
        json={"role": "viewer", "name": "ci"},
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert created.status_code == 201
    viewer = created.json()["token"]
    assert served.get("/api/v1/estate", token=viewer).status_code == 200
    forbidden = served.get("/api/v1/tokens", token=viewer)
    assert forbidden.status_code == 403
    assert "admin role" in forbidden.json()["detail"]
    listed = served.get("/api/v1/tokens").json()
    assert all("token" not in t for t in listed)
    assert {t["name"] for t in listed} == {"initial", "ci"}
    token_id = created.json()["id"]
    revoked = httpx.delete(
        f"{served.base}/api/v1/tokens/{token_id}",
        headers={"Authorization": f"Bearer {served.token}"},
    )
    assert revoked.status_code == 204
    assert served.get("/api/v1/estate", token=viewer).status_code == 401
    missing = httpx.delete(
        f"{served.base}/api/v1/tokens/zzzzzzzz", headers={"Authorization": f"Bearer {served.token}"}
    )
    assert missing.status_code == 404


def test_cli_token_create_uses_the_same_store(served: Served, retail_dir: Path) -> None:
    result = run_interlink(
        [
            "admin",
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "ops",
            "--estate",
            str(retail_dir),
        ]
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert served.get("/api/v1/estate", token=token).status_code == 200
    listing = run_interlink(["admin", "token", "list", "--estate", str(retail_dir)])
    assert "operator" in listing.stdout
    assert token not in listing.stdout


def test_sighup_applies_a_valid_change_and_records_it(served: Served, retail_dir: Path) -> None:
    teams = retail_dir / "teams.yaml"
    teams.write_text(teams.read_text().replace("Runs Interlink itself", "Runs the platform"))
    served.proc.signal(signal.SIGHUP)
    wait_until(lambda: len(served.revisions()) == 2)
    newest = served.revisions()[0]
    assert newest["source"] == "sighup"
    assert newest["summary"] == {
        "objects": 53,
        "added": [],
        "removed": [],
        "changed": ["Team/platform"],
    }
    assert httpx.get(served.base + "/readyz").json()["revision"] == newest["id"]


def test_invalid_change_is_rejected_and_old_revision_keeps_running(
    served: Served, retail_dir: Path
) -> None:
    (retail_dir / "broken.yaml").write_text(
        "apiVersion: interlink/v1\nkind: System\nmetadata: {name: x, owner: nobody}\n"
        "spec: {domain: d}\n"
    )
    served.proc.signal(signal.SIGHUP)
    served.proc.wait_for(r"reload \(sighup\) rejected")
    served.proc.wait_for(r"broken.yaml:3:\d+: error: System/x refers to Team/nobody")
    assert len(served.revisions()) == 1
    assert len(served.get("/api/v1/estate").json()["objects"]) == 53
    reload = httpx.post(
        served.base + "/api/v1/estate/reload", headers={"Authorization": f"Bearer {served.token}"}
    )
    assert reload.status_code == 422
    assert reload.json()["errors"][0]["file"] == "broken.yaml"


def test_reload_endpoint_needs_operator_and_applies(served: Served, retail_dir: Path) -> None:
    plans = retail_dir / "gateway" / "plans.yaml"
    plans.write_text(plans.read_text().replace("requests: 500", "requests: 400"))
    response = httpx.post(
        served.base + "/api/v1/estate/reload", headers={"Authorization": f"Bearer {served.token}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["changed"] is True
    assert body["revision"]["summary"]["changed"] == ["Plan/internal"]
    assert body["revision"]["applied_by"] == "token:initial"


def test_watch_reloads_on_file_change(retail_dir: Path) -> None:
    s = start(retail_dir, "--watch")
    try:
        time.sleep(0.5)  # let the watcher start
        (retail_dir / "extra-team.yaml").write_text(
            "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: support}\n"
        )
        wait_until(lambda: len(s.revisions()) == 2)
        assert s.revisions()[0]["summary"]["added"] == ["Team/support"]
        assert s.revisions()[0]["source"] == "watch"
    finally:
        s.proc.stop()


def test_sigterm_stops_cleanly_and_restart_keeps_revisions(retail_dir: Path) -> None:
    s = start(retail_dir)
    assert s.proc.stop() == 0
    port = free_port()
    again = InterlinkProcess(["serve", str(retail_dir), "--admin-listen", f"127.0.0.1:{port}"])
    with again:
        again.wait_for("admin API on")
        assert "admin token" not in again.output  # only the first start prints one
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/estate/revisions",
            headers={"Authorization": f"Bearer {s.token}"},
        )
        assert [r["id"] for r in response.json()] == [1]


def test_refuses_to_start_on_estate_errors(retail_dir: Path) -> None:
    (retail_dir / "apis.yaml").write_text(
        (retail_dir / "apis.yaml").read_text().replace("system: crm", "system: crn")
    )
    result = run_interlink(["serve", str(retail_dir), "--admin-listen", "127.0.0.1:0"])
    assert result.returncode == 2
    assert "apis.yaml:9:11: error: Api/customers-v1 refers to System/crn" in result.stderr
    assert "did you mean 'crm'?" in result.stderr
    assert "not starting" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_port_in_use_is_one_clear_line(retail_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_interlink(["serve", str(retail_dir), "--admin-listen", f"127.0.0.1:{port}"])
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_postgres_is_one_clear_line(retail_dir: Path) -> None:
    result = run_interlink(
        [
            "serve",
            str(retail_dir),
            "--admin-listen",
            "127.0.0.1:0",
            "--store-url",
            "postgresql://u:hunter2@127.0.0.1:1/db",
        ]
    )
    assert result.returncode == 2
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_serves_on_postgres(retail_dir: Path, pg_url: str) -> None:
    s = start(retail_dir, "--store-url", pg_url)
    try:
        assert s.revisions()[0]["id"] == 1
        assert httpx.get(s.base + "/readyz").json()["status"] == "ready"
    finally:
        s.proc.stop()
