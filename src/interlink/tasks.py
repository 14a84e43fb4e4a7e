"""Stopping asyncio tasks for sure.

One ``cancel()`` can be lost. On Python 3.11, ``asyncio.wait_for`` returns a result that arrives
in the same loop turn as the cancellation and drops the cancellation; client libraries wait that
way (nats-py's ``next_msg`` does), so a loop that pulls from the bus could run on after its
worker was stopped, and whoever awaited it waited forever. :func:`cancel_and_wait` cancels again
until every task has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

AGAIN: Final = 0.2  # seconds between cancellations of a task that has not ended


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any] | None], again: float = AGAIN
) -> None:
    """Cancel ``tasks`` and return once each has ended; their results and errors are dropped."""
    every = {task for task in tasks if task is not None}
    pending = {task for task in every if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again)
    await asyncio.gather(*every, return_exceptions=True)  # retrieved, so none is logged as lost
