"""The flow engine against a real store (SQLite and PostgreSQL) and loopback upstreams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.errors import BusUnavailable, ConfigError
from interlink.estate.check import check_estate
from interlink.estate.kinds.flow import Flow, FlowSpec
from interlink.estate.loader import load_estate
from interlink.events.backends.embedded import EmbeddedBus
from interlink.events.ingress import EventIngress
from interlink.events.publish_auth import PublishAuth
from interlink.events.topology import topology_of
from interlink.events.validation import EventRegistry
from interlink.flows.calls import system_targets
from interlink.flows.engine import FlowEngine
from interlink.flows.payloads import limits_of
from interlink.flows.publish import ingress_publisher
from interlink.flows.retry import RetryPolicy
from interlink.flows.runs import FlowRuns
from interlink.observe.signals import recorded
from interlink.store import Store, open_store
from interlink.store.keyring import KeyRing
from interlink.testing.processes import interlink_command
from interlink.testing.upstreams import UpstreamThread

# Flows map, filter and choose with JSONata: each engine must behave the same here.
pytestmark = pytest.mark.usefixtures("jsonata_engine")


FAST = RetryPolicy(attempts=3, initial=0.01)


def write_estate(root: Path, base_url: str, flows: str, platform: str = "") -> Path:
    """An estate with a System ``crm`` at ``base_url`` and ``flows``; ``platform`` adds to
    the Platform's spec (a ``flows:`` line, say)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "estate.yaml").write_text(
        f"""apiVersion: interlink/v1
kind: Platform
metadata: {{name: platform}}
spec:
  store: {{url: "${{env:FLOWS_TEST_STORE}}"}}
{platform}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: ops}}
spec: {{}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: crm, owner: ops}}
spec:
  domain: sales
  baseUrl: {base_url}
  credentials: {{scheme: header, name: x-api-key, value: "${{env:FLOWS_TEST_KEY}}"}}
{flows}""",
        encoding="utf-8",
    )
    return root


SAGA = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: onboard, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: shape, type: map, expression: '{"name": name, "tier": "gold"}'}
    - {name: only-named, type: filter, condition: 'name != ""'}
    - name: create
      type: call
      system: crm
      path: /customers
      compensate: {system: crm, method: DELETE, path: '/customers/{name}'}
    - name: notify
      type: call
      system: crm
      path: /notify
      body: '{"customer": $steps.create.path, "who": name}'
    - {name: done, type: map, expression: '$merge([$, {"notified": true}])'}
