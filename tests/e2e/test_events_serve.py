"""The event mesh through `interlink serve`: publish over HTTP, signed webhooks, outbox, CLI."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher, Outbox, OutboxRelay, Publisher, PublishError
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from tests.e2e.webhooks import Receiver

TYPE = "customer.address-updated"


def address(n: int) -> dict[str, object]:
    return {
        "customerId": f"C{n:06d}",
        "address": {"street": f"{n} Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
        "changedAt": "2026-11-22T10:00:00Z",
    }


@dataclass
class Platform:
    proc: InterlinkProcess
    gateway: str
    admin: str
    token: str
    key: str
    logistics: Receiver
    analytics: Receiver


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def platform(retail_dir: Path, tmp_path: Path) -> Iterator[Platform]:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    logistics = Receiver(generate_secret())
    analytics = Receiver(generate_secret())
    (secrets / "logistics-webhook-secret").write_text(logistics.secret)
    (secrets / "analytics-webhook-secret").write_text(analytics.secret)
    servers = [logistics.serve(), analytics.serve()]
    systems = retail_dir / "systems" / "operations.yaml"
    text = systems.read_text()
    for old, server in zip(("9103", "9104"), servers, strict=True):
        text = text.replace(f"http://127.0.0.1:{old}", f"http://127.0.0.1:{server.server_port}")
    systems.write_text(text)
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
            logistics,
            analytics,
        )
    finally:
        proc.stop()
        for server in servers:
            server.shutdown()


def test_published_events_reach_every_subscriber_signed(platform: Platform) -> None:
    with Publisher(platform.gateway, source="crm", key=platform.key) as events:
        receipts = events.publish_many([events.event(TYPE, address(n)) for n in range(50)])
        assert sorted(r.seq for r in receipts) == list(range(1, 51))
        again = events.publish(TYPE, address(0), id=receipts[0].id)
        assert again.duplicate
        assert again.seq == receipts[0].seq
        with pytest.raises(PublishError) as refused:
            events.publish(TYPE, {**address(1), "customerId": "nope"})
        assert refused.value.status == 422
    ids = {r.id for r in receipts}
    wait_until(
        lambda: set(platform.logistics.events) == ids and set(platform.analytics.events) == ids
    )
    assert platform.logistics.bad == platform.analytics.bad == 0
    event = platform.logistics.events[receipts[7].id]
    assert event["type"] == TYPE
    assert event["data"] == address(7)

    auth = {"authorization": f"Bearer {platform.token}"}
    subscriptions = httpx.get(f"{platform.admin}/api/v1/subscriptions", headers=auth).json()
    figures = {s["name"]: s.get("metrics", {}) for s in subscriptions}
    assert figures["logistics-address-updates"]["delivered"] == 50
    assert figures["analytics-address-updates"]["lag"] == 0
    metrics = httpx.get(f"{platform.admin}/metrics", headers=auth).text
    assert 'subscription="logistics-address-updates"' in metrics


Connect = Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connect]:
    """A service's own database on each engine: a SQLite file, or a fresh Postgres schema."""
    if request.param == "sqlite":
        db = tmp_path / "crm.db"
        yield lambda: sqlite3.connect(db)
        return
    server: str = request.getfixturevalue("postgres_server_url")
    schema = f"il_outbox_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    yield lambda: psycopg.connect(server, options=f"-c search_path={schema}")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_the_outbox_publishes_what_was_committed(platform: Platform, service_db: Connect) -> None:
    outbox = Outbox(source="crm")
    conn = service_db()
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    outbox.install(conn)
    conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, street TEXT)")
    conn.commit()
    committed = []
    for n in range(20):
        conn.execute(
            f"INSERT INTO customers VALUES ({mark}, {mark})", (f"C{n:06d}", f"{n} Main St")
        )
        committed.append(outbox.add(conn, TYPE, address(n)))
        conn.commit()
    conn.execute("INSERT INTO customers VALUES ('C999999', 'x')")
    rolled_back = outbox.add(conn, TYPE, address(999999))
    conn.rollback()  # the business change fails: its event goes with it
    conn.close()

    async def relay_all() -> int:
        async with AsyncPublisher(platform.gateway, source="crm", key=platform.key) as publisher:
            relay = OutboxRelay(service_db, publisher)
            total = 0
            while count := await relay.run_once():
                total += count
            await relay.close()
            return total

    assert asyncio.run(relay_all()) == 20
    wait_until(lambda: set(committed) <= set(platform.logistics.events))
    assert rolled_back not in platform.logistics.events
    check = service_db()
    assert check.execute("SELECT count(*) FROM interlink_outbox").fetchone() == (0,)
    check.close()


def test_cli_publish_and_tail(platform: Platform) -> None:
    published = run_interlink(
        [
            "events",
            "publish",
            TYPE,
            "--key",
            platform.key,
            "--gateway",
            platform.gateway,
            "--id",
            "cli-1",
            "--source",
            "crm",
            "--data",
            json.dumps(address(5)),
        ]
    )
    assert published.returncode == 0, published.stderr
    assert published.stdout.strip() == f"cli-1 accepted as {TYPE} #1"
    bad = run_interlink(
        [
            "events",
            "publish",
            TYPE,
            "--key",
            platform.key,
            "--gateway",
            platform.gateway,
            "--data",
            json.dumps({**address(5), "customerId": 1}),
        ]
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("interlink: error: Invalid event data: /data/customerId: ")
    tail = run_interlink(
        [
            "events",
            "tail",
            TYPE,
            "--from",
            "0",
            "--admin",
            platform.admin,
            "--token",
            platform.token,
        ]
    )
    assert tail.returncode == 0, tail.stderr
    (line,) = tail.stdout.splitlines()
    assert json.loads(line)["id"] == "cli-1"


def test_publishes_are_logged_and_counted_per_consumer_and_event_type(platform: Platform) -> None:
    route = f"events/{TYPE}"
    with Publisher(platform.gateway, source="crm", key=platform.key) as events:
        events.publish(TYPE, address(1))
        with pytest.raises(PublishError):
            events.publish(TYPE, {**address(2), "customerId": "nope"})
    refused = httpx.post(f"{platform.gateway}/events/no.such.type", content=b"{}")
    assert refused.status_code == 400  # not a CloudEvent: no type to count it under
    line = json.loads(platform.proc.wait_for(r'(?m)^\{"time".*"status":202.*$').group(0))
    assert (line["consumer"], line["route"]) == ("crm-publisher", route)
    metrics = httpx.get(
        f"{platform.admin}/metrics", headers={"authorization": f"Bearer {platform.token}"}
    ).text
    for series in (
        f'interlink_gateway_requests_total{{route="{route}",method="POST",status_class="2xx"}} 1',
        f'interlink_gateway_requests_total{{route="{route}",method="POST",status_class="4xx"}} 1',
        f'interlink_gateway_consumer_requests_total{{consumer="crm-publisher",route="{route}"}} 2',
        'interlink_gateway_requests_total{route="_unmatched",method="POST",status_class="4xx"} 1',
    ):
        assert series in metrics, series
