"""Gateway observability through a real gateway: access log, metrics, observed connections."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.gateway.telemetry.access_log import ACCESS_LOGGER
from interlink.gateway.telemetry.observer import GatewayObserver
from interlink.observe.metrics import OVERFLOW, Registry
from interlink.observe.signals import recorded
from interlink.store import ObservedCall, ObservedConnection, Store, open_store
from interlink.store.keyring import KeyRing
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.integration.gateway.test_serve_gateway import serve
from tests.unit.gateway.auth_helpers import SECRET, auth_estate
from tests.unit.gateway.helpers import route, write_estate

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


class Observed:
    def __init__(self, tmp_path: Path, upstream: UpstreamThread, registry: Registry) -> None:
        root = auth_estate(tmp_path / "estate", upstream.url)
        self.store: Store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        self.store.migrate()
        self.keyring = KeyRing(self.store)
        result = check_estate(root)
        assert result.ok
        self.services = GatewayServices(keyring=self.keyring, store=self.store, metrics=registry)
        config = compile_gateway(result.estate, FAST, self.services)
        self.gateway = GatewayThread(config)
        self.observer = GatewayObserver(self.services, flush_interval=3600)
        self.gateway.server.observer = self.observer
        self.gateway.start()
        self.client = httpx.Client(base_url=self.gateway.url)

    def key(self, consumer: str) -> str:
        plaintext, _ = self.store.consumer_keys.create(consumer, "test")
        self.keyring.refresh()
        return plaintext

    def flush(self) -> int:
        future = asyncio.run_coroutine_threadsafe(self.observer.flush(), self.gateway.loop)
        return future.result(10)

    def close(self) -> None:
        self.client.close()
        self.gateway.stop()
        self.store.close()


@pytest.fixture
def observed(
    tmp_path: Path, upstream: UpstreamThread, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Observed]:
    monkeypatch.setenv("INTERLINK_SECRET_TEST_JWT_KEY", SECRET)
    setup = Observed(tmp_path, upstream, Registry())
    try:
        yield setup
    finally:
        setup.close()


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]


def wait_for_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while len(lines := access_lines(caplog)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return lines


def test_an_access_line_describes_the_request_and_holds_no_credential(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    key = observed.key("mobile-app")
    response = observed.client.post(
        "/keys/42?api_key=" + key + "&page=2&" + key,
        content=b"hello",
        headers={
            "x-api-key": key,
            "cookie": "session=" + key,
            "user-agent": "probe/1.0 " + "x" * 500,
            "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
            "x-request-id": "req-1",
        },
    )
    assert response.status_code == 200
    bearer = observed.client.get("/keys", headers={"authorization": f"Bearer {key}"})
    assert bearer.status_code == 200
    lines = wait_for_lines(caplog, 2)
    assert len(lines) == 2
    first = lines[0]
    assert first["request_id"] == "req-1"
    assert first["method"] == "POST"
    assert first["path"] == "/keys/42"
    assert first["query"] == ["api_key", "page"]
    assert first["status"] == 200
    assert first["bytes_in"] == 5
    assert isinstance(first["bytes_out"], int)
    assert first["bytes_out"] > 0
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert first["route"] == "keys"
    assert first["system"] == "crm"
    assert first["upstream_status"] == 200
    assert first["consumer"] == "mobile-app"
    assert first["client"] == "127.0.0.1"
    assert isinstance(first["user_agent"], str)
    assert first["user_agent"].startswith("probe/1.0")
    assert len(first["user_agent"]) == 200
    assert first["trace_id"] == TRACE
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["time"]))
    secret_part = key.split("_", 2)[2]
    for record in caplog.records:
        assert secret_part not in record.getMessage()
        assert "session=" not in record.getMessage()
    assert lines[1]["consumer"] == "mobile-app"
    assert lines[1]["query"] is None


def test_refused_and_unmatched_requests_are_logged_and_counted(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    assert observed.client.get("/keys", headers={"x-api-key": "ik_nope"}).status_code == 401
    assert observed.client.get("/nowhere").status_code == 404
    lines = wait_for_lines(caplog, 2)
    assert [(line["route"], line["status"], line["system"]) for line in lines] == [
        ("keys", 401, None),
        (None, 404, None),
    ]
    assert "ik_nope" not in caplog.text
    requests = observed.services.metrics.counter(
        "interlink_gateway_requests_total", "", ("route", "method", "status_class")
    )
    assert requests.value("keys", "GET", "4xx") == 1
    assert requests.value("_unmatched", "GET", "4xx") == 1


def test_metrics_count_routes_upstreams_and_consumers(observed: Observed) -> None:
    key = observed.key("mobile-app")
    before = recorded("Route", "keys"), recorded("System", "crm")
    for _ in range(3):
        assert observed.client.get("/keys", headers={"x-api-key": key}).status_code == 200
    assert observed.client.get("/open").status_code == 200
    wait_for_count(observed, 4)
    # The monitors' signals: a Route's requests, and its upstream System's.
    assert (recorded("Route", "keys"), recorded("System", "crm")) == (before[0] + 3, before[1] + 4)
    text = observed.services.metrics.render()
    assert (
        'interlink_gateway_requests_total{route="keys",method="GET",status_class="2xx"} 3' in text
    )
    assert (
        'interlink_gateway_upstream_requests_total{route="keys",system="crm",status_class="2xx"} 3'
        in text
    )
    assert 'interlink_gateway_consumer_requests_total{consumer="mobile-app",route="keys"} 3' in text
    assert 'interlink_gateway_request_duration_seconds_count{route="open"} 1' in text
    assert 'interlink_gateway_upstream_duration_seconds_count{system="crm"} 4' in text


def wait_for_count(observed: Observed, total: int) -> None:
    histogram = observed.services.metrics.histogram(
        "interlink_gateway_upstream_duration_seconds", "", ("system",)
    )
    deadline = time.monotonic() + 5
    while histogram.count("crm") < total and time.monotonic() < deadline:
        time.sleep(0.01)


def test_observed_connections_are_flushed_to_the_store(observed: Observed) -> None:
    key = observed.key("mobile-app")
    for _ in range(2):
        assert observed.client.get("/keys", headers={"x-api-key": key}).status_code == 200
    assert observed.client.get("/open").status_code == 200
    assert observed.client.get("/keys").status_code == 401  # never reached an upstream
    wait_for_count(observed, 3)
    assert observed.flush() == 2
    assert observed.client.get("/open").status_code == 200
    failing = {"x-echo-status": "503"}
    assert observed.client.get("/open", headers=failing).status_code == 503
    wait_for_count(observed, 5)
    observed.gateway.stop()  # stopping flushes what is left
    rows = observed.store.connections.list(datetime.now(UTC) - timedelta(hours=1))
    assert {(r.consumer, r.route, r.system): (r.count, r.errors) for r in rows} == {
        ("mobile-app", "keys", "crm"): (2, 0),
        ("", "open", "crm"): (3, 1),  # the 503 counts as an error of the route
    }
    assert all(r.hour.minute == 0 and r.hour.tzinfo is not None for r in rows)
    observed.gateway.stop = lambda: None  # type: ignore[method-assign]


def finished_request(consumer: str, route: str = "keys") -> Request:
    """A request the gateway answered: through ``route`` to System crm, for ``consumer``."""
    request = Request(b"GET", "/keys", b"", "1.1", [], True, "127.0.0.1", {})
    request.route, request.system, request.upstream_status = route, "crm", 200
    request.consumer, request.status = consumer, 200
    return request


async def stored_connections(store: Store, rows: int) -> dict[str, int]:
    """The stored counts by consumer, once ``rows`` rows are stored (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        found = await asyncio.to_thread(store.connections.list)
        if len(found) >= rows or time.monotonic() > deadline:
            return {row.consumer: row.count for row in found}
        await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_a_full_table_of_connections_is_written_out_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 100
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        services = GatewayServices(store=store)
        observer = GatewayObserver(
            services, access_log=False, flush_interval=3600, max_connections=limit
        )
        observer.start()
        sent: dict[str, int] = {}
        # The table fills, then again before the first write could start (that one waits for
        # it), then half again.
        for i in range(2 * limit + limit // 2):
            consumer = f"c{i:04d}"
            for _ in range(1 + i % 3):
                observer.finished(finished_request(consumer), 0.0)
                sent[consumer] = sent.get(consumer, 0) + 1
        # Both full tables went to the store without waiting for the periodic flush…
        early = await stored_connections(store, 2 * limit)
        assert set(early) == {f"c{i:04d}" for i in range(2 * limit)}
        # …and the requests after them were counted in the emptied table.
        held = {consumer for _, consumer, _, _ in observer.connections.counts}
        assert held >= {f"c{i:04d}" for i in range(2 * limit, len(sent))}
        await observer.stop()
        assert await stored_connections(store, len(sent)) == sent
    assert observer.connections.dropped == 0
    assert "not counted" not in caplog.text


@pytest.mark.anyio
async def test_connections_are_dropped_only_when_the_store_cannot_take_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 20
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    observer = GatewayObserver(
        GatewayServices(store=store),
        access_log=False,
        flush_interval=3600,
        clock=lambda: 7300.0,  # in the hour starting at 7200
        max_connections=limit,
    )
    store.close()  # every write now fails
    for i in range(limit):
        observer.finished(finished_request(f"c{i:04d}"), 0.0)
    assert await observer.flush() == 0  # the full table could not be written: it is kept
    assert len(observer.connections.counts) == limit
    assert "not counted" not in caplog.text
    for i in range(limit, limit + 5):  # no room left, and the store takes nothing
        observer.finished(finished_request(f"c{i:04d}"), 0.0)
    observer.finished(finished_request("c0000"), 0.0)  # already held: still counted
    assert await observer.flush() == 0
    assert "5 request(s) not counted in observed connections" in caplog.text
    assert observer.connections.counts[(7200, "c0000", "keys", "crm")] == [2, 0]


def test_label_cardinality_stays_bounded(tmp_path: Path, upstream: UpstreamThread) -> None:
    routes = [route(f"r{i}", f"/r{i}", "crm") for i in range(12)]
    root = write_estate(tmp_path / "estate", {"crm": upstream.url}, routes)
    result = check_estate(root)
    assert result.ok
    services = GatewayServices(metrics=Registry(max_series=5))
    gateway = GatewayThread(compile_gateway(result.estate, FAST, services))
    gateway.server.observer = GatewayObserver(services, access_log=False)
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url) as client:
            for i in range(200):
                client.get(f"/unknown/{i}")
            for i in range(12):
                assert client.get(f"/r{i}/x/{i}").status_code == 200
        counter = services.metrics.counter(
            "interlink_gateway_requests_total", "", ("route", "method", "status_class")
        )
        deadline = time.monotonic() + 5
        while sum(counter._values.values()) < 212 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert counter.value("_unmatched", "GET", "4xx") == 200
        assert len(counter._values) <= 6  # five series and the overflow
        assert counter.value(OVERFLOW, OVERFLOW, OVERFLOW) > 0
        assert sum(counter._values.values()) == 212
        assert "/unknown/" not in services.metrics.render()
    finally:
        gateway.stop()


def test_metrics_and_connections_through_interlink_serve(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    root = write_estate(
        tmp_path / "estate", {"crm": upstream.url}, [route("customers", "/api/customers", "crm")]
    )
    served = serve(root, "--store-url", f"sqlite:///{tmp_path / 'store.db'}")
    try:
        admin = served.proc.wait_for(r"admin API on (http://\S+)").group(1)
        token = served.proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        with httpx.Client() as client:
            for _ in range(3):
                got = client.get(f"{served.gateway}/api/customers?token=s3cret-value")
                assert got.status_code == 200
            headers = {"authorization": f"Bearer {token}"}
            metrics = client.get(f"{admin}/metrics", headers=headers).text
            line = (
                "interlink_gateway_requests_total"
                '{route="customers",method="GET",status_class="2xx"}'
            )
            assert f"{line} 3" in metrics
            assert 'interlink_gateway_upstream_duration_seconds_count{system="crm"} 3' in metrics
            served.proc.wait_for(r'"route":"customers"')
            assert "s3cret-value" not in served.proc.output
            hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
                store.connections.record(
                    [
                        ObservedConnection(hour, "mobile-app", "customers", "crm", 7),
                        ObservedConnection(hour - timedelta(days=3), "old", "customers", "crm", 1),
                    ]
                )
                store.connector_calls.record(
                    [ObservedCall(hour, "sync", "shop", "write", "write", 2, 500, 1)]
                )
            url = f"{admin}/api/v1/connections"
            assert client.get(url).status_code == 401
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["connections"] == [
                {
                    "hour": hour.isoformat().replace("+00:00", "Z"),
                    "consumer": "mobile-app",
                    "route": "customers",
                    "system": "crm",
                    "count": 7,
                }
            ]
            assert answer.json()["calls"] == [
                {
                    "hour": hour.isoformat().replace("+00:00", "Z"),
                    "flow": "sync",
                    "system": "shop",
                    "direction": "write",
                    "operation": "write",
                    "calls": 2,
                    "volume": 500,
                    "errors": 1,
                }
            ]
            since = (hour - timedelta(days=4)).isoformat()
            older = client.get(url, params={"since": since}, headers=headers).json()
            assert [c["consumer"] for c in older["connections"]] == ["old", "mobile-app"]
            assert client.get(url, params={"since": "soon"}, headers=headers).status_code == 422
            served.proc.stop()
        with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            rows = store.connections.list(hour)
        assert [(r.consumer, r.route, r.system, r.count) for r in rows] == [
            ("", "customers", "crm", 3),
            ("mobile-app", "customers", "crm", 7),
        ]
    finally:
        served.proc.stop()


def test_the_access_log_can_be_turned_off(tmp_path: Path, upstream: UpstreamThread) -> None:
    root = write_estate(
        tmp_path / "estate", {"crm": upstream.url}, [route("customers", "/api/customers", "crm")]
    )
    served = serve(root, "--no-access-log", "--store-url", f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert httpx.get(f"{served.gateway}/api/customers").status_code == 200
        time.sleep(0.2)
        assert '"route":"customers"' not in served.proc.output
    finally:
        served.proc.stop()
