"""Flow durability under SIGKILL, end to end: real `interlink serve` processes calling a real
loopback System (:class:`~interlink.testing.upstreams.UpstreamThread`, which records every
request and answers slowly, so calls are in flight when a node dies).

Three flows run: ``order``, a saga (``reserve`` → ``charge`` → ``ship``, the first two undone
by ``release`` and ``refund``) whose System refuses ``charge`` for some orders and ``ship`` for
others; ``later``, ``confirm`` → a 2 s ``wait`` → ``notify``; and ``nested``, three calls then
a ``flow`` step whose child run (``booking``) is held in its first call until the first kill.
Every call's body names its run, so the System's log says which run asked, whatever
``Idempotency-Key`` it carried.

1. One node on the embedded SQLite store is killed with SIGKILL at seeded random moments while
   runs start and go, and restarted on the same store each time.
2. Two nodes on PostgreSQL (the cluster harness); one is killed mid-flight and stays dead: the
   other takes its runs over once their lease lapses.

Then, from the System's log and the store (:func:`prove`): every run ended as its order says,
none lost or stuck; each step and each compensation reached the System with one key of its
own only (``<run>:<step>``, ``<run>:<step>:compensate``), sent again only for a crash (never
more often than the attempts the store counted); each step's last request came before the
next one's first, so nothing was sent again after its checkpoint, nor by two nodes at once;
compensations ran in reverse order; waiting runs woke. ``INTERLINK_CHAOS_SEED`` picks other
kill moments.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.testing.cluster import Cluster, Services, write_estate
from interlink.testing.processes import InterlinkProcess, free_port
from interlink.testing.services import (
    nats_reachable,
    nats_url,
    redis_reachable,
    redis_url,
    require_service,
)
from interlink.testing.upstreams import UpstreamThread

pytestmark = [pytest.mark.slow]

SEED = int(os.environ.get("INTERLINK_CHAOS_SEED", "20261206"))
ORDERS = 150  # runs of the saga
LATER = 30  # runs that wait
NESTED = 20  # runs whose child run makes the calls
DELAY = 0.1  # seconds the System takes for each answer
LEASE_TTL = 2.0
ENDED = ("completed", "compensated", "failed", "cancelled", "filtered", "duplicate")


def flows(system: str) -> str:
    def call(step: str, undo: str | None = None) -> str:
        text = f'{{name: {step}, type: call, system: {system}, path: "/{step}/{{orderId}}", '
        text += "body: '{\"run\": $run.id}'"
        if undo is not None:
            text += f', compensate: {{system: {system}, path: "/{undo}/{{orderId}}", '
            text += "body: '{\"run\": $run.id}'}"
        return text + "}"

    return f"""\
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: order, owner: shop}}
spec:
  steps:
    - {call("reserve", "release")}
    - {call("charge", "refund")}
    - {call("ship")}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: later, owner: shop}}
spec:
  steps:
    - {call("confirm")}
    - {{name: pause, type: wait, for: 2s}}
    - {call("notify")}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: nested, owner: shop}}
spec:
  steps:
    - {call("prepare")}
    - {call("price")}
    - {call("quote")}
    - {{name: delegate, type: flow, flow: booking, input: '{{"orderId": orderId & "-b"}}'}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: booking, owner: shop}}
spec:
  steps:
    - {call("book")}
    - {call("pay")}
"""


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
metadata: {name: warehouse, owner: shop}
spec: {domain: logistics, baseUrl: "UPSTREAM"}
"""

# What each action's Idempotency-Key ends with, after ``<run id>:``.
KEYS = {
    "reserve": "reserve",
    "charge": "charge",
    "ship": "ship",
    "release": "reserve:compensate",
    "refund": "charge:compensate",
    "confirm": "confirm",
    "notify": "notify",
    "prepare": "prepare",
    "price": "price",
    "quote": "quote",
    "book": "book",
    "pay": "pay",
}


