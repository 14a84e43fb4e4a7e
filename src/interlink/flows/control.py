"""What operators do to flow runs beyond running them: list a page, count, cancel, retry.

Cancelling ends a running (or waiting) run ``cancelled`` in the store and takes its lease
away, so the engine working on it stops at its next checkpoint (the step in flight finishes;
its result is not kept) and nothing resumes it. Retrying moves a ``failed`` or
``compensated`` run back to ``running``: from the step that failed when nothing was undone
and no ``onError`` step ran, else from the first step with its input (its completed calls
were compensated, so going on after them would build on undone work). The retried steps
count their attempts afresh, and the flow's ``timeout`` counts again from the retry. A
``completed``, ``filtered`` or ``duplicate`` run does not retry.

Retrying many runs picks them with a :class:`RunFilter` a batch at a time. The filter holds the
moment the bulk retry began (``ended_before``), so a run that fails again meanwhile ends after
it and is not picked twice: the batches go through every matching run once and stop.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from interlink.errors import ConfigError, InterlinkError
from interlink.flows.definition import load
from interlink.flows.payloads import is_omitted
from interlink.flows.runs import FlowRun, FlowRuns, Status, dump
from interlink.store.database import Database

_SELECT: Final = (
    "SELECT id, flow, revision, definition, trigger, input, status, step, context, error, "
    "owner, lease_until, started_at, updated_at, finished_at, wake_at, deadline FROM flow_runs "
)
_COUNT: Final = "SELECT COUNT(*) FROM flow_runs WHERE "
_IDS: Final = "SELECT id FROM flow_runs WHERE "
RETRYABLE: Final = ("failed", "compensated")


class RunConflict(InterlinkError):
    """The run is not in a state the action applies to."""

    status = 409
    title = "Conflict"


@dataclass(frozen=True)
class RunFilter:
    """Ended runs to retry: of a flow (or of all), in given statuses, ended in a window."""

    flow: str | None = None
    statuses: tuple[str, ...] = ("failed",)
    ended_since: datetime | None = None
    ended_before: datetime | None = None

    def where(self, db: Database) -> tuple[str, tuple[object, ...]]:
        wrong = sorted(set(self.statuses) - set(RETRYABLE))
        if wrong or not self.statuses:
            raise ConfigError(
                f"only {' and '.join(RETRYABLE)} runs retry, not {', '.join(wrong) or 'none'}"
            )
        where = [f"status IN ({', '.join('?' for _ in self.statuses)})"]
        args: list[object] = list(self.statuses)
        if self.flow is not None:
            where.append("flow = ?")
            args.append(self.flow)
        if self.ended_since is not None:
            where.append("finished_at >= ?")
            args.append(db.ts(self.ended_since))
        if self.ended_before is not None:
            where.append("finished_at <= ?")
            args.append(db.ts(self.ended_before))
        return " AND ".join(where), tuple(args)


@dataclass(frozen=True)
class RunPage:
    runs: list[FlowRun]
    next_cursor: str | None


class RunControl:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.runs = FlowRuns(db)

    def counts(self) -> dict[str, dict[str, int]]:
        """Runs of each flow, by status."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT flow, status, COUNT(*) FROM flow_runs GROUP BY flow, status", ()
            )
        found: dict[str, dict[str, int]] = {}
        for flow, status, count in rows:
            found.setdefault(str(flow), {})[str(status)] = int(count)
        return found

    def page(
        self,
        flow: str | None = None,
        status: Status | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """The latest runs first, a page at a time (pass ``next_cursor`` back as ``cursor``)."""
        where: list[str] = []
        args: list[object] = []
        if flow is not None:
            where.append("flow = ?")
            args.append(flow)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if cursor is not None:
            started, run_id = _decode(cursor)
            where.append("(started_at < ? OR (started_at = ? AND id > ?))")
            args += [self._db.ts(started), self._db.ts(started), run_id]
        sql = _SELECT + (f"WHERE {' AND '.join(where)} " if where else "")
        sql += "ORDER BY started_at DESC, id LIMIT ?"
        args.append(limit + 1)
        with self._db.session() as session:
            rows = session.fetchall(sql, tuple(args))
        found = [self.runs._run(row) for row in rows[:limit]]  # the repository's row reader
        more = len(rows) > limit
        return RunPage(found, _encode(found[-1]) if more and found else None)

    def count_matching(self, match: RunFilter) -> int:
        where, args = match.where(self._db)
        with self._db.session() as session:
            row = session.fetchone(_COUNT + where, args)
        return 0 if row is None else int(row[0])

    def matching(self, match: RunFilter, limit: int) -> list[str]:
        """The ids of up to ``limit`` runs ``match`` picks, those that ended first first."""
        where, args = match.where(self._db)
        with self._db.session() as session:
            rows = session.fetchall(
                _IDS + where + " ORDER BY finished_at, id LIMIT ?",
                (*args, limit),
            )
        return [str(row[0]) for row in rows]

    def waiting(self) -> dict[str, int]:
        """Runs waiting at a ``wait`` step, by flow: the durable timers' backlog."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT flow, COUNT(*) FROM flow_runs WHERE status = 'waiting' GROUP BY flow", ()
            )
        return {str(flow): int(count) for flow, count in rows}

    def cancel(self, run_id: str) -> FlowRun:
        """End a running or waiting run ``cancelled``; its engine stops at the next checkpoint,
        and a waiting run is not woken."""
        run = self.runs.get(run_id)
        now = self._db.ts(self._db.now())
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE flow_runs SET status = 'cancelled', updated_at = ?, finished_at = ?, "
                "owner = NULL, lease_until = NULL, wake_at = NULL "
                "WHERE id = ? AND status IN ('running', 'waiting')",
                (now, now, run_id),
            )
        if changed != 1:
            raise RunConflict(
                f"flow run {run_id} is {run.status}: only a running or waiting run cancels"
            )
        return self.runs.get(run_id)

    def release(self, owner: str) -> int:
        """Give up ``owner``'s leases on its pending runs (a node stopping cleanly), so
        another node resumes them at once instead of after the lease; how many."""
        with self._db.transaction() as session:
            changed: int = session.execute(
                "UPDATE flow_runs SET lease_until = NULL WHERE owner = ? "
                "AND status IN ('running', 'compensating')",
                (owner,),
            )
        return changed

    def retry(self, run_id: str, owner: str, ttl: float) -> FlowRun:
        """Make a failed or compensated run pending again, held by ``owner``."""
        run = self.runs.get(run_id)
        if run.status not in RETRYABLE:
            raise RunConflict(
                f"flow run {run_id} is {run.status}: only a failed or compensated run retries"
            )
        if is_omitted(run.input):
            raise RunConflict(
                f"flow run {run_id} never started: its input was over the size limit and was "
                "not kept"
            )
        undone = any(
            s.phase == "compensate" and s.status == "completed" for s in self.runs.steps(run_id)
        )
        # After onError steps ran, the pointer is past them and the context holds $error:
        # such a run starts over too (its calls send the same Idempotency-Key again).
        again = undone or "error" in run.context
        step = 0 if again else run.step
        context = {"message": run.input, "steps": {}} if again else run.context
        now = self._db.now()
        ts = self._db.ts
        # A retry has the flow's whole timeout again, counted from now.
        timeout = load(run.definition).timeout
        deadline = None if timeout is None else ts(now + timedelta(seconds=timeout))
        with self._db.transaction() as session:
            changed = session.execute(
                "UPDATE flow_runs SET status = 'running', step = ?, context = ?, error = NULL, "
                "finished_at = NULL, updated_at = ?, owner = ?, lease_until = ?, deadline = ? "
                "WHERE id = ? AND status = ?",
                (
                    step,
                    dump(context),
                    ts(now),
                    owner,
                    ts(now + timedelta(seconds=ttl)),
                    deadline,
                    run_id,
                    run.status,
                ),
            )
            if changed != 1:
                raise RunConflict(f"flow run {run_id} changed meanwhile; try again")
            session.execute(
                "DELETE FROM flow_steps WHERE run_id = ? "
                "AND (phase = 'compensate' OR step_index >= ?)",
                (run_id, step),
            )
        return self.runs.get(run_id)


def _encode(run: FlowRun) -> str:
    raw = json.dumps([run.started_at.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, run_id = json.loads(raw)
        return datetime.fromisoformat(started), str(run_id)
    except (ValueError, TypeError):
        raise ConfigError(f"cursor {cursor!r} is not one this API returned") from None
