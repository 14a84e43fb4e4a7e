"""The schedule trigger's record per scheduled flow in the store (``flow_schedules``).

``fired_at`` is the last due time dealt with: fired, caught up or skipped. Every move of it is a
compare and set on the value read, so of two schedulers that both read the same record only one
moves it, and only that one starts the run. ``run_id`` is the last run the schedule started;
``outcome`` says what became of the last due time, for operators.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from interlink.flows.runs import dump
from interlink.store.database import Database, Row

#: The outcome of a claimed fire whose run is not recorded yet.
STARTING: Final = "starting"

_SELECT: Final = (
    "SELECT flow, schedule, timezone, fired_at, run_id, outcome, updated_at, input "
    "FROM flow_schedules"
)


@dataclass(frozen=True)
class ScheduleRecord:
    flow: str
    schedule: str
    timezone: str
    fired_at: datetime  # UTC
    run_id: str | None
    outcome: str
    updated_at: datetime
    input: Any  # of a claimed fire whose run is not recorded yet, else None


class FlowSchedules:
    def __init__(self, db: Database) -> None:
        self._db = db

    def now(self) -> datetime:
        """The store's clock (injectable), which the scheduler reads time from."""
        return self._db.now()

    def all(self) -> dict[str, ScheduleRecord]:
        with self._db.session() as session:
            rows = session.fetchall(_SELECT + " ORDER BY flow", ())
        return {record.flow: record for record in map(self._record, rows)}

    def get(self, flow: str) -> ScheduleRecord | None:
        with self._db.session() as session:
            row = session.fetchone(_SELECT + " WHERE flow = ?", (flow,))
        return None if row is None else self._record(row)

    def begin(self, flow: str, schedule: str, timezone: str, at: datetime) -> bool:
        """Start counting a new schedule's due times after ``at``; False when one exists."""
        ts = self._db.ts
        with self._db.transaction() as session:
            changed = session.execute(
                "INSERT INTO flow_schedules (flow, schedule, timezone, fired_at, run_id, outcome, "
                "updated_at) VALUES (?, ?, ?, ?, NULL, 'scheduled', ?) "
                "ON CONFLICT (flow) DO NOTHING",
                (flow, schedule, timezone, ts(at), ts(self._db.now())),
            )
        return changed == 1

    def rebase(self, old: ScheduleRecord, schedule: str, timezone: str, at: datetime) -> bool:
        """A changed schedule counts from ``at``; False when the record moved meanwhile."""
        ts = self._db.ts
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE flow_schedules SET schedule = ?, timezone = ?, fired_at = ?, "
                "outcome = 'rescheduled', updated_at = ? WHERE flow = ? AND fired_at = ? "
                "AND schedule = ? AND timezone = ?",
                (
                    schedule,
                    timezone,
                    ts(at),
                    ts(self._db.now()),
                    old.flow,
                    ts(old.fired_at),
                    old.schedule,
                    old.timezone,
                ),
            )
        return changed == 1

    def advance(
        self,
        old: ScheduleRecord,
        fired_at: datetime,
        outcome: str,
        run_id: str | None,
        input: Any = None,
    ) -> bool:
        """Move the record from the due time read to ``fired_at``; False when another
        scheduler moved it first (it then deals with that due time, not this one). A claimed
        fire (``outcome`` :data:`STARTING`) keeps the ``input`` its run gets."""
        ts = self._db.ts
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE flow_schedules SET fired_at = ?, outcome = ?, run_id = ?, input = ?, "
                "updated_at = ? WHERE flow = ? AND fired_at = ? AND outcome = ?",
                (
                    ts(fired_at),
                    outcome,
                    run_id,
                    None if input is None else dump(input),
                    ts(self._db.now()),
                    old.flow,
                    ts(old.fired_at),
                    old.outcome,
                ),
            )
        return changed == 1

    def started(self, flow: str, fired_at: datetime, run_id: str | None, outcome: str) -> None:
        """Name the run a claimed fire started (none when it could not start)."""
        ts = self._db.ts
        with self._db.transaction() as session:
            session.execute(
                "UPDATE flow_schedules SET run_id = ?, outcome = ?, input = NULL, updated_at = ? "
                "WHERE flow = ? AND fired_at = ? AND outcome = ?",
                (run_id, outcome, ts(self._db.now()), flow, ts(fired_at), STARTING),
            )

    def forget(self, flow: str) -> None:
        """Drop the record of a flow that is no longer scheduled."""
        with self._db.transaction() as session:
            session.execute("DELETE FROM flow_schedules WHERE flow = ?", (flow,))

    def _record(self, row: Row) -> ScheduleRecord:
        return ScheduleRecord(
            flow=str(row[0]),
            schedule=str(row[1]),
            timezone=str(row[2]),
            fired_at=self._db.dt(row[3]),
            run_id=row[4],
            outcome=str(row[5]),
            updated_at=self._db.dt(row[6]),
            input=None if row[7] is None else json.loads(row[7]),
        )
