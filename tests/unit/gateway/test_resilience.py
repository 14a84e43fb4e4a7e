"""Retry rules, the backoff schedule and one guard's tries, against a scripted client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from interlink.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.resilience.breaker import BreakerState, CircuitBreaker
from interlink.gateway.resilience.bulkhead import Bulkhead
from interlink.gateway.resilience.guard import (
    MAX_BACKOFF,
    REJECTIONS,
    REPLAY_BUFFER,
    STATE_GAUGE,
    Rejected,
    UpstreamGuard,
    backoff_delay,
    replayable,
    retryable_error,
)
from interlink.gateway.services import GatewayServices
from interlink.gateway.upstream import UpstreamTarget
from interlink.http.client import HttpClient
from interlink.http.connection import Response
from interlink.http.origin import Origin
from interlink.http.streams import BodyStream
from tests.unit.gateway.helpers import route, write_estate


def test_backoff_doubles_from_the_base_with_equal_jitter_and_a_cap() -> None:
    low = [backoff_delay(n, 0.1, rand=lambda: 0.0) for n in range(1, 5)]
    high = [backoff_delay(n, 0.1, rand=lambda: 1.0) for n in range(1, 5)]
    assert low == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert high == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert backoff_delay(30, 1.0, rand=lambda: 1.0) == MAX_BACKOFF
    assert backoff_delay(30, 1.0, rand=lambda: 0.0) == MAX_BACKOFF / 2


@pytest.mark.parametrize("method", [b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"])
def test_idempotent_methods_with_a_whole_body_are_replayable(method: bytes) -> None:
    assert replayable(method, None)
    assert replayable(method, b'{"a": 1}')
    assert not replayable(method, BodyStream())  # streamed: gone once sent


@pytest.mark.parametrize("method", [b"POST", b"PATCH", b"TRACE", b"CONNECT"])
def test_other_methods_are_never_replayed(method: bytes) -> None:
    assert not replayable(method, None)
    assert not replayable(method, b"x")


def test_which_failures_are_worth_another_try() -> None:
    assert retryable_error(UpstreamError("cannot connect", request_sent=False))
    assert retryable_error(UpstreamTimeout("no connection in time", request_sent=False))
    assert retryable_error(UpstreamUnavailable("pool busy", request_sent=False))
    assert retryable_error(UpstreamError("closed the connection without answering"))
    assert not retryable_error(UpstreamTimeout("did not answer within 1 s"))


# --- one guard, a scripted client ------------------------------------------------------------


class Script:
    """Stands in for HttpClient.send: each call takes the next outcome (a status or an error)."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.closed: list[int] = []

    async def send(self, *args: Any) -> Response:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Response(outcome, [], BodyStream.of(b""), None)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def state(g: UpstreamGuard) -> BreakerState:
    return g.breaker.state


TARGET = UpstreamTarget("crm", Origin.parse("http://127.0.0.1:9")[0], "", 100, False)


@pytest.fixture
def counters() -> GatewayServices:
    return GatewayServices()


def guard(
    services: GatewayServices, retries: int = 2, consecutive: int = 5, limit: int | None = None
) -> tuple[UpstreamGuard, Clock, list[float]]:
    from interlink.gateway.resilience.breaker import BreakerSettings

    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    made = UpstreamGuard(
        "r",
        "crm",
        retries,
        0.1,
        CircuitBreaker(BreakerSettings(consecutive=consecutive), clock),
        Bulkhead(limit) if limit else None,
        services.metrics.counter("rejections", "", ("route", "system", "reason")),
        services.metrics.counter("retries", "", ("route", "system")),
        sleep,
    )
    return made, clock, waits


def send(
    g: UpstreamGuard,
    script: Script,
    method: bytes = b"GET",
    body: Any = None,
    length: int | None = None,
) -> Response:
    client = cast(HttpClient, script)
    return asyncio.run(g.send(client, TARGET, method, b"/", [], body, length, 1.0, 1.0))


def test_a_503_is_tried_again_and_the_second_answer_returned(
    counters: GatewayServices,
) -> None:
    g, _, waits = guard(counters)
    script = Script(503, 200)
    assert send(g, script).status == 200
    assert script.calls == 2
    assert len(waits) == 1
    assert 0.05 <= waits[0] <= 0.1
    assert g.retried.value("r", "crm") == 1


