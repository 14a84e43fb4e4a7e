"""Traces over OTLP/HTTP to a loopback receiver: the gateway's request and upstream spans, an
event's publish and delivery, a flow run's steps, and an OTLP endpoint that is down."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.estate.references import SecretSource
from interlink.events.mesh import EventMesh
from interlink.events.signing import generate_secret
from interlink.flows.runs import FlowRuns
from interlink.flows.tracing import run_context
from interlink.gateway import compile_gateway
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.gateway.telemetry.tracing import GatewayTracing
from interlink.observe import tracing
from interlink.observe.metrics import Registry
from interlink.observe.tracing import Tracing
from interlink.store import open_store
from interlink.testing.otlp import OtlpReceiver, ReceivedSpan
from interlink.testing.receivers import Received, Receiver
from interlink.testing.upstreams import UpstreamThread
from tests.integration.connectors.test_flow_steps import ORDERS
from tests.integration.connectors.test_flow_steps import _engine as connector_engine
from tests.integration.flows.test_engine import SAGA, engine_for, requests_to
from tests.integration.flows.test_engine import write_estate as flow_estate
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.unit.gateway.helpers import route, write_estate

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
EVENT = "customer.address-updated"
DATA = {
    "customerId": "C000042",
    "address": {"street": "1 Main St", "city": "Springfield", "postalCode": "1", "country": "US"},
    "changedAt": "2026-11-22T10:00:00Z",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


@pytest.fixture
def metrics() -> Registry:
    return Registry()


@pytest.fixture
def traced(receiver: OtlpReceiver, metrics: Registry) -> Iterator[Tracing]:
    """This process's tracer, exporting to the receiver every 50 ms."""
    tracer = Tracing(receiver.url, "interlink-test", metrics, node="n1", schedule_delay=0.05)
    tracing.install(tracer)
    try:
        yield tracer
    finally:
        tracing.install(None)
        tracer.shutdown()


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


def gateway(tmp_path: Path, upstream: UpstreamThread, tracer: Tracing) -> GatewayThread:
    root = write_estate(tmp_path / "estate", {"crm": upstream.url}, [route("crm", "/crm", "crm")])
    result = check_estate(root)
    assert result.ok
    services = GatewayServices(tracing=GatewayTracing(tracer))
    thread = GatewayThread(compile_gateway(result.estate, FAST, services))
    thread.server.observer = GatewayObserver(services, access_log=False, flush_interval=3600)
    return thread.start()


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    (found,) = [s for s in spans if s.name == name]
    return found