def expected(flow: str, order: str) -> tuple[str, list[str]]:
    """How a run ends and the calls it makes, in order: ``charge`` is refused for every
    sixth order (only ``reserve`` to undo), ``ship`` for every sixth from the third (both)."""
    if flow == "later":
        return "completed", ["confirm", "notify"]
    if flow == "nested":  # then its child run makes the calls of ``booking``
        return "completed", ["prepare", "price", "quote"]
    if flow == "booking":
        return "completed", ["book", "pay"]
    n = int(order[1:])
    if n % 6 == 0:
        return "compensated", ["reserve", "charge", "release"]
    if n % 6 == 3:
        return "compensated", ["reserve", "charge", "ship", "refund", "release"]
    return "completed", ["reserve", "charge", "ship"]


def inputs() -> list[tuple[str, dict[str, str]]]:
    """The runs to start, the waiting ones spread among the others."""
    starts: list[tuple[str, dict[str, str]]] = [
        ("order", {"orderId": f"O{n:04d}"}) for n in range(ORDERS)
    ]
    for n in range(LATER):
        starts.insert(n * ORDERS // LATER, ("later", {"orderId": f"W{n:04d}"}))
    for n in range(NESTED):
        starts.insert(n * ORDERS // NESTED + 1, ("nested", {"orderId": f"N{n:04d}"}))
    return starts


def refuse(upstream: UpstreamThread) -> None:
    """Set the System up: it says no to some orders, and keeps the first call of each child
    run unanswered until :func:`release` (so children are in flight when a node dies)."""
    for n in range(NESTED):
        upstream.hold(f"/book/N{n:04d}-b")
    for n in range(ORDERS):
        if n % 6 == 0:
            upstream.refuse(f"/charge/O{n:04d}")
        elif n % 6 == 3:
            upstream.refuse(f"/ship/O{n:04d}")


def release(upstream: UpstreamThread) -> None:
    for n in range(NESTED):
        upstream.release(f"/book/N{n:04d}-b")


def wait_until(predicate: Callable[[], Any], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what()}")
        time.sleep(0.1)


# --- starting runs through the admin API while nodes die -----------------------------------------


@dataclass
class Starter:
    """Starts the runs of :func:`inputs` one after the other on a thread of its own, each
    through the admin API ``admin()`` names at that moment. A start whose connection is
    refused (the node is down) is tried again; one whose answer was lost with its node is
    *unsure* (recorded or not): it is not tried again, so no order has two runs."""

    admin: Callable[[], str]
    token: str
    pause: float = 0.03
    accepted: dict[str, str] = field(default_factory=dict)  # run id → the admin that took it
    unsure: list[str] = field(default_factory=list)  # orders
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Starter:
        self._thread.start()
        return self

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with httpx.Client(headers=headers, timeout=10) as client:
                for flow, data in inputs():
                    self._one(client, flow, data)
                    time.sleep(self.pause)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def _one(self, client: httpx.Client, flow: str, data: dict[str, str]) -> None:
        deadline = time.monotonic() + 30
        while True:
            admin = self.admin()
            try:
                answer = client.post(f"{admin}/api/v1/flows/{flow}/runs", json=data)
            except httpx.ConnectError:  # nothing sent: try again once a node listens
                assert time.monotonic() < deadline, "no node took runs for 30 s"
                time.sleep(0.05)
                continue
            except httpx.TransportError:
                self.unsure.append(data["orderId"])
                return
            if answer.status_code == 503:  # the node is stopping: nothing recorded
                time.sleep(0.05)
                continue
            assert answer.status_code == 202, answer.text
            self.accepted[answer.json()["id"]] = admin
            return

    def join(self, timeout: float = 60) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the runs were not all started"
        assert self.error is None, repr(self.error)


# --- what the store says -------------------------------------------------------------------------


def all_runs(admin: str, token: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(headers=headers, timeout=10) as client:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{admin}/api/v1/flows/runs", params=params)
            assert page.status_code == 200, page.text
            found.extend(page.json()["items"])
            cursor = page.json()["next_cursor"]
            if not cursor:
                return found


def details(admin: str, token: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=10) as client:
        shown = {i: client.get(f"{admin}/api/v1/flows/runs/{i}") for i in ids}
    assert all(r.status_code == 200 for r in shown.values())
    return {i: r.json() for i, r in shown.items()}


def settle(admin: Callable[[], str], token: str, starter: Starter, timeout: float = 60) -> None:
    """Wait until every run the store knows ended, and every accepted one is known."""
    starter.join()
    listed: list[dict[str, Any]] = []

    def ended() -> bool:
        nonlocal listed
        listed = all_runs(admin(), token)
        known = {r["id"] for r in listed}
        pending = [r for r in listed if r["status"] not in ENDED]
        return not pending and set(starter.accepted) <= known

    def stuck() -> str:
        pending = [(r["id"], r["flow"], r["status"], r["step"]) for r in listed]
        return f"every run to end; not ended: {[p for p in pending if p[2] not in ENDED][:10]}"

    wait_until(ended, timeout, stuck)


# --- the proof -----------------------------------------------------------------------------------


@dataclass
class Proof:
    runs: int
    repeated: int  # requests sent again with the same key (a crash in their flight)
    by_run: dict[str, list[tuple[int, str, str]]]  # run → (position, action, key)


def prove(
    requests: list[dict[str, Any]], shown: dict[str, dict[str, Any]], starter: Starter, kills: int
) -> Proof:
    """Fails unless the System's log and the store show what flows promise (module docstring)."""
    by_run: dict[str, list[tuple[int, str, str]]] = {}
    for position, request in enumerate(requests):
        action = request["path"].split("/")[1]
        run = json.loads(request["body"])["run"]
        by_run.setdefault(run, []).append((position, action, request["headers"]["idempotency-key"]))
    assert set(starter.accepted) <= set(shown), "an accepted run is missing from the store"
    assert set(by_run) <= set(shown), "the System was called for a run the store does not know"
    orders = [r["input"]["orderId"] for r in shown.values()]
    assert len(orders) == len(set(orders)), "an order has two runs"
    assert set(orders) >= {data["orderId"] for _, data in inputs()} - set(starter.unsure)
    repeated = 0
    for run_id, run in shown.items():
        status, actions = expected(run["flow"], run["input"]["orderId"])
        where = f"run {run_id} ({run['flow']} {run['input']['orderId']})"
        assert run["status"] == status, f"{where} ended {run['status']}: {run['error']}"
        calls = by_run.get(run_id, [])
        seen = list(dict.fromkeys(action for _, action, _ in calls))
        assert seen == actions, f"{where} called {seen}, not {actions}"
        attempts = {
            (s["name"], s["phase"]): s["attempts"] for s in run["steps"] if s["kind"] == "call"
        }
        for action in actions:
            sent = [(p, key) for p, a, key in calls if a == action]
            keys = {key for _, key in sent}
            assert keys == {f"{run_id}:{KEYS[action]}"}, f"{where}: {action} sent with {keys}"
            # A request again only for a crash in its flight (the System never failed one).
            assert len(sent) <= 1 + kills, f"{where}: {action} sent {len(sent)} times"
            step, _, undo = KEYS[action].partition(":")
            phase = "compensate" if undo else "forward"
            assert len(sent) <= attempts[(step, phase)], f"{where}: {action} sent uncounted"
            repeated += len(sent) - 1
        # Each action starts after the one before was checkpointed: the last request of one
        # precedes the first of the next, so none was sent after its checkpoint, nor by a
        # second node while another still worked on it. Compensations in reverse order follow.
        for before, after in itertools.pairwise(actions):
            last = max(p for p, a, _ in calls if a == before)
            first = min(p for p, a, _ in calls if a == after)
            assert last < first, f"{where}: {before} sent again after {after} began"
        if run["flow"] == "later":
            pause = [s for s in run["steps"] if s["name"] == "pause"]
            assert [s["status"] for s in pause] == ["completed"], f"{where} did not wake"
    return Proof(len(shown), repeated, by_run)


# --- 1. one node on SQLite, killed and restarted -------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as server:
        server.slow(DELAY)
        refuse(server)
        yield server


def test_runs_survive_sigkill_and_restarts_of_one_node(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = tmp_path / "estate"
    root.mkdir()
    (root / "estate.yaml").write_text(ESTATE.replace("UPSTREAM", upstream.url) + flows("warehouse"))
    admin = f"127.0.0.1:{free_port()}"
    env = {"INTERLINK_LEASE_TTL": str(LEASE_TTL), "INTERLINK_ACCESS_LOG": "false"}
    processes: list[InterlinkProcess] = []

    def serve() -> InterlinkProcess:
        proc = InterlinkProcess(["serve", str(root), "--admin-listen", admin], env=env).start()
        processes.append(proc)
        proc.wait_for(r"gateway on http://", timeout=60)
        return proc

    rng = random.Random(SEED)
    kills = 3
    try:
        proc = serve()
        token = proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        starter = Starter(lambda: f"http://{admin}", token).start()
        for _ in range(kills):
            time.sleep(rng.uniform(0.3, 1.8))  # runs are starting, calling and waiting
            proc.kill()
            release(upstream)
            proc = serve()
        settle(lambda: f"http://{admin}", token, starter)
        shown = details(
            f"http://{admin}", token, [r["id"] for r in all_runs(f"http://{admin}", token)]
        )
        proof = prove(list(upstream.requests), shown, starter, kills)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nseed {SEED}; last node:\n{processes[-1].output[-4000:]}"
        ) from None
    finally:
        for proc in processes:
            proc.stop()
    print(
        f"\nseed {SEED}: {proof.runs} runs through {kills} kills; {proof.repeated} call(s) in "
        f"flight sent again with their key; {len(starter.unsure)} start(s) unsure"
    )
    # The kills landed on calls in flight (else this proved nothing about them).
    assert proof.repeated > 0


# --- 2. two nodes on PostgreSQL, one killed for good ---------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    require_service("NATS", lambda: nats_reachable(nats_url()))
    require_service("Redis", lambda: redis_reachable(redis_url()))
    made = Cluster(tmp_path, Services(pg_url, nats_url(), redis_url()), lease_ttl=LEASE_TTL)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.redis
def test_a_dead_nodes_runs_are_taken_over_by_the_other(cluster: Cluster) -> None:
    root = write_estate(
        cluster.tmp / "estate", cluster.services, cluster.receiver.url, cluster.upstream.url, []
    )
    with (root / "estate.yaml").open("a") as estate:
        estate.write(flows("crm").replace("owner: shop", "owner: ops"))
    cluster.upstream.slow(DELAY)
    refuse(cluster.upstream)
    a, b = cluster.start_all(["a", "b"], root)
    turn = iter(range(1 << 30))

    def admin() -> str:  # the nodes in turn, the living one only after the kill
        alive = [n for n in (a, b) if n.running]
        return alive[next(turn) % len(alive)].admin

    rng = random.Random(SEED)
    starter = Starter(admin, cluster.token, pause=0.01).start()
    try:
        time.sleep(rng.uniform(1.0, 2.0))
        killed_at = len(cluster.upstream.requests)
        cluster.kill(a)
        release(cluster.upstream)
        settle(lambda: b.admin, cluster.token, starter)
        listed = all_runs(b.admin, cluster.token)
        shown = details(b.admin, cluster.token, [r["id"] for r in listed])
        proof = prove(list(cluster.upstream.requests), shown, starter, kills=1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nseed {SEED}\n{cluster.report()}") from None
    # b finished runs a had started and not finished: they called the System after the kill.
    through_a = {run for run, via in starter.accepted.items() if via == a.admin}
    taken = {
        run
        for run in through_a
        if any(position >= killed_at for position, _, _ in proof.by_run.get(run, []))
    }
    print(
        f"\nseed {SEED}: {proof.runs} runs, {len(taken)} of node a's taken over by node b; "
        f"{proof.repeated} call(s) in flight sent again with their key"
    )
    assert taken, "node a had no run in flight when it was killed"
