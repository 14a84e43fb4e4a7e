"""The circuit breaker's state machine and the bulkhead, on a clock the tests move."""

from __future__ import annotations

from interlink.gateway.resilience.breaker import (
    MIN_VOLUME,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
)
from interlink.gateway.resilience.bulkhead import Bulkhead


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def state(cb: CircuitBreaker) -> BreakerState:
    return cb.state  # read through a call: mypy would narrow the attribute


def breaker(**settings: float) -> tuple[CircuitBreaker, Clock, list[BreakerState]]:
    clock = Clock()
    changes: list[BreakerState] = []
    made = CircuitBreaker(BreakerSettings(**settings), clock, changes.append)  # type: ignore[arg-type]
    return made, clock, changes


def test_consecutive_failures_open_it_and_a_success_in_between_resets_the_count() -> None:
    cb, _, changes = breaker(consecutive=3)
    for _ in range(2):
        assert cb.allow()
        cb.failure()
    cb.success()
    for _ in range(2):
        cb.failure()
    assert state(cb) is BreakerState.CLOSED
    cb.failure()
    assert state(cb) is BreakerState.OPEN
    assert changes == [BreakerState.OPEN]
    assert not cb.allow()


def test_open_refuses_until_the_cool_down_then_lets_one_probe_through() -> None:
    cb, clock, changes = breaker(consecutive=1, half_open_after=10.0)
    cb.failure()
    clock.now += 2.5
    assert not cb.allow()
    assert cb.retry_after() == 8.0  # whole seconds, rounded up
    clock.now += 7.5
    assert cb.allow()  # the probe
    assert state(cb) is BreakerState.HALF_OPEN
    assert not cb.allow()  # everyone else waits for its verdict
    cb.success()
    assert state(cb) is BreakerState.CLOSED
    assert cb.allow()
    assert cb.allow()
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    cb, clock, _ = breaker(consecutive=1, half_open_after=5.0)
    cb.failure()
    clock.now += 5
    assert cb.allow()
    cb.failure()
    assert state(cb) is BreakerState.OPEN
    assert cb.opened_at == clock.now
    assert not cb.allow()
    assert cb.retry_after() == 5.0


def test_a_probe_without_verdict_lets_the_next_request_probe() -> None:
    cb, clock, _ = breaker(consecutive=1, half_open_after=1.0)
    cb.failure()
    clock.now += 1
    assert cb.allow()
    cb.release()
    assert state(cb) is BreakerState.HALF_OPEN
    assert cb.allow()


def test_the_error_rate_opens_it_only_with_enough_volume_in_the_window() -> None:
    cb, _clock, _ = breaker(consecutive=100, error_rate=0.5, window=10.0)
    for _ in range(MIN_VOLUME // 2 - 1):
        cb.failure()
        cb.success()
    cb.failure()  # 19 outcomes, 10 failed: not enough volume yet
    assert state(cb) is BreakerState.CLOSED
    cb.success()  # 20 outcomes, 10 failed: 50%, but a success does not open it
    assert state(cb) is BreakerState.CLOSED
    cb.failure()  # 21 outcomes, 11 failed
    assert state(cb) is BreakerState.OPEN


def test_outcomes_older_than_the_window_are_forgotten() -> None:
    cb, clock, _ = breaker(consecutive=100, error_rate=0.9, window=10.0)
    for _ in range(MIN_VOLUME):
        cb.failure()
        cb.success()
    assert state(cb) is BreakerState.CLOSED  # half of them failed: under 90%
    assert cb.error_rate() == (2 * MIN_VOLUME, MIN_VOLUME)
    clock.now += 25
    assert cb.error_rate() == (0, 0)
    cb.failure()
    assert state(cb) is BreakerState.CLOSED


def test_the_window_is_counted_in_a_bounded_number_of_buckets() -> None:
    cb, clock, _ = breaker(consecutive=10_000, window=1.0)
    for _ in range(10_000):
        clock.now += 0.001
        cb.success()
    assert len(cb._buckets) <= 11


def test_a_bulkhead_admits_its_limit_and_frees_a_slot_on_release() -> None:
    bulkhead = Bulkhead(2)
    assert bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    assert not bulkhead.try_acquire()
    bulkhead.release()
    assert bulkhead.try_acquire()
    bulkhead.release()
    bulkhead.release()
    bulkhead.release()  # never below zero
    assert bulkhead.active == 0