def test_a_gateway_request_continues_the_callers_trace_to_the_upstream(
    tmp_path: Path, upstream: UpstreamThread, receiver: OtlpReceiver, traced: Tracing
) -> None:
    thread = gateway(tmp_path, upstream, traced)
    try:
        answer = httpx.get(
            f"{thread.url}/crm/customers/42",
            headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
        assert answer.status_code == 200
        seen = answer.json()["headers"]["traceparent"]
        spans = receiver.wait_for(lambda s: len(s) >= 2)
    finally:
        thread.stop()
    server = one(spans, "gateway GET crm")
    client = one(spans, "upstream crm")
    assert (server.kind, server.trace_id, server.parent_id) == ("server", TRACE, PARENT)
    assert (client.kind, client.trace_id, client.parent_id) == ("client", TRACE, server.span_id)
    # The upstream was told the upstream call's span, in the caller's trace.
    assert seen == f"00-{TRACE}-{client.span_id}-01"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "crm"
    assert client.attributes["interlink.system"] == "crm"
    assert server.resource["service.name"] == "interlink-test"
    assert server.resource["service.instance.id"] == "n1"
    assert server.start_ns <= client.start_ns <= client.end_ns <= server.end_ns


def test_an_unsampled_caller_is_not_traced_and_its_traceparent_goes_on(
    tmp_path: Path, upstream: UpstreamThread, receiver: OtlpReceiver, traced: Tracing
) -> None:
    thread = gateway(tmp_path, upstream, traced)
    unsampled = f"00-{TRACE}-{PARENT}-00"
    try:
        answer = httpx.get(f"{thread.url}/crm/x", headers={"traceparent": unsampled})
        httpx.get(f"{thread.url}/nowhere")  # a traced request, to know the export happened
        spans = receiver.wait_for(lambda s: len(s) >= 1)
    finally:
        thread.stop()
    assert answer.json()["headers"]["traceparent"] == unsampled
    assert [s.name for s in spans] == ["gateway GET"]  # the 404, in a trace of its own
    assert spans[0].attributes["http.response.status_code"] == 404
    assert spans[0].parent_id == ""


async def publish_and_deliver(
    retail_dir: Path, tmp_path: Path, traceparent: str, done: Callable[[], bool]
) -> list[Received]:
    """Publish one event of the retail estate with ``traceparent`` and wait for its two
    webhook deliveries, then until ``done``; what the webhooks received."""
    secret = generate_secret()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("logistics-webhook-secret", "analytics-webhook-secret"):
        (secrets / name).write_text(secret)
    hooks = await Receiver(secret=secret).start()
    systems = retail_dir / "systems" / "operations.yaml"
    text = systems.read_text().replace("http://127.0.0.1:9103", hooks.url)
    systems.write_text(text.replace("http://127.0.0.1:9104", hooks.url))
    estate = check_estate(retail_dir).estate
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    store.migrate()
    key, _ = store.consumer_keys.create("crm-publisher", "test")
    mesh = EventMesh(estate, store, url, secrets=SecretSource(directory=secrets))
    await mesh.start()
    try:
        event = {"specversion": "1.0", "id": "e-1", "source": "crm", "type": EVENT, "data": DATA}
        reply = await mesh.ingress.handle(
            "POST",
            f"/events/{EVENT}",
            {
                "x-api-key": key,
                "content-type": "application/cloudevents+json",
                "traceparent": traceparent,
            },
            json.dumps(event).encode(),
        )
        assert reply.status == 202, reply.body
        await hooks.wait_delivered(2)
        await asyncio.to_thread(done)
    finally:
        await mesh.close()
        await hooks.stop()
        store.close()
    return list(hooks.delivered)


@pytest.mark.anyio
async def test_a_publish_and_its_webhook_delivery_share_the_trace(
    retail_dir: Path, tmp_path: Path, receiver: OtlpReceiver, traced: Tracing
) -> None:
    def consumers(spans: list[ReceivedSpan]) -> bool:
        return len([s for s in spans if s.kind == "consumer"]) >= 2

    delivered = await publish_and_deliver(
        retail_dir,
        tmp_path,
        f"00-{TRACE}-{PARENT}-01",
        lambda: bool(receiver.wait_for(consumers)),
    )
    spans = receiver.wait_for(consumers)
    publish = one(spans, f"publish {EVENT}")
    assert (publish.kind, publish.trace_id, publish.parent_id) == ("producer", TRACE, PARENT)
    deliveries = [s for s in spans if s.kind == "consumer"]
    assert {d.name for d in deliveries} == {
        "deliver logistics-address-updates",
        "deliver analytics-address-updates",
    }
    for delivery in deliveries:
        assert (delivery.trace_id, delivery.parent_id) == (TRACE, publish.span_id)
        assert delivery.attributes["messaging.message.id"] == "e-1"
    # Each webhook was told its delivery attempt's span; the event carries the publish's.
    told = {r.headers["traceparent"] for r in delivered}
    assert told == {f"00-{TRACE}-{d.span_id}-01" for d in deliveries}
    assert {r.event["traceparent"] for r in delivered} == {f"00-{TRACE}-{publish.span_id}-01"}


@pytest.mark.anyio
async def test_an_unrecorded_publish_is_delivered_unrecorded_with_its_context(
    retail_dir: Path, tmp_path: Path, receiver: OtlpReceiver, traced: Tracing
) -> None:
    delivered = await publish_and_deliver(
        retail_dir, tmp_path, f"00-{TRACE}-{PARENT}-00", lambda: traced.flush(5.0)
    )
    assert receiver.spans == []
    # The webhooks are told the event's own context, still marked not to record.
    (carried,) = {r.event["traceparent"] for r in delivered}
    assert carried.startswith(f"00-{TRACE}-")
    assert carried.endswith("-00")
    assert {r.headers["traceparent"] for r in delivered} == {carried}


@pytest.mark.anyio
async def test_a_rest_to_event_publish_continues_the_requests_trace(
    retail_dir: Path, tmp_path: Path, receiver: OtlpReceiver, traced: Tracing
) -> None:
    # What a publish route does: the request's gateway span is the publish span's parent.
    request = Request(b"POST", "/addresses", b"", "1.1", [], True, "127.0.0.1",
                      {b"traceparent": f"00-{TRACE}-{PARENT}-01".encode()})  # fmt: skip
    request.route, request.status = "addresses", 202
    gateway_tracing = GatewayTracing(traced)
    context = gateway_tracing.context(request)
    estate = check_estate(retail_dir).estate
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    store.migrate()
    mesh = EventMesh(estate, store, url)
    await mesh.start()
    try:
        reply = await mesh.ingress.publish_data(
            EVENT, json.dumps(DATA).encode(), id="r-1", source="/routes/addresses",
            traceparent=context,
        )  # fmt: skip
        assert reply.status == 202, reply.body
        gateway_tracing.finished(request, 0.0)
        spans = await asyncio.to_thread(receiver.wait_for, lambda s: len(s) >= 2)
    finally:
        await mesh.close()
        store.close()
    server = one(spans, "gateway POST addresses")
    publish = one(spans, f"publish {EVENT}")
    assert (server.trace_id, server.parent_id) == (TRACE, PARENT)
    assert (publish.trace_id, publish.parent_id) == (TRACE, server.span_id)
    # A request left untraced leaves what is done for it untraced.
    unsampled = Request(b"POST", "/addresses", b"", "1.1", [], True, "127.0.0.1",
                        {b"traceparent": f"00-{TRACE}-{PARENT}-00".encode()})  # fmt: skip
    assert gateway_tracing.context(unsampled).endswith("-00")


def test_a_flow_run_is_a_trace_of_its_step_attempts(
    tmp_path: Path,
    upstream: UpstreamThread,
    receiver: OtlpReceiver,
    traced: Tracing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWS_TEST_KEY", "k-123")
    root = flow_estate(tmp_path / "estate", upstream.url, SAGA)
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        upstream.fail_next(1, 503)  # the create step is tried twice
        run = asyncio.run(engine_for(root, store).start_and_run("onboard", {"name": "Ada"}))
        assert run.status == "completed", run.error
        assert len(FlowRuns(store.db).steps(run.id)) == 5
    spans = receiver.wait_for(lambda s: any(x.name == "flow run onboard" for x in s))
    context = run_context(run.id)
    trace = f"{context.trace_id:032x}"
    whole = one(spans, "flow run onboard")
    assert (whole.trace_id, whole.span_id) == (trace, f"{context.span_id:016x}")
    assert whole.attributes["interlink.flow.status"] == "completed"
    steps = [s for s in spans if s.name.startswith("flow step ")]
    steps.sort(key=lambda s: s.start_ns)
    assert [(s.name, s.attributes["interlink.attempt"]) for s in steps] == [
        ("flow step shape", 1),  # evaluated with the run's record
        ("flow step only-named", 1),
        ("flow step create", 1),
        ("flow step create", 2),
        ("flow step notify", 1),
        ("flow step done", 1),
    ]
    assert all((s.trace_id, s.parent_id) == (trace, whole.span_id) for s in steps)
    assert [s.error for s in steps] == [False, False, True, False, False, False]
    # Each call was told the span of its step's attempt.
    calls = requests_to(upstream, "/customers") + requests_to(upstream, "/notify")
    assert [c["headers"]["traceparent"] for c in calls] == [
        f"00-{trace}-{s.span_id}-01" for s in steps[2:5]
    ]


def test_an_otlp_endpoint_that_is_down_fails_no_request_and_is_counted(
    tmp_path: Path, upstream: UpstreamThread, metrics: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    down = OtlpReceiver()  # bound, then closed: nothing listens on its port
    down.__exit__(None, None, None)
    tracer = Tracing(down.url, "interlink-test", metrics, schedule_delay=0.05, export_timeout=0.2)
    thread = gateway(tmp_path, upstream, tracer)
    try:
        for _ in range(10):
            assert httpx.get(f"{thread.url}/crm/x").status_code == 200
        tracer.flush()
        for _ in range(10):
            assert httpx.get(f"{thread.url}/crm/x").status_code == 200
        tracer.flush()
    finally:
        thread.stop()
        tracer.shutdown()
    text = asyncio.run(metrics.exposition())
    failures = [
        line
        for line in text.splitlines()
        if line.startswith(("interlink_telemetry_export_failures_total ",
                            "interlink_telemetry_spans_failed_total "))
    ]  # fmt: skip
    assert len(failures) == 2
    assert all(float(line.split()[1]) >= 1 for line in failures)
    assert "interlink_telemetry_spans_failed_total 40" in text
    # One warning for the streak, naming the endpoint; not one per batch.
    said = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
    warned = [r.getMessage() for r in caplog.records if r.name == "interlink.telemetry"]
    assert said == []
    assert len(warned) == 1
    assert down.url in warned[0]


def test_the_sample_ratio_leaves_out_new_traces_but_follows_a_sampled_caller(
    tmp_path: Path, upstream: UpstreamThread, receiver: OtlpReceiver, metrics: Registry
) -> None:
    tracer = Tracing(receiver.url, "t", metrics, sample_ratio=1e-12, schedule_delay=0.05)
    thread = gateway(tmp_path, upstream, tracer)
    try:
        fresh = httpx.get(f"{thread.url}/crm/new").json()["headers"]["traceparent"]
        sampled = f"00-{TRACE}-{PARENT}-01"
        httpx.get(f"{thread.url}/crm/called", headers={"traceparent": sampled})
        spans = receiver.wait_for(lambda s: len(s) >= 2)
    finally:
        thread.stop()
        tracer.shutdown()
    assert fresh.endswith("-00")  # the upstream is told the new trace is not recorded
    assert {(s.name, s.trace_id) for s in spans} == {
        ("gateway GET crm", TRACE),
        ("upstream crm", TRACE),
    }


def test_connector_calls_are_spans_under_their_steps_attempt(
    tmp_path: Path, receiver: OtlpReceiver, traced: Tracing
) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
    conn.close()
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        engine = connector_engine(tmp_path, store, db)
        run = asyncio.run(engine.start_and_run("import-orders", ORDERS))
        asyncio.run(engine.aclose())
    assert run.status == "completed", run.error
    spans = receiver.wait_for(lambda s: any(x.name == "flow run import-orders" for x in s))
    steps = {s.span_id: s for s in spans if s.name.startswith("flow step ")}
    calls = [s for s in spans if s.name in ("write shop", "query shop")]
    assert sorted(s.name for s in calls) == ["query shop", "query shop", "write shop"]
    for call in calls:
        assert call.kind == "client"
        step = steps[call.parent_id]  # a child of its step's attempt, in the run's trace
        assert call.trace_id == step.trace_id
        assert call.attributes["interlink.caller"] == "import-orders"
    (write,) = [s for s in calls if s.name == "write shop"]
    assert steps[write.parent_id].name == "flow step save"
    assert write.attributes["interlink.volume"] == 3
