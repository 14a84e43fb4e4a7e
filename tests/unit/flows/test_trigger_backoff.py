"""A trigger's pauses after failures, and how a failure reads in its one log line."""

from __future__ import annotations

from interlink.errors import StoreUnavailable
from interlink.flows.triggers.backoff import Backoff, describe


def test_the_pause_after_failures_doubles_up_to_its_limit_and_starts_over() -> None:
    backoff = Backoff("t", initial=0.5, limit=3.0)
    assert [backoff.failed("polling", ValueError("x")) for _ in range(5)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        3.0,
    ]
    backoff.succeeded()
    assert backoff.failures == 0
    assert backoff.failed("polling", ValueError("x")) == 0.5


def test_a_failure_reads_as_one_line() -> None:
    assert describe(StoreUnavailable("the store is away")) == "the store is away"
    assert describe(OSError("connection\n  refused")) == "OSError: connection refused"
    assert describe(TimeoutError()) == "TimeoutError"
