"""Verdicts into the alert book: which alert fires, resolves or is due to be told again, and
which notifications that queues. Synchronous (the store is), run off the event loop.

One alert per monitor while it fires; its owners are told when it opens, again every
``renotify`` interval of its severity while it goes on (the Platform's ``spec.alerts``), and
once when it resolves. A silence over the monitor or its target holds the telling back, not the
alert: an alert that opened under a silence is told at the first verdict after the silence
ends, if it still fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlink.estate.kinds import Monitor, Team
from interlink.estate.model import Estate
from interlink.observe.verdicts import Verdict
from interlink.observe.wording import Describer, word
from interlink.store.alerts import AlertBook, NotificationKind

log = logging.getLogger("interlink.alerts")


@dataclass(frozen=True)
class Recorded:
    """What one verdict did: the alert's id (None when nothing fires or resolved), and the
    notifications it queued."""

    alert: int | None
    opened: bool = False
    resolved: bool = False
    queued: int = 0
    kind: NotificationKind | None = None
    silenced: bool = False


class Bookkeeper:
    def __init__(self, book: AlertBook, estate: Callable[[], Estate]) -> None:
        self.book = book
        self.estate = estate
        self._describer: Describer | None = None

    def describer(self, estate: Estate) -> Describer:
        if self._describer is None or self._describer.estate is not estate:
            self._describer = Describer(estate)
        return self._describer

    def record(self, verdict: Verdict, now: datetime) -> Recorded:
        estate = self.estate()
        found = estate.get("Monitor", verdict.monitor)
        if found is None or not isinstance(found.obj, Monitor):
            log.info(
                "verdict of monitor %s, which the estate no longer has: left out", verdict.monitor
            )
            return Recorded(None)
        monitor = found.obj
        target = f"{monitor.spec.target.kind}/{monitor.spec.target.name}"
        if not verdict.firing:
            alert = self.book.resolve(monitor.name, verdict.at)
            if alert is None:
                return Recorded(None)
            if alert.notified_count == 0 or self.book.silenced(monitor.name, target, now):
                return Recorded(alert.id, resolved=True, silenced=alert.notified_count > 0)
            queued = self.book.enqueue(alert.id, "resolved", self.channels(estate, monitor), now)
            return Recorded(alert.id, resolved=True, queued=queued, kind="resolved")
        wording = word(verdict, monitor, self.describer(estate))
        alert, opened = self.book.fire(
            monitor.name,
            type=verdict.type,
            severity=monitor.spec.severity,
            target=target,
            summary=wording.summary,
            detail=wording.detail,
            facts=verdict.facts,
            at=verdict.at,
        )
        if self.book.silenced(monitor.name, target, now) is not None:
            return Recorded(alert.id, opened=opened, silenced=True)
        interval = getattr(estate.platform.spec.alerts.renotify, monitor.spec.severity)
        if alert.notified_at is not None and (now - alert.notified_at).total_seconds() < interval:
            return Recorded(alert.id, opened=opened)
        kind: NotificationKind = "firing" if alert.notified_count == 0 else "renotify"
        queued = self.book.enqueue(alert.id, kind, self.channels(estate, monitor), now)
        self.book.notified(alert.id, now)
        return Recorded(alert.id, opened=opened, queued=queued, kind=kind)

    def channels(self, estate: Estate, monitor: Monitor) -> list[tuple[str, dict[str, Any]]]:
        """Every channel of the monitor's notify Teams (default: its target's owner, else its
        own), as the estate writes them."""
        teams = list(monitor.spec.notify)
        if not teams:
            target = estate.get(monitor.spec.target.kind, monitor.spec.target.name)
            owner = estate.owner_of(target.obj) if target is not None else None
            owner = owner or monitor.metadata.owner
            teams = [owner] if owner else []
        found: list[tuple[str, dict[str, Any]]] = []
        for name in teams:
            team = estate.get("Team", name)
            channels = (
                team.obj.spec.channels if team is not None and isinstance(team.obj, Team) else []
            )
            if not channels:
                log.warning(
                    "monitor %s: team %s has no channels: it is not told", monitor.name, name
                )
            for channel in channels:
                found.append(
                    (name, channel.model_dump(mode="json", by_alias=True, exclude_none=True))
                )
        if not teams:
            log.warning("monitor %s: no team to tell (no notify, no owner)", monitor.name)
        return found
