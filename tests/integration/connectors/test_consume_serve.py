"""`interlink serve` runs a Flow's trigger.consume on a RabbitMQ queue: each message becomes
one run (acked once recorded) that writes it to SQLite and sends it on with a send step; a
message the flow's inputSchema refuses stays in the queue; and a node killed with SIGKILL
mid-consume loses no message and runs none twice once it is back."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from yarl import URL

from interlink.flows.triggers import item_run_id
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import amqp_reachable, amqp_url, require_service

pytestmark = pytest.mark.amqp

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {{name: platform}}
spec:
  store: {{url: "sqlite:///{store}"}}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: ops}}
spec: {{}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: rabbit, owner: ops}}
spec:
  domain: sales
  connector: amqp
  connection:
    url: "{url}"
---
apiVersion: interlink/v1
kind: System
metadata: {{name: shop, owner: ops}}
spec:
  domain: sales
  connector: sqlite
  connection: {{path: "{db}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: relay, owner: ops}}
spec:
  trigger:
    consume: {{system: rabbit, from: {inbound}, concurrency: 2, options: {{prefetch: 4}}}}
  inputSchema:
    type: object
    required: [body]
    properties: {{body: {{type: object, required: [n]}}}}
  steps:
    - name: save
      type: write
      system: shop
      table: seen
      mode: upsert
      key: [key]
      rows: "{{'key': key, 'n': body.n, 'source': $.from, 'tag': headers.tag}}"
    - name: forward
      type: send
      system: rabbit
      to: {outbound}
      message: "{{'n': body.n * 10}}"
      headers: "{{'origin': key}}"
"""


@functools.cache
def _status() -> bool | str:
    return amqp_reachable(amqp_url())


async def _queues(names: list[str], *, declare: bool) -> None:
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        for name in names:
            if declare:
                await channel.declare_queue(name, durable=True)
            else:
                await channel.queue_delete(name)
    finally:
        await connection.close()


async def _publish(queue: str, messages: list[tuple[str, bytes]]) -> None:
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        for message_id, body in messages:
            message = aio_pika.Message(body, message_id=message_id, headers={"tag": "t"})
            await channel.default_exchange.publish(message, queue)
    finally:
        await connection.close()


async def _drain(queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """The messages waiting in ``queue``, taken (acked)."""
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        got = []
        while (message := await declared.get(fail=False)) is not None:
            await message.ack()
            got.append(message)
        return got
    finally:
        await connection.close()


async def _depth(queue: str) -> int:
    connection = await aio_pika.connect(amqp_url())
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


@pytest.fixture
def queues() -> Iterator[tuple[str, str]]:
    require_service("RabbitMQ", _status)
    run = uuid.uuid4().hex[:10]
    names = [f"il_in_{run}", f"il_out_{run}"]
    asyncio.run(_queues(names, declare=True))
    yield names[0], names[1]
    asyncio.run(_queues(names, declare=False))


def _estate(tmp_path: Path, inbound: str, outbound: str) -> tuple[Path, Path, Path]:
    db, store = tmp_path / "shop.db", tmp_path / "store.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, n INTEGER, source TEXT, tag TEXT)")
    conn.close()
    parsed = URL(amqp_url())
    url = str(parsed.with_password(None)).replace(
        f"{parsed.user}@", f"{parsed.user}:${{secret:rabbit-pw}}@", 1
    )
    root = tmp_path / "estate"
    root.mkdir()
    text = ESTATE.format(store=store, url=url, db=db, inbound=inbound, outbound=outbound)
    (root / "estate.yaml").write_text(text, encoding="utf-8")
    return root, db, store


def _serve(root: Path, inbound: str) -> InterlinkProcess:
    password = URL(amqp_url()).password or ""
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"],
        env={"INTERLINK_SECRET_RABBIT_PW": password, "INTERLINK_LEASE_TTL": "2"},
    ).start()
    proc.wait_for(f"Flow/relay trigger rabbit.{inbound} started")
    return proc


