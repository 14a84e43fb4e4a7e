"""Publishing through `interlink serve --workers 2`: every worker takes `/events` and
REST-to-event routes, with the answers one worker gives, and every event is delivered."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from interlink.events.signing import generate_secret
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.receivers import Receiver

TYPE = "order.placed"
CONNECTIONS = 16
SINGLE = 20  # binary-mode events per connection
BATCH = 5  # and one batch of this many structured events

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: small}
spec: {}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: shop}
---
apiVersion: interlink/v1
kind: System
metadata: {name: store, owner: shop}
spec: {domain: sales}
---
apiVersion: interlink/v1
kind: System
metadata: {name: warehouse, owner: shop}
spec: {domain: logistics, baseUrl: "RECEIVER"}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: order.placed, owner: shop}
spec:
  system: store
  schemas: [{version: 1, file: order.placed.v1.schema.json}]
  orderingKey: orderId
---
apiVersion: interlink/v1
kind: Plan
metadata: {name: internal, owner: shop}
spec:
  limits: [{requests: 100000, per: 1s}]
---
apiVersion: interlink/v1
kind: Consumer
metadata: {name: storefront, owner: shop}
spec:
  type: internal
  plan: internal
  system: store
  scopes: ["events:publish:order.placed"]
---
apiVersion: interlink/v1
kind: Route
metadata: {name: orders, owner: shop}
spec:
  match: {path: /api/orders, methods: [POST]}
  publish: {event: order.placed}
  auth:
    methods: [{type: apiKey}]
    scopes: ["events:publish:order.placed"]
---
apiVersion: interlink/v1
kind: Subscription
metadata: {name: warehouse-orders, owner: shop}
spec:
  event: order.placed
  target: {system: warehouse, path: /hooks/orders}
  secret: ${secret:warehouse-webhook-secret}
"""

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://schemas.example.com/small/order.placed/v1",
    "type": "object",
    "required": ["orderId", "total"],
    "properties": {
        "orderId": {"type": "string", "pattern": "^O[0-9]{6}$"},
        "total": {"type": "number", "minimum": 0},
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def order(n: int) -> dict[str, Any]:
    return {"orderId": f"O{n:06d}", "total": n + 0.5}


def binary(key: str | None, event_id: str, **extra: str) -> dict[str, str]:
    """Headers of a binary-mode event, with ``key`` as the credential (None: no credential)."""
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "storefront",
        "ce-type": TYPE,
        **extra,
    }
    if key is not None:
        headers["x-api-key"] = key
    return headers


@dataclass
class Platform:
    proc: InterlinkProcess
    gateway: str
    token: str  # an admin token (admin role, which includes operator)


@contextlib.asynccontextmanager
async def serve(root: Path, workers: int, secret: str) -> AsyncIterator[Platform]:
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", admin, "--workers", str(workers)],
        env={"INTERLINK_SECRET_WAREHOUSE_WEBHOOK_SECRET": secret},
    ).start()
    try:
        found = await anyio.to_thread.run_sync(proc.wait_for, r"gateway on http://(\S+)")
        token = await anyio.to_thread.run_sync(proc.wait_for, r"admin token \(.*\): (\S+)")
        yield Platform(proc, f"http://{found.group(1)}", token.group(1))
    finally:
        code = await anyio.to_thread.run_sync(proc.stop)
        assert code == 0, proc.output


def workers_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"gateway.worker" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd).startswith("socket:")
    return count


def refusals(gateway: str, key: str) -> dict[str, httpx.Response]:
    """The same refused requests, each with a fixed request id (the problems' instance)."""
    bad = {"orderId": "nope", "total": -1}
    with httpx.Client(base_url=gateway) as client:
        return {
            "invalid": client.post(
                f"/events/{TYPE}",
                content=json.dumps(bad),
                headers=binary(key, "bad-1", **{"x-request-id": "req-invalid"}),
            ),
            "batch": client.post(
                "/events",
                content=json.dumps(
                    [
                        {"specversion": "1.0", "id": "b-1", "source": "s", "type": TYPE},
                        {"specversion": "1.0", "id": "b-2", "source": "s", "type": TYPE, "data": 1},
                    ]
                ),
                headers={
                    "x-api-key": key,
                    "content-type": "application/cloudevents-batch+json",
                    "x-request-id": "req-batch",
                },
            ),
            "anonymous": client.post(
                f"/events/{TYPE}",
                content=json.dumps(order(1)),
                headers=binary(None, "anon-1", **{"x-request-id": "req-anonymous"}),
            ),
            "forged": client.post(
                f"/events/{TYPE}",
                content=json.dumps(order(1)),
                headers=binary("ik_nobody_secret", "forged-1", **{"x-request-id": "req-forged"}),
            ),
            "route": client.post(
                "/api/orders",
                json=bad,
                headers={"x-api-key": key, "x-request-id": "req-route"},
            ),
        }


