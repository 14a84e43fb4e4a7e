"""The step kinds beyond map, filter, call and publish, against a real store and loopback
upstreams."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.errors import ConfigError
from interlink.estate.loader import load_estate
from interlink.flows.calls import api_targets
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import FlowRun, FlowRuns
from interlink.store import Store, open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.flows.test_engine import GONE, engine_for, requests_to, write_estate

# Flows map, filter and choose with JSONata: each engine must behave the same here.
pytestmark = pytest.mark.usefixtures("jsonata_engine")


CHOICE = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: route, owner: ops}
spec:
  trigger: {manual: true}
  steps:
    - name: by-tier
      type: choice
      branches:
        - when: 'tier = "gold"'
          steps:
            - name: vip
              type: call
              system: crm
              path: /vip
              compensate: {system: crm, method: DELETE, path: '/vip/{name}'}
            - {name: mark-vip, type: map, expression: '$merge([$, {"vip": true}])'}
        - when: 'tier = "none"'
          steps:
            - {name: drop, type: filter, condition: 'false'}
      otherwise:
        - {name: mark-plain, type: map, expression: '$merge([$, {"vip": false}])'}
    - {name: after, type: call, system: crm, path: /after}
"""


def test_a_choice_runs_the_first_branch_that_holds_then_the_steps_after_it(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CHOICE)
    engine = engine_for(root, store)

    async def three() -> list[FlowRun]:
        tiers = [("Ada", "gold"), ("Bo", "silver"), ("Cy", "none")]
        return [await engine.start_and_run("route", {"name": n, "tier": t}) for n, t in tiers]

    gold, plain, dropped = asyncio.run(three())
    assert gold.status == "completed", gold.error
    assert gold.context["message"] == {"name": "Ada", "tier": "gold", "vip": True}
    steps = [(s.name, s.output) for s in FlowRuns(store.db).steps(gold.id)]
    assert [name for name, _ in steps] == ["by-tier", "vip", "mark-vip", "after"]
    assert steps[0][1] == {"branch": 0}
    assert len(requests_to(upstream, "/vip")) == 1

    assert plain.status == "completed", plain.error
    assert plain.context["message"]["vip"] is False
    names = [s.name for s in FlowRuns(store.db).steps(plain.id)]
    assert names == ["by-tier", "mark-plain", "after"]
    assert len(requests_to(upstream, "/vip")) == 1
    assert len(requests_to(upstream, "/after")) == 2

    assert dropped.status == "filtered"
    assert len(requests_to(upstream, "/after")) == 2


