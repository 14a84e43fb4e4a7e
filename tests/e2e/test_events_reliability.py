"""What the event mesh promises when things break, proven on a real `interlink serve`.

- A platform killed with SIGKILL in the middle of ingesting and delivering loses nothing it
  acknowledged: after a restart on the same estate and store, every accepted event reaches every
  subscription at least once, and a receiver that deduplicates on ``webhook-id`` sees each once.
- A NATS JetStream server that dies turns publishes into 503 with ``Retry-After`` (never a 202
  for an event it did not store); when it is back, publishing and delivery resume by themselves.
- A receiver that never answers holds only its own subscription's ``maxInFlight`` requests; the
  other subscription of the same event gets everything.

Receivers are :class:`interlink.testing.receivers.Receiver` instances on an event loop of their
own thread, so they keep answering while the test thread waits, kills and restarts.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from interlink.events.signing import generate_secret
from interlink.sdk import AsyncPublisher, Publisher, PublishError, Receipt
from interlink.testing.cluster import Loop
from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.receivers import Received, Receiver, Reply
from interlink.testing.services import nats_reachable, require_service

TYPE = "customer.address-updated"
NATS_SERVER = Path("/usr/sbin/nats-server")
T = TypeVar("T")


def address(n: int, keys: int) -> dict[str, object]:
    """Event ``n``'s data; ``keys`` customers take turns, so each has several events in order."""
    return {
        "customerId": f"C{n % keys:06d}",
        "address": {"street": f"{n} Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
        "changedAt": "2026-11-22T10:00:00Z",
    }


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail, saying ``what`` was awaited, after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


# --- receivers on a loop of their own ------------------------------------------------------------


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


@dataclass
class Hook:
    """A receiver and the secret its subscription signs with."""

    loop: Loop
    receiver: Receiver
    secret: str

    def delivered(self) -> list[str]:
        """Event ids answered 2xx, first delivery (by webhook-id) only, in the order they came."""
        return self.loop.call(lambda: [str(r.event_id) for r in self.receiver.delivered])

    def requests(self) -> list[Received]:
        return self.loop.call(lambda: list(self.receiver.requests))

    def stat(self, fn: Callable[[Receiver], T]) -> T:
        return self.loop.call(lambda: fn(self.receiver))


def hook(loop: Loop) -> Hook:
    secret = generate_secret()

    async def start() -> Receiver:
        return await Receiver(secret=secret).start()

    return Hook(loop, loop.run(start()), secret)


def fail_first_try(every: int) -> Callable[[Received], bool]:
    """A rule matching the first request for every ``every``-th event id (ids end in a number).

    The receiver calls it only for events it has not accepted, on its own thread.
    """
    failed: set[str] = set()

    def when(request: Received) -> bool:
        event_id = str(request.event_id)
        if event_id in failed or int(event_id.rsplit("-", 1)[1]) % every:
            return False
        failed.add(event_id)
        return True

    return when


# --- an estate served by `interlink serve` --------------------------------------------------------


@dataclass
class Site:
    """A copy of the retail estate whose logistics and analytics Systems point at our hooks."""

    root: Path
    env: dict[str, str]
    gateway: str
    admin: str
    key: str
    logistics: Hook
    analytics: Hook
    processes: list[InterlinkProcess] = field(default_factory=list)

    def serve(self) -> InterlinkProcess:
        """`interlink serve` on the site, on the same ports and store every time."""
        proc = InterlinkProcess(
            ["serve", str(self.root), "--admin-listen", self.admin], env=self.env
        ).start()
        self.processes.append(proc)
        proc.wait_for(r"gateway on http://", timeout=60)
        return proc

    def stop(self) -> None:
        for proc in self.processes:
            proc.stop()


def edit(path: Path, *replacements: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements:
        assert old in text, f"{old!r} is not in {path}"
        text = text.replace(old, new)
    path.write_text(text)


@pytest.fixture
def site(retail_dir: Path, tmp_path: Path, loop: Loop) -> Iterator[Site]:
    logistics, analytics = hook(loop), hook(loop)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "logistics-webhook-secret").write_text(logistics.secret)
    (secrets / "analytics-webhook-secret").write_text(analytics.secret)
    edit(
        retail_dir / "systems" / "operations.yaml",
        ("http://127.0.0.1:9103", logistics.receiver.url),
        ("http://127.0.0.1:9104", analytics.receiver.url),
    )
    created = run_interlink(["consumers", "key", "create", "crm-publisher"], cwd=retail_dir)
    assert created.returncode == 0, created.stderr
    gateway = f"127.0.0.1:{free_port()}"  # fixed, so a restarted platform is found again
    env = {"INTERLINK_SECRETS_DIR": str(secrets), "INTERLINK_GATEWAY_LISTEN": gateway}
    site = Site(
        retail_dir,
        env,
        f"http://{gateway}",
        f"127.0.0.1:{free_port()}",
        created.stdout.strip(),
        logistics,
        analytics,
    )
    try:
        yield site
    finally:
        site.stop()
        for receiver in (logistics.receiver, analytics.receiver):
            loop.run(receiver.stop())


# --- 1. SIGKILL in the middle of the work ---------------------------------------------------------

EVENTS = 5_000
KEYS = 1_000  # five events per customer, so ordered delivery has something to keep in order
KILL_AFTER = 2_000  # acknowledged events before the kill
HELD_BACK = 3_000  # events offered before the kill; the rest only after it


@dataclass
class Feed:
    """Publishes ``EVENTS`` events through the batching client, on a thread of its own.

    Only the first ``HELD_BACK`` are offered before ``killed`` is set, so the kill always lands
    mid-stream: some thousands acknowledged, more offered and (typically) in flight.
    """

    gateway: str
    key: str
    events: list[dict[str, Any]]
    killed: threading.Event = field(default_factory=threading.Event)
    acked: dict[str, Receipt] = field(default_factory=dict)
    failed: dict[str, PublishError] = field(default_factory=dict)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        async with AsyncPublisher(self.gateway, source="crm", key=self.key) as publisher:
            sends: list[asyncio.Task[None]] = []
            for n, event in enumerate(self.events):
                if n == HELD_BACK:
                    await asyncio.to_thread(self.killed.wait, 120)
                sends.append(asyncio.create_task(self._send(publisher, event)))
                if n % 100 == 99:
                    await asyncio.sleep(0.01)  # a steady stream, not one burst
            await asyncio.gather(*sends)

    async def _send(self, publisher: AsyncPublisher, event: dict[str, Any]) -> None:
        try:
            receipt = await publisher.send(event)
        except PublishError as exc:  # not acknowledged before the client's deadline
            self.failed[event["id"]] = exc
        else:
            self.acked[receipt.id] = receipt


@pytest.mark.slow
def test_a_killed_platform_loses_nothing_it_acknowledged(site: Site) -> None:
    # Retries are in flight throughout: analytics fails the first try of every 3rd event (its
    # first retry comes after 2s), logistics of every 7th (after 5s, and being ordered, each
    # holds its customer's later events until it is through). The example's schedules are kept.
    site.analytics.receiver.script(Reply(500), times=None, when=fail_first_try(3))
    site.logistics.receiver.script(Reply(500), times=None, when=fail_first_try(7))
    first = site.serve()

    with Publisher(site.gateway, source="crm", key=site.key) as maker:
        events = [maker.event(TYPE, address(n, KEYS), id=f"kill-{n:05d}") for n in range(EVENTS)]
    feed = Feed(site.gateway, site.key, events)
    feed.start()

    def mid_work() -> bool:
        failing = site.analytics.stat(lambda r: r.counts["requests"] - r.counts["delivered"])
        return len(feed.acked) >= KILL_AFTER and failing > 0 and bool(site.logistics.delivered())

    wait_until(mid_work, 90, f"{KILL_AFTER} events acknowledged and deliveries under way")
    assert first.kill() == -signal.SIGKILL
    acked_at_kill = len(feed.acked)
    assert acked_at_kill < EVENTS
    feed.killed.set()

    site.serve()  # the same estate, store and ports
    assert feed.thread is not None
    feed.thread.join(180)
    assert not feed.thread.is_alive(), "the publisher did not finish"
    # An event whose batch outlived the client's deadline may still have been stored: it is
    # sent again with the same id, and deduplication makes that harmless.
    if feed.failed:
        again = [e for e in events if e["id"] in feed.failed]
        with Publisher(site.gateway, source="crm", key=site.key) as publisher:
            for receipt in publisher.publish_many(again):
                feed.acked[receipt.id] = receipt
    acknowledged = set(feed.acked)
    assert acknowledged == {e["id"] for e in events}
    assert len({r.seq for r in feed.acked.values()}) == EVENTS  # one log position each

    def all_delivered() -> bool:
        return all(acknowledged <= set(h.delivered()) for h in (site.logistics, site.analytics))

    wait_until(all_delivered, 150, "every acknowledged event at both receivers")

    for hook_ in (site.logistics, site.analytics):
        delivered = hook_.delivered()
        # At least once, and exactly once behind a receiver that deduplicates on webhook-id.
        assert len(delivered) == len(set(delivered)) == len(acknowledged)
        assert set(delivered) == acknowledged  # nothing unknown
        assert hook_.stat(lambda r: r.counts["bad_signatures"]) == 0
    # Every 3rd event failed its first try at analytics, and came again.
    assert site.analytics.stat(lambda r: r.counts["requests"] - r.counts["duplicates"]) >= (
        EVENTS + EVENTS // 3
    )

    # Logistics is ordered: each customer's events arrived in the order of the log, across the
    # kill, the restart and the retries.
    seq = {i: r.seq for i, r in feed.acked.items()}
    per_customer: dict[str, list[int]] = {}
    for request in site.logistics.requests():
        if 200 <= request.status < 300 and not request.duplicate:
            per_customer.setdefault(request.event["data"]["customerId"], []).append(
                seq[str(request.event_id)]
            )
    assert len(per_customer) == KEYS
    assert all(seqs == sorted(seqs) for seqs in per_customer.values())


# --- 2. NATS JetStream goes away and comes back ---------------------------------------------------


class PrivateNats:
    """A nats-server of the test's own on a free port, so killing it disturbs nobody else."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        self.proc = subprocess.Popen(
            [*command, "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._ready, 15, "nats-server to start")

    def _ready(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, "nats-server exited"
        return nats_reachable(self.url, timeout=0.5) is True

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    require_service(
        "nats-server", lambda: NATS_SERVER.exists() or f"{NATS_SERVER} is not installed"
    )
    server = PrivateNats(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Answer:
    status: int
    content_type: str
    retry_after: str | None


@dataclass
class SteadyPublisher:
    """Posts batches of ten events over plain HTTP until told to stop; a batch that is not
    accepted is posted again, with the same ids, until it is."""

    gateway: str
    key: str
    answers: list[Answer] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # id → seq
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        assert self.thread is not None
        self.thread.join(60)
        assert not self.thread.is_alive(), "the publisher did not finish its last batch"

    def _run(self) -> None:
        headers = {"x-api-key": self.key, "content-type": "application/cloudevents-batch+json"}
        n = 0
        batch: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.gateway, headers=headers, timeout=15) as client:
            while batch or not self.stopping.is_set():
                if not batch:
                    batch = [self._event(n + i) for i in range(10)]
                    n += 10
                try:
                    response = client.post("/events", content=json.dumps(batch))
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                self.answers.append(
                    Answer(
                        response.status_code,
                        response.headers.get("content-type", ""),
                        response.headers.get("retry-after"),
                    )
                )
                if response.status_code == 202:
                    for result in response.json()["events"]:
                        self.acked[result["id"]] = result["seq"]
                    batch = []
                time.sleep(0.02)

    @staticmethod
    def _event(n: int) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"nats-{n:06d}",
            "source": "crm",
            "type": TYPE,
            "time": "2026-11-22T10:00:00Z",
            "datacontenttype": "application/json",
            "data": address(n, 50),
        }


@pytest.mark.slow
@pytest.mark.nats
def test_a_nats_outage_gives_503_and_delivery_resumes_by_itself(
    site: Site, private_nats: PrivateNats
) -> None:
    prefix = f"rel{uuid.uuid4().hex[:8]}"
    edit(
        site.root / "platform.yaml",
        (
            "backend: embedded",
            f"backend: nats\n    url: {private_nats.url}\n    streamPrefix: {prefix}",
        ),
    )
    proc = site.serve()
    assert "nats backend" in proc.output
    publisher = SteadyPublisher(site.gateway, site.key)
    publisher.start()
    try:
        wait_until(lambda: len(publisher.acked) >= 200, 60, "publishing to NATS")
        wait_until(lambda: len(site.analytics.delivered()) >= 100, 60, "deliveries from NATS")

        private_nats.kill()
        answered = len(publisher.answers)
        wait_until(
            lambda: sum(a.status == 503 for a in publisher.answers[answered:]) >= 20,
            60,
            "publishers to be told 503 while NATS is down",
        )
        acked_while_down = len(publisher.acked)

        private_nats.start()  # the same port and store
        wait_until(
            lambda: len(publisher.acked) >= acked_while_down + 200,
            60,
            "publishing to succeed again once NATS is back",
        )
    finally:
        publisher.stop()

    assert {a.status for a in publisher.answers} == {202, 503}
    for answer in publisher.answers:
        if answer.status == 503:
            assert answer.content_type == "application/problem+json"
            assert answer.retry_after is not None
            assert int(answer.retry_after) >= 1

    acknowledged = set(publisher.acked)

    def all_delivered() -> bool:
        return all(acknowledged <= set(h.delivered()) for h in (site.logistics, site.analytics))

    wait_until(all_delivered, 120, "every acknowledged event at both receivers after the outage")
    for hook_ in (site.logistics, site.analytics):
        delivered = hook_.delivered()
        assert len(delivered) == len(set(delivered))
        assert set(delivered) == acknowledged  # no 202 lost, nothing unacknowledged delivered
    assert proc.proc is not None
    assert proc.proc.poll() is None  # it rode the outage out


# --- 3. A receiver that never answers -------------------------------------------------------------


@pytest.mark.slow
def test_a_hanging_receiver_holds_only_its_own_slots(site: Site) -> None:
    # Logistics never answers, and its requests time out only after five minutes here (10s by
    # default), so its slots stay taken for the whole test; analytics, a subscription of the
    # same event, must not notice.
    edit(
        site.root / "events" / "subscriptions.yaml",
        ("  ordered: true\n", "  ordered: true\n  timeout: 5m\n"),
    )
    site.logistics.receiver.hang()
    site.serve()
    count = 300
    with Publisher(site.gateway, source="crm", key=site.key) as publisher:
        receipts = publisher.publish_many(
            [publisher.event(TYPE, address(n, count), id=f"hang-{n:04d}") for n in range(count)]
        )
    ids = {r.id for r in receipts}
    # Logistics' maxInFlight is the default 16: its slots fill up and stay full...
    wait_until(
        lambda: site.logistics.stat(lambda r: r.active) == 16, 30, "logistics to fill its slots"
    )
    # ...while analytics gets every event.
    wait_until(lambda: set(site.analytics.delivered()) == ids, 60, "analytics to get everything")
    assert site.logistics.stat(lambda r: (r.active, r.max_concurrency)) == (16, 16)
    assert site.logistics.delivered() == []