def _seen(db: Path) -> list[tuple[str, int, str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, n, source, tag FROM seen ORDER BY n").fetchall()
    conn.close()
    return [tuple(r) for r in rows]


def _wait_seen(db: Path, count: int, proc: InterlinkProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(_seen(db)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(_seen(db))} messages seen, not {count}:\n{proc.output}")
        time.sleep(0.05)


def _runs(store: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT id, trigger, status FROM flow_runs ORDER BY trigger").fetchall()
    conn.close()
    return [tuple(r) for r in rows]


def _wait_ended(store: Path, count: int, proc: InterlinkProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for r in _runs(store) if r[2] == "completed") < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"runs: {_runs(store)}\n{proc.output}")
        time.sleep(0.05)


def test_serve_consumes_a_queue_into_runs_that_send_on(
    tmp_path: Path, queues: tuple[str, str]
) -> None:
    inbound, outbound = queues
    root, db, store = _estate(tmp_path, inbound, outbound)
    good = [(f"m{i}", json.dumps({"n": i}).encode()) for i in range(1, 6)]
    asyncio.run(_publish(inbound, good))
    proc = _serve(root, inbound)
    try:
        _wait_seen(db, 5, proc)
        _wait_ended(store, 5, proc)
        asyncio.run(_publish(inbound, [("bad", b"not json")]))  # the inputSchema refuses it
        proc.wait_for(f"Flow/relay trigger rabbit.{inbound}: recording a run failed")
    finally:
        assert proc.stop() == 0
    assert _seen(db) == [(f"m{i}", i, inbound, "t") for i in range(1, 6)]
    trigger = f"relay:rabbit.{inbound}"
    runs = _runs(store)
    assert [(r[1], r[2]) for r in runs] == [
        (f"queue:rabbit.{inbound}:m{i}", "completed") for i in range(1, 6)
    ]
    assert [r[0] for r in runs] == [item_run_id(trigger, f"m{i}") for i in range(1, 6)]
    # The refused message is back in the queue, not lost; the sends went out once each.
    assert asyncio.run(_depth(inbound)) == 1
    sent = asyncio.run(_drain(outbound))
    got = sorted(
        (json.loads(m.body)["n"], m.message_id, (m.headers or {}).get("origin")) for m in sent
    )
    assert got == [
        (i * 10, f"{item_run_id(trigger, f'm{i}')}:forward", f"m{i}") for i in range(1, 6)
    ]
    assert "Traceback" not in proc.output
    assert f":{URL(amqp_url()).password}@" not in proc.output


@pytest.mark.slow
def test_a_node_killed_mid_consume_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, queues: tuple[str, str]
) -> None:
    inbound, outbound = queues
    root, db, store = _estate(tmp_path, inbound, outbound)
    count = 40
    asyncio.run(
        _publish(inbound, [(f"k{i:03}", json.dumps({"n": i}).encode()) for i in range(count)])
    )
    proc = _serve(root, inbound)
    try:
        _wait_seen(db, 3, proc)
    finally:
        proc.kill()  # SIGKILL: runs recorded and not acked, acked and not run, in flight
    again = _serve(root, inbound)
    try:
        _wait_ended(store, count, again)
    finally:
        assert again.stop() == 0
    runs = _runs(store)
    assert len(runs) == count  # one run per message, none twice
    assert sorted(r[1] for r in runs) == [f"queue:rabbit.{inbound}:k{i:03}" for i in range(count)]
    assert {r[2] for r in runs} == {"completed"}
    assert len(_seen(db)) == count
    assert asyncio.run(_depth(inbound)) == 0
    sent = asyncio.run(_drain(outbound))
    # A send retried after the crash may reach the queue twice, under one message id.
    assert {m.message_id for m in sent} == {f"{r[0]}:forward" for r in runs}