def test_a_failure_after_a_branch_undoes_the_branch_calls(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    flows = CHOICE.replace("system: crm, path: /after", "system: gone, path: /after") + GONE
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    run = asyncio.run(
        engine_for(root, store).start_and_run("route", {"name": "Ada", "tier": "gold"})
    )
    assert run.status == "compensated", run.error
    (undo,) = requests_to(upstream, "/vip/Ada")
    assert undo["method"] == "DELETE"


def test_a_run_stopped_inside_a_branch_resumes_in_that_branch(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CHOICE)
    upstream.hold("/vip")

    async def stopped_mid_branch() -> str:
        engine = engine_for(root, store)
        run_id = await engine.start("route", {"name": "Ada", "tier": "gold"})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/vip"):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_mid_branch())
    upstream.release("/vip")

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert run.id == run_id
    assert run.status == "completed", run.error
    attempts = {s.name: s.attempts for s in FlowRuns(store.db).steps(run.id)}
    assert attempts == {"by-tier": 1, "vip": 2, "mark-vip": 1, "after": 1}


ENRICH = """---
apiVersion: interlink/v1
kind: Api
metadata: {name: customers, owner: ops}
spec: {system: crm, contract: customers.yaml}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: lookup, owner: ops}
spec:
  steps:
    - name: customer
      type: enrich
      from: {api: customers, path: '/customers/{id}'}
      into: customer
    - {name: pick, type: map, expression: '{"id": id, "seen": customer.path}'}
"""


def api_engine(root: Path, store: Store) -> FlowEngine:
    estate, _ = load_estate(root)
    return engine_for(root, store, apis=api_targets(estate))


def test_an_enrich_gets_through_the_api_and_puts_the_answer_into_the_message(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, ENRICH)
    run = asyncio.run(api_engine(root, store).start_and_run("lookup", {"id": "C 1"}))
    assert run.status == "completed", run.error
    assert run.context["message"] == {"id": "C 1", "seen": "/customers/C%201"}
    (get,) = requests_to(upstream, "/customers/C%201")
    assert get["method"] == "GET"
    assert get["headers"]["x-api-key"] == "k-123"  # the Api's System's credential
    enrich = FlowRuns(store.db).steps(run.id)[0]
    assert enrich.output["path"] == "/customers/C%201"


def test_an_enrich_that_gets_a_4xx_or_no_object_fails_with_a_clear_error(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, ENRICH)
    upstream.fail_next(1, 404)

    async def both() -> list[FlowRun]:
        engine = api_engine(root, store)
        return [
            await engine.start_and_run("lookup", {"id": "C1"}),
            await engine.start_and_run("lookup", ["not", "an", "object"]),
        ]

    missing, listed = asyncio.run(both())
    assert (missing.status, missing.error) == (
        "failed",
        "step customer failed: GET /customers/C1 answered 404",
    )
    assert listed.status == "failed"
    assert listed.error == (
        "step customer failed: enrich puts its result at 'customer' of the message, and the "
        "message is not an object"
    )


def test_an_enrich_answered_with_no_json_or_too_much_fails_once(
    tmp_path: Path, store: Store
) -> None:
    for body, said in [
        (b"<html>", "answered 200 with a body that is not JSON"),
        (
            b"[" + b"1," * 200_000 + b"1]",
            "answered more than 256 KiB, the limit of a step's output",
        ),
    ]:
        with UpstreamThread(fixed_body=body) as odd:
            limit = "  flows: {maxPayloadBytes: 262144}"
            root = write_estate(tmp_path / "estate", odd.url, ENRICH, limit)
            run = asyncio.run(api_engine(root, store).start_and_run("lookup", {"id": "C1"}))
            assert run.status == "failed"
            assert run.error is not None
            assert said in run.error
            # Not retried: the same answer would come again.
            assert FlowRuns(store.db).steps(run.id)[0].attempts == 1


def test_an_enrich_from_a_data_product_does_not_start(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    flows = ENRICH.replace("{api: customers, path: '/customers/{id}'}", "{dataProduct: people}")
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    with pytest.raises(ConfigError, match=r"not customer \(enrich from a dataProduct\)"):
        asyncio.run(api_engine(root, store).start("lookup", {"id": "C1"}))
    root = write_estate(tmp_path / "estate", upstream.url, ENRICH)
    with pytest.raises(ConfigError, match="enriches from Apis, and this engine has no Api"):
        asyncio.run(engine_for(root, store).start("lookup", {"id": "C1"}))


ONCE = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: once, owner: ops}
spec:
  steps:
    - {name: once, type: idempotency, key: id, window: 1h}
    - {name: create, type: call, system: crm, path: /customers}
"""


def test_a_second_run_with_the_same_key_within_the_window_is_a_duplicate(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, ONCE)

    async def runs(engine: FlowEngine, inputs: list[object]) -> list[FlowRun]:
        try:
            return [await engine.start_and_run("once", data) for data in inputs]
        finally:
            await engine.aclose()

    first, again, other, keyless = asyncio.run(
        runs(
            engine_for(root, store),
            [
                {"id": "A", "version": 1},
                {"id": "A", "version": 2},
                {"id": "B", "version": 1},
                {"version": 1},
            ],
        )
    )
    assert first.status == "completed", first.error
    assert again.status == "duplicate"
    assert FlowRuns(store.db).steps(again.id)[0].output == {
        "key": "A",
        "duplicateOf": first.id,
    }
    assert other.status == "completed", other.error
    assert len(requests_to(upstream, "/customers")) == 2  # the duplicate called nothing
    assert keyless.status == "failed"
    assert keyless.error is not None
    assert "'id' is null, not a string or a number" in keyless.error

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    with open_store(store_url, clock=later) as after_window:
        (expired,) = asyncio.run(runs(engine_for(root, after_window), [{"id": "A", "version": 1}]))
    assert expired.status == "completed", expired.error
    assert len(requests_to(upstream, "/customers")) == 3


def test_a_run_resumed_after_taking_its_key_goes_on(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, ONCE)
    upstream.hold("/customers")

    async def stopped_after_the_key() -> str:
        engine = engine_for(root, store)
        run_id = await engine.start("once", {"id": "B", "version": 1})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/customers"):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_after_the_key())
    upstream.release("/customers")

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        (run,) = asyncio.run(engine_for(root, restarted).recover())
    assert run.id == run_id
    assert run.status == "completed", run.error


WAIT = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: remind, owner: ops}
spec:
  steps:
    - {name: first, type: call, system: crm, path: /first}
    - {name: pause, type: wait, for: 1h}
    - {name: until, type: wait, until: at}
    - {name: then, type: call, system: crm, path: /then}
"""


def test_a_wait_parks_the_run_and_a_restarted_engine_resumes_it_when_due(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, WAIT)
    at = "2001-01-01T00:00:00+00:00"  # already past: the second wait does not wait
    started = datetime.now(UTC)
    run = asyncio.run(engine_for(root, store).start_and_run("remind", {"at": at}))
    assert run.status == "waiting", run.error
    assert run.wake_at is not None
    assert run.owner is None  # no engine holds a waiting run
    assert started + timedelta(minutes=59) < run.wake_at < started + timedelta(minutes=61)
    assert run.step == 1
    # Not due yet: a recovery now leaves it be.
    assert asyncio.run(engine_for(root, store).recover()) == []

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    with open_store(store_url, clock=later) as restarted:
        (resumed,) = asyncio.run(engine_for(root, restarted).recover())
    assert resumed.id == run.id
    assert resumed.status == "completed", resumed.error
    assert resumed.wake_at is None
    assert len(requests_to(upstream, "/first")) == 1  # before the wait: not again
    assert len(requests_to(upstream, "/then")) == 1
    steps = {s.name: s for s in FlowRuns(store.db).steps(run.id)}
    assert steps["pause"].output == {"wakeAt": run.wake_at.isoformat()}
    assert steps["until"].output == {"wakeAt": at}


NAP = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: nap, owner: ops}
spec:
  steps:
    - {name: shape, type: map, expression: '{"n": n}'}
    - {name: pause, type: wait, for: 1h}
    - {name: then, type: call, system: crm, path: '/then/{n}'}
