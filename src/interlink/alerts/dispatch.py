"""The queued notifications, sent: each pass takes the due ones, sends them side by side with a
time limit each, and records how each went. A failure that may pass (unreachable, 5xx, 429) is
tried again later, the wait doubling from ``first_retry`` up to ``max_retry``, until
``attempts`` are spent; a refusal (4xx, a bad channel) fails at once. Every failure is on the
notification (the API shows it), counted in ``interlink_alert_notifications_total`` and said in
one log line that shows the channel without its URL's path or any secret.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from interlink.alerts.channels import ChannelFailed, ChannelSenders, Message, channel_of, shown
from interlink.errors import NotFound
from interlink.estate.model import Estate
from interlink.observe.metrics import Counter, Registry
from interlink.store.alerts import AlertBook, Notification

log = logging.getLogger("interlink.alerts")


@dataclass
class Pass:
    """What one pass did, by outcome."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        book: AlertBook,
        estate: Callable[[], Estate],
        senders: ChannelSenders,
        *,
        clock: Callable[[], datetime],
        metrics: Registry | None = None,
        attempts: int = 8,
        first_retry: float = 30.0,
        max_retry: float = 3600.0,
        timeout: float = 15.0,
        batch: int = 50,
    ) -> None:
        self.book = book
        self.estate = estate
        self.senders = senders
        self.clock = clock
        self.attempts = max(1, attempts)
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.timeout = timeout
        self.batch = batch
        registry = metrics or Registry()
        self.counted: Counter = registry.counter(
            "interlink_alert_notifications_total",
            "Alert notifications tried, by channel type and outcome (sent, retry, failed).",
            ("channel", "outcome"),
        )

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones."""
        return float(min(self.max_retry, self.first_retry * 2 ** (attempts - 1)))

    async def run_once(self) -> Pass:
        """Send every notification due now (a batch at a time)."""
        done = Pass()
        while True:
            due = await asyncio.to_thread(self.book.due, self.clock(), self.batch)
            if not due:
                return done
            await asyncio.gather(*(self._one(note, done) for note in due))
            if len(due) < self.batch:
                return done

    async def _one(self, note: Notification, done: Pass) -> None:
        channel = channel_of(note.channel)
        try:
            alert = await asyncio.to_thread(self.book.get, note.alert_id)
        except NotFound:  # purged meanwhile
            await asyncio.to_thread(
                self.book.attempted, note.id, "failed", at=self.clock(), error="alert purged"
            )
            return
        message = Message(note.id, note.kind, note.team, alert)
        try:
            async with asyncio.timeout(self.timeout):
                await self.senders.send(channel, message, self.estate())
        except (ChannelFailed, TimeoutError) as exc:
            failure = (
                exc
                if isinstance(exc, ChannelFailed)
                else ChannelFailed("timed out", retryable=True)
            )
            await self._failed(note, channel.type.value, shown(channel), failure, done)
            return
        except Exception as exc:  # a sender's own fault: recorded, never raised into the loop
            failure = ChannelFailed(f"unexpected {type(exc).__name__}", retryable=True)
            await self._failed(note, channel.type.value, shown(channel), failure, done)
            return
        now = self.clock()
        await asyncio.to_thread(self.book.attempted, note.id, "sent", at=now)
        self.counted.inc(channel.type.value, "sent")
        done.sent += 1
        log.info(
            "alert %d (%s) %s sent to team %s on %s",
            alert.id,
            alert.monitor,
            note.kind,
            note.team,
            shown(channel),
        )

    async def _failed(
        self, note: Notification, kind: str, where: str, failure: ChannelFailed, done: Pass
    ) -> None:
        now = self.clock()
        tried = note.attempts + 1
        done.errors.append(failure.detail)
        if failure.retryable and tried < self.attempts:
            wait = self.backoff(tried)
            retry_at = now + timedelta(seconds=wait)
            await asyncio.to_thread(
                self.book.attempted,
                note.id,
                "pending",
                at=now,
                error=failure.detail,
                retry_at=retry_at,
            )
            self.counted.inc(kind, "retry")
            done.retried += 1
            log.warning(
                "alert notification %d to team %s on %s: attempt %d failed: %s; trying again "
                "in %gs",
                note.id,
                note.team,
                where,
                tried,
                failure.detail,
                wait,
            )
            return
        await asyncio.to_thread(
            self.book.attempted, note.id, "failed", at=now, error=failure.detail
        )
        self.counted.inc(kind, "failed")
        done.failed += 1
        log.warning(
            "alert notification %d to team %s on %s failed after %d attempt(s): %s",
            note.id,
            note.team,
            where,
            tried,
            failure.detail,
        )
