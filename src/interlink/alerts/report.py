"""The alert book as people read it: one JSON document per alert (the admin API and
``interlink alerts list --format json`` give the same), and setting a silence on a name the
estate knows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from interlink.alerts.channels import channel_of, shown
from interlink.errors import ConfigError, NotFound
from interlink.estate.hints import did_you_mean
from interlink.estate.model import Estate
from interlink.store.alerts import Alert, AlertBook, Notification, Silence

#: The longest silence: a silence is for a planned piece of work, not a way to switch off.
MAX_SILENCE = timedelta(days=30)

State = Literal["firing", "resolved", "all"]


def alert_documents(
    book: AlertBook, state: State, limit: int, now: datetime
) -> list[dict[str, Any]]:
    """The alerts (newest first), each with how its notifications went and the silence over
    it, if one is active."""
    alerts = book.recent(state, limit)
    notes = book.notifications([a.id for a in alerts])
    silences = book.silences(now)
    return [alert_document(a, notes[a.id], silences) for a in alerts]


def alert_document(
    alert: Alert, notifications: Sequence[Notification], silences: Sequence[Silence]
) -> dict[str, Any]:
    silence = next((s for s in silences if s.covers(alert.monitor, alert.target)), None)
    return {
        "id": alert.id,
        "monitor": alert.monitor,
        "type": alert.type,
        "severity": alert.severity,
        "target": alert.target,
        "state": alert.state,
        "summary": alert.summary,
        "detail": alert.detail,
        "facts": alert.facts,
        "started_at": alert.started_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
        "resolved_at": None if alert.resolved_at is None else alert.resolved_at.isoformat(),
        "notified_at": None if alert.notified_at is None else alert.notified_at.isoformat(),
        "silenced_by": None if silence is None else silence.id,
        "notifications": [notification_document(n) for n in notifications],
    }


def notification_document(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "kind": note.kind,
        "team": note.team,
        "channel": shown(channel_of(note.channel)),
        "state": note.state,
        "attempts": note.attempts,
        "due_at": note.due_at.isoformat(),
        "sent_at": None if note.sent_at is None else note.sent_at.isoformat(),
        "error": note.error,
    }


def silence_document(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "monitor": silence.monitor,
        "target": silence.target,
        "reason": silence.reason,
        "created_by": silence.created_by,
        "created_at": silence.created_at.isoformat(),
        "expires_at": silence.expires_at.isoformat(),
        "ended_at": None if silence.ended_at is None else silence.ended_at.isoformat(),
    }


def notification_status(notifications: Sequence[Mapping[str, Any]]) -> str:
    """One word for a table: ``failed`` when any message failed for good, ``pending`` while
    one waits to be (re)tried, ``sent`` when all went out, ``-`` when nobody was told."""
    states = {n["state"] for n in notifications}
    if not states:
        return "-"
    return "failed" if "failed" in states else "pending" if "pending" in states else "sent"


def silence(
    book: AlertBook,
    estate: Estate,
    *,
    monitor: str | None,
    target: str | None,
    seconds: float,
    reason: str,
    by: str,
) -> Silence:
    """A new silence over a Monitor or a target (``Kind/name``) the estate has, for
    ``seconds``. NotFound for a name the estate lacks, ConfigError for a bad duration or an
    empty reason."""
    if monitor is not None:
        _known(estate, "Monitor", monitor)
    if target is not None:
        kind, _, name = target.partition("/")
        if not name:
            raise ConfigError(f"a target is Kind/name, like System/crm, not {target!r}")
        _known(estate, kind, name)
    if seconds <= 0 or seconds > MAX_SILENCE.total_seconds():
        raise ConfigError("a silence lasts more than nothing and at most 30 days")
    until = book.now() + timedelta(seconds=seconds)
    return book.silence(monitor=monitor, target=target, until=until, reason=reason, by=by)


def _known(estate: Estate, kind: str, name: str) -> None:
    if estate.get(kind, name) is None:
        hint = did_you_mean(name, estate.names(kind))
        raise NotFound(f"no {kind} {name[:100]!r} in the estate" + (f" ({hint})" if hint else ""))
