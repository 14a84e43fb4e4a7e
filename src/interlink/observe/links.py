"""Observed links: what the event mesh and the flows connect, counted per hour.

The hot paths tell :class:`LinkCounts` of each event published (by whom, which Event), each
delivery finished or failed (which Subscription), each flow run recorded (which Flow, from
which trigger) and each flow step that reaches another object (a call, an enrich, a publish,
a child flow). It is a plain dict updated on the event loop: no lock, no I/O. One table per
process (``Runtime.links``), written to the store (``store.links``) by :class:`LinkFlusher`
every :data:`FLUSH_INTERVAL` seconds and when it stops, added to what is stored for the same
key, as the gateway's observed connections are.

The keys are estate names (``Kind/name``) and a few fixed words, so they are bounded by the
estate; the table still holds at most :data:`MAX_KEYS` between two flushes, and says at the
next flush how many it could not count beyond that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from interlink.observe.saving import CountsFlusher, CountsSaver
from interlink.store import ObservedLink, Store

log = logging.getLogger("interlink.observe")

#: Seconds between two flushes of the counts to the store.
FLUSH_INTERVAL: Final = 30.0
#: Most keys held between two flushes.
MAX_KEYS: Final = 10_000

LinkKey = tuple[int, str, str, str, str]  # (hour as epoch seconds, kind, source, target, via)


class LinkCounts:
    """Count, errors and dead letters per hour per (kind, source, target, via), held until
    taken."""

    def __init__(self, limit: int = MAX_KEYS, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.counts: dict[LinkKey, list[int]] = {}  # [count, errors, dead]
        self.dropped = 0

    def add(
        self,
        kind: str,
        source: str,
        target: str,
        via: str = "",
        *,
        failed: bool = False,
        dead: bool = False,
        count: int = 1,
        at: float | None = None,
    ) -> None:
        """Count ``count`` of one link; ``failed`` ones count as errors too, ``dead`` ones as
        dead-lettered."""
        hour = int(self.clock() if at is None else at) // 3600 * 3600
        key = (hour, kind, source, target, via)
        found = self.counts.get(key)
        if found is None:
            if len(self.counts) >= self.limit:
                self.dropped += count
                return
            found = self.counts[key] = [0, 0, 0]
        found[0] += count
        if failed:
            found[1] += count
        if dead:
            found[2] += count

    def take(self) -> dict[LinkKey, list[int]]:
        """The counts so far, leaving the table empty."""
        counts, self.counts = self.counts, {}
        return counts

    def restore(self, counts: dict[LinkKey, list[int]]) -> None:
        """Put back counts a failed flush could not write (as far as there is room)."""
        for key, (count, errors, dead) in counts.items():
            found = self.counts.get(key)
            if found is None:
                if len(self.counts) >= self.limit:
                    self.dropped += count
                    continue
                found = self.counts[key] = [0, 0, 0]
            found[0] += count
            found[1] += errors
            found[2] += dead


def link_rows(counts: dict[LinkKey, list[int]]) -> list[ObservedLink]:
    return [
        ObservedLink(datetime.fromtimestamp(hour, UTC), kind, source, target, via, *numbers)
        for (hour, kind, source, target, via), numbers in counts.items()
    ]


class LinkFlusher(CountsFlusher[LinkKey, list[int]]):
    """Writes a :class:`LinkCounts` to the store periodically and when stopped."""

    def __init__(self, counts: LinkCounts, store: Store, interval: float = FLUSH_INTERVAL) -> None:
        saver = CountsSaver(
            counts, log, saved="observed links", kept="later", uncounted="link(s)", unit="keys"
        )
        super().__init__(
            counts, lambda taken: store.links.record(link_rows(taken)), saver, interval
        )
