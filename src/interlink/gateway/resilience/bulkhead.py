"""A bulkhead per (route, upstream System): at most ``limit`` requests in flight to it.

A request holds its slot from before its first attempt until its response was relayed to the
end (or failed), so a slow upstream ties up at most ``limit`` of the gateway's connections and
other routes keep theirs. A request that finds every slot taken is refused at once (503 with
``Retry-After: 1``) rather than queued: waiting would only move the pile-up into the gateway.
"""

from __future__ import annotations


class Bulkhead:
    __slots__ = ("active", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        if self.active > 0:
            self.active -= 1
