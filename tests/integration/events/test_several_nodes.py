"""Several nodes on one PostgreSQL store and one NATS JetStream server: event meshes in one
process, each with its own bus connection, queue pool and leases, as `interlink serve` nodes
run them. A loopback receiver counts what arrives, and what arrives twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest

from interlink.estate.model import Estate
from interlink.estate.references import SecretSource
from interlink.events.backends.nats import NatsBus
from interlink.events.backends.nats_names import consumer_name, stream_name
from interlink.events.bus import ConsumerSpec
from interlink.events.delivery import EngineSettings
from interlink.events.mesh import EventMesh
from interlink.events.topology import topology_of
from interlink.store import Store, open_store
from interlink.tasks import cancel_and_wait
from interlink.testing.receivers import Receiver, Reply
from tests.integration.events.conftest import delete_streams
from tests.integration.events.test_delivery_engine import (
    SECRET,
    TYPE,
    envelope,
    subscription,
    write_estate,
)

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.nats, pytest.mark.slow]

log = logging.getLogger(__name__)

TTL = 2.0  # seconds: a dead node's work moves on within about this
SETTINGS = EngineSettings(pull_timeout=0.2, poll_interval=0.5, stop_grace=1.0, error_pause=0.2)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Cluster:
    """Nodes sharing a store schema and a stream prefix made for one test."""

    def __init__(self, tmp: Path, store_url: str, nats_url: str) -> None:
        self.tmp = tmp
        self.store_url = store_url
        self.nats_url = nats_url
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.secrets = SecretSource(environ={"INTERLINK_SECRET_HOOK_SECRET": SECRET})
        self.nodes: list[EventMesh] = []
        self.stores: list[Store] = []
        with open_store(store_url) as store:
            store.migrate()

    def estate(self, name: str, receiver: Receiver, subscriptions: list[dict[str, Any]]) -> Estate:
        return write_estate(self.tmp / name, {"hooks": receiver.url}, subscriptions)

    async def node(
        self,
        estate: Estate,
        name: str,
        *,
        is_current: Callable[[], bool] | None = None,
        ttl: float = TTL,
    ) -> EventMesh:
        store = open_store(self.store_url)
        self.stores.append(store)
        mesh = EventMesh(
            estate,
            store,
            self.store_url,
            bus=NatsBus(self.nats_url, prefix=self.prefix, ack_wait=TTL),
            secrets=self.secrets,
            shared=True,
            node=name,
            is_current=is_current,
            lease_ttl=ttl,
            settings=SETTINGS,
        )
        await mesh.start()
        self.nodes.append(mesh)
        return mesh

    async def close(self) -> None:
        for mesh in self.nodes:
            with contextlib.suppress(Exception):
                await mesh.close()
        for store in self.stores:
            store.close()
        await delete_streams(self.nats_url, self.prefix)


@pytest.fixture
async def cluster(tmp_path: Path, pg_url: str, nats_server_url: str) -> AsyncIterator[Cluster]:
    made = Cluster(tmp_path, pg_url, nats_server_url)
    yield made
    await made.close()


async def crash(mesh: EventMesh) -> None:
    """Stop a node the way kill -9 does, as far as the others can tell: its tasks end without
    a word, nothing it was doing is written back, its leases stay until they expire."""
    assert mesh.keeper is not None
    assert mesh.engine is not None
    tasks: list[asyncio.Future[Any]] = []
    if mesh.keeper._task is not None:
        tasks.append(mesh.keeper._task)
    if mesh._keys_task is not None:
        tasks.append(mesh._keys_task)
    for worker in mesh.engine.workers.values():
        tasks.extend(worker._loops)
        tasks.extend(worker._sends)
        if worker._flusher is not None:
            tasks.append(worker._flusher)
        if worker._taking is not None:  # shielded from its loop's cancellation
            tasks.append(worker._taking)
    await mesh.bus.close()  # its connection goes first, as with kill -9
    # Cancelled, and their errors dropped: a task that reached the closed bus first fails with
    # BusUnavailable, which a killed process would never report either.
    await cancel_and_wait(tasks)
    mesh.engine.workers.clear()
    mesh.engine._claimed.clear()
    mesh.keeper._claims.clear()
    mesh.keeper._held.clear()
    mesh.keeper._task = None
    await mesh.queue.close()


def hooks(names: list[str], **spec: Any) -> list[dict[str, Any]]:
    return [subscription(name, {"system": "hooks", "path": f"/{name}"}, **spec) for name in names]


async def publish(mesh: EventMesh, first: int, count: int, keys: int = 0) -> None:
    batch = 100
    for start in range(first, first + count, batch):
        await mesh.bus.publish(
            [
                envelope(f"e{n}", key=f"k{n % keys}" if keys else None, n=n)
                for n in range(start, min(start + batch, first + count))
            ]
        )


def arrived(receiver: Receiver, path: str) -> list[int]:
    """The ``n`` of each event first delivered on ``path``, in the order they arrived."""
    return [r.event["data"]["n"] for r in receiver.delivered if r.path == path]


def duplicates(receiver: Receiver) -> int:
    return receiver.counts["duplicates"]


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def holding(mesh: EventMesh) -> list[str]:
    assert mesh.keeper is not None
    return [n for n in mesh.keeper.holding() if n.startswith("subscription:")]


async def test_three_nodes_deliver_each_event_once_and_each_key_in_order(
    cluster: Cluster,
) -> None:
    async with Receiver(secret=SECRET) as rx:
        names = ["a", "b", "c", "d", "e"]
        subs = hooks(names[:3]) + hooks(names[3:], ordered=True, maxInFlight=4)
        estate = cluster.estate("estate", rx, subs)
        nodes = [await cluster.node(estate, f"node-{i}") for i in range(3)]
        await publish(nodes[0], 1, 600, keys=20)
        await rx.wait_for(lambda: all(len(set(arrived(rx, f"/{n}"))) == 600 for n in names), 60)
        # Spread: nobody holds more than its share once the third node is counted.
        every = [f"subscription:{n}" for n in names]
        await until(
            lambda: (
                all(len(holding(node)) <= 2 for node in nodes)
                and sorted(n for node in nodes for n in holding(node)) == every
            )
        )
        await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
    assert duplicates(rx) == 0
    for name in names[3:]:
        got = arrived(rx, f"/{name}")
        for key in range(20):
            of_key = [n for n in got if n % 20 == key]
            assert of_key == sorted(of_key), f"{name}: key k{key} out of order"


HALF = 500  # events published before the kill, and as many after: 50 per key in each half


async def test_a_killed_nodes_subscriptions_move_on_and_nothing_is_lost(
    cluster: Cluster,
) -> None:
    async with Receiver(secret=SECRET, default=Reply(delay=0.002)) as rx:
        names = ["a", "b", "c", "d"]
        estate = cluster.estate(
            "estate", rx, hooks(names[:2]) + hooks(names[2:], ordered=True, maxInFlight=4)
        )
        first, second = await cluster.node(estate, "first"), await cluster.node(estate, "second")
        await until(lambda: len(holding(first)) == 2 and len(holding(second)) == 2)
        victims = holding(first)
        await publish(second, 1, HALF, keys=10)
        # Killed in the middle of delivering: a quarter of the first half is through.
        await rx.wait_for(lambda: len(rx.delivered) >= HALF)
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        await crash(first)
        await publish(second, HALF + 1, HALF, keys=10)
        await until(lambda: sorted(holding(second)) == sorted(f"subscription:{n}" for n in names))
        taken_over = loop.time() - killed_at
        await rx.wait_for(
            lambda: all(len(set(arrived(rx, f"/{n}"))) == 2 * HALF for n in names), 90
        )
        done = loop.time() - killed_at
        log.warning(
            "takeover of %s after %.1fs; all delivered %.1fs after the kill; %d duplicate(s)",
            victims,
            taken_over,
            done,
            duplicates(rx),
        )
    for name in names:
        assert sorted(set(arrived(rx, f"/{name}"))) == list(range(1, 2 * HALF + 1))
    for name in names[2:]:
        got = arrived(rx, f"/{name}")
        for key in range(10):
            of_key = [n for n in got if n % 10 == key]
            assert of_key == sorted(of_key), f"{name}: key k{key} out of order"
    # Only what was on its way when the node died may arrive twice: per subscription it held,
    # its open attempts and the attempts it had finished without writing them back (on a
    # loaded machine, up to a batch of them). The batch it had queued and not acked comes back
    # from NATS after the ack wait, but the queue remembers those events (rows or tombstones).
    assert duplicates(rx) <= len(victims) * (16 + SETTINGS.dispatch_batch)


async def test_a_batch_handed_out_again_after_a_crash_is_not_delivered_twice(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node queues a batch, delivers it, and dies before acking it: NATS hands the batch
    out again after the ack wait, to the node that took the subscription over."""
    async with Receiver(secret=SECRET) as rx:
        estate = cluster.estate("estate", rx, hooks(["a"]))
        first = await cluster.node(estate, "first")
        await until(lambda: holding(first) == ["subscription:a"])
        acks: list[int] = []

        async def ack_never(consumer: str, seqs: list[int]) -> None:
            acks.extend(seqs)
            await asyncio.Event().wait()  # the node dies first

        monkeypatch.setattr(first.bus, "ack", ack_never)
        await publish(first, 1, 100)
        # Its ingest waits on the ack, so it takes one batch: queued, delivered (and written
        # back as such), never acked.
        await rx.wait_for(lambda: bool(acks) and len(arrived(rx, "/a")) == len(acks), 30)
        async with asyncio.timeout(30):
            while await first.queue.depth("a"):
                await asyncio.sleep(0.05)
        assert first.engine is not None
        await crash(first)
        second = await cluster.node(estate, "second")
        await until(lambda: holding(second) == ["subscription:a"])
        await publish(second, 101, 50)
        await rx.wait_for(lambda: len(arrived(rx, "/a")) == 150, 30)
        # The batch comes back once the ack wait has passed since it was handed out; once the
        # second node has acked it and its queue is empty, anything queued again was sent.
        async with asyncio.timeout(30):
            while (await second.bus.handed_out("a"))[1] < 150 or await second.queue.depth("a"):
                await asyncio.sleep(0.05)
    assert sorted(arrived(rx, "/a")) == list(range(1, 151))
    assert duplicates(rx) == 0


