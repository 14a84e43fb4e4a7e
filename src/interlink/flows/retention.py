"""Flow run history kept for a while, then purged: ended runs, expired keys, stored payloads.

A run that ended ``completed``, ``filtered``, ``duplicate`` or ``cancelled`` is deleted once it
ended longer ago than the Platform's ``flows.retention`` (30 days by default); a ``failed`` or
``compensated`` one, which someone may still look into or retry, after ``flows.failedRetention``
(90 days). Its steps and stored payloads go with it, and so do the runs its ``split`` and
``flow`` steps started (whatever their own state: they are part of the parent, which retries
them), so a retried parent never finds half its children gone. Pending and waiting runs are
never purged. Idempotency keys go once their window expired.

The purge deletes in batches of ``batch`` runs, one short transaction each, so a large backlog
never holds the store for long; a cluster purges on one node at a time, the one holding the
``flow-retention`` lease (:class:`RetentionJob`), which checks it still holds it before each
batch.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from interlink.estate.model import Estate
from interlink.leases import HeldLease, LeaseKeeper, RepeatedPass
from interlink.store.database import Database, Session

log = logging.getLogger("interlink.flows.retention")

#: The one lease the purge of a cluster runs under.
LEASE: Final = "flow-retention"
ENDED: Final = ("completed", "filtered", "duplicate", "cancelled")
#: Ends that may need a person: kept for the longer ``failedRetention``.
TO_LOOK_AT: Final = ("failed", "compensated")
#: How many ids go into one ``IN (...)`` list.
_CHUNK: Final = 500
#: How deep runs start runs (flow steps nest at most 8 deep, each may split once more).
_DEPTH: Final = 20

_OLD: Final = (
    "SELECT id FROM flow_runs WHERE status IN ({statuses}) AND finished_at < ? "
    "AND trigger NOT LIKE 'split:%' AND trigger NOT LIKE 'flow:%' "
    "ORDER BY finished_at LIMIT ?"
)
# The LIKE terms repeat the partial index's condition, so both dialects use that index.
_CHILDREN: Final = (
    "SELECT id FROM flow_runs WHERE (trigger LIKE 'split:%' OR trigger LIKE 'flow:%') "
    "AND trigger IN ({triggers})"
)
_DELETE_STEPS: Final = "DELETE FROM flow_steps WHERE run_id IN ({marks})"
_DELETE_PAYLOADS: Final = "DELETE FROM flow_payloads WHERE run_id IN ({marks})"
_DELETE_RUNS: Final = "DELETE FROM flow_runs WHERE id IN ({marks})"
_EXPIRED_KEYS: Final = (
    "DELETE FROM flow_keys WHERE (flow, key) IN "
    "(SELECT flow, key FROM flow_keys WHERE expires_at <= ? LIMIT ?)"
)


@dataclass(frozen=True)
class RetentionSettings:
    """Seconds an ended run is kept: ``ended`` for most ends, ``failed`` for failed or
    compensated runs."""

    ended: float = 30 * 86_400.0
    failed: float = 90 * 86_400.0

    @classmethod
    def of(cls, estate: Estate) -> RetentionSettings:
        flows = estate.platform.spec.flows
        return cls(flows.retention, flows.failed_retention)


@dataclass
class Purged:
    runs: int = 0  # top-level runs and the runs they started
    payloads: int = 0
    keys: int = 0
    batches: int = 0

    def __bool__(self) -> bool:
        return bool(self.runs or self.payloads or self.keys)

    def add(self, other: Purged) -> None:
        self.runs += other.runs
        self.payloads += other.payloads
        self.keys += other.keys
        self.batches += other.batches


@dataclass
class RunRetention:
    """Deletes what is past its retention from the store, a batch per transaction."""

    db: Database
    settings: Callable[[], RetentionSettings] = RetentionSettings
    batch: int = 500

    def purge(self, go_on: Callable[[], bool] = lambda: True) -> Purged:
        """Purge everything due, batch after batch, while ``go_on()``; what went."""
        total = Purged()
        for step in self.batches():
            if not go_on():
                break
            total.add(step())
        return total

    def batches(self) -> Iterator[Callable[[], Purged]]:
        """The purge as steps, each one transaction; stop taking them to stop the purge (a
        step found nothing more to do when it returns less than a whole batch)."""
        settings = self.settings()
        now = self.db.now()
        plan = [
            (ENDED, now - timedelta(seconds=settings.ended)),
            (TO_LOOK_AT, now - timedelta(seconds=settings.failed)),
        ]
        for statuses, before in plan:
            while True:
                done = Purged()
                yield functools.partial(_into, done, self.runs_batch, statuses, before)
                if done.runs < self.batch:
                    break
        while True:
            done = Purged()
            yield functools.partial(_into, done, self.keys_batch, now)
            if done.keys < self.batch:
                break

    def runs_batch(self, statuses: Sequence[str], before: datetime) -> Purged:
        """Delete up to ``batch`` top-level runs in ``statuses`` that ended before ``before``,
        with their steps, payloads and the runs they started; in one transaction."""
        marks = ", ".join("?" for _ in statuses)
        with self.db.transaction() as session:
            rows = session.fetchall(
                _OLD.format(statuses=marks), (*statuses, self.db.ts(before), self.batch)
            )
            top = [str(row[0]) for row in rows]
            if not top:
                return Purged(batches=1)
            ids = top + _descendants(session, top)
            payloads = 0
            for chunk in _chunks(ids):
                # Only placeholders are spliced in; the ids are parameters.
                marks = ", ".join("?" for _ in chunk)
                session.execute(_DELETE_STEPS.format(marks=marks), chunk)
                payloads += session.execute(_DELETE_PAYLOADS.format(marks=marks), chunk)
                session.execute(_DELETE_RUNS.format(marks=marks), chunk)
        # ``runs`` counts the top-level runs, as that is what decides if a batch was whole.
        return Purged(runs=len(top), payloads=payloads, batches=1)

    def keys_batch(self, now: datetime) -> Purged:
        with self.db.transaction() as session:
            gone = session.execute(_EXPIRED_KEYS, (self.db.ts(now), self.batch))
        return Purged(keys=gone, batches=1)


def _into(done: Purged, step: Callable[..., Purged], *args: Any) -> Purged:
    """``step(*args)``, its count kept in ``done`` too (what the batch loop looks at)."""
    purged = step(*args)
    done.add(purged)
    return purged


def _descendants(session: Session, parents: list[str]) -> list[str]:
    found: list[str] = []
    frontier = parents
    for _ in range(_DEPTH):
        children: list[str] = []
        for chunk in _chunks(frontier):
            triggers = [f"{kind}:{run_id}" for run_id in chunk for kind in ("split", "flow")]
            marks = ", ".join("?" for _ in triggers)
            rows = session.fetchall(_CHILDREN.format(triggers=marks), tuple(triggers))
            children += [str(row[0]) for row in rows]
        if not children:
            break
        found += children
        frontier = children
    return found


def _chunks(ids: list[str]) -> Iterator[tuple[str, ...]]:
    for start in range(0, len(ids), _CHUNK):
        yield tuple(ids[start : start + _CHUNK])


class RetentionJob:
    """Runs the purge every ``interval`` seconds: under the cluster's ``flow-retention``
    lease with a keeper (one node purges), in this process without one (SQLite)."""

    def __init__(
        self,
        retention: RunRetention,
        *,
        keeper: LeaseKeeper | None = None,
        owns_keeper: bool = False,
        interval: float = 300.0,
    ) -> None:
        self.retention = retention
        self._keeper = keeper
        self._owns_keeper = owns_keeper
        self.interval = interval
        self._job = RepeatedPass(LEASE, self.run_once, interval, "purging flow history")
        #: What the passes of this node purged so far.
        self.purged = Purged()

    async def start(self) -> None:
        self._job.start(self._keeper)
        if self._keeper is not None and self._owns_keeper:
            await self._keeper.start()

    async def close(self) -> None:
        await self._job.close()
        if self._owns_keeper and self._keeper is not None:
            await self._keeper.stop()

    @property
    def active(self) -> bool:
        """Whether this node purges now (holds the lease, or needs none)."""
        return self._job.running

    async def run_once(self, held: HeldLease | None = None) -> Purged:
        """One pass: every batch due, each in a worker thread, while the lease is held."""
        total = Purged()
        for step in self.retention.batches():
            if held is not None and not held.valid():
                break
            purged = await asyncio.to_thread(step)
            total.add(purged)
            self.purged.add(purged)
        if total:
            log.info(
                "flow history purged: %d run(s), %d stored payload(s), %d expired key(s)",
                total.runs,
                total.payloads,
                total.keys,
            )
        return total
