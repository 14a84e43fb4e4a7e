"""Several real `interlink serve` processes running one platform, for end-to-end tests and
benchmarks.

Every node shares one PostgreSQL schema, one NATS stream prefix and one Redis key prefix, all
made for this cluster alone and named in the estate's Platform object (``store.url``,
``events`` and ``gateway.rateLimitStore``, as an operator would configure them). Each node has
an admin and a gateway port of its own on 127.0.0.1, kept across restarts. Subscriptions
deliver to a loopback :class:`~interlink.testing.receivers.Receiver` in this process, on an
event loop of its own thread, so it answers while the caller waits, kills and restarts.
``close`` kills what is still running, deletes the streams and the Redis keys and drops the
schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import psycopg
import redis
import yaml
from psycopg import sql

from interlink.events.backends.nats_names import consumer_name, owned, stream_name
from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher, Receipt
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.receivers import Received, Receiver, Reply
from interlink.testing.upstreams import UpstreamThread

TYPE = "order.created"
KEY_FIELD = "key"  # the Event's orderingKey
T = TypeVar("T")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails, saying ``what`` was awaited, past ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


class Loop:
    """An asyncio loop on a daemon thread; the caller runs code on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the loop's thread, so it reads the receiver between two requests."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


# --- the estate --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    """A webhook Subscription to ``/<name>`` on the receiver."""

    name: str
    ordered: bool = False
    max_in_flight: int = 16


@dataclass(frozen=True)
class Services:
    store_url: str  # a PostgreSQL URL with a ``schema=`` of this cluster's own
    nats_url: str
    redis_url: str
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:12]}")

    @property
    def schema(self) -> str:
        return self.store_url.rsplit("schema=", 1)[1].split("&")[0]

    @property
    def redis_prefix(self) -> str:
        return f"il-test-{self.prefix}:"