async def test_a_node_whose_lease_was_taken_over_writes_nothing_more(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The node still counts the lease as held (its next renewal is far off) when another
    takes it over: its next enqueue is refused in the store, and it stops at once."""
    async with Receiver(secret=SECRET) as rx:
        estate = cluster.estate("estate", rx, hooks(["a"]))
        node = await cluster.node(estate, "first", ttl=120.0)
        await until(lambda: holding(node) == ["subscription:a"])
        await publish(node, 1, 10)
        await rx.wait_for(lambda: len(arrived(rx, "/a")) == 10)
        async with asyncio.timeout(30):
            while await node.queue.depth("a"):  # written back as delivered
                await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="interlink"):
            with open_store(cluster.store_url) as store, store.db.transaction() as session:
                session.execute(
                    "UPDATE leases SET owner = 'intruder', token = token + 1 WHERE name = ?",
                    ("subscription:a",),
                )
            await publish(node, 11, 10)
            assert node.engine is not None
            await until(lambda: node.engine is not None and node.engine.workers == {})
        assert "a write fenced by it was refused" in caplog.text
        assert await node.queue.depth("a") == 0
        assert await node.bus.pending("a") == 10  # left to the lease's holder
    assert sorted(arrived(rx, "/a")) == list(range(1, 11))


async def test_an_older_node_leaves_a_newer_nodes_consumers_alone(cluster: Cluster) -> None:
    async with Receiver(secret=SECRET) as rx:
        newer = cluster.estate("newer", rx, hooks(["kept", "added"]))
        older = cluster.estate("older", rx, hooks(["kept"]))
        new = await cluster.node(newer, "new", is_current=lambda: True)
        await until(lambda: new.keeper is not None and new.keeper.held("reconcile") is not None)
        await cluster.node(older, "old", is_current=lambda: False)
        await publish(new, 1, 50)
        await rx.wait_for(lambda: len(set(arrived(rx, "/added"))) == 50, 30)
        assert await durables(cluster) == {
            consumer_name(cluster.prefix, "kept"),
            consumer_name(cluster.prefix, "added"),
        }
        # The node on the current revision removes what no subscription names any more.
        stale = ConsumerSpec("stale", TYPE, "new")
        await new.bus.ensure(topology_of(newer).streams, [stale])
        assert consumer_name(cluster.prefix, "stale") in await durables(cluster)
        await new.apply(newer)
        assert consumer_name(cluster.prefix, "stale") not in await durables(cluster)


async def test_a_missing_consumer_is_made_again_where_delivery_got_to(cluster: Cluster) -> None:
    async with Receiver(secret=SECRET) as rx:
        estate = cluster.estate("estate", rx, hooks(["a"]))
        node = await cluster.node(estate, "only")
        await publish(node, 1, 20)
        await rx.wait_for(lambda: len(arrived(rx, "/a")) == 20)
        nc = await nats.connect(cluster.nats_url)
        try:
            await nc.jetstream().delete_consumer(
                stream_name(cluster.prefix, TYPE), consumer_name(cluster.prefix, "a")
            )
        finally:
            await nc.close()
        await publish(node, 21, 20)
        await rx.wait_for(lambda: len(set(arrived(rx, "/a"))) == 40, 30)
        assert node.engine is not None
        assert node.engine.broken == {}
    assert sorted(arrived(rx, "/a")) == list(range(1, 41))
    assert duplicates(rx) == 0


async def durables(cluster: Cluster) -> set[str]:
    nc = await nats.connect(cluster.nats_url)
    try:
        infos = await nc.jetstream().consumers_info(stream_name(cluster.prefix, TYPE))
    finally:
        await nc.close()
    return {info.name for info in infos if info.config.durable_name}