def test_the_last_bad_answer_is_relayed_when_the_tries_run_out(
    counters: GatewayServices,
) -> None:
    g, _, waits = guard(counters, retries=2)
    script = Script(502, 504, 503)
    assert send(g, script).status == 503
    assert script.calls == 3
    assert len(waits) == 2


def test_a_post_is_sent_once(counters: GatewayServices) -> None:
    g, _, _ = guard(counters)
    script = Script(503, 200)
    assert send(g, script, b"POST", b"{}").status == 503
    assert script.calls == 1


def test_a_streamed_body_is_sent_once(counters: GatewayServices) -> None:
    g, _, _ = guard(counters)
    script = Script(UpstreamError("refused", request_sent=False), 200)
    with pytest.raises(UpstreamError):
        send(g, script, b"PUT", BodyStream())
    assert script.calls == 1


def test_a_small_body_still_arriving_is_read_whole_so_it_can_be_sent_again(
    counters: GatewayServices,
) -> None:
    g, _, _ = guard(counters)
    assert send(g, Script(503, 200), b"PUT", BodyStream.of(b"{}"), 2).status == 200
    big = Script(503, 200)
    assert send(g, big, b"PUT", BodyStream.of(b"x"), REPLAY_BUFFER + 1).status == 503
    assert big.calls == 1


def test_connect_errors_are_retried_but_read_timeouts_are_not(counters: GatewayServices) -> None:
    g, _, _ = guard(counters)
    script = Script(UpstreamError("refused", request_sent=False), 200)
    assert send(g, script).status == 200
    slow = Script(UpstreamTimeout("did not answer"), 200)
    with pytest.raises(UpstreamTimeout):
        send(g, slow)
    assert slow.calls == 1


def test_an_open_breaker_refuses_without_calling(counters: GatewayServices) -> None:
    g, clock, _ = guard(counters, retries=0, consecutive=2)
    script = Script(503, 503, 200, 200)
    send(g, script)
    send(g, script)
    assert state(g) is BreakerState.OPEN
    with pytest.raises(Rejected) as refused:
        send(g, script)
    assert refused.value.status == 503
    assert refused.value.retry_after == 10.0
    assert script.calls == 2
    assert g.rejections.value("r", "crm", "breaker") == 1
    clock.now += 10
    assert send(g, script).status == 200  # the probe closes it
    assert state(g) is BreakerState.CLOSED


def test_retries_stop_when_the_breaker_opens_meanwhile(counters: GatewayServices) -> None:
    g, _, _ = guard(counters, retries=5, consecutive=2)
    script = Script(503, 503, 200)
    with pytest.raises(Rejected):
        send(g, script)
    assert script.calls == 2


def test_a_full_bulkhead_refuses_and_a_failure_frees_the_slot(counters: GatewayServices) -> None:
    g, _, _ = guard(counters, retries=0, limit=1)
    assert send(g, Script(200)).status == 200  # holds the slot until finished()
    with pytest.raises(Rejected) as refused:
        send(g, Script(200))
    assert refused.value.retry_after == 1.0
    assert refused.value.reason == "bulkhead"
    g.finished()
    with pytest.raises(UpstreamError):
        send(g, Script(UpstreamError("refused", request_sent=False)))
    assert g.bulkhead is not None
    assert g.bulkhead.active == 0


def test_breakers_and_bulkheads_survive_a_recompile(tmp_path: Path) -> None:
    root = write_estate(
        tmp_path,
        {"crm": "http://127.0.0.1:9"},
        [route("r", "/r", "crm", resilience={"maxConcurrent": 3})],
    )
    estate = check_estate(root).estate
    services = GatewayServices()
    first = compile_gateway(estate, services=services).routes[0].resilience
    assert first is not None
    first["crm"].breaker.failure()
    first["crm"].bulkhead.try_acquire()  # type: ignore[union-attr]
    second = compile_gateway(estate, services=services).routes[0].resilience
    assert second is not None
    assert second["crm"].breaker is first["crm"].breaker
    assert second["crm"].breaker.consecutive_failures == 1
    assert second["crm"].bulkhead is first["crm"].bulkhead
    gauge = services.metrics.gauge(STATE_GAUGE, "", ("route", "system"))
    assert gauge.value("r", "crm") == 0
    for _ in range(4):
        second["crm"].breaker.failure()
    assert gauge.value("r", "crm") == float(BreakerState.OPEN)
    assert REJECTIONS in services.metrics.render()
