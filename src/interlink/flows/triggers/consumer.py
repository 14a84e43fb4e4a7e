"""The consumer: one consumed source (a queue) feeding one flow, on one node at a time.

Each message received is recorded as a run (id :func:`item_run_id` of the trigger and the
message's key) and acked only then; the runner records it with its first step's checkpoint
(``FlowRunner.start_consumed``), so ``start`` returns once that step is made and written. A
message whose run cannot be recorded (the store away, the flow refusing it) is nacked, so the
broker hands it out again, and the consumer backs off. A message handed out twice (a node died
before its ack reached the broker, an ack lost) finds its run recorded and starts none. The
broker keeps the position: there is no checkpoint.

Up to ``concurrency`` messages are in flight at once (their runs recorded together, in shared
transactions; with ``begin``, a message leaves its slot once its run is begun and waits for its
record apart, the broker's window of unacked messages bounding them then), and whatever the
concurrency they are acked (or nacked) in the order received: a message whose run was recorded
first waits for the ones before it. MQTT requires its PUBACKs in that order, and any broker's
redelivery then stays in order too; it costs the wait for the slowest record of a group, a
transaction's time. A message whose connector places its ack at the call
(``Received.acks_in_call_order``: AMQP, MQTT) lets the next one's ack go as soon as its own is
placed, not sent, so AMQP can send the acks of a run of messages as one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from interlink.flows.triggers.backoff import Backoff, describe
from interlink.flows.triggers.owned import LEASE_PREFIX, OwnedJob
from interlink.flows.triggers.poller import Start
from interlink.flows.triggers.sources import ConsumedSource, Delivery, item_run_id, trigger_id
from interlink.leases import HeldLease, LeaseKeeper
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.flows.triggers")

#: How a consumer may start a message's run in two steps (the runner's ``begin_consumed``):
#: awaited, the run is begun (its id looked up); what it gives is awaited for the record.
Begin = Callable[[str, Any, str, str], Awaitable[Awaitable[object]]]


class Consumer:
    def __init__(
        self,
        flow: str,
        name: str,
        source: ConsumedSource,
        start: Start,
        *,
        keeper: LeaseKeeper | None = None,
        begin: Begin | None = None,
        concurrency: int = 1,
        retry_initial: float = 1.0,
        retry_limit: float = 60.0,
    ) -> None:
        self.flow = flow
        self.name = name
        self.id = trigger_id(flow, name)
        self.source = source
        self._start = start
        # With ``begin``, a message holds its slot until its run is begun, not recorded.
        self._begin = begin
        self.concurrency = max(1, concurrency)
        self._pause = 0.0  # a failed message's back-off, waited before the next receive
        self.backoff = Backoff(
            f"Flow/{flow} trigger {name}", initial=retry_initial, limit=retry_limit
        )
        self._owned = OwnedJob(LEASE_PREFIX + self.id, self._consume, keeper)
        self._settling: set[asyncio.Task[None]] = set()

    @property
    def lease(self) -> str:
        return self._owned.lease

    @property
    def active(self) -> bool:
        return self._owned.running

    async def start(self) -> None:
        await self._owned.start()

    async def close(self) -> None:
        await self._owned.close()
        await asyncio.gather(*self._settling, return_exceptions=True)

    async def _consume(self, held: HeldLease | None) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        before: asyncio.Future[None] | None = None  # settled once the last message is
        try:
            while held is None or held.valid():
                await slots.acquire()
                if self._pause:
                    pause, self._pause = self._pause, 0.0
                    await asyncio.sleep(pause)
                try:
                    delivery = await self.source.receive()
                except Exception as exc:  # the broker away
                    slots.release()
                    await asyncio.sleep(self.backoff.failed("receiving", exc))
                    continue
                settled = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(self._one(delivery, held, slots, before, settled))
                before = settled
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        finally:
            # Stopping: a message whose run is not recorded yet is nacked, handed out again.
            await cancel_and_wait(in_flight)

    async def _one(
        self,
        delivery: Delivery,
        held: HeldLease | None,
        slots: asyncio.Semaphore,
        before: asyncio.Future[None] | None,
        settled: asyncio.Future[None],
    ) -> None:
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        try:
            pause = await self._handle(delivery, held, before, settled, release)
            self._pause = max(self._pause, pause)
        finally:
            if not settled.done():
                settled.set_result(None)
            release()

    async def _handle(
        self,
        delivery: Delivery,
        held: HeldLease | None,
        before: asyncio.Future[None] | None,
        settled: asyncio.Future[None],
        release: Callable[[], None],
    ) -> float:
        """Record the message's run, then ack it once the message before it is settled; nack it
        when the run cannot be recorded. The seconds to wait before the next message (0 unless
        something failed). ``release`` gives its slot to the next message (once its run is
        begun, with ``begin``)."""
        if held is not None and not held.valid():  # another node may consume it now
            await _after(before)
            await self._settle(delivery.nack, "nacking")
            return 0.0
        trigger = f"queue:{self.name}:{delivery.key}"
        try:
            if self._begin is not None:
                recorded = await self._begin(
                    self.flow, delivery.input, trigger, self._run_id(delivery)
                )
                release()
                await recorded
            else:
                await self._start(self.flow, delivery.input, trigger, self._run_id(delivery))
        except asyncio.CancelledError:
            # Stopping mid-record: hand the message back without waiting for the broker.
            self._background(delivery.nack)
            raise
        except Exception as exc:
            await _after(before)
            await self._settle(delivery.nack, "nacking")
            return self.backoff.failed("recording a run", exc)
        await _after(before)
        if delivery.ordered_ack:
            # Its ack is placed (a frame queued, or joined to the next one) before the ack
            # first waits, so before the loop wakes the next message's waiter: the next
            # message need not wait for this ack to be sent, and AMQP sends one for both.
            settled.set_result(None)
        try:
            await delivery.ack()
        except Exception as exc:  # the run stands; the broker hands the message out again
            return self.backoff.failed("acking", exc)
        self.backoff.succeeded()
        return 0.0

    def _run_id(self, delivery: Delivery) -> str:
        return item_run_id(self.id, delivery.key)

    async def _settle(self, action: Callable[[], Awaitable[None]], doing: str) -> None:
        try:
            await action()
        except Exception as exc:  # the broker redelivers after its ack wait anyway
            log.warning(
                "Flow/%s trigger %s: %s failed: %s", self.flow, self.name, doing, describe(exc)
            )

    def _background(self, action: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.get_running_loop().create_task(self._settle(action, "nacking"))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)


async def _after(before: asyncio.Future[None] | None) -> None:
    """Wait until the message received before this one is acked or nacked."""
    if before is not None and not before.done():
        await asyncio.shield(before)
