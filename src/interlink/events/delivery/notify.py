"""Telling a subscription's owner that something needs them, behind a pluggable protocol.

The delivery engine raises a :class:`Notice` when a receiver answers 410 Gone and the
subscription is switched off. A :class:`Notifier` takes it: the default one logs a single
structured line and keeps recent notices in memory for the admin API; a notifier that delivers
to the owning Team's channels (email, webhook, chat) implements the same ``notify``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from interlink.estate.kinds.organisation import Channel

log = logging.getLogger("interlink.events.delivery")


@dataclass(frozen=True)
class Notice:
    kind: str  # what happened, a stable token: "subscription-disabled"
    subject: str  # the object it is about: "Subscription/billing-hooks"
    team: str | None  # the owning Team, when one is known
    channels: tuple[Channel, ...]  # where that Team wants to be told
    summary: str  # one line a person understands
    at: datetime
    details: Mapping[str, str] = field(default_factory=dict)


class Notifier(Protocol):
    async def notify(self, notice: Notice) -> None:
        """Deliver the notice; failures are the notifier's to log, the caller goes on."""
        ...


class LogNotifier:
    """Logs each notice as one line and keeps the last ``keep`` of them."""

    def __init__(self, keep: int = 200) -> None:
        self._notices: deque[Notice] = deque(maxlen=keep)

    async def notify(self, notice: Notice) -> None:
        self._notices.append(notice)
        details = " ".join(f"{k}={_quoted(v)}" for k, v in sorted(notice.details.items()))
        log.warning(
            "notice kind=%s subject=%s team=%s %s%s",
            notice.kind,
            notice.subject,
            notice.team or "-",
            f"{details} " if details else "",
            f"summary={_quoted(notice.summary)}",
            extra={"notice": notice},
        )

    def recent(self) -> list[Notice]:
        """The notices kept, oldest first."""
        return list(self._notices)


def _quoted(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
