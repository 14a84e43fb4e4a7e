"""The poller: one polling source feeding one flow, on one node at a time.

Each pass polls the source from the stored cursor, records a run per item (id
:func:`item_run_id` of the trigger and the item's key), and only THEN stores the batch's cursor,
fenced by the trigger's lease, and then lets the source settle them (a watched file moved
away). A process killed between the two polls the same batch again
after its restart, or on the node that takes the lease over: the items' runs exist already, so
nothing is recorded twice, and nothing is skipped since the cursor never passed an item whose
run is not recorded. A node that lost the lease cannot store its cursor (``LeaseLost``): it
stops, and the keeper lets the lease go.

Passes come every ``interval`` seconds, at once while the source says ``more``. A failure (the
source, the store, a run the flow refuses) leaves the cursor where it is; the pass is tried
again after a doubling pause, logged once per streak. An item the flow keeps refusing (its
input fails the flow's ``inputSchema``) holds the trigger there until the flow or the item is
fixed: nothing after it is skipped silently.

With ``each="batch"`` a pass records one run for all its items instead, its input
``{"rows": [...], "cursor": <cursor after them>, "first": <first item's key>, "last": <last
item's key>}``, its id derived from the first and last keys: a batch polled again after a crash
(the same rows from the same cursor) finds its run. Rows that arrived meanwhile can make the
batch polled again longer than the one recorded, and that one a new run sharing its first
rows: a flow copying rows writes them with ``mode: upsert`` (as it must anyway for rows read
again once updated), so a row written twice is written once. Given ``in_order`` (the runner),
a batch's run is recorded to run once the previous batch's run stopped running (``start_after``),
and the batch after it is polled only once the run before that one ended (``finished``): the
runs apply the batches in their order (a row's later version is never overwritten by an earlier
one), the next batch is read and recorded while a run writes, and memory holds three batches at
most, however far behind the flow is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Literal, Protocol

from interlink.errors import LeaseLost
from interlink.flows.triggers.backoff import Backoff
from interlink.flows.triggers.checkpoints import Fence, TriggerCheckpoints
from interlink.flows.triggers.owned import LEASE_PREFIX, OwnedJob
from interlink.flows.triggers.sources import (
    Item,
    PollingSource,
    batch_run_id,
    item_run_id,
    settle_items,
    trigger_id,
)
from interlink.leases import HeldLease, LeaseKeeper

log = logging.getLogger("interlink.flows.triggers")

#: Records one run of ``flow``: (flow, input, trigger, run id) → the run's id. The engine's
#: ``start`` (record only) or the runner's ``start_run`` (record, then run here).
Start = Callable[[str, Any, str, str], Awaitable[str]]

DEFAULT_INTERVAL: Final = 5.0
DEFAULT_LIMIT: Final = 100

#: A run per polled item, or one per poll for all its items.
Each = Literal["row", "batch"]


class InOrder(Protocol):
    """How a batch trigger keeps its runs in order: the runner's."""

    async def start_after(
        self, flow: str, input: Any, trigger: str, run_id: str, after: str | None
    ) -> str:
        """Record a run (as :data:`Start`), run here once run ``after`` stopped running."""
        ...

    async def finished(self, run_id: str) -> None:
        """Return once run ``run_id`` stopped running here (at once when it runs elsewhere)."""
        ...