def obj(kind: str, name: str, spec: dict[str, Any], owner: str | None = "ops") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["owner"] = owner
    return {"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec}


def write_estate(
    root: Path,
    services: Services,
    receiver: str,
    upstream: str,
    subs: Sequence[Sub],
    routes: Sequence[str] = ("/orders",),
    per_minute: int = 100_000,
) -> Path:
    """The estate at ``root``: one Event (ordered by ``data.key``), ``subs`` to ``receiver``,
    a Route per path in ``routes`` to ``upstream``, anonymous callers limited to
    ``per_minute`` requests a minute (shared in Redis)."""
    root.mkdir(parents=True, exist_ok=True)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {KEY_FIELD: {"type": "string"}, "n": {"type": "integer"}},
        "required": [KEY_FIELD],
    }
    (root / "order.schema.json").write_text(json.dumps(schema))
    platform = {
        "store": {"url": services.store_url},
        "events": {"backend": "nats", "url": services.nats_url, "streamPrefix": services.prefix},
        "gateway": {"rateLimitStore": f"{services.redis_url}?prefix={services.redis_prefix}"},
    }
    docs = [
        obj("Platform", "cluster", platform, owner=None),
        obj("Team", "ops", {"channels": [{"type": "email", "to": "ops@example.com"}]}, None),
        obj("System", "shop", {"domain": "sales", "baseUrl": "http://127.0.0.1:9"}),
        obj("System", "hooks", {"domain": "ops", "baseUrl": receiver}),
        obj("System", "crm", {"domain": "sales", "baseUrl": upstream}),
        obj(
            "Event",
            TYPE,
            {
                "system": "shop",
                "schemas": [{"version": 1, "file": "order.schema.json"}],
                "orderingKey": KEY_FIELD,
            },
        ),
        obj("Plan", "anonymous", {"limits": [{"requests": per_minute, "per": "1m"}]}, None),
    ]
    for sub in subs:
        spec: dict[str, Any] = {
            "event": TYPE,
            "target": {"system": "hooks", "path": f"/{sub.name}"},
            "secret": "${secret:hook-secret}",
            "ordered": sub.ordered,
            "maxInFlight": sub.max_in_flight,
            "startAt": "earliest",
            "retry": {"schedule": ["1s", "5s"], "jitter": 0},
        }
        docs.append(obj("Subscription", sub.name, spec))
    for path in routes:
        name = path.strip("/").replace("/", "-")
        spec = {"match": {"path": path}, "upstreams": [{"system": "crm"}]}
        docs.append(obj("Route", name, spec))
    (root / "estate.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return root


def policy(per_minute: int) -> str:
    """The RateLimit-Policy header the gateway sends under the estate's anonymous Plan."""
    return f'"{per_minute}-per-1m";q={per_minute};w=60'


# --- nodes -------------------------------------------------------------------------------------


@dataclass
class Node:
    """One `interlink serve`; its ports stay the same across restarts."""

    name: str
    directory: Path
    admin_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    proc: InterlinkProcess | None = None
    runs: list[InterlinkProcess] = field(default_factory=list)  # every process it has been

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def output(self) -> str:
        return "\n".join(run.output for run in self.runs)

    @property
    def running(self) -> bool:
        popen = self.proc.proc if self.proc is not None else None
        return popen is not None and popen.poll() is None

    def limit_policy(self, path: str = "/orders") -> str | None:
        found: str | None = httpx.get(f"{self.gateway}{path}", timeout=5).headers.get(
            "ratelimit-policy"
        )
        return found


class Cluster:
    """Nodes running one platform on ``services``, delivering to one receiver."""

    def __init__(
        self,
        tmp: Path,
        services: Services,
        *,
        lease_ttl: float = 2.0,
        reply: Reply | None = None,
        keep: bool = True,
    ) -> None:
        self.tmp = tmp
        self.services = services
        self.lease_ttl = lease_ttl
        self.secret = generate_secret()
        self.loop = Loop()
        self.receiver: Receiver = self.loop.run(
            Receiver(secret=self.secret, default=reply, keep=keep).start()
        )
        self.upstream = UpstreamThread().start()
        self.nodes: list[Node] = []
        self.token = ""

    def estate(self, name: str, subs: Sequence[Sub], **options: Any) -> Path:
        return write_estate(
            self.tmp / name, self.services, self.receiver.url, self.upstream.url, subs, **options
        )

    # --- processes ---------------------------------------------------------------------------

    def start(self, name: str, directory: Path) -> Node:
        node = Node(name, directory)
        self.nodes.append(node)
        return self.run(node)

    def start_all(self, names: Sequence[str], directory: Path) -> list[Node]:
        """A node per name, all from ``directory``: the first alone (it makes the schema and
        the admin token), the others side by side."""
        first = [] if self.token else [self.start(names[0], directory)]
        rest = [Node(name, directory) for name in names[len(first) :]]
        self.nodes.extend(rest)
        for node in rest:
            self.launch(node)
        for node in rest:
            self.ready(node)
        return [*first, *rest]

    def run(self, node: Node, directory: Path | None = None) -> Node:
        """(Re)start ``node``, from ``directory`` if given; returns once its gateway serves."""
        self.launch(node, directory)
        return self.ready(node)

    def launch(self, node: Node, directory: Path | None = None) -> None:
        node.directory = directory or node.directory
        env = {
            "INTERLINK_SECRET_HOOK_SECRET": self.secret,
            "INTERLINK_LEASE_TTL": str(self.lease_ttl),
            "INTERLINK_ACCESS_LOG": "false",
        }
        args = ["serve", str(node.directory), "--admin-listen", f"127.0.0.1:{node.admin_port}"]
        args += ["--gateway-listen", f"127.0.0.1:{node.gateway_port}"]
        node.proc = InterlinkProcess(args, env=env).start()
        node.runs.append(node.proc)

    def ready(self, node: Node, tries: int = 3) -> Node:
        """Wait until ``node`` serves. A port taken by someone else between choosing it and
        listening on it is chosen again."""
        assert node.proc is not None
        for tried in range(1, tries + 1):
            try:
                node.proc.wait_for(r"interlink: gateway on http://", timeout=60)
                break
            except AssertionError:
                if tried == tries or "address already in use" not in node.proc.output:
                    raise
                node.admin_port, node.gateway_port = free_port(), free_port()
                self.launch(node)
        if not self.token:
            found = node.proc.wait_for(r"admin token \(shown once, store it now\): (\S+)")
            self.token = found.group(1)
        return node

    def kill(self, node: Node) -> None:
        """SIGKILL: nothing of the node's shutdown runs, its leases stay until they expire."""
        assert node.proc is not None
        node.proc.kill()

    def kill_and_time(self, victim: Node, timeout: float = 60.0) -> Takeover:
        """Kill ``victim`` and time, for each subscription it held, how long until another node
        delivered it: the first request the receiver got after another node was seen holding
        the lease (polled every 50 ms, so a takeover counts up to that much late). Events must
        keep coming for the subscriptions to have something to deliver."""
        victim_id = self.node_id(victim)
        subs = sorted(sub for sub, owner in self.leases().items() if owner == victim_id)
        seen = self.count(lambda r: len(r.requests))  # requests before the kill
        killed_at = datetime.now(UTC)
        self.kill(victim)
        taken: dict[str, datetime] = {}

        def moved() -> bool:
            for sub, owner in self.leases().items():
                if sub in subs and owner != victim_id:
                    taken.setdefault(sub, datetime.now(UTC))
            return len(taken) == len(subs)

        wait_until(moved, timeout, f"{subs} held by a node other than {victim.name}")
        resumed: dict[str, datetime] = {}

        def delivering() -> bool:
            for request in self.count(lambda r: r.requests[seen:]):
                sub = request.path[1:]
                if sub in subs and sub not in resumed and request.at >= taken[sub]:
                    resumed[sub] = request.at
            return len(resumed) == len(subs)

        wait_until(delivering, timeout, f"{subs} delivered by another node")
        return Takeover(victim.name, {s: (resumed[s] - killed_at).total_seconds() for s in subs})

    def spread(self, subs: Sequence[Sub], timeout: float = 30.0) -> None:
        """Wait until every subscription is held and no running node holds more than its
        share (what the lease keeper aims at)."""
        ids = [self.node_id(n) for n in self.nodes if n.running]
        share = -(-len(subs) // len(ids))

        def settled() -> bool:
            owners = list(self.leases().items())
            held = sorted(sub for sub, _ in owners)
            per_node = [sum(1 for _, owner in owners if owner == i) for i in ids]
            return held == sorted(s.name for s in subs) and max(per_node) <= share

        wait_until(settled, timeout, f"{len(subs)} subscriptions spread over {len(ids)} nodes")

    def stop(self, node: Node) -> None:
        assert node.proc is not None
        node.proc.stop()

    def apply(self, directory: Path, node: Node) -> str:
        """`interlink apply DIRECTORY` through ``node``'s admin API; its one-line answer."""
        args = ["apply", str(directory), "--admin", node.admin, "--token", self.token]
        done = run_interlink(args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    # --- what the store and the bus say ------------------------------------------------------

    def api(self, node: Node, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        answer = httpx.get(f"{node.admin}{path}", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def node_id(self, node: Node) -> str:
        """The id ``node``'s current process reports for itself (its lease owner name)."""
        listed = self.api(node, "/api/v1/nodes")["nodes"]
        (me,) = [n["id"] for n in listed if n["self"]]
        return str(me)

    def leases(self) -> dict[str, str]:
        """Unexpired subscription leases: subscription name → owner."""
        query = sql.SQL(
            "SELECT name, owner FROM {}.leases WHERE name LIKE 'subscription:%' "
            "AND expires_at > now()"
        ).format(sql.Identifier(self.services.schema))
        server = self.services.store_url.split("?")[0]
        with psycopg.connect(server, autocommit=True) as conn:
            rows = conn.execute(query).fetchall()
        return {str(name).split(":", 1)[1]: str(owner) for name, owner in rows}

    def durable(self, subscription: str) -> str:
        """The name of ``subscription``'s NATS consumer."""
        return consumer_name(self.services.prefix, subscription)

    def durables(self) -> set[str]:
        """The names of the durable NATS consumers on the event's stream."""

        async def names() -> set[str]:
            nc = await nats.connect(self.services.nats_url)
            try:
                infos = await nc.jetstream().consumers_info(stream_name(self.services.prefix, TYPE))
            finally:
                await nc.close()
            return {info.name for info in infos if info.config.durable_name}

        return asyncio.run(names())

    # --- the receiver --------------------------------------------------------------------------

    def delivered(self) -> list[Received]:
        """First deliveries (by ``webhook-id`` per path), in the order they arrived."""
        return self.loop.call(lambda: list(self.receiver.delivered))

    def count(self, fn: Callable[[Receiver], T]) -> T:
        return self.loop.call(lambda: fn(self.receiver))

    def report(self, lines: int = 30) -> str:
        """Where things stand, for a failure message: deliveries per path, who holds which
        subscription, and the end of each node's log."""
        counts = self.count(lambda r: dict(r.counts))
        per_path: dict[str, int] = {}
        for request in self.delivered():
            per_path[request.path] = per_path.get(request.path, 0) + 1
        names = {}
        for node in self.nodes:
            if node.running:
                with contextlib.suppress(AssertionError, httpx.HTTPError):
                    names[self.node_id(node)] = node.name
        owners = {sub: names.get(owner, owner) for sub, owner in sorted(self.leases().items())}
        text = [f"receiver: {counts}", f"first deliveries per path: {per_path}"]
        text.append(f"subscription leases: {owners}")
        for node in self.nodes:
            tail = node.output.splitlines()[-lines:]
            text.append(f"--- node {node.name} ---")
            text.extend(tail)
        return "\n".join(text)

    def close(self) -> None:
        for node in self.nodes:
            for run in node.runs:
                run.kill()
        self.loop.run(self.receiver.stop())
        self.loop.close()
        self.upstream.stop()
        asyncio.run(delete_streams(self.services.nats_url, self.services.prefix))
        delete_keys(self.services.redis_url, self.services.redis_prefix)
        drop_schema(self.services.store_url)


async def delete_streams(url: str, prefix: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            name = stream.config.name
            if name and owned(prefix, name):
                await js.delete_stream(name)
    finally:
        await nc.close()


def delete_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def drop_schema(store_url: str) -> None:
    server, _, query = store_url.partition("?")
    schema = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("schema")
    if schema:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Takeover:
    victim: str
    seconds: dict[str, float]  # per subscription it held: from the kill to another's delivery

    @property
    def worst(self) -> float:
        return max(self.seconds.values(), default=0.0)


# --- publishing --------------------------------------------------------------------------------


class Feed:
    """Publishes ``events`` in batches of ``batch`` through ``gateways`` in turn, pausing
    ``pause`` seconds between batches, on a thread of its own: events keep coming while the
    caller kills, restarts and waits. ``stop()`` ends it early."""

    def __init__(
        self,
        gateways: Sequence[str],
        token: str,
        events: Sequence[dict[str, Any]],
        *,
        batch: int = 100,
        pause: float = 0.02,
    ) -> None:
        self.gateways = list(gateways)
        self.token = token
        self.events = events
        self.batch = batch
        self.pause = pause
        self.receipts: dict[str, Receipt] = {}
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Feed:
        self._thread.start()
        return self

    async def _run(self) -> None:
        publishers = [AsyncPublisher(g, source="shop", token=self.token) for g in self.gateways]
        try:
            for n, start in enumerate(range(0, len(self.events), self.batch)):
                if self._stopping.is_set():
                    break
                publisher = publishers[n % len(publishers)]
                receipts = await publisher.publish_many(self.events[start : start + self.batch])
                self.receipts.update((r.id, r) for r in receipts)
                await asyncio.sleep(self.pause)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            for publisher in publishers:
                await publisher.close()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float) -> dict[str, Receipt]:
        """Every event's receipt once all are published; fails if publishing failed."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the publisher did not finish"
        assert self.error is None, repr(self.error)
        return self.receipts


def event(n: int, keys: int) -> dict[str, Any]:
    """Event ``n``: ``keys`` keys take turns, so each key has several events to keep in order."""
    return {
        "specversion": "1.0",
        "type": TYPE,
        "source": "shop",
        "id": f"e{n:06d}",
        "time": "2026-12-06T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {KEY_FIELD: f"k{n % keys:04d}", "n": n},
    }


async def publish_round_robin(
    gateways: Sequence[str], token: str, events: Sequence[dict[str, Any]]
) -> dict[str, Receipt]:
    """Each event through the next gateway in turn, all at once (the client batches them);
    event id → receipt."""
    publishers = [AsyncPublisher(g, source="shop", token=token) for g in gateways]
    shares = [list(events[i :: len(gateways)]) for i in range(len(gateways))]
    try:
        sends = (p.publish_many(s) for p, s in zip(publishers, shares, strict=True))
        done = await asyncio.gather(*sends)
    finally:
        for publisher in publishers:
            await publisher.close()
    return {r.id: r for receipts in done for r in receipts}


def out_of_order(delivered: Sequence[Received], path: str, seq: dict[str, int]) -> list[str]:
    """The keys on ``path`` whose first deliveries did not arrive in log (``seq``) order."""
    by_key: dict[str, list[int]] = {}
    for request in delivered:
        if request.path == path:
            key = request.event["data"][KEY_FIELD]
            by_key.setdefault(key, []).append(seq[str(request.event_id)])
    return sorted(key for key, seqs in by_key.items() if seqs != sorted(seqs))
