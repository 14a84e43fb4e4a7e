"""Stopping tasks for sure, even when one cancellation is lost."""

from __future__ import annotations

import asyncio

import pytest

from interlink.tasks import cancel_and_wait

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_loop_that_loses_a_cancellation_is_still_stopped() -> None:
    rounds = 0

    async def stubborn() -> None:
        nonlocal rounds
        lost = False
        while True:
            rounds += 1
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost = True  # the first cancellation goes missing, as inside wait_for on 3.11

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.03)
    async with asyncio.timeout(5):
        await cancel_and_wait([task], again=0.02)
    assert task.cancelled()
    assert rounds > 1  # it ran on after the first cancel, so one cancel would not have done


async def test_a_loop_around_wait_for_ends_when_the_result_and_the_cancel_meet() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    got: list[int] = []

    async def pull_forever() -> None:
        while True:
            got.append(await asyncio.wait_for(queue.get(), 10))

    task = asyncio.create_task(pull_forever())
    await asyncio.sleep(0)
    queue.put_nowait(1)  # the result and the cancellation arrive in the same loop turn
    async with asyncio.timeout(5):
        await cancel_and_wait([task], again=0.02)
    assert task.done()


async def test_done_tasks_and_none_are_fine_and_errors_are_not_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait([failed, None])
    assert isinstance(failed.exception(), RuntimeError)
