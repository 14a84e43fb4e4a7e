"""The virtual timer flow tests run on: sleeps move the clock, limits time attempts out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from interlink.flows.timing import VirtualTimer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_sleep_moves_the_clock_by_its_length() -> None:
    timer = VirtualTimer(T0)
    asyncio.run(timer.sleep(3600))
    assert timer() == T0 + timedelta(hours=1)
    timer.advance_to(T0)  # never back
    assert timer.now() == T0 + timedelta(hours=1)


def test_a_sleep_past_the_limit_times_the_attempt_out_at_the_limit() -> None:
    timer = VirtualTimer(T0)

    async def slow() -> str:
        await timer.sleep(1)
        await timer.sleep(10)
        return "late"

    with pytest.raises(TimeoutError):
        asyncio.run(timer.limit(5, slow()))
    assert timer.now() == T0 + timedelta(seconds=5)


def test_an_attempt_within_its_limit_returns() -> None:
    timer = VirtualTimer(T0)

    async def quick() -> str:
        await timer.sleep(4)
        return "done"

    assert asyncio.run(timer.limit(5, quick())) == "done"


def test_nested_limits_time_out_the_one_that_expires_first() -> None:
    timer = VirtualTimer(T0)
    seen: list[str] = []

    async def inner() -> None:
        try:
            await timer.limit(60, timer.sleep(30))
        except TimeoutError:
            seen.append("inner")
            raise

    async def outer() -> None:
        try:
            await timer.limit(10, inner())
        except TimeoutError:
            seen.append("outer")

    asyncio.run(outer())
    assert seen == ["outer"]
    assert timer.now() == T0 + timedelta(seconds=10)


def test_an_attempt_past_its_limit_is_cancelled_with_all_it_awaits() -> None:
    timer = VirtualTimer(T0)
    seen: list[int] = []

    async def steady() -> None:
        for n in range(5):
            await timer.sleep(1)
            seen.append(n)

    async def stuck() -> None:
        await timer.sleep(100)

    async def attempt() -> None:
        await asyncio.gather(steady(), stuck())  # as a split runs its children

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await timer.limit(15, attempt())
        for _ in range(10):  # nothing of the attempt runs on after it timed out
            await asyncio.sleep(0)

    asyncio.run(main())
    assert seen == []  # steady was cancelled in its first sleep
    assert timer.now() == T0 + timedelta(seconds=15)


def test_a_limit_cancelled_from_outside_is_a_cancellation_not_a_timeout() -> None:
    timer = VirtualTimer(T0)

    async def main() -> None:
        task = asyncio.create_task(timer.limit(15, asyncio.sleep(3600)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
