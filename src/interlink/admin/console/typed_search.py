"""The inventory as the console's search reads it while typed: each keystroke (htmx, 300 ms
after the last) reuses the inventory the page or the previous keystroke read, for up to
:data:`REUSE` seconds, instead of reading and merging the store's counts again. Those counts
are written every 30 seconds, so the rows are no staler than they may be anyway; a page load
or a download always reads afresh."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from fastapi import Request

from interlink.admin import inventory
from interlink.observe.inventory import Inventory

#: Seconds a read inventory serves the search as typed.
REUSE: Final = 15.0


@dataclass(frozen=True)
class _Read:
    snapshot: object  # the estate revision it merged
    since: str
    at: float  # time.monotonic() of the read
    inventory: Inventory


async def inventory_of(request: Request, since: str, *, typed: bool) -> Inventory:
    """The inventory over ``since``; while ``typed``, the last one read (by any viewer: it
    does not depend on who asks) when it is of the same revision and window and recent."""
    state = request.app.state
    snapshot = state.runtime.snapshot
    last: _Read | None = getattr(state, "inventory_read", None)
    if (
        typed
        and last is not None
        and last.snapshot is snapshot
        and last.since == since
        and time.monotonic() - last.at < REUSE
    ):
        return last.inventory
    found = await inventory.inventory_of(request, since)
    state.inventory_read = _Read(snapshot, since, time.monotonic(), found)  # one kept, no more
    return found
