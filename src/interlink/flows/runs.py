"""Flow runs and their step checkpoints in the store (``flow_runs``, ``flow_steps``).

A run is recorded before any of its steps with side effects executes (a consumed message's run,
with its first step's checkpoint: the message comes again until that is written). A step with
side effects (a call, a publish) gets a row when it starts, so its attempts are counted before
it acts; a ``map`` or ``filter`` gets its row when it ends. When a step completes, its output,
the run's context and the run's step pointer move in one transaction (with the next step's
attempt, or the run's end: one commit per step), so after a crash the pointer names the step
that was in flight, and every step before it is never run again. The engine holding a run keeps
a lease on it (``owner``, ``lease_until``); recovery takes over the runs whose lease lapsed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from interlink.errors import LeaseLost, NotFound
from interlink.flows.commits import GroupCommit
from interlink.flows.payloads import PayloadLimits, Payloads
from interlink.flows.payloads import dump as payloads_dump
from interlink.flows.records import copied, quick
from interlink.store.database import Database, Row, Session

Status = Literal[
    "running",
    "waiting",
    "completed",
    "compensating",
    "compensated",
    "failed",
    "cancelled",
    "filtered",
    "duplicate",
]
Phase = Literal["forward", "compensate"]
PENDING: Final = ("running", "compensating")

# Queries are whole literals, as in the other repositories.
_SELECT_RUN: Final = (
    "SELECT id, flow, revision, definition, trigger, input, status, step, context, error, "
    "owner, lease_until, started_at, updated_at, finished_at, wake_at, deadline FROM flow_runs "
)
_SELECT_RUN_BY_ID: Final = _SELECT_RUN + "WHERE id = ?"
_SELECT_RUNS: Final = _SELECT_RUN + "ORDER BY started_at DESC, id LIMIT ?"
_SELECT_RUNS_OF: Final = _SELECT_RUN + "WHERE flow = ? ORDER BY started_at DESC, id LIMIT ?"
_SELECT_STEPS: Final = (
    "SELECT run_id, phase, step_index, name, kind, attempts, status, output, error, "
    "started_at, finished_at, tries FROM flow_steps WHERE run_id = ? "
    "ORDER BY CASE phase WHEN 'forward' THEN 0 ELSE 1 END, step_index"
)

_SELECT_TRIES: Final = (
    "SELECT tries FROM flow_steps WHERE run_id = ? AND phase = ? AND step_index = ?"
)
_UPDATE_TRIES: Final = (
    "UPDATE flow_steps SET tries = ? WHERE run_id = ? AND phase = ? AND step_index = ?"
)


_TAKE: Final = (
    "UPDATE flow_runs SET owner = ?, lease_until = ?, wake_at = NULL, "
    "status = CASE WHEN status = 'waiting' THEN 'running' ELSE status END "
    "WHERE id = ? AND ((status IN ('running', 'compensating') "
    "AND (owner = ? OR lease_until IS NULL OR lease_until <= ?)) "
    "OR (status = 'waiting' AND wake_at <= ?)) "
    "RETURNING id, flow, revision, definition, trigger, input, status, step, context, error, "
    "owner, lease_until, started_at, updated_at, finished_at, wake_at, deadline"
)
_SET_STATUS: Final = (
    "UPDATE flow_runs SET status = ?, error = COALESCE(?, error), updated_at = ?, "
    "finished_at = ?, owner = CASE WHEN ? THEN NULL ELSE owner END, "
    "lease_until = CASE WHEN ? THEN NULL ELSE lease_until END, wake_at = ? "
    "WHERE id = ? AND owner = ? "
    "RETURNING id, flow, revision, definition, trigger, input, status, step, context, error, "
    "owner, lease_until, started_at, updated_at, finished_at, wake_at, deadline"
)
_ADVANCE: Final = (
    "UPDATE flow_runs SET context = ?, step = ?, updated_at = ?, status = COALESCE(?, status), "
    "finished_at = ?, owner = CASE WHEN ? THEN NULL ELSE owner END, "
    "lease_until = CASE WHEN ? THEN NULL ELSE lease_until END, wake_at = ? "
    "WHERE id = ? AND owner = ? RETURNING id"
)
_INSERT_RUN_AT: Final = (
    "INSERT INTO flow_runs (id, flow, revision, definition, trigger, input, status, step, "
    "context, error, owner, lease_until, started_at, updated_at, finished_at, wake_at, "
    "deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
#: Of many run ids, those recorded (one statement for the ids of a batch).
_SELECT_KNOWN: Final = _SELECT_RUN + "WHERE id IN ({})"
_COMPLETE_STEP: Final = (
    "UPDATE flow_steps SET status = 'completed', output = ?, error = NULL, "
    "finished_at = ? WHERE run_id = ? AND phase = ? AND step_index = ?"
)
_START_STEP: Final = (
    "INSERT INTO flow_steps (run_id, phase, step_index, name, kind, attempts, status, "
    "started_at) VALUES (?, ?, ?, ?, ?, 1, 'running', ?) "
    "ON CONFLICT (run_id, phase, step_index) DO UPDATE SET "
    "attempts = flow_steps.attempts + 1, status = 'running', error = NULL "
    "RETURNING attempts"
)
_UPSERT_STEP: Final = (
    "INSERT INTO flow_steps (run_id, phase, step_index, name, kind, attempts, status, output, "
    "error, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, phase, step_index) DO UPDATE SET attempts = excluded.attempts, "
    "status = excluded.status, output = excluded.output, error = excluded.error, "
    "finished_at = excluded.finished_at"
)


@quick
@dataclass(frozen=True)
class StepMark:
    """A step's row written only when the step ends (its attempt counted by the engine)."""

    name: str
    kind: str
    attempts: int


