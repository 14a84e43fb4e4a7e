"""A call's path filled from the message, and the retry policy's waits."""

from __future__ import annotations

from typing import Any

import pytest

from interlink.flows.calls import expand_path
from interlink.flows.retry import RetryPolicy, StepFailed, retryable_status


def test_placeholders_take_the_message_fields_as_one_segment_each() -> None:
    message = {"customer": "a/b c", "n": 7}
    assert expand_path("/customers/{customer}/orders/{n}", message) == (
        "/customers/a%2Fb%20c/orders/7"
    )
    assert expand_path("/plain", message) == "/plain"


@pytest.mark.parametrize("message", [{}, {"customer": None}, {"customer": {"id": 1}}, [1], True])
def test_a_missing_or_unfit_field_fails_the_step_for_good(message: Any) -> None:
    with pytest.raises(StepFailed, match="needs the message's 'customer'") as failed:
        expand_path("/customers/{customer}", message)
    assert failed.value.retryable is False


def test_waits_double_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=5, initial=0.5, factor=2.0, cap=1.5)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.0, 1.5, 1.5]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (503, True), (400, False), (404, False), (409, False)],
)
def test_which_answers_are_tried_again(status: int, retryable: bool) -> None:
    assert retryable_status(status) is retryable
