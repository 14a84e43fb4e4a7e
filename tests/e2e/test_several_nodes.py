"""Two `interlink serve` processes on one PostgreSQL store and one Redis: a change applied on
one is in force on the other's gateway within seconds, both report themselves, and `interlink
apply` rolls the platform back from any node."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.services import redis_reachable, redis_url, require_service
from interlink.testing.upstreams import UpstreamThread
from tests.integration.cluster import plan_estate, policy

# What the feature promises: a node follows the store's current revision within seconds.
FOLLOW_WITHIN = 5.0


@dataclass
class Node:
    proc: InterlinkProcess
    admin: str
    gateway: str

    def all_limit(self, per_minute: int) -> bool:
        """Whether requests on fresh connections (each worker's, when there are several) all
        get the policy of ``per_minute`` requests a minute."""
        return all(self.limit_policy() == policy(per_minute) for _ in range(8))

    def limit_policy(self) -> str | None:
        found: str | None = httpx.get(f"{self.gateway}/orders", timeout=5).headers.get(
            "ratelimit-policy"
        )
        return found


def start_node(directory: Path, store_url: str, workers: int = 1) -> Node:
    admin = f"127.0.0.1:{free_port()}"
    args = ["serve", str(directory), "--store-url", store_url, "--admin-listen", admin]
    proc = InterlinkProcess([*args, "--workers", str(workers)]).start()
    gateway = proc.wait_for(r"gateway on http://(\S+)").group(1)
    return Node(proc, f"http://{admin}", f"http://{gateway}")


def wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``predicate()`` held; fails past ``timeout``."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def redis_rate_limits() -> dict[str, Any]:
    url = redis_url()
    require_service("Redis", lambda: redis_reachable(url))
    prefix = f"il-test-{uuid.uuid4().hex[:8]}:"
    return {"gateway": {"rateLimitStore": f"{url}?prefix={prefix}"}}


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as running:
        yield running


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [1, 2], ids=["one-gateway-process", "gateway-workers"])
def test_two_nodes_on_one_store_run_one_revision(
    tmp_path: Path,
    pg_url: str,
    redis_rate_limits: dict[str, Any],
    upstream: UpstreamThread,
    workers: int,
) -> None:
    a_dir = plan_estate(tmp_path / "a", 100, upstream.url, redis_rate_limits)
    b_dir = plan_estate(tmp_path / "b", 100, upstream.url, redis_rate_limits)
    a = start_node(a_dir, pg_url)
    nodes = [a]
    try:
        token = a.proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        auth = {"Authorization": f"Bearer {token}"}
        b = start_node(b_dir, pg_url, workers)  # with workers, each loads the revision itself
        nodes.append(b)
        b.proc.wait_for(r"admin API on http://")
        assert a.limit_policy() == b.limit_policy() == policy(100)

        plan_estate(a_dir, 7, upstream.url, redis_rate_limits)
        reload = httpx.post(f"{a.admin}/api/v1/estate/reload", headers=auth, timeout=30)
        assert reload.status_code == 200, reload.text
        assert reload.json()["revision"]["id"] == 2
        wait_for(lambda: b.all_limit(7), FOLLOW_WITHIN)
        assert "revision 2 applied (store)" in b.proc.output

        def both_report_revision_2() -> bool:
            listed = httpx.get(f"{b.admin}/api/v1/nodes", headers=auth, timeout=5).json()
            running = [(n["revision"] or {}).get("id") for n in listed["nodes"] if n["live"]]
            return running == [2, 2]

        wait_for(both_report_revision_2, 15)

        # B's directory still holds revision 1: reloading it there is refused, not applied.
        refused = httpx.post(f"{b.admin}/api/v1/estate/reload", headers=auth, timeout=30)
        assert refused.status_code == 409
        assert "older than the current revision 2" in refused.json()["detail"]

        # Rolling back is explicit: `interlink apply` of the old content, through B this time.
        applied = run_interlink(["apply", str(b_dir), "--admin", b.admin, "--token", token])
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.startswith("revision 3 applied (")
        wait_for(lambda: a.all_limit(100), FOLLOW_WITHIN)
    finally:
        for node in nodes:
            node.proc.stop()


@pytest.mark.postgres
def test_a_node_restarted_from_an_older_directory_runs_the_current_revision(
    tmp_path: Path, pg_url: str, upstream: UpstreamThread
) -> None:
    old = plan_estate(tmp_path / "old", 100, upstream.url)
    a = start_node(old, pg_url)
    a.proc.stop()
    new = start_node(plan_estate(tmp_path / "new", 7, upstream.url), pg_url)
    try:
        restarted = start_node(old, pg_url)  # a rolling deploy: this copy was not updated
        try:
            restarted.proc.wait_for(r"admin API on http://")
            assert restarted.limit_policy() == policy(7)
            assert (
                "the estate directory holds revision 1, older than the current revision 2: "
                "running revision 2 from the store" in restarted.proc.output
            )
            assert "interlink: serving 5 objects, revision 2" in restarted.proc.output
        finally:
            restarted.proc.stop()
    finally:
        new.proc.stop()


@pytest.mark.postgres
def test_apply_refuses_an_estate_with_errors_before_uploading(
    tmp_path: Path, pg_url: str, upstream: UpstreamThread
) -> None:
    a = start_node(plan_estate(tmp_path / "a", 100, upstream.url), pg_url)
    try:
        token = a.proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        broken = plan_estate(tmp_path / "broken", 100, upstream.url)
        (broken / "plans.yaml").write_text("apiVersion: interlink/v1\nkind: Plan\nspec: 3\n")
        applied = run_interlink(["apply", str(broken), "--admin", a.admin, "--token", token])
        assert applied.returncode == 1
        assert "plans.yaml:" in applied.stdout
        assert "not applied: fix the errors first" in applied.stderr
        viewer = run_interlink(["admin", "token", "create", "--name", "v", "--store-url", pg_url])
        denied = run_interlink(
            ["apply", str(tmp_path / "a"), "--admin", a.admin, "--token", viewer.stdout.strip()]
        )
        assert denied.returncode == 2
        assert "needs the admin role" in denied.stderr
        revisions = httpx.get(
            f"{a.admin}/api/v1/estate/revisions",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert [r["id"] for r in revisions] == [1]
    finally:
        a.proc.stop()
