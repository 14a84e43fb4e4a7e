"""Replay: deliver a subscription's past events again, from a sequence number or a time.

The events are read back from the bus and enqueued as copies marked with a replay id, so they
never collide with the live rows of the same events and the dispatcher treats them like any
other job (filter, ordering, retries, dead letters). The replay stops at the end given, or at
the end of the log as it was when the replay started, so it finishes on a busy stream too.
Copies keep their event's ``webhook-id``: an idempotent receiver sees the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from interlink.errors import ConfigError
from interlink.events.bus import Bus
from interlink.events.delivery.clock import Clock
from interlink.events.delivery.plan import DeliveryPlan
from interlink.events.delivery.queue import DeliveryQueue


@dataclass(frozen=True)
class ReplayProgress:
    replay: int  # the replay's id; its rows' ids end in ``:<replay>``
    read: int  # events read from the log so far
    enqueued: int  # copies queued (events the filter skipped are read, not queued)
    position: int  # the last sequence read
    last: int  # the sequence the replay stops at
    done: bool = False


Progress = Callable[[ReplayProgress], None]


async def replay(  # noqa: C901 - start and end each a sequence or a time
    bus: Bus,
    queue: DeliveryQueue,
    plan: DeliveryPlan,
    start: int | datetime,
    end: int | datetime | None = None,
    *,
    clock: Clock,
    progress: Progress | None = None,
    batch: int = 500,
) -> ReplayProgress:
    """Enqueue copies of ``plan``'s events from ``start`` to ``end`` (both inclusive)."""
    if isinstance(start, int) and start < 1:
        raise ConfigError("a replay starts at sequence 1 or later")
    if isinstance(start, int) and isinstance(end, int) and end < start:
        raise ConfigError(f"a replay cannot end ({end}) before it starts ({start})")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        raise ConfigError("a replay cannot end before it starts")
    info = await bus.info(plan.event)
    last = info.last_seq if not isinstance(end, int) else min(end, info.last_seq)
    replay_id = await queue.start_replay(plan.name, start, end, clock.now())
    read = enqueued = position = 0
    cursor: int | datetime = start
    finished = info.last_seq == 0
    while not finished:
        messages = await bus.read(plan.event, cursor, batch)
        chosen = []
        for message in messages:
            if message.seq > last or (isinstance(end, datetime) and message.stored_at > end):
                finished = True
                break
            read += 1
            position = message.seq
            if plan.filter.matches_body(message.body):
                chosen.append(message)
        if chosen:
            enqueued += await queue.enqueue(plan.name, chosen, clock.now(), replay=replay_id)
        if len(messages) < batch or position >= last:
            finished = True
        elif messages:
            cursor = messages[-1].seq + 1
        if progress is not None:
            progress(ReplayProgress(replay_id, read, enqueued, position, last, finished))
    await queue.finish_replay(replay_id, enqueued, clock.now())
    result = ReplayProgress(replay_id, read, enqueued, position, last, True)
    if progress is not None and info.last_seq == 0:
        progress(result)
    return result