class Poller:
    def __init__(
        self,
        flow: str,
        name: str,
        source: PollingSource,
        start: Start,
        checkpoints: TriggerCheckpoints,
        *,
        keeper: LeaseKeeper | None = None,
        holder: str = "local",
        interval: float = DEFAULT_INTERVAL,
        limit: int = DEFAULT_LIMIT,
        each: Each = "row",
        in_order: InOrder | None = None,
        retry_initial: float = 1.0,
        retry_limit: float = 60.0,
    ) -> None:
        self.flow = flow
        self.name = name
        self.id = trigger_id(flow, name)
        self.source = source
        self._start = start
        self.checkpoints = checkpoints
        self.holder = holder if keeper is None else keeper.owner
        self.interval = interval
        self.limit = limit
        self.each = each
        self._in_order = in_order if each == "batch" else None
        self.backoff = Backoff(
            f"Flow/{flow} trigger {name}", initial=retry_initial, limit=retry_limit
        )
        self._owned = OwnedJob(LEASE_PREFIX + self.id, self._passes, keeper)

    @property
    def lease(self) -> str:
        return self._owned.lease

    @property
    def active(self) -> bool:
        """Whether this poller polls now (holds the lease, or needs none)."""
        return self._owned.running

    async def start(self) -> None:
        await self._owned.start()

    async def close(self) -> None:
        await self._owned.close()

    # --- passes ------------------------------------------------------------------------------

    async def _passes(self, held: HeldLease | None) -> None:
        cursor: Any = None
        last: str | None = None  # the last batch's run (each: batch)
        loaded = False
        while held is None or held.valid():
            doing = "reading the checkpoint"
            try:
                if not loaded:  # the holder alone writes it: read once per taking of the lease
                    found = await asyncio.to_thread(self.checkpoints.get, self.id)
                    cursor, loaded = (found.cursor if found else None), True
                doing = "polling"
                batch = await self.source.poll(cursor, self.limit)
                if held is not None and not held.valid():
                    return
                doing = "recording runs"
                run_id: str | None = None
                if self.each == "batch":
                    run_id = await self._record_batch(batch.items, batch.cursor, last)
                else:
                    await self._record(batch.items)
                if batch.items or batch.cursor != cursor:
                    doing = "storing the checkpoint"
                    await asyncio.to_thread(
                        self.checkpoints.save,
                        self.id,
                        batch.cursor,
                        len(batch.items),
                        _fence(held),
                        self.holder,
                    )
                    cursor = batch.cursor
                doing = "settling the items"
                await settle_items(self.source, batch.items)
                if run_id is not None:
                    if last is not None and self._in_order is not None:
                        await self._in_order.finished(last)  # the run before this one ended
                    last = run_id
            except LeaseLost as exc:
                log.warning(
                    "Flow/%s trigger %s: %s; it stops here", self.flow, self.name, exc.message
                )
                self._owned.refused()
                return
            except Exception as exc:  # the source or the store away: the pass again, later
                await asyncio.sleep(self.backoff.failed(doing, exc))
                continue
            self.backoff.succeeded()
            await asyncio.sleep(0 if batch.more else self.interval)

    async def _record(self, items: Sequence[Item]) -> None:
        """Record a run per item (an item polled before finds its run); raise the first
        failure once every item was tried."""
        unique = list({item.key: item for item in items}.values())
        outcomes = await asyncio.gather(
            *(
                self._start(self.flow, item.input, self._trigger(item), self._run_id(item))
                for item in unique
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _record_batch(
        self, items: Sequence[Item], cursor: Any, after: str | None
    ) -> str | None:
        """Record one run for the whole batch (a batch polled before finds its run), to run
        after run ``after`` when keeping the order; its id, None without items."""
        if not items:
            return None
        first, last = items[0].key, items[-1].key
        rows = [item.input for item in items]
        input = {"rows": rows, "cursor": cursor, "first": first, "last": last}
        trigger = f"poll:{self.name}:{first}..{last}"
        run_id = batch_run_id(self.id, first, last)
        if self._in_order is not None:
            return await self._in_order.start_after(self.flow, input, trigger, run_id, after)
        return await self._start(self.flow, input, trigger, run_id)

    def _trigger(self, item: Item) -> str:
        return f"{getattr(self.source, 'trigger_kind', 'poll')}:{self.name}:{item.key}"

    def _run_id(self, item: Item) -> str:
        return item_run_id(self.id, item.key)


def _fence(held: HeldLease | None) -> Fence | None:
    return None if held is None else Fence(held.name, held.lease.owner, held.token)
