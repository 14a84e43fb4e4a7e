"""PostgreSQL going away under running `interlink serve` nodes, and coming back.

Two nodes share a PostgreSQL server of the test's own (stopped with ``pg_ctl stop -m
immediate``, then started again on the same port and data directory), the test NATS server
(a stream prefix of the test's own) and a loopback upstream and webhook receiver. While the
store is away the routes answer from the revision in memory, publishes are accepted (NATS takes
them), nothing accepted is delivered, ``/readyz`` reports the store as degraded and the admin
API answers problem+json 503; once it is back, everything accepted is delivered, none lost, and
each node's log says the outage began and ended once each, with no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from interlink.store import open_store
from interlink.testing.cluster import Loop
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import (
    nats_reachable,
    nats_url,
    postgres_reachable,
    require_service,
)
from interlink.testing.upstreams import UpstreamThread
from tests.e2e.test_events_reliability import hook, wait_until
from tests.integration.events.conftest import delete_streams

TYPE = "order.placed"
TOOLS = ("initdb", "pg_ctl")


class PrivatePostgres:
    """A PostgreSQL server of the test's own (trust auth, loopback, a free port) that the test
    may stop and start again on the same port and data directory."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: the server runs as an unprivileged user when the test
        # runs as root (PostgreSQL refuses root), and that user must reach the directory.
        self.root = Path(tempfile.mkdtemp(prefix="interlink-pg-"))
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            list(args), capture_output=True, text=True, user=self.user, timeout=60, check=False
        )
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"

    def init(self) -> PrivatePostgres:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
        )
        wait_until(lambda: postgres_reachable(self.url, 1) is True, 15, "PostgreSQL to answer")

    def stop(self) -> None:
        """An immediate stop: the server is gone at once, as on a crash."""
        self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data))

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                ["pg_ctl", "stop", "-m", "immediate", "-D", str(self.data)],
                capture_output=True,
                user=self.user,
                check=False,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    require_service(
        "a private PostgreSQL server",
        lambda: not missing or f"{', '.join(missing)} not on PATH",
    )
    server = PrivatePostgres()
    try:
        server.init().start()
        yield server
    finally:
        server.close()


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": name, "owner": "ops"}
    return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}


def outage_estate(root: Path, upstream: str, receiver: str, nats: str, prefix: str) -> Path:
    """Route ``/orders`` to ``upstream`` for API keys of Consumer ``till``, which may also
    publish ``order.placed``; subscription ``hooked`` sends each one to ``receiver``."""
    root.mkdir(parents=True)
    (root / "order.schema.json").write_text(json.dumps({"type": "object"}))
    docs = [
        obj(
            "Platform",
            "outage",
            {"events": {"backend": "nats", "url": nats, "streamPrefix": prefix}},
        ),
        obj("Team", "ops", {"channels": [{"type": "email", "to": "ops@example.com"}]}),
        obj("System", "shop", {"domain": "sales", "baseUrl": upstream}),
        obj("System", "hooks", {"domain": "ops", "baseUrl": receiver}),
        obj(
            "Event",
            TYPE,
            {"system": "shop", "schemas": [{"version": 1, "file": "order.schema.json"}]},
        ),
        obj("Plan", "internal", {"limits": [{"requests": 100000, "per": "1m"}]}),
        obj(
            "Consumer",
            "till",
            {
                "type": "internal",
                "plan": "internal",
                "scopes": ["orders:read", f"events:publish:{TYPE}"],
            },
        ),
        obj(
            "Route",
            "orders",
            {
                "match": {"path": "/orders"},
                "upstreams": [{"system": "shop"}],
                "auth": {"methods": [{"type": "apiKey"}], "scopes": ["orders:read"]},
            },
        ),
        obj(
            "Subscription",
            "hooked",
            {
                "event": TYPE,
                "target": {"system": "hooks", "path": "/orders"},
                "secret": "${secret:hook-secret}",
                "retry": {"schedule": ["1s", "1s", "1s", "1s", "1s"]},
            },
        ),
    ]
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root


@dataclass
class Node:
    proc: InterlinkProcess
    admin: str
    gateway: str


def serve(root: Path, store_url: str, env: dict[str, str]) -> Node:
    admin, gateway = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    listen = ["--admin-listen", admin, "--gateway-listen", gateway]
    proc = InterlinkProcess(["serve", str(root), "--store-url", store_url, *listen], env=env)
    return Node(proc.start(), f"http://{admin}", f"http://{gateway}")


@dataclass
class Traffic:
    """Events published in batches of five and ``/orders`` proxied, over every node's gateway
    in turn, until stopped. A batch not accepted is posted again, with the same ids, until it
    is; ``phase`` labels each answer with the part of the test it came in."""

    nodes: list[Node]
    key: str
    phase: str = "before"
    published: list[tuple[str, int]] = field(default_factory=list)  # (phase, status)
    proxied: list[tuple[str, int]] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # event id → phase
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    failure: httpx.HTTPError | None = None  # a gateway that did not answer at all

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        assert self.thread is not None
        self.thread.join(60)
        assert not self.thread.is_alive(), "the traffic did not finish its last batch"
        assert self.failure is None, f"a gateway did not answer: {self.failure!r}"

    def _run(self) -> None:
        headers = {"x-api-key": self.key}
        kind = {"content-type": "application/cloudevents-batch+json"}
        n = turn = 0
        batch: list[dict[str, Any]] = []
        with httpx.Client(headers=headers, timeout=15) as client:
            while batch or not self.stopping.is_set():
                node = self.nodes[turn % len(self.nodes)]
                turn += 1
                if not batch:
                    batch = [event(n + i) for i in range(5)]
                    n += 5
                phase = self.phase
                try:
                    sent = client.post(
                        f"{node.gateway}/events", content=json.dumps(batch), headers=kind
                    )
                    proxied = client.get(f"{node.gateway}/orders")
                except httpx.HTTPError as exc:
                    self.failure = exc
                    return
                self.proxied.append((phase, proxied.status_code))
                self.published.append((phase, sent.status_code))
                if sent.status_code == 202:
                    for result in sent.json()["events"]:
                        self.acked[result["id"]] = phase
                    batch = []
                time.sleep(0.02)

    def acked_in(self, phase: str) -> set[str]:
        return {id for id, seen in list(self.acked.items()) if seen == phase}


