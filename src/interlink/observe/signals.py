"""Signals on the hot path: what each monitorable target does, per minute, held in memory and
written to the store periodically (``store.signals``), for the monitors to evaluate.

Each process has one :data:`RECORDER`; the gateway, the event ingress, the delivery workers and
the flow engine each make one call into it per request, publish, delivery attempt or run (a
dict update, no I/O). Whoever owns the process's store (``interlink serve``, a gateway worker)
runs a :class:`SignalSaver`, which writes the table out every :data:`FLUSH_INTERVAL` seconds
and once more when it stops. The table holds at most :data:`MAX_KEYS` (minute, target) entries
between two flushes; what does not fit is counted as dropped and said when written.

What is recorded, by target kind (the ``last_seen`` is the last *success*):

- ``Route``: requests (errors: 5xx answers), latency from head to answer;
- ``System``: requests the gateway sent upstream (errors: 5xx or no answer), their latency;
- ``Event``: publishes accepted into the bus, per event type;
- ``Subscription``: delivery attempts (errors: failed ones), their duration;
- ``Flow``: runs ended (errors: failed or compensated), their duration;
- ``DataProduct``: refreshes, through :func:`refreshed` (products call it once they run).

An ``Api`` is the sum of its Routes, and a System also counts the Events it publishes: the
evaluator adds them up (:mod:`interlink.observe.targets`), so the hot path records one target.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from interlink.observe.saving import CountsFlusher, CountsSaver
from interlink.store import Bucket, SignalRow, Store
from interlink.store.signals import LATENCY_BOUNDS, MINUTE

log = logging.getLogger("interlink.observe")

FLUSH_INTERVAL: Final = 15.0
MAX_KEYS: Final = 50_000
_BOUNDS: Final = len(LATENCY_BOUNDS)

SignalKey = tuple[int, str, str]  # (minute as epoch seconds, kind, name)


class SignalTable:
    """Minute buckets per target, held until taken."""

    def __init__(self, limit: int = MAX_KEYS, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.clock = clock
        self.buckets: dict[SignalKey, Bucket] = {}
        self.dropped = 0

    def record(
        self, kind: str, name: str, ok: bool, seconds: float | None = None, now: float = 0.0
    ) -> None:
        """One occurrence of ``name`` (of ``kind``) at ``now`` (default: the clock's now):
        successful or not, taking ``seconds`` (None: no latency to speak of)."""
        now = now or self.clock()
        key = (int(now) - int(now) % MINUTE, kind, name)
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.limit:
                self.dropped += 1
                return
            bucket = self.buckets[key] = Bucket()
        bucket.count += 1
        if ok:
            bucket.last_seen = now
        else:
            bucket.errors += 1
        if seconds is not None:
            bucket.latency_sum += seconds
            at = bisect_left(LATENCY_BOUNDS, seconds)
            if at < _BOUNDS:
                bucket.histogram[at] += 1

    def take(self) -> dict[SignalKey, Bucket]:
        buckets, self.buckets = self.buckets, {}
        return buckets

    def restore(self, buckets: dict[SignalKey, Bucket]) -> None:
        """Put back what a failed write could not save (as far as there is room)."""
        for key, bucket in buckets.items():
            held = self.buckets.get(key)
            if held is not None:
                held.add(bucket)
            elif len(self.buckets) < self.limit:
                self.buckets[key] = bucket
            else:
                self.dropped += bucket.count


#: This process's signals.
RECORDER: Final = SignalTable()


def request(
    route: str, system: str | None, status: int, seconds: float, upstream: int | None
) -> None:
    """The gateway answered a request of ``route`` with ``status`` after ``seconds``; it went
    to ``system``, which answered ``upstream`` (None: no answer, or not sent)."""
    now = RECORDER.clock()
    RECORDER.record("Route", route, status < 500, seconds, now)
    if system is not None:
        RECORDER.record("System", system, upstream is not None and upstream < 500, seconds, now)


def published(event_types: Iterable[str]) -> None:
    """Events of these types were appended to the bus (one type per event; a duplicate of
    one appended before is not another)."""
    now = 0.0
    for event_type in event_types:
        now = now or RECORDER.clock()
        RECORDER.record("Event", event_type, True, None, now)


def delivered(subscription: str, ok: bool, seconds: float) -> None:
    """A delivery attempt of ``subscription`` ended after ``seconds``."""
    RECORDER.record("Subscription", subscription, ok, seconds)


def ran(flow: str, status: str, started: datetime, finished: datetime | None) -> None:
    """A run of ``flow`` that ``finished`` (None: it has not) with ``status``: a failed or
    compensated run is a failure, any other end (completed, filtered…) a success."""
    if finished is not None:
        seconds = (finished - started).total_seconds()
        RECORDER.record("Flow", flow, status not in ("failed", "compensated"), seconds)


def refreshed(product: str, ok: bool = True, seconds: float | None = None) -> None:
    """A DataProduct was refreshed (or the refresh failed)."""
    RECORDER.record("DataProduct", product, ok, seconds)


def recorded(kind: str, name: str, table: SignalTable = RECORDER) -> int:
    """The occurrences of one target held in ``table`` now (not yet written)."""
    return sum(b.count for (_, k, n), b in table.buckets.items() if k == kind and n == name)


def rows(buckets: dict[SignalKey, Bucket]) -> list[SignalRow]:
    return [SignalRow(kind, name, MINUTE, start, b) for (start, kind, name), b in buckets.items()]


class SignalSaver(CountsFlusher[SignalKey, Bucket]):
    """Writes ``table`` to ``store`` every ``interval`` seconds, and when stopped; with no
    store (a gateway without one) it empties the table, so that it does not fill up."""

    def __init__(
        self, store: Store | None, table: SignalTable = RECORDER, interval: float = FLUSH_INTERVAL
    ) -> None:
        self.store = store
        saver: CountsSaver[SignalKey, Bucket] = CountsSaver(
            table,
            log,
            saved="signals",
            kept="the next try",
            uncounted="occurrence(s)",
            unit="buckets",
        )
        super().__init__(table, self._write, saver, interval)

    def _write(self, buckets: dict[SignalKey, Bucket]) -> None:
        if self.store is not None:
            self.store.signals.record(rows(buckets))
