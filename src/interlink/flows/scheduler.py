"""The schedule trigger: a run of each flow with ``trigger.schedule`` at each of its due times.

Due times come from the cron expression read in the trigger's ``timezone`` (UTC unless given)
with cronsim, so they follow daylight saving time: ``30 2 * * *`` in Europe/Berlin runs at
03:00 on the day 02:30 does not exist, and once on the day it exists twice. A run gets the
trigger ``schedule`` and the input ``{"scheduledAt": "<due time, ISO 8601 in the zone>"}``.

One pass (:meth:`FlowScheduler.tick`) reads the estate's scheduled flows and each one's record
in the store (``schedules.py``): a new schedule counts from now (no run for times before it
existed), a changed one from when it changed, a removed one's record goes. The due times
between the last one dealt with and now are then:

- the *current* one, the latest, when it is at most ``grace`` seconds old: a run;
- the others (and the latest when older than that) were *missed* while no scheduler ran:
  ``missed: skip`` (the default) logs and records them, ``missed: catchUp`` starts one run for
  the whole period, input ``{"scheduledAt": <last missed>, "catchUp": {"missed": <how many>,
  "from": <first>, "to": <last>}}``.

With ``disallowConcurrent: true`` a due time is skipped (logged, recorded as the outcome) while
the previous scheduled run of the flow is still pending.

Exactly once across a cluster: only the node holding the ``flow-schedules`` lease runs passes
(on SQLite, with no lease keeper, the one process does), and each fire is claimed by a compare
and set of the record's last due time before its run is recorded, so two schedulers that read
the same record never both start a run. A claim whose run is missing (the process died between
the two) is completed on the next pass with the input kept in the record, unless a run for that
due time is found.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar

from cronsim import CronSim

from interlink.errors import InterlinkError, NotFound
from interlink.estate.kinds.flow import FlowSpec, Trigger
from interlink.flows.engine import FlowEngine
from interlink.flows.runs import PENDING
from interlink.flows.schedules import STARTING, FlowSchedules, ScheduleRecord
from interlink.leases import HeldLease, LeaseKeeper, Singleton
from interlink.tasks import cancel_and_wait

log = logging.getLogger("interlink.flows.scheduler")

#: The one lease the scheduler of a cluster runs under.
LEASE: Final = "flow-schedules"
TRIGGER: Final = "schedule"
#: Due times counted one by one at most; a longer downtime's first one is found backwards.
_COUNT_LIMIT: Final = 100_000
#: How long a claimed fire belongs to the scheduler that claimed it: one that is alive notes
#: its run within moments, so only an older claim is completed by another (its claimer died).
CLAIM_GRACE: Final = timedelta(seconds=30)
T = TypeVar("T")

Outcome = Literal["started", "caughtUp", "skipped", "missed", "failed"]


@dataclass(frozen=True)
class Fire:
    """What one pass did with one due time (or a missed period ending at it)."""

    flow: str
    due: datetime  # UTC
    outcome: Outcome
    run_id: str | None = None
    missed: int = 0  # due times the outcome covers besides ``due`` (skipped or caught up)


@dataclass(frozen=True)
class _Due:
    count: int  # how many due times, capped at _COUNT_LIMIT
    first: datetime
    last: datetime
    before_last: datetime | None  # the one before ``last``, when count > 1


def scheduled(flows: Mapping[str, FlowSpec]) -> dict[str, Trigger]:
    """The flows with a schedule trigger, by name."""
    return {
        name: spec.trigger
        for name, spec in flows.items()
        if spec.trigger is not None and spec.trigger.schedule is not None
    }


def due_times(schedule: str, zone: str, after: datetime, until: datetime) -> _Due | None:
    """The due times of ``schedule`` in ``zone`` in (``after``, ``until``], in UTC."""
    tz = zoneinfo.ZoneInfo(zone)
    forward = CronSim(schedule, after.astimezone(tz))
    count = 0
    first = last = before = None
    for moment in forward:
        due = moment.astimezone(UTC)
        if due <= after:  # cronsim works in whole minutes of the zone's wall clock
            continue
        if due > until:
            break
        count += 1
        first = first or due
        before, last = last, due
        if count >= _COUNT_LIMIT:
            backward = CronSim(schedule, until.astimezone(tz), reverse=True)
            latest = [m.astimezone(UTC) for m in _take(backward, 3)]
            latest = [m for m in latest if m <= until][:2]
            last, before = latest[0], latest[1] if len(latest) > 1 else None
            break
    if first is None or last is None:
        return None
    return _Due(count, first, last, before)


def _take(moments: CronSim, n: int) -> list[datetime]:
    out: list[datetime] = []
    for moment in moments:
        out.append(moment)
        if len(out) == n:
            break
    return out


_FIRES: Final = uuid.UUID("9d2c41a7-5e0b-4f3e-8a61-0c7b93e2d5f4")


def fire_run_id(flow: str, due: datetime) -> str:
    """The id of the run a due time of ``flow`` starts: one per due time, whoever records it."""
    return str(uuid.uuid5(_FIRES, f"{flow}\x00{due.astimezone(UTC).isoformat()}"))


def local_iso(moment: datetime, zone: str) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).isoformat()


class FlowScheduler:
    """Starts scheduled runs on ``engine``; ``flows()`` is read on every pass, so the
    scheduler follows estate reloads without being told."""

    def __init__(
        self,
        schedules: FlowSchedules,
        engine: FlowEngine,
        flows: Callable[[], Mapping[str, FlowSpec]],
        *,
        keeper: LeaseKeeper | None = None,
        owns_keeper: bool = False,
        grace: float = 60.0,
        interval: float = 1.0,
        execute: bool = True,
    ) -> None:
        self.schedules = schedules
        self.engine = engine
        self._flows = flows
        self._keeper = keeper
        self._owns_keeper = owns_keeper  # started and stopped with the scheduler
        self.grace = timedelta(seconds=grace)
        self.interval = interval  # seconds between passes
        self._execute = execute  # run what it starts here (off: only record the runs)
        self._singleton: Singleton | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    # --- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Run passes every ``interval`` seconds: under the cluster's lease with a keeper,
        in this process without one."""
        if self._keeper is not None:
            self._singleton = Singleton(self._keeper, LEASE, self._passes, pause=self.interval)
            if self._owns_keeper:
                await self._keeper.start()
        else:
            self._loop_task = asyncio.create_task(self._local(), name="flow scheduler")

    async def close(self) -> None:
        """Stop passing and release the lease. Runs it started and that are still going stop
        here too; their lease on the run lapses and recovery resumes them from a checkpoint."""
        if self._singleton is not None:
            await self._singleton.close()
            self._singleton = None
            if self._owns_keeper and self._keeper is not None:
                await self._keeper.stop()
        await cancel_and_wait([self._loop_task, *self._running])
        self._loop_task = None

    @property
    def active(self) -> bool:
        """Whether this scheduler runs passes now (holds the lease, or needs none)."""
        if self._singleton is not None:
            return self._singleton.running
        return self._loop_task is not None and not self._loop_task.done()

    async def _passes(self, held: HeldLease) -> None:
        while held.valid():
            await self.tick(held)
            await asyncio.sleep(self.interval)

    async def _local(self) -> None:
        failing = False
        while True:
            try:
                await self.tick()
            except InterlinkError as exc:  # the store away: said once a streak
                if not failing:
                    log.warning("a pass of the flow scheduler failed: %s; trying again", exc)
                failing = True
            except Exception:
                log.exception("a pass of the flow scheduler failed; trying again")
            else:
                failing = False
            await asyncio.sleep(self.interval)

    async def wait_for_runs(self) -> None:
        """Wait until the runs this scheduler started here have ended (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # --- one pass ----------------------------------------------------------------------------

    async def tick(self, held: HeldLease | None = None) -> list[Fire]:
        """Deal with every scheduled flow's due times up to now (the store's clock)."""
        now = await self._db(self.schedules.now)
        wanted = scheduled(self._flows())
        records = await self._db(self.schedules.all)
        for name in sorted(records.keys() - wanted.keys()):
            log.info("Flow/%s is no longer scheduled", name)
            await self._db(self.schedules.forget, name)
        fires: list[Fire] = []
        for name, trigger in sorted(wanted.items()):
            if held is not None and not held.valid():
                break
            fires.extend(await self._flow(name, trigger, records.get(name), now, held))
        return fires

    async def _flow(
        self,
        name: str,
        trigger: Trigger,
        record: ScheduleRecord | None,
        now: datetime,
        held: HeldLease | None,
    ) -> list[Fire]:
        schedule, zone = trigger.schedule, trigger.timezone or "UTC"
        assert schedule is not None
        if record is None:
            await self._db(self.schedules.begin, name, schedule, zone, now)
            log.info("Flow/%s scheduled: %s (%s)", name, schedule, zone)
            return []
        if record.schedule != schedule or record.timezone != zone:
            await self._db(self.schedules.rebase, record, schedule, zone, now)
            log.info("Flow/%s rescheduled: %s (%s)", name, schedule, zone)
            return []
        fires: list[Fire] = []
        if record.outcome == STARTING:
            fires, fresh = await self._take_over(record, zone, now)
            if fresh is None:
                return fires
            record = fresh
        due = due_times(schedule, zone, record.fired_at, now)
        if due is None:
            return fires
        current = due.last if now - due.last <= self.grace else None
        missed = due.count - (current is not None)
        if missed:
            end = due.last if current is None else due.before_last
            assert end is not None
            policy = trigger.missed or "skip"
            if policy == "catchUp":
                span = {"missed": missed, "from": local_iso(due.first, zone)}
                span["to"] = local_iso(end, zone)
                data = {"scheduledAt": local_iso(end, zone), "catchUp": span}
                fire = await self._fire(record, trigger, end, data, held, missed=missed - 1)
            else:
                log.warning(
                    "Flow/%s: %d due time(s) from %s to %s missed while no scheduler ran; "
                    "skipped (missed: skip)",
                    name,
                    missed,
                    local_iso(due.first, zone),
                    local_iso(end, zone),
                )
                text = f"missed {missed} from {local_iso(due.first, zone)}"
                moved = await self._db(self.schedules.advance, record, end, text, record.run_id)
                fire = Fire(name, end, "missed", None, missed - 1) if moved else None
            if fire is None:
                return fires
            fires.append(fire)
            record = await self._db(self.schedules.get, name) or record
        if current is not None:
            data = {"scheduledAt": local_iso(current, zone)}
            fire = await self._fire(record, trigger, current, data, held)
            if fire is not None:
                fires.append(fire)
        return fires

    async def _fire(
        self,
        record: ScheduleRecord,
        trigger: Trigger,
        due: datetime,
        data: dict[str, Any],
        held: HeldLease | None,
        missed: int = 0,
    ) -> Fire | None:
        """Claim ``due`` and start its run; None when another scheduler claimed it."""
        name = record.flow
        previous = record.run_id if trigger.disallow_concurrent else None
        if previous is not None and await self._pending(previous):
            text = f"skipped: run {previous} still running"
            if not await self._db(self.schedules.advance, record, due, text, previous):
                return None
            log.warning(
                "Flow/%s: due time %s skipped, its previous run %s is still running "
                "(disallowConcurrent)",
                name,
                data["scheduledAt"],
                previous,
            )
            return Fire(name, due, "skipped", previous, missed)
        if held is not None and not held.valid():
            return None
        if not await self._db(self.schedules.advance, record, due, STARTING, None, data):
            return None
        fire = await self._begin(name, due, data)
        if fire is not None and fire.outcome == "started" and "catchUp" in data:
            fire = dataclasses.replace(fire, outcome="caughtUp", missed=missed)
        return fire

    async def _begin(self, name: str, due: datetime, data: dict[str, Any]) -> Fire | None:
        """Record the run of a claimed fire, note it on the schedule, and run it here. The run's
        id is the due time's, so a second scheduler completing the same claim (it read the
        claim before this one recorded the run) records nothing: None."""
        run_id = fire_run_id(name, due)
        try:
            created = await self.engine.start_once(name, data, TRIGGER, run_id)
        except InterlinkError as exc:
            # The claim is kept: the due time counts as dealt with, and the outcome says why no
            # run started (a flow that cannot run would otherwise be tried on every pass).
            log.warning("Flow/%s: scheduled run not started: %s", name, exc.message)
            await self._db(self.schedules.started, name, due, None, f"failed: {exc.message}")
            return Fire(name, due, "failed")
        await self._db(self.schedules.started, name, due, run_id, "started")
        if created is None:
            return None
        log.info("Flow/%s: scheduled run %s started for %s", name, run_id, data["scheduledAt"])
        if self._execute:
            task = asyncio.create_task(self.engine.run(run_id), name=f"flow run {run_id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return Fire(name, due, "started", run_id)

    async def _take_over(
        self, record: ScheduleRecord, zone: str, now: datetime
    ) -> tuple[list[Fire], ScheduleRecord | None]:
        """A claimed fire: left to its claimer while young (None: nothing more to do here),
        else completed; the fire it gave and the record as it is now."""
        if now - record.updated_at < CLAIM_GRACE:
            return [], None
        completed = await self._complete(record, zone)
        fresh = await self._db(self.schedules.get, record.flow)
        return ([completed] if completed is not None else []), fresh

    async def _complete(self, record: ScheduleRecord, zone: str) -> Fire | None:
        """A claimed fire whose run was not noted: find that run, or start it now."""
        scheduled_at = local_iso(record.fired_at, zone)
        for run in await self._db(self.engine.runs.latest, record.flow, 20):
            if run.trigger != TRIGGER or not isinstance(run.input, dict):
                continue
            if run.input.get("scheduledAt") == scheduled_at:
                started = self.schedules.started
                await self._db(started, record.flow, record.fired_at, run.id, "started")
                return Fire(record.flow, record.fired_at, "started", run.id)
        data = record.input if isinstance(record.input, dict) else {"scheduledAt": scheduled_at}
        log.info("Flow/%s: completing the claimed fire for %s", record.flow, scheduled_at)
        return await self._begin(record.flow, record.fired_at, data)

    async def _pending(self, run_id: str) -> bool:
        with contextlib.suppress(NotFound):
            return (await self._db(self.engine.runs.get, run_id)).status in (*PENDING, "waiting")
        return False

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)