def event(n: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"order-{n:06d}",
        "source": "till",
        "type": TYPE,
        "datacontenttype": "application/json",
        "data": {"order": n},
    }


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.nats
def test_a_postgres_outage_pauses_what_needs_the_store_and_nothing_is_lost(
    private_postgres: PrivatePostgres, loop: Loop, tmp_path: Path
) -> None:
    nats = nats_url()
    require_service("NATS", lambda: nats_reachable(nats))
    receiver = hook(loop)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "hook-secret").write_text(receiver.secret)
    prefix = f"pgout{uuid.uuid4().hex[:8]}"
    store_url = private_postgres.url
    with open_store(store_url) as store:
        store.migrate()
        key, _ = store.consumer_keys.create("till", "test")
        token, _ = store.tokens.create("viewer", "test")
        operator, _ = store.tokens.create("operator", "publisher")
    env = {"INTERLINK_SECRETS_DIR": str(secrets)}
    nodes: list[Node] = []
    with UpstreamThread() as upstream:
        root = outage_estate(tmp_path / "estate", upstream.url, receiver.receiver.url, nats, prefix)
        try:
            nodes = [serve(root, store_url, env) for _ in range(2)]
            for node in nodes:
                node.proc.wait_for(r"admin API on http://", 60)
            traffic = Traffic(nodes, key)
            traffic.start()
            try:
                wait_until(
                    lambda: len(receiver.delivered()) >= 50, 30, "deliveries before the outage"
                )

                private_postgres.stop()
                traffic.phase = "outage"
                for node in nodes:
                    wait_until(partial(store_degraded, node), 30, "/readyz to report the store")
                    assert httpx.get(f"{node.admin}/healthz", timeout=5).status_code == 200
                    for path in ("/api/v1/estate/revisions", "/api/v1/nodes"):
                        answer = httpx.get(node.admin + path, headers=bearer(token), timeout=15)
                        assert answer.status_code == 503, answer.text
                        assert answer.headers["content-type"] == "application/problem+json"
                        assert int(answer.headers["retry-after"]) >= 1
                        assert answer.json()["title"] == "Store unavailable"
                    # An admin token is checked in the store: publishing with one waits for it.
                    answer = httpx.post(
                        f"{node.gateway}/events",
                        json=event(999_999),
                        headers={
                            **bearer(operator),
                            "content-type": "application/cloudevents+json",
                        },
                        timeout=15,
                    )
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["content-type"] == "application/problem+json"
                    assert int(answer.headers["retry-after"]) >= 1
                wait_until(
                    lambda: len(traffic.acked_in("outage")) >= 100,
                    30,
                    "publishes while PostgreSQL is down",
                )
                # Nothing accepted while PostgreSQL is down can have been delivered yet: it
                # reaches a receiver only through the delivery queue, which is in the store.
                assert not traffic.acked_in("outage") & set(receiver.delivered())

                private_postgres.start()  # the same port and data directory
                traffic.phase = "after"
                for node in nodes:
                    wait_until(partial(store_answers, node), 30, "/readyz to clear the store")
                    answer = httpx.get(
                        f"{node.admin}/api/v1/nodes", headers=bearer(token), timeout=15
                    )
                    assert answer.status_code == 200, answer.text
                wait_until(
                    lambda: len(traffic.acked_in("after")) >= 50, 30, "publishes after the outage"
                )
            finally:
                traffic.stop()

            acknowledged = set(traffic.acked)
            wait_until(
                lambda: acknowledged <= set(receiver.delivered()),
                60,
                "every accepted event delivered after the outage",
            )
            delivered = receiver.delivered()
            assert len(delivered) == len(set(delivered))
            assert set(delivered) == acknowledged  # none lost, nothing unaccepted delivered

            # Routes kept answering from the revision in memory, with the keys loaded before.
            assert {status for _, status in traffic.proxied} == {200}
            assert {phase for phase, _ in traffic.proxied} == {"before", "outage", "after"}
            # Publishing needs NATS, not the store: accepted throughout.
            assert {status for _, status in traffic.published} == {202}
        finally:
            for node in nodes:
                node.proc.stop()
            loop.run(receiver.receiver.stop())
            asyncio.run(delete_streams(nats, prefix))

    for node in nodes:
        output = node.proc.output
        assert "Traceback" not in output, output
        assert output.count("store unavailable: cannot reach PostgreSQL") == 1, output
        assert output.count("store available again") == 1, output
        assert output.count("cannot write this node's heartbeat") == 1, output
        assert "psycopg" not in output, output


def store_degraded(node: Node) -> bool:
    ready = httpx.get(f"{node.admin}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    return "store" in ready.json().get("degraded", {})


def store_answers(node: Node) -> bool:
    return not store_degraded(node)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