"""


def test_runs_waiting_on_a_timer_hold_nothing_in_the_process_and_all_wake_once(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, NAP)

    async def start_many() -> tuple[list[FlowRun], int]:
        engine = engine_for(root, store)
        runs = await asyncio.gather(*(engine.start_and_run("nap", {"n": n}) for n in range(30)))
        left = len(asyncio.all_tasks()) - 1  # but this one
        await engine.aclose()
        return list(runs), left

    runs, left = asyncio.run(start_many())
    assert left == 0  # a waiting run is parked in the store, not in a task
    assert {run.status for run in runs} == {"waiting"}
    assert {run.step for run in runs} == {1}
    waiting = FlowRuns(store.db)
    assert {r.status for r in waiting.steps(runs[0].id)} == {"completed"}
    assert upstream.requests == []

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    with open_store(store_url, clock=later) as restarted:
        resumed = asyncio.run(engine_for(root, restarted).recover())
    assert sorted(run.id for run in resumed) == sorted(run.id for run in runs)
    assert {run.status for run in resumed} == {"completed"}
    paths = sorted(r["path"] for r in upstream.requests)
    assert paths == sorted(f"/then/{n}" for n in range(30))  # each run's call, once
    steps = [(s.name, s.status, s.attempts) for s in waiting.steps(runs[0].id)]
    assert steps == [("shape", "completed", 1), ("pause", "completed", 2), ("then", "completed", 1)]


def test_a_wait_until_what_is_not_a_time_fails_the_run(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, WAIT.replace("for: 1h", "for: 0s"))
    run = asyncio.run(engine_for(root, store).start_and_run("remind", {"at": "tomorrow"}))
    assert run.status == "failed"
    assert run.error == (
        "step until failed: the wait's until 'at' gave 'tomorrow', not an ISO 8601 timestamp "
        "with a time zone nor epoch milliseconds"
    )
    assert requests_to(upstream, "/then") == []


RETRIED = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: patient, owner: ops}
spec:
  steps:
    - name: persist
      type: call
      system: crm
      path: /persist
      retry: {attempts: 5, initial: 10ms, multiplier: 1.5, maxInterval: 20ms, nonRetryable: [501]}
    - name: slow
      type: call
      system: crm
      path: /slow
      timeout: 200ms
      retry: {attempts: 2, initial: 10ms}
"""