@quick
@dataclass(frozen=True)
class Start:
    """The next step, one with side effects, whose attempt is counted in the same transaction
    as the checkpoint before it (its row made on the first)."""

    index: int
    name: str
    kind: str


@quick
@dataclass(frozen=True)
class Advance:
    """A completed step's checkpoint and what follows it, one transaction: the step's output,
    the run's context and pointer, the next step's attempt (``start``), and the run's new
    status when the step ends it (``completed``, or a stop such as ``waiting``)."""

    run: FlowRun
    phase: Phase
    index: int
    output: Any
    context: dict[str, Any]
    next_step: int
    owner: str
    mark: StepMark | None = None  # the step's row is made now: it had no side effects
    start: Start | None = None
    status: Status | None = None
    wake_at: datetime | None = None
    #: ``output`` as JSON when the engine encoded it already (to check its size): not again.
    output_text: str | None = field(default=None, repr=False, compare=False)


@quick
@dataclass(frozen=True)
class Advanced:
    """The run after an :class:`Advance`, and the number of the started step's attempt;
    ``created`` is False for a new run whose id was recorded before (the run as it is)."""

    run: FlowRun
    attempt: int | None
    created: bool = True


@quick
@dataclass(frozen=True)
class NewRun:
    """A run to record, held by ``owner`` for ``ttl`` seconds; ``first`` checkpoints the steps
    without side effects it begins with, already evaluated (nothing of them is visible
    outside until this is committed, so evaluating them first changes nothing after a crash)."""

    flow: str
    revision: str
    definition: dict[str, Any]
    trigger: str
    input: Any
    owner: str
    ttl: float
    run_id: str | None = None
    first: Advance | None = None
    deadline: datetime | None = None  # when the run must have ended (the flow's timeout)
    #: Without ``first``: the first step, one with side effects, whose first attempt is counted
    #: with the record (for an engine that runs the run as soon as it is recorded).
    start: Start | None = None
    #: ``input`` as JSON when the caller encoded it already (to check its size): not again.
    input_text: str | None = field(default=None, repr=False, compare=False)


@quick
@dataclass(frozen=True)
class FlowRun:
    id: str
    flow: str
    revision: str  # sha256 of the pinned definition
    definition: dict[str, Any]  # the flow's spec as it was when the run started
    trigger: str
    input: Any
    status: Status
    step: int  # the index of the next step to run
    context: dict[str, Any]  # {"message": ..., "steps": {name: output}}
    error: str | None
    owner: str | None
    lease_until: datetime | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    wake_at: datetime | None = None  # when a waiting run goes on
    deadline: datetime | None = None  # when the run must have ended (the flow's timeout)