"""


# A System nothing listens for (port 9, discard): every call to it fails to connect.
GONE = """---
apiVersion: interlink/v1
kind: System
metadata: {name: gone, owner: ops}
spec: {domain: sales, baseUrl: "http://127.0.0.1:9"}
"""


def engine_for(root: Path, store: Store, **kwargs: Any) -> FlowEngine:
    estate, _ = load_estate(root)

    def spec(name: str) -> FlowSpec:
        item = estate.get("Flow", name)
        assert item is not None
        assert isinstance(item.obj, Flow)
        return item.obj.spec

    runs = FlowRuns(store.db, lambda: limits_of(estate))
    return FlowEngine(runs, spec, system_targets(estate), retry=FAST, **kwargs)


def requests_to(upstream: UpstreamThread, path: str) -> list[dict[str, Any]]:
    return [r for r in upstream.requests if r["path"] == path]


def test_a_run_completes_with_each_step_checkpointed(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    engine = engine_for(root, store)
    ran = recorded("Flow", "onboard")
    run = asyncio.run(engine.start_and_run("onboard", {"name": "Ada", "extra": 1}))
    assert run.status == "completed", run.error
    assert recorded("Flow", "onboard") - ran == 1  # for the monitors
    assert run.context["message"] == {"name": "Ada", "tier": "gold", "notified": True}
    (create,) = requests_to(upstream, "/customers")
    assert json.loads(create["body"]) == {"name": "Ada", "tier": "gold"}
    assert create["headers"]["idempotency-key"] == f"{run.id}:create"
    assert create["headers"]["x-api-key"] == "k-123"
    (notify,) = requests_to(upstream, "/notify")
    assert json.loads(notify["body"]) == {"customer": "/customers", "who": "Ada"}
    steps = FlowRuns(store.db).steps(run.id)
    assert [(s.name, s.status, s.attempts) for s in steps] == [
        ("shape", "completed", 1),
        ("only-named", "completed", 1),
        ("create", "completed", 1),
        ("notify", "completed", 1),
        ("done", "completed", 1),
    ]
    assert steps[2].output["method"] == "POST"


def test_a_false_filter_ends_the_run_filtered(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    run = asyncio.run(engine_for(root, store).start_and_run("onboard", {"name": ""}))
    assert run.status == "filtered"
    assert upstream.requests == []
    # The pointer stays at the filter: resumed before the status was written, a run would
    # meet the same condition again rather than go past it.
    assert run.step == 1
    outputs = [(s.name, s.output) for s in FlowRuns(store.db).steps(run.id)]
    assert outputs == [("shape", {"name": "", "tier": "gold"}), ("only-named", False)]


def test_a_5xx_is_retried_with_the_same_key_and_a_4xx_is_not(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    upstream.fail_next(1, 503)
    upstream.fail_next(1, 400)
    run = asyncio.run(engine_for(root, store).start_and_run("onboard", {"name": "Ada"}))
    assert run.status == "failed"  # nothing completed that could be undone
    assert run.error is not None
    assert "create" in run.error
    creates = requests_to(upstream, "/customers")
    assert [c["headers"]["idempotency-key"] for c in creates] == [f"{run.id}:create"] * 2
    create = FlowRuns(store.db).steps(run.id)[2]
    assert (create.status, create.attempts) == ("failed", 2)
    # Each failed attempt is kept with its times and when the next was due (none: it gave up).
    first, second = create.tries
    assert (first.attempt, second.attempt) == (1, 2)
    assert "503" in first.error
    assert "400" in second.error
    assert first.started_at <= first.ended_at <= second.started_at <= second.ended_at
    assert first.retry_at is not None
    assert first.ended_at <= first.retry_at <= second.started_at
    assert second.retry_at is None
    assert all(s.tries == () for s in FlowRuns(store.db).steps(run.id)[:2])  # none failed


def test_a_step_that_keeps_failing_undoes_the_completed_calls(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    flows = SAGA.replace("system: crm\n      path: /notify", "system: gone\n      path: /notify")
    flows += GONE
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    run = asyncio.run(engine_for(root, store).start_and_run("onboard", {"name": "Ada L"}))
    assert run.status == "compensated", run.error
    (undo,) = requests_to(upstream, "/customers/Ada%20L")
    assert undo["method"] == "DELETE"
    assert undo["body_bytes"] == 0  # a DELETE without a body expression sends none
    assert undo["headers"]["idempotency-key"] == f"{run.id}:create:compensate"
    steps = {(s.phase, s.name): s for s in FlowRuns(store.db).steps(run.id)}
    assert steps[("forward", "notify")].attempts == 3
    assert steps[("forward", "notify")].status == "failed"
    assert steps[("compensate", "create")].status == "completed"


def wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_a_run_killed_mid_call_resumes_from_its_checkpoint(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SAGA)
    (tmp_path / "input.json").write_text('{"name": "Ada"}', encoding="utf-8")
    upstream.hold("/notify")  # the fourth step's call stays in flight
    child = subprocess.Popen(
        [*interlink_command(), "flows", "run", "onboard", "--input", str(tmp_path / "input.json")],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def held_or_gone() -> bool:
            return len(requests_to(upstream, "/notify")) == 1 or child.poll() is not None

        wait_for(held_or_gone, "the held call")
        assert child.poll() is None, child.communicate()[1].decode()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    upstream.release("/notify")
    (pending,) = FlowRuns(store.db).latest("onboard")
    assert (pending.status, pending.step) == ("running", 3)

    # A new engine, once the dead one's lease has lapsed (the store's clock moved past it).
    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert run.id == pending.id
    assert run.status == "completed", run.error
    assert run.context["message"] == {"name": "Ada", "tier": "gold", "notified": True}
    assert len(requests_to(upstream, "/customers")) == 1  # completed before the kill: not again
    notifies = requests_to(upstream, "/notify")
    assert [n["headers"]["idempotency-key"] for n in notifies] == [f"{run.id}:notify"] * 2
    attempts = {s.name: s.attempts for s in FlowRuns(store.db).steps(run.id)}
    assert attempts == {"shape": 1, "only-named": 1, "create": 1, "notify": 2, "done": 1}


CALL_FIRST = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: relay, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - {name: post, type: call, system: crm, method: POST, path: /customers, body: $}
"""