def test_a_step_retry_policy_replaces_the_default(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, RETRIED)
    upstream.fail_next(4, 503)  # the default policy would give up after 3
    upstream.hold("/slow")
    try:
        run = asyncio.run(engine_for(root, store).start_and_run("patient", {}))
    finally:
        upstream.release("/slow")
    assert run.status == "failed"
    assert run.error == "step slow failed: the attempt took longer than its timeout of 0.2 s"
    persist, slow = FlowRuns(store.db).steps(run.id)
    assert (persist.status, persist.attempts) == ("completed", 5)
    assert (slow.status, slow.attempts) == ("failed", 2)


def test_a_non_retryable_status_fails_the_step_at_once(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, RETRIED)
    upstream.fail_next(1, 501)
    run = asyncio.run(engine_for(root, store).start_and_run("patient", {}))
    assert (run.status, run.error) == ("failed", "step persist failed: POST /persist answered 501")
    assert FlowRuns(store.db).steps(run.id)[0].attempts == 1


CAUGHT = (
    """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: careful, owner: ops}
spec:
  steps:
    - name: create
      type: call
      system: crm
      path: /customers
      compensate: {system: crm, method: DELETE, path: '/customers/{name}'}
    - {name: notify, type: call, system: gone, path: /notify, retry: {attempts: 1}}
  onError:
    - name: alert
      type: call
      system: crm
      path: /alert
      body: '{"step": $error.step, "who": name}'
"""
    + GONE
)


def test_on_error_steps_run_when_a_step_fails_then_the_calls_are_undone(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, CAUGHT)
    run = asyncio.run(engine_for(root, store).start_and_run("careful", {"name": "Ada"}))
    assert run.status == "compensated", run.error
    assert run.error is not None
    assert run.error.startswith("step notify failed: ")
    (alert,) = requests_to(upstream, "/alert")
    assert json.loads(alert["body"]) == {"step": "notify", "who": "Ada"}
    (undo,) = requests_to(upstream, "/customers/Ada")
    assert undo["method"] == "DELETE"
    order = [r["path"] for r in upstream.requests]
    assert order == ["/customers", "/alert", "/customers/Ada"]  # onError before compensation
    steps = [(s.phase, s.name, s.status) for s in FlowRuns(store.db).steps(run.id)]
    assert steps == [
        ("forward", "create", "completed"),
        ("forward", "notify", "failed"),
        ("forward", "alert", "completed"),
        ("compensate", "create", "completed"),
    ]