@dataclass(frozen=True)
class FailedTry:
    """One failed attempt of a step: when it ran, why it failed, and when the next was due
    (None: the step gave up)."""

    attempt: int
    started_at: datetime
    ended_at: datetime
    error: str
    retry_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
            "error": self.error,
            "retry_at": None if self.retry_at is None else self.retry_at.isoformat(),
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> FailedTry:
        retry = data["retry_at"]
        return cls(
            int(data["attempt"]),
            datetime.fromisoformat(data["started_at"]),
            datetime.fromisoformat(data["ended_at"]),
            str(data["error"]),
            None if retry is None else datetime.fromisoformat(retry),
        )


#: A step's failed attempts kept at most (a step is tried 100 times at most).
MAX_TRIES: Final = 100


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    phase: Phase
    index: int
    name: str
    kind: str
    attempts: int
    status: Literal["running", "completed", "failed"]
    output: Any
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    tries: tuple[FailedTry, ...] = ()  # its failed attempts, oldest first


#: Definitions kept encoded (by revision) before the cache starts again.
_DEFINITIONS: Final = 256


def _made_row(step: Advance, mark: StepMark, output: str, stamp: Any) -> tuple[Any, ...]:
    """The ``_UPSERT_STEP`` row of a completed step without side effects."""
    return (
        step.run.id,
        step.phase,
        step.index,
        mark.name,
        mark.kind,
        mark.attempts,
        "completed",
        output,
        None,
        stamp,
        stamp,
    )


def dump(value: Any) -> str:
    """``value`` as compact JSON (NaN refused), a large one encoded once (payloads.py)."""
    return payloads_dump(value)


