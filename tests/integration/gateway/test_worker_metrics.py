"""The workers' metrics endpoints and the supervisor's scrape of them, over real Unix sockets."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from interlink.gateway.workers.metrics import RESTARTS, UP, MetricsEndpoint, WorkerMetrics
from interlink.observe.metrics import Family, Registry

REQUESTS = "interlink_gateway_requests_total"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def worker_registry(count: float) -> Registry:
    registry = Registry()
    registry.counter(REQUESTS, "Requests.", ("route",)).inc("customers", amount=count)
    registry.gauge("interlink_gateway_circuit_state", "State.", ("route",)).set(1, "customers")
    return registry


def by_name(families: list[Family]) -> dict[str, Family]:
    return {family.name: family for family in families}


@pytest.mark.anyio
async def test_the_supervisor_adds_up_what_its_workers_answer() -> None:
    metrics = WorkerMetrics(2)
    metrics.open()
    directory = metrics.directory
    assert directory is not None
    endpoints = [
        MetricsEndpoint(worker_registry(3), metrics.path(0)),
        MetricsEndpoint(worker_registry(4), metrics.path(1)),
    ]
    try:
        for index, endpoint in enumerate(endpoints):
            await endpoint.start()
            metrics.started(index, os.getpid())
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        for index in range(2):
            assert stat.S_IMODE(os.stat(metrics.path(index)).st_mode) == 0o600
        merged = by_name(await metrics.collect())
        assert merged[REQUESTS].series == {("customers",): 7.0}
        assert merged["interlink_gateway_circuit_state"].series == {
            ("customers", "1"): 1.0,
            ("customers", "2"): 1.0,
        }
        assert merged[UP].series == {("1",): 1.0, ("2",): 1.0}
        assert merged[RESTARTS].series == {("1",): 0.0, ("2",): 0.0}
    finally:
        for endpoint in endpoints:
            await endpoint.stop()
        metrics.close()
    assert not os.path.exists(directory)


@pytest.mark.anyio
async def test_a_stuck_worker_costs_a_scrape_the_timeout_and_keeps_its_last_series() -> None:
    # the healthy worker answers from this same event loop: on a loaded machine a short
    # timeout would count it as stuck too
    metrics = WorkerMetrics(2, timeout=2.0)
    metrics.open()
    registries = [worker_registry(3), worker_registry(4)]
    endpoints = [MetricsEndpoint(r, metrics.path(i)) for i, r in enumerate(registries)]
    stuck: asyncio.Server | None = None
    held: list[asyncio.StreamWriter] = []
    try:
        for index, endpoint in enumerate(endpoints):
            await endpoint.start()
            metrics.started(index, os.getpid())
        assert by_name(await metrics.collect())[REQUESTS].series == {("customers",): 7.0}

        # worker 2 stops answering: it takes the connection and never writes
        await endpoints[1].stop()

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)

        stuck = await asyncio.start_unix_server(hold, metrics.path(1))
        registries[0].counter(REQUESTS, "Requests.", ("route",)).inc("customers")
        # the scrape ends with the timeout rather than waiting on the stuck worker for ever
        merged = by_name(await asyncio.wait_for(metrics.collect(), 30))
        assert merged[UP].series == {("1",): 1.0, ("2",): 0.0}
        assert merged[REQUESTS].series == {("customers",): 8.0}  # worker 2's last answer: 4

        # gone altogether, then replaced by a process that starts counting from zero
        stuck.close()
        os.unlink(metrics.path(1))
        merged = by_name(await metrics.collect())
        assert merged[REQUESTS].series == {("customers",): 8.0}
        metrics.started(1, os.getpid() + 1)  # another process now: not this one's answers
        fresh = MetricsEndpoint(worker_registry(0), metrics.path(1))
        await fresh.start()
        merged = by_name(await metrics.collect())
        assert merged[UP].series == {("1",): 1.0, ("2",): 0.0}
        assert merged[RESTARTS].series == {("1",): 0.0, ("2",): 1.0}
        await fresh.stop()
    finally:
        for writer in held:
            writer.close()
        if stuck is not None:
            stuck.close()
        for endpoint in endpoints:
            await endpoint.stop()
        metrics.close()


@pytest.mark.anyio
async def test_a_worker_replaces_the_socket_its_killed_predecessor_left() -> None:
    metrics = WorkerMetrics(1)
    metrics.open()
    try:
        with open(metrics.path(0), "w"):
            pass  # what a SIGKILLed worker leaves behind
        endpoint = MetricsEndpoint(worker_registry(2), metrics.path(0))
        await endpoint.start()
        metrics.started(0, os.getpid())
        assert by_name(await metrics.collect())[REQUESTS].series == {("customers",): 2.0}
        await endpoint.stop()
        assert not os.path.exists(metrics.path(0))
    finally:
        metrics.close()