def test_a_failing_on_error_step_still_leads_to_compensation(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    flows = CAUGHT.replace("system: crm\n      path: /alert", "system: gone\n      path: /alert")
    root = write_estate(tmp_path / "estate", upstream.url, flows)
    run = asyncio.run(engine_for(root, store).start_and_run("careful", {"name": "Ada"}))
    assert run.status == "compensated"
    assert run.error is not None
    assert "; onError step alert failed: " in run.error
    assert len(requests_to(upstream, "/customers/Ada")) == 1


SPLIT = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: lines, owner: ops}
spec:
  steps:
    - {name: tag, type: map, expression: '$merge([$, {"order": "o-1"}])'}
    - {name: each, type: split, items: 'lines.{"sku": sku, "order": $$.order}'}
    - {name: book, type: call, system: crm, path: '/line/{sku}'}
    - {name: done, type: map, expression: '$merge([$, {"booked": true}])'}
"""


def test_a_split_runs_the_steps_after_it_once_per_item(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SPLIT)
    lines = {"lines": [{"sku": "a"}, {"sku": "b"}]}
    run = asyncio.run(engine_for(root, store).start_and_run("lines", lines))
    assert run.status == "completed", run.error
    split = FlowRuns(store.db).steps(run.id)[1]
    assert [(c["status"], c["message"]) for c in split.output] == [
        ("completed", {"sku": "a", "order": "o-1", "booked": True}),
        ("completed", {"sku": "b", "order": "o-1", "booked": True}),
    ]
    assert [s.name for s in FlowRuns(store.db).steps(run.id)] == ["tag", "each"]
    assert len(requests_to(upstream, "/line/a")) == 1
    child = FlowRuns(store.db).get(split.output[0]["run"])
    assert child.trigger == f"split:{run.id}"

    bad = asyncio.run(engine_for(root, store).start_and_run("lines", {"lines": "a"}))
    assert (bad.status, bad.error) == (
        "failed",
        'step each failed: split items \'lines.{"sku": sku, "order": $$.order}\' is not an array',
    )


def test_a_split_with_a_failing_child_fails_and_names_it(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SPLIT)
    run = asyncio.run(engine_for(root, store).start_and_run("lines", {"lines": [{"sku": "a"}, {}]}))
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith("step each failed: 1 of 2 split runs did not complete; ")
    assert "the path /line/{sku} needs the message's 'sku'" in run.error


def test_a_split_stopped_midway_resumes_only_the_unfinished_children(
    tmp_path: Path, store: Store, store_url: str, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SPLIT)
    upstream.hold("/line/b")

    async def stopped_mid_split() -> str:
        engine = engine_for(root, store)
        run_id = await engine.start("lines", {"lines": [{"sku": "a"}, {"sku": "b"}]})
        task = asyncio.create_task(engine.run(run_id))

        def child_a_done() -> bool:
            children = FlowRuns(store.db).latest("lines")
            return any(c.trigger.startswith("split:") and c.status == "completed" for c in children)

        while not (requests_to(upstream, "/line/b") and child_a_done()):
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(stopped_mid_split())
    upstream.release("/line/b")

    def later() -> datetime:
        return datetime.now(UTC) + timedelta(minutes=5)

    with open_store(store_url, clock=later) as restarted:
        recovered = asyncio.run(engine_for(root, restarted).recover())
    assert [r.id for r in recovered] == [run_id]  # the children run under their parent
    assert recovered[0].status == "completed", recovered[0].error
    assert len(requests_to(upstream, "/line/a")) == 1
    again = requests_to(upstream, "/line/b")
    assert len(again) == 2
    assert again[0]["headers"]["idempotency-key"] == again[1]["headers"]["idempotency-key"]


SUBFLOW = """---
apiVersion: interlink/v1
kind: Flow
metadata: {name: parent, owner: ops}
spec:
  steps:
    - {name: register, type: flow, flow: child, input: '{"who": name}'}
    - {name: use, type: map, expression: '{"id": $steps.register.id}'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: child, owner: ops}