@pytest.mark.slow
@pytest.mark.anyio
async def test_two_workers_publish_like_one(tmp_path: Path) -> None:
    secret = generate_secret()
    async with Receiver(secret=secret) as receiver:
        root = tmp_path / "estate"
        root.mkdir()
        (root / "estate.yaml").write_text(ESTATE.replace("RECEIVER", receiver.url))
        (root / "order.placed.v1.schema.json").write_text(json.dumps(SCHEMA))
        created = run_interlink(["consumers", "key", "create", "storefront"], cwd=root)
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        single = tmp_path / "single"
        shutil.copytree(root, single)  # the same estate and key, for one worker

        async with serve(root, 2, secret) as platform:
            assert platform.proc.proc is not None
            workers = workers_of(platform.proc.proc.pid)
            assert len(workers) == 2
            before = {pid: sockets(pid) for pid in workers}
            statuses: list[int] = []
            ids: list[str] = []
            gained: dict[int, int] = {}

            async def publish(conn: int, client: httpx.AsyncClient) -> None:
                for n in range(SINGLE):
                    event_id = f"{conn}-{n}"
                    response = await client.post(
                        f"/events/{TYPE}",
                        content=json.dumps(order(conn * 100 + n)),
                        headers=binary(key, event_id),
                    )
                    statuses.append(response.status_code)
                    assert response.status_code == 202, response.text
                    assert response.json()["id"] == event_id
                    ids.append(event_id)
                batch = [
                    {
                        "specversion": "1.0",
                        "id": f"{conn}-b{n}",
                        "source": "storefront",
                        "type": TYPE,
                        "data": order(conn * 100 + 50 + n),
                    }
                    for n in range(BATCH)
                ]
                response = await client.post(
                    "/events",
                    content=json.dumps(batch),
                    headers={
                        "x-api-key": key,
                        "content-type": "application/cloudevents-batch+json",
                    },
                )
                statuses.append(response.status_code)
                assert response.status_code == 202, response.text
                assert response.json()["accepted"] == BATCH
                ids.extend(f"{conn}-b{n}" for n in range(BATCH))

            clients = [
                httpx.AsyncClient(base_url=platform.gateway, limits=httpx.Limits(max_connections=1))
                for _ in range(CONNECTIONS)
            ]
            try:
                async with anyio.create_task_group() as group:
                    for conn, client in enumerate(clients):
                        group.start_soon(publish, conn, client)
                # Still connected: each worker holds some of the clients' connections.
                gained = {pid: sockets(pid) - before[pid] for pid in workers}
                # The same through a REST-to-event route, and with an operator admin token.
                route = await clients[0].post(
                    "/api/orders",
                    json=order(999),
                    headers={"x-api-key": key, "x-request-id": "route-1"},
                )
                assert route.status_code == 202, route.text
                assert route.json()["id"] == "route-1"
                ids.append("route-1")
                admin = await clients[1].post(
                    f"/events/{TYPE}",
                    content=json.dumps(order(998)),
                    headers=binary(None, "admin-1", authorization=f"Bearer {platform.token}"),
                )
                assert admin.status_code == 202, admin.text
                ids.append("admin-1")
                again = await clients[2].post(
                    f"/events/{TYPE}", content=json.dumps(order(0)), headers=binary(key, "0-0")
                )
                assert again.status_code == 202
                assert again.json()["duplicate"] is True
            finally:
                for client in clients:
                    await client.aclose()
            assert all(n > 0 for n in gained.values()), gained  # both workers served
            expected = CONNECTIONS * (SINGLE + BATCH) + 2
            assert len(ids) == len(set(ids)) == expected
            assert statuses.count(202) == len(statuses) == CONNECTIONS * (SINGLE + 1)

            await receiver.wait_for(lambda: set(receiver.delivered_ids()) >= set(ids), 60)
            assert sorted(i for i in receiver.delivered_ids() if i is not None) == sorted(ids)
            assert receiver.counts["bad_signatures"] == 0

            several = await anyio.to_thread.run_sync(refusals, platform.gateway, key)
            assert "event ingestion (/events) is served with one gateway worker" not in (
                platform.proc.output
            )

        async with serve(single, 1, secret) as platform:
            one = await anyio.to_thread.run_sync(refusals, platform.gateway, key)

    expected_status = {"invalid": 422, "batch": 422, "anonymous": 401, "forged": 401, "route": 422}
    for name, status in expected_status.items():
        got, want = several[name], one[name]
        assert got.status_code == want.status_code == status, (name, got.text)
        assert got.headers["content-type"] == want.headers["content-type"]
        assert got.headers["content-type"] == "application/problem+json"
        assert got.headers.get("www-authenticate") == want.headers.get("www-authenticate")
        assert got.headers["x-request-id"] == want.headers["x-request-id"] == f"req-{name}"
        assert got.json() == want.json(), name
        assert got.json()["instance"] == f"req-{name}"
    assert [v["pointer"] for v in several["invalid"].json()["violations"]] == [
        "/data/orderId",
        "/data/total",
    ]
    assert [v["pointer"] for v in several["route"].json()["violations"]] == [
        "/body/orderId",
        "/body/total",
    ]
    assert several["anonymous"].headers["www-authenticate"].startswith("Bearer")