def test_a_run_recorded_to_run_at_once_and_left_so_is_recovered(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    """A run recorded with its first step's attempt (as a consumed message's is) whose node
    died before the step ran: recovered from its record, the step run once, as attempt 2."""
    root = write_estate(tmp_path / "estate", upstream.url, CALL_FIRST)
    made = asyncio.run(engine_for(root, store).record("relay", {"name": "Ada"}, "queue:q:k1"))
    assert (made.created, made.attempt) == (True, 1)
    (step,) = FlowRuns(store.db).steps(made.run.id)
    assert (step.name, step.status, step.attempts) == ("post", "running", 1)
    again = asyncio.run(engine_for(root, store).record("relay", {"name": "Ada"}, "x", made.run.id))
    assert not again.created  # the same id again: that run as it is, nothing new

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert (run.id, run.status) == (made.run.id, "completed")
    (post,) = requests_to(upstream, "/customers")
    assert post["headers"]["idempotency-key"] == f"{run.id}:post"
    (step,) = FlowRuns(store.db).steps(run.id)
    assert (step.status, step.attempts) == ("completed", 2)


class Outbox:
    """A publisher that keeps what it is given; it refuses the first ``refuse`` events with a
    retryable error, as a bus that is briefly unavailable would."""

    def __init__(self, refuse: int = 0) -> None:
        self.events: list[tuple[str, Any, str]] = []
        self.refuse = refuse

    async def __call__(self, event_type: str, data: Any, event_id: str) -> None:
        if self.refuse:
            self.refuse -= 1
            raise BusUnavailable("the bus is restarting")
        self.events.append((event_type, data, event_id))


PUBLISH = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: announce, owner: ops}
spec:
  steps:
    - {name: tell, type: publish, event: customer.created, data: '{"id": id, "by": $run.flow}'}
    - {name: echo, type: publish, event: customer.created}
"""


def test_publish_steps_hand_events_to_the_publisher_with_stable_ids(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, PUBLISH)
    outbox = Outbox(refuse=1)
    engine = engine_for(root, store, publisher=outbox)
    run = asyncio.run(engine.start_and_run("announce", {"id": 7}))
    assert run.status == "completed", run.error
    assert outbox.events == [
        ("customer.created", {"id": 7, "by": "announce"}, f"{run.id}:tell"),
        ("customer.created", {"id": 7}, f"{run.id}:echo"),
    ]
    assert [s.attempts for s in FlowRuns(store.db).steps(run.id)] == [2, 1]


def test_a_publishing_flow_needs_a_publisher_and_nothing_is_recorded_without(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, PUBLISH)
    with pytest.raises(ConfigError, match="publishes events, and this engine has no publisher"):
        asyncio.run(engine_for(root, store).start("announce", {}))
    assert FlowRuns(store.db).latest() == []


def test_a_run_stopped_while_compensating_resumes_its_compensation(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    flows = SAGA.replace("system: crm\n      path: /notify", "system: gone\n      path: /notify")
    flows += GONE
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    upstream.hold("/customers/Ada")  # the undo call stays in flight

    async def stopped_mid_undo() -> str:
        engine = engine_for(root, store)
        run_id = await engine.start("onboard", {"name": "Ada"})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/customers/Ada"):
            await asyncio.sleep(0.01)
        task.cancel()  # the process stops here: nothing more is written
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_mid_undo())
    upstream.release("/customers/Ada")
    assert FlowRuns(store.db).get(run_id).status == "compensating"

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert run.status == "compensated", run.error
    assert run.error is not None
    assert run.error.startswith("step notify failed: ")
    assert len(requests_to(upstream, "/customers")) == 1
    undos = requests_to(upstream, "/customers/Ada")
    assert [u["headers"]["idempotency-key"] for u in undos] == [f"{run_id}:create:compensate"] * 2


@pytest.mark.anyio
async def test_publish_goes_through_the_ingress_once_per_step(
    retail_dir: Path, tmp_path: Path, store: Store
) -> None:
    estate = check_estate(retail_dir).estate
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.open()
    try:
        topology = topology_of(estate)
        await bus.ensure(topology.streams, topology.consumers)
        registry = EventRegistry.from_estate(estate)
        keyring = KeyRing(store)
        ingress = EventIngress(bus, lambda: registry, PublishAuth(keyring, store, lambda: estate))
        publish = ingress_publisher(ingress)
        data = {
            "customerId": "C000042",
            "address": {
                "street": "1 Main St",
                "city": "Cork",
                "postalCode": "T12",
                "country": "IE",
            },
            "changedAt": "2026-11-22T10:00:00Z",
        }
        spec = FlowSpec.model_validate(
            {"steps": [{"name": "tell", "type": "publish", "event": "customer.address-updated"}]}
        )
        engine = FlowEngine(
            FlowRuns(store.db), lambda _: spec, system_targets(estate), publisher=publish
        )
        run = await engine.start_and_run("announce", data)
        assert run.status == "completed", run.error
        await publish("customer.address-updated", data, f"{run.id}:tell")  # a resumed run's repeat
        consumer = next(c for c in topology.consumers if c.type == "customer.address-updated")
        (message,) = await bus.pull(consumer.name, 10, 0.5)
        assert message.id == f"{run.id}:tell"
        assert json.loads(message.body)["data"] == data

        bad = await engine.start_and_run("announce", {"customerId": 42})
        assert bad.status == "failed"
        assert bad.error is not None
        assert "the bus refused customer.address-updated (422)" in bad.error
        assert FlowRuns(store.db).steps(bad.id)[0].attempts == 1
    finally:
        await bus.close()