spec:
  steps:
    - {name: create, type: call, system: crm, path: /people}
    - {name: shape, type: map, expression: '{"id": $steps.create.path & "/" & who}'}
---
apiVersion: interlink/v1
kind: Flow
metadata: {name: loop, owner: ops}
spec:
  steps:
    - {name: again, type: flow, flow: loop}
"""


def test_a_flow_step_runs_another_flow_as_a_child_and_keeps_its_result(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SUBFLOW)

    async def both() -> list[FlowRun]:
        engine = engine_for(root, store)
        return [
            await engine.start_and_run("parent", {"name": "Ada"}),
            await engine.start_and_run("loop", {}),
        ]

    run, loop = asyncio.run(both())
    assert run.status == "completed", run.error
    assert run.context["message"] == {"id": "/people/Ada"}
    (create,) = requests_to(upstream, "/people")
    assert json.loads(create["body"]) == {"who": "Ada"}
    children = [r for r in FlowRuns(store.db).latest("child") if r.trigger == f"flow:{run.id}"]
    assert [c.status for c in children] == ["completed"]
    assert loop.status == "failed"
    assert loop.error is not None
    assert "would run 8 flows deep" in loop.error


def test_a_failing_child_flow_fails_the_step_and_says_why(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    root = write_estate(tmp_path / "estate", upstream.url, SUBFLOW)
    upstream.fail_next(1, 400)
    run = asyncio.run(engine_for(root, store).start_and_run("parent", {"name": "Ada"}))
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith("step register failed: Flow/child run ")
    assert run.error.endswith("ended failed: step create failed: POST /people answered 400")


def test_a_parent_taken_over_waits_for_its_child_still_leased_by_the_dead_engine(
    tmp_path: Path, store: Store, upstream: UpstreamThread
) -> None:
    """An engine dies while a parent's child is in flight; the parent's lease happens to
    lapse before the child's (each has a heartbeat of its own). Another engine resuming the
    parent waits for the child's lease, then takes the child over: the child is not left
    pending for ever (recovery never takes a child alone) nor the parent failed."""
    root = write_estate(tmp_path / "estate", upstream.url, SUBFLOW)
    upstream.hold("/people")

    async def died_mid_child() -> str:
        engine = engine_for(root, store, lease_ttl=0.6, owner="dead")
        run_id = await engine.start("parent", {"name": "Ada"})
        task = asyncio.create_task(engine.run(run_id))
        while not requests_to(upstream, "/people"):
            await asyncio.sleep(0.01)
        task.cancel()  # no heartbeat, no checkpoint from now on: as if killed
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        return run_id

    run_id = asyncio.run(died_mid_child())
    upstream.release("/people")
    (child,) = [r for r in FlowRuns(store.db).latest("child") if r.trigger == f"flow:{run_id}"]
    with store.db.transaction() as session:  # the child's lease outlives the parent's
        stamp = store.db.ts
        now = store.db.now()
        session.execute("UPDATE flow_runs SET lease_until = ? WHERE id = ?", (stamp(now), run_id))
        session.execute(
            "UPDATE flow_runs SET lease_until = ? WHERE id = ?",
            (stamp(now + timedelta(seconds=1)), child.id),
        )

    recovered = asyncio.run(engine_for(root, store, lease_ttl=0.6, owner="alive").recover())
    assert [(r.id, r.status) for r in recovered] == [(run_id, "completed")], recovered[0].error
    assert FlowRuns(store.db).get(child.id).status == "completed"
    first, again = requests_to(upstream, "/people")
    assert first["headers"]["idempotency-key"] == again["headers"]["idempotency-key"]
