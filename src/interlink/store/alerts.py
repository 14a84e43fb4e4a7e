"""The alert book: alerts (one per monitor while it fires), the silences that hold their
notifications back, and the notifications queued for each channel with how each went.

An alert is firing until its monitor stops firing, then resolved and kept until the retention
purge. A silence names a monitor or a target (``Kind/name``) and ends at ``expires_at`` or when
it is lifted; it stops notifications, never the alert. A notification is one message to one
channel: pending until it is sent or has failed for good, tried again at ``due_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from interlink.errors import ConfigError, NotFound
from interlink.store.base import check_page, dump_json
from interlink.store.database import Database, Row

AlertState = Literal["firing", "resolved"]
NotificationKind = Literal["firing", "renotify", "resolved"]
NotificationState = Literal["pending", "sent", "failed"]

_ALERT: Final = (
    "SELECT id, monitor, type, severity, target, state, summary, detail, facts, started_at, "
    "updated_at, resolved_at, notified_at, notified_count FROM alerts"
)
_SILENCE: Final = (
    "SELECT id, monitor, target, reason, created_by, created_at, expires_at, ended_at "
    "FROM alert_silences"
)
_NOTIFICATION: Final = (
    "SELECT id, alert_id, kind, team, channel, state, attempts, due_at, created_at, sent_at, "
    "error FROM alert_notifications"
)


@dataclass(frozen=True)
class Alert:
    id: int
    monitor: str
    type: str
    severity: str
    target: str  # Kind/name
    state: AlertState
    summary: str
    detail: str
    facts: dict[str, Any]
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None  # when its owners were last told; None: not yet
    notified_count: int


@dataclass(frozen=True)
class Silence:
    id: int
    monitor: str | None
    target: str | None
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None  # lifted by hand before it expired

    def active(self, at: datetime) -> bool:
        return self.ended_at is None and at < self.expires_at

    def covers(self, monitor: str, target: str) -> bool:
        return self.monitor == monitor if self.monitor is not None else self.target == target


@dataclass(frozen=True)
class Notification:
    id: int
    alert_id: int
    kind: NotificationKind
    team: str
    channel: dict[str, Any]  # the Team's channel as the estate wrote it (references unresolved)
    state: NotificationState
    attempts: int
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None
    error: str | None


class AlertBook:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- alerts ------------------------------------------------------------------------------

    def fire(
        self,
        monitor: str,
        *,
        type: str,
        severity: str,
        target: str,
        summary: str,
        detail: str,
        facts: Mapping[str, Any],
        at: datetime,
    ) -> tuple[Alert, bool]:
        """The monitor's firing alert, opened now or brought up to date; and whether it was
        opened by this call."""
        ts, values = self._db.ts(at), dump_json(dict(facts))
        with self._db.transaction() as session:
            updated = session.fetchone(
                "UPDATE alerts SET type = ?, severity = ?, target = ?, summary = ?, detail = ?, "
                "facts = ?, updated_at = ? WHERE monitor = ? AND state = 'firing' RETURNING id",
                (type, severity, target, summary, detail, values, ts, monitor),
            )
            opened = updated is None
            if opened:
                session.execute(
                    "INSERT INTO alerts (monitor, type, severity, target, state, summary, detail, "
                    "facts, started_at, updated_at) VALUES (?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?)",
                    (monitor, type, severity, target, summary, detail, values, ts, ts),
                )
            row = session.fetchone(_ALERT + " WHERE monitor = ? AND state = 'firing'", (monitor,))
        assert row is not None
        return self._alert(row), opened

    def resolve(self, monitor: str, at: datetime) -> Alert | None:
        """Resolve the monitor's firing alert; the alert resolved, or None if none fired."""
        with self._db.transaction() as session:
            row = session.fetchone(
                "UPDATE alerts SET state = 'resolved', resolved_at = ?, updated_at = ? "
                "WHERE monitor = ? AND state = 'firing' RETURNING id",
                (self._db.ts(at), self._db.ts(at), monitor),
            )
            found = None if row is None else session.fetchone(_ALERT + " WHERE id = ?", (row[0],))
        return None if found is None else self._alert(found)

    def firing(self, monitor: str) -> Alert | None:
        with self._db.session() as session:
            row = session.fetchone(_ALERT + " WHERE monitor = ? AND state = 'firing'", (monitor,))
        return None if row is None else self._alert(row)

    def get(self, alert_id: int) -> Alert:
        with self._db.session() as session:
            row = session.fetchone(_ALERT + " WHERE id = ?", (alert_id,))
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        return self._alert(row)

    def recent(
        self, state: AlertState | Literal["all"] = "firing", limit: int = 100
    ) -> list[Alert]:
        """Alerts newest first: the firing ones, the resolved ones, or all."""
        check_page(limit)
        if state not in ("firing", "resolved", "all"):
            raise ConfigError(f"state is firing, resolved or all, not {state!r}")
        where, params = ("", ()) if state == "all" else (" WHERE state = ?", (state,))
        with self._db.session() as session:
            rows = session.fetchall(_ALERT + where + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [self._alert(r) for r in rows]

    def notified(self, alert_id: int, at: datetime) -> None:
        with self._db.transaction() as session:
            session.execute(
                "UPDATE alerts SET notified_at = ?, notified_count = notified_count + 1 "
                "WHERE id = ?",
                (self._db.ts(at), alert_id),
            )

    def now(self) -> datetime:
        """The store's clock."""
        return self._db.now()

    # --- silences ----------------------------------------------------------------------------

    def silence(
        self,
        *,
        monitor: str | None = None,
        target: str | None = None,
        until: datetime,
        reason: str,
        by: str,
    ) -> Silence:
        if (monitor is None) == (target is None):
            raise ConfigError("a silence names a monitor or a target, one of them")
        if not reason.strip():
            raise ConfigError("a silence needs a reason")
        now = self._db.now()
        if until <= now:
            raise ConfigError("a silence must end in the future")
        with self._db.transaction() as session:
            row = session.fetchone(
                "INSERT INTO alert_silences (monitor, target, reason, created_by, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (monitor, target, reason.strip(), by, self._db.ts(now), self._db.ts(until)),
            )
            assert row is not None
            found = session.fetchone(_SILENCE + " WHERE id = ?", (row[0],))
        assert found is not None
        return self._silence(found)

    def lift(self, silence_id: int, at: datetime) -> Silence:
        """End a silence now; NotFound when there is no such active silence."""
        with self._db.transaction() as session:
            row = session.fetchone(
                "UPDATE alert_silences SET ended_at = ? WHERE id = ? AND ended_at IS NULL "
                "AND expires_at > ? RETURNING id",
                (self._db.ts(at), silence_id, self._db.ts(at)),
            )
            found = None if row is None else session.fetchone(_SILENCE + " WHERE id = ?", row)
        if found is None:
            raise NotFound(f"no active silence {silence_id}")
        return self._silence(found)

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """The silences active at ``active_at``, or every one kept; soonest to end first."""
        with self._db.session() as session:
            if active_at is None:
                rows = session.fetchall(_SILENCE + " ORDER BY expires_at, id")
            else:
                rows = session.fetchall(
                    _SILENCE + " WHERE ended_at IS NULL AND expires_at > ? ORDER BY expires_at, id",
                    (self._db.ts(active_at),),
                )
        return [self._silence(r) for r in rows]

    def silenced(self, monitor: str, target: str, at: datetime) -> Silence | None:
        """The active silence that covers the monitor's alerts at ``at``, if any."""
        with self._db.session() as session:
            row = session.fetchone(
                _SILENCE + " WHERE ended_at IS NULL AND expires_at > ? AND (monitor = ? OR "
                "target = ?) ORDER BY expires_at DESC LIMIT 1",
                (self._db.ts(at), monitor, target),
            )
        return None if row is None else self._silence(row)

    # --- notifications -----------------------------------------------------------------------

    def enqueue(
        self,
        alert_id: int,
        kind: NotificationKind,
        channels: Sequence[tuple[str, Mapping[str, Any]]],
        at: datetime,
    ) -> int:
        """Queue one notification per (team, channel), due now; how many."""
        ts = self._db.ts(at)
        with self._db.transaction() as session:
            session.executemany(
                "INSERT INTO alert_notifications (alert_id, kind, team, channel, state, due_at, "
                "created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                [(alert_id, kind, team, dump_json(dict(ch)), ts, ts) for team, ch in channels],
            )
        return len(channels)

    def due(self, at: datetime, limit: int = 50) -> list[Notification]:
        """Pending notifications due at ``at``, oldest first."""
        check_page(limit)
        with self._db.session() as session:
            rows = session.fetchall(
                _NOTIFICATION + " WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id "
                "LIMIT ?",
                (self._db.ts(at), limit),
            )
        return [self._notification(r) for r in rows]

    def next_due(self) -> datetime | None:
        with self._db.session() as session:
            row = session.fetchone(
                "SELECT MIN(due_at) FROM alert_notifications WHERE state = 'pending'"
            )
        return None if row is None else self._db.dt_or_none(row[0])

    def attempted(
        self,
        notification_id: int,
        state: NotificationState,
        *,
        at: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record one attempt: sent, failed for good, or (``pending``) due again at
        ``retry_at``."""
        with self._db.transaction() as session:
            session.execute(
                "UPDATE alert_notifications SET state = ?, attempts = attempts + 1, error = ?, "
                "sent_at = ?, due_at = COALESCE(?, due_at) WHERE id = ?",
                (
                    state,
                    error,
                    self._db.ts(at) if state == "sent" else None,
                    None if retry_at is None else self._db.ts(retry_at),
                    notification_id,
                ),
            )

    def notifications(self, alert_ids: Sequence[int]) -> dict[int, list[Notification]]:
        """Each alert's notifications, oldest first."""
        found: dict[int, list[Notification]] = {i: [] for i in alert_ids}
        if not alert_ids:
            return found
        marks = ", ".join("?" for _ in alert_ids)
        with self._db.session() as session:
            rows = session.fetchall(
                _NOTIFICATION + f" WHERE alert_id IN ({marks}) ORDER BY id", tuple(alert_ids)
            )
        for row in rows:
            note = self._notification(row)
            found[note.alert_id].append(note)
        return found

    # --- retention ---------------------------------------------------------------------------

    def purge(self, before: datetime) -> int:
        """Delete alerts resolved, and silences ended, before ``before`` (an alert's
        notifications go with it); how many alerts."""
        ts = self._db.ts(before)
        with self._db.transaction() as session:
            session.execute(
                "DELETE FROM alert_notifications WHERE alert_id IN (SELECT id FROM alerts "
                "WHERE state = 'resolved' AND resolved_at < ?)",
                (ts,),
            )
            purged = session.execute(
                "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (ts,)
            )
            session.execute(
                "DELETE FROM alert_silences WHERE COALESCE(ended_at, expires_at) < ?", (ts,)
            )
        return purged

    # --- rows --------------------------------------------------------------------------------

    def _alert(self, r: Row) -> Alert:
        dt = self._db.dt
        return Alert(
            id=int(r[0]),
            monitor=r[1],
            type=r[2],
            severity=r[3],
            target=r[4],
            state=r[5],
            summary=r[6],
            detail=r[7],
            facts=self._db.json(r[8]),
            started_at=dt(r[9]),
            updated_at=dt(r[10]),
            resolved_at=self._db.dt_or_none(r[11]),
            notified_at=self._db.dt_or_none(r[12]),
            notified_count=int(r[13]),
        )

    def _silence(self, r: Row) -> Silence:
        return Silence(
            id=int(r[0]),
            monitor=r[1],
            target=r[2],
            reason=r[3],
            created_by=r[4],
            created_at=self._db.dt(r[5]),
            expires_at=self._db.dt(r[6]),
            ended_at=self._db.dt_or_none(r[7]),
        )

    def _notification(self, r: Row) -> Notification:
        return Notification(
            id=int(r[0]),
            alert_id=int(r[1]),
            kind=r[2],
            team=r[3],
            channel=self._db.json(r[4]),
            state=r[5],
            attempts=int(r[6]),
            due_at=self._db.dt(r[7]),
            created_at=self._db.dt(r[8]),
            sent_at=self._db.dt_or_none(r[9]),
            error=r[10],
        )