class FlowRuns:
    def __init__(self, db: Database, limits: Callable[[], PayloadLimits] | None = None) -> None:
        self._db = db
        #: Large inputs, outputs and context entries, stored apart (payloads.py).
        self.payloads = Payloads(db, limits)
        #: Batches the engine's calls of concurrent runs into shared transactions.
        self.commits = GroupCommit(db)
        self._definitions: dict[str, str] = {}  # JSON by revision, for new runs

    @property
    def db(self) -> Database:
        return self._db

    def create(
        self,
        flow: str,
        revision: str,
        definition: dict[str, Any],
        trigger: str,
        input: Any,
        owner: str,
        ttl: float,
        run_id: str | None = None,
        deadline: datetime | None = None,
    ) -> FlowRun:
        """Record a new run, held by ``owner`` for ``ttl`` seconds, before any step runs.
        Given a ``run_id`` already recorded, nothing changes and that run is returned: a
        trigger that derives the id from what started it starts one run however often it
        is repeated."""
        new = NewRun(
            flow, revision, definition, trigger, input, owner, ttl, run_id, deadline=deadline
        )
        (made,) = self.create_all([new])
        return made.run

    def create_all(self, runs: list[NewRun]) -> list[Advanced]:
        """Record new runs (see :meth:`create`) in one transaction, a statement per table
        for them all; each with its first checkpoint when it has one."""
        return [made for made in self.write_all(runs) if isinstance(made, Advanced)]

    def _creating(
        self, session: Session, new: NewRun, now: datetime, stamp: Any
    ) -> tuple[tuple[Any, ...], FlowRun]:
        """A new run's row (its large input and context entries stored apart), and the run
        as written (``stamp``: ``now`` as stored). A ``first`` checkpoint that ends or stops
        the run (a run recorded with its first step's end, :meth:`FlowEngine.defer`) is
        written with the run's status."""
        ts = self._db.ts
        run_id = new.run_id or str(uuid.uuid4())
        first = new.first
        context = {"message": new.input, "steps": {}} if first is None else first.context
        step = 0 if first is None else first.next_step
        status: Status = "running" if first is None or first.status is None else first.status
        wake = None if first is None else first.wake_at
        release = status not in PENDING  # ended, or waiting: no lease
        finished = now if release and status != "waiting" else None
        until = None if release else now + timedelta(seconds=new.ttl)
        owner = None if release else new.owner
        # The message is the input unless a first step changed it: its JSON is known then.
        message_text = new.input_text if context.get("message") is new.input else None
        row = (
            run_id,
            new.flow,
            new.revision,
            self._definition(new),
            new.trigger,
            self.payloads.value(session, run_id, new.input, new.input_text),
            status,
            step,
            self.payloads.context(session, run_id, context, message_text),
            owner,
            None if until is None else ts(until),
            stamp,
            stamp,
            None if finished is None else stamp,
            None if wake is None else ts(wake),
            None if new.deadline is None else ts(new.deadline),
        )
        # Built from what was written rather than read back: one statement per new run.
        run = FlowRun(
            id=run_id,
            flow=new.flow,
            revision=new.revision,
            definition=new.definition,
            trigger=new.trigger,
            input=new.input,
            status=status,
            step=step,
            context=context,
            error=None,
            owner=owner,
            lease_until=until,
            started_at=now,
            updated_at=now,
            finished_at=finished,
            wake_at=wake,
            deadline=new.deadline,
        )
        return row, run

    def _definition(self, new: NewRun) -> str:
        """A new run's definition as JSON, encoded once per revision (its hash)."""
        text = self._definitions.get(new.revision)
        if text is None:
            if len(self._definitions) >= _DEFINITIONS:
                self._definitions.clear()
            text = self._definitions[new.revision] = dump(new.definition)
        return text

    def get(self, run_id: str) -> FlowRun:
        with self.commits.session() as session:
            row = session.fetchone(_SELECT_RUN_BY_ID, (run_id,))
        if row is None:
            raise NotFound(f"no flow run {run_id!r}")
        return self._run(row)

    def known_all(self, run_ids: list[str]) -> list[FlowRun | None]:
        """Each of ``run_ids`` as recorded, None for one that is not: one statement for all
        (the group commit batches the lookups of concurrent new runs, :meth:`GroupCommit.each`)."""
        found: dict[str, FlowRun] = {}
        with self.commits.session() as session:
            unique = list(dict.fromkeys(run_ids))
            query = _SELECT_KNOWN.format(", ".join("?" * len(unique)))
            for row in session.fetchall(query, tuple(unique)):
                run = self._run(row)
                found[run.id] = run
        return [found.get(run_id) for run_id in run_ids]

    def latest(self, flow: str | None = None, limit: int = 50) -> list[FlowRun]:
        """The latest runs first, of one flow or of all."""
        with self.commits.session() as session:
            if flow is None:
                rows = session.fetchall(_SELECT_RUNS, (limit,))
            else:
                rows = session.fetchall(_SELECT_RUNS_OF, (flow, limit))
        return [self._run(row) for row in rows]

    def steps(self, run_id: str) -> list[StepRecord]:
        with self.commits.session() as session:
            rows = session.fetchall(_SELECT_STEPS, (run_id,))
        return [self._step(row) for row in rows]

    def claimable(self) -> list[str]:
        """Pending runs whose lease lapsed (their engine stopped or died), and waiting runs
        whose time came, oldest first; not the children of a split or a flow step, which
        their parent runs."""
        now = self._db.ts(self._db.now())
        with self.commits.session() as session:
            rows = session.fetchall(
                "SELECT id FROM flow_runs WHERE ((status IN ('running', 'compensating') "
                "AND (lease_until IS NULL OR lease_until <= ?)) "
                "OR (status = 'waiting' AND wake_at <= ?)) AND trigger NOT LIKE 'split:%' "
                "AND trigger NOT LIKE 'flow:%' "
                "ORDER BY started_at, id",
                (now, now),
            )
        return [str(row[0]) for row in rows]

    def claim(self, run_id: str, owner: str, ttl: float) -> bool:
        """Take or extend the lease on a pending run, or take a waiting run whose time came
        (it turns running); False when another engine holds it or it is not due."""
        now = self._db.now()
        ts = self._db.ts
        with self.commits.transaction() as session:
            changed = session.execute(
                "UPDATE flow_runs SET owner = ?, lease_until = ?, wake_at = NULL, "
                "status = CASE WHEN status = 'waiting' THEN 'running' ELSE status END "
                "WHERE id = ? AND ((status IN ('running', 'compensating') "
                "AND (owner = ? OR lease_until IS NULL OR lease_until <= ?)) "
                "OR (status = 'waiting' AND wake_at <= ?))",
                (owner, ts(now + timedelta(seconds=ttl)), run_id, owner, ts(now), ts(now)),
            )
        return changed == 1

    def take(self, run_id: str, owner: str, ttl: float) -> FlowRun | None:
        """:meth:`claim` and read the run in one statement; None when another engine holds
        it (or it is no longer pending, nor waiting and due)."""
        now = self._db.now()
        ts = self._db.ts
        with self.commits.transaction() as session:
            row = session.fetchone(
                _TAKE,
                (owner, ts(now + timedelta(seconds=ttl)), run_id, owner, ts(now), ts(now)),
            )
        return None if row is None else self._run(row)

    def step_started(self, run: FlowRun, phase: Phase, index: int, name: str, kind: str) -> int:
        """Count an attempt of a step (its row made on the first); the attempt's number."""
        now = self._db.ts(self._db.now())
        with self.commits.transaction() as session:
            row = session.fetchone(
                "INSERT INTO flow_steps (run_id, phase, step_index, name, kind, attempts, status, "
                "started_at) VALUES (?, ?, ?, ?, ?, 1, 'running', ?) "
                "ON CONFLICT (run_id, phase, step_index) DO UPDATE SET "
                "attempts = flow_steps.attempts + 1, status = 'running', error = NULL "
                "RETURNING attempts",
                (run.id, phase, index, name, kind, now),
            )
            session.execute("UPDATE flow_runs SET updated_at = ? WHERE id = ?", (now, run.id))
        assert row is not None
        return int(row[0])

    def step_failed(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        error: str,
        step: StepMark | None = None,
        tried: FailedTry | None = None,
    ) -> None:
        """Mark an attempt failed; ``step`` makes its row when :meth:`step_started` was not
        called (a step without side effects is recorded only when it ends); ``tried`` is the
        attempt, added to the step's tries."""
        now = self._db.ts(self._db.now())
        with self.commits.transaction() as session:
            if step is not None:
                session.execute(
                    _UPSERT_STEP,
                    (
                        run.id,
                        phase,
                        index,
                        step.name,
                        step.kind,
                        step.attempts,
                        "failed",
                        None,
                        error,
                        now,
                        now,
                    ),
                )
            else:
                session.execute(
                    "UPDATE flow_steps SET status = 'failed', error = ?, finished_at = ? "
                    "WHERE run_id = ? AND phase = ? AND step_index = ?",
                    (error, now, run.id, phase, index),
                )
            if tried is not None:
                self._add_try(session, run.id, phase, index, tried)

    def _add_try(
        self, session: Session, run_id: str, phase: Phase, index: int, tried: FailedTry
    ) -> None:
        key = (run_id, phase, index)
        rows = session.fetchall(_SELECT_TRIES, key)
        tries = json.loads(rows[0][0]) if rows and rows[0][0] else []
        tries = [*tries, tried.to_json()][-MAX_TRIES:]
        session.execute(_UPDATE_TRIES, (json.dumps(tries), *key))

    def step_completed(
        self,
        run: FlowRun,
        phase: Phase,
        index: int,
        output: Any,
        context: dict[str, Any],
        next_step: int,
        owner: str,
        step: StepMark | None = None,
    ) -> None:
        """Checkpoint a step: its output, the run's context and pointer, in one transaction;
        ``LeaseLost`` when another engine took the run over. ``step`` makes the step's row
        when :meth:`step_started` was not called, so such a step costs one transaction."""
        now = self._db.ts(self._db.now())
        with self.commits.transaction() as session:
            changed = session.execute(
                "UPDATE flow_runs SET context = ?, step = ?, updated_at = ? "
                "WHERE id = ? AND owner = ?",
                (self.payloads.context(session, run.id, context), next_step, now, run.id, owner),
            )
            if changed != 1:
                raise LeaseLost(f"flow run {run.id} is no longer held by this engine")
            if step is not None:
                session.execute(
                    _UPSERT_STEP,
                    (
                        run.id,
                        phase,
                        index,
                        step.name,
                        step.kind,
                        step.attempts,
                        "completed",
                        self.payloads.value(session, run.id, output),
                        None,
                        now,
                        now,
                    ),
                )
                return
            session.execute(
                "UPDATE flow_steps SET status = 'completed', output = ?, error = NULL, "
                "finished_at = ? WHERE run_id = ? AND phase = ? AND step_index = ?",
                (self.payloads.value(session, run.id, output), now, run.id, phase, index),
            )

    def advance(self, step: Advance) -> Advanced:
        """Checkpoint a step and what follows it (:class:`Advance`) in one transaction;
        ``LeaseLost`` when another engine took the run over."""
        (outcome,) = self.advance_all([step])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def advance_all(self, steps: list[Advance]) -> list[Advanced | Exception]:
        """:meth:`advance` for the steps of many runs, in one transaction and a statement per
        table for them all. A run another engine took over gets ``LeaseLost`` and nothing of
        its step is written; the others are."""
        return list(self.write_all(steps))

    def write_all(self, items: Sequence[NewRun | Advance]) -> list[Advanced | Exception]:
        """New runs and checkpoints of many runs in one transaction, one statement per kind
        of row for them all (on PostgreSQL each pipelined: one round trip); an outcome per
        item, in order."""
        now = self._db.now()
        stamp = self._db.ts(now)
        advances = [item for item in items if isinstance(item, Advance)]
        with self.commits.transaction() as session:
            creating = [
                self._creating(session, item, now, stamp)
                for item in items
                if isinstance(item, NewRun)
            ]
            added = session.execute_each(_INSERT_RUN_AT, [row for row, _ in creating])
            changed = session.execute_each(
                _ADVANCE, [self._advancing(session, a, stamp) for a in advances]
            )
            news = [item for item in items if isinstance(item, NewRun)]
            steps = [
                copied(new.first, run=run)
                for new, (_, run), row in zip(news, creating, added, strict=True)
                if new.first is not None and row is not None
            ]
            steps += [a for a, row in zip(advances, changed, strict=True) if row is not None]
            starts = [
                (run.id, new.start)
                for new, (_, run), row in zip(news, creating, added, strict=True)
                if new.first is None and new.start is not None and row is not None
            ]
            attempts = self._write_steps(session, steps, stamp, starts)
            made = iter(zip(creating, added, strict=True))
            moved = iter(zip(advances, changed, strict=True))
            out: list[Advanced | Exception] = []
            for item in items:
                if isinstance(item, NewRun):
                    (_, run), row = next(made)
                    if row is None:  # recorded before (the same event again): that run, as is
                        out.append(Advanced(self.get(run.id), None, created=False))
                    else:
                        out.append(Advanced(run, attempts.get(run.id)))
                    continue
                step, row = next(moved)
                if row is None:
                    lost = f"flow run {step.run.id} is no longer held by this engine"
                    out.append(LeaseLost(lost))
                else:
                    out.append(Advanced(self._advanced(step, now), attempts.get(step.run.id)))
        return out

    def _advancing(self, session: Session, step: Advance, stamp: Any) -> tuple[Any, ...]:
        """The ``_ADVANCE`` row of a checkpoint."""
        waiting = step.status == "waiting"
        final = step.status is not None and step.status not in PENDING and not waiting
        release = final or waiting
        wake = self._db.ts(step.wake_at) if step.wake_at is not None else None
        return (
            self.payloads.context(session, step.run.id, step.context),
            step.next_step,
            stamp,
            step.status,
            stamp if final else None,
            release,
            release,
            wake,
            step.run.id,
            step.owner,
        )

    def _write_steps(
        self,
        session: Session,
        steps: list[Advance],
        stamp: Any,
        starts: Sequence[tuple[str, Start]] = (),
    ) -> dict[str, int]:
        """The step rows of checkpoints whose run update was written, and of the first steps
        of new runs (``starts``, by run id); the attempt number of each started step, by run
        id."""
        value = self.payloads.value
        made = [
            _made_row(a, a.mark, value(session, a.run.id, a.output, a.output_text), stamp)
            for a in steps
            if a.mark is not None
        ]
        session.execute_each(_UPSERT_STEP, made)
        ended = [
            (value(session, a.run.id, a.output, a.output_text), stamp, a.run.id, a.phase, a.index)
            for a in steps
            if a.mark is None
        ]
        session.execute_each(_COMPLETE_STEP, ended)
        starting = [(a.run.id, a.phase, a.start) for a in steps if a.start is not None]
        starting += [(run_id, "forward", start) for run_id, start in starts]
        counted = session.execute_each(
            _START_STEP,
            [
                (run_id, phase, start.index, start.name, start.kind, stamp)
                for run_id, phase, start in starting
            ],
        )
        return {
            run_id: int(row[0])
            for (run_id, _, _), row in zip(starting, counted, strict=True)
            if row
        }

    def _advanced(self, step: Advance, now: datetime) -> FlowRun:
        """The run as an :class:`Advance` left it, built from what was written."""
        status = step.status
        if status is None:
            return copied(step.run, context=step.context, step=step.next_step, updated_at=now)
        release = status not in PENDING
        return copied(
            step.run,
            status=status,
            context=step.context,
            step=step.next_step,
            updated_at=now,
            finished_at=now if release and status != "waiting" else step.run.finished_at,
            owner=None if release else step.run.owner,
            lease_until=None if release else step.run.lease_until,
            wake_at=step.wake_at,
        )

    def divert(
        self, run: FlowRun, context: dict[str, Any], next_step: int, owner: str, error: str
    ) -> FlowRun:
        """Send a held run on to ``next_step`` with ``context`` after a failed step, the
        failure kept as its error; ``LeaseLost`` when another engine took it over."""
        now = self._db.ts(self._db.now())
        with self.commits.transaction() as session:
            changed = session.execute(
                "UPDATE flow_runs SET context = ?, step = ?, error = ?, updated_at = ? "
                "WHERE id = ? AND owner = ?",
                (
                    self.payloads.context(session, run.id, context),
                    next_step,
                    error,
                    now,
                    run.id,
                    owner,
                ),
            )
        if changed != 1:
            raise LeaseLost(f"flow run {run.id} is no longer held by this engine")
        return self.get(run.id)

    def set_status(
        self,
        run: FlowRun,
        status: Status,
        owner: str,
        error: str | None = None,
        wake_at: datetime | None = None,
    ) -> FlowRun:
        """Move a held run to ``status``; a final status ends the lease and stamps the end,
        ``waiting`` ends the lease until ``wake_at``."""
        now = self._db.ts(self._db.now())
        waiting = status == "waiting"
        final = status not in PENDING and not waiting
        release = final or waiting
        wake = self._db.ts(wake_at) if wake_at is not None else None
        with self.commits.transaction() as session:
            row = session.fetchone(
                _SET_STATUS,
                (status, error, now, now if final else None, release, release, wake, run.id, owner),
            )
        if row is None:
            raise LeaseLost(f"flow run {run.id} is no longer held by this engine")
        return self._run(row)

    # --- rows --------------------------------------------------------------------------------

    def _run(self, row: Row) -> FlowRun:
        return FlowRun(
            id=str(row[0]),
            flow=str(row[1]),
            revision=str(row[2]),
            definition=dict(json.loads(row[3])),
            trigger=str(row[4]),
            input=json.loads(row[5]),
            status=row[6],
            step=int(row[7]),
            context=dict(json.loads(row[8])),
            error=row[9],
            owner=row[10],
            lease_until=self._db.dt_or_none(row[11]),
            started_at=self._db.dt(row[12]),
            updated_at=self._db.dt(row[13]),
            finished_at=self._db.dt_or_none(row[14]),
            wake_at=self._db.dt_or_none(row[15]),
            deadline=self._db.dt_or_none(row[16]),
        )

    def _step(self, row: Row) -> StepRecord:
        return StepRecord(
            run_id=str(row[0]),
            phase=row[1],
            index=int(row[2]),
            name=str(row[3]),
            kind=str(row[4]),
            attempts=int(row[5]),
            status=row[6],
            output=None if row[7] is None else json.loads(row[7]),
            error=row[8],
            started_at=self._db.dt(row[9]),
            finished_at=self._db.dt_or_none(row[10]),
            tries=tuple(FailedTry.of(t) for t in json.loads(row[11] or "[]")),
        )
