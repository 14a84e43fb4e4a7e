"""Alerts end to end in one process: verdicts booked, told to a real signed-webhook receiver, a
chat receiver and an in-process SMTP server, on a clock the test moves."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from interlink.alerts import Alerts
from interlink.estate.loader import load_estate
from interlink.estate.references import SecretSource
from interlink.events.signing import generate_secret
from interlink.observe.metrics import Registry
from interlink.observe.verdicts import Verdict
from interlink.store import Store, open_store
from interlink.testing.clock import FakeClock
from interlink.testing.receivers import Receiver

SECRET = generate_secret()


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[EmailMessage, list[str]]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        mail = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(mail, EmailMessage)
        self.mails.append((mail, list(envelope.rcpt_tos)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {{name: platform}}
spec:
  alerts:
    mail: {mail}
    renotify: {{warning: 1h}}
---
apiVersion: interlink/v1
kind: Team
metadata: {{name: sales}}
spec:
  channels:
    - {{type: webhook, to: "{webhook}/alerts", secret: "${{secret:sales-hook}}"}}
    - {{type: chat, to: "${{secret:sales-chat}}"}}
    - {{type: email, to: sales-oncall@example.com}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: mail, owner: sales}}
spec:
  domain: platform
  connector: smtp
  connection:
    {{host: 127.0.0.1, port: {smtp}, security: none, from: "Interlink <alerts@example.com>"}}
---
apiVersion: interlink/v1
kind: System
metadata: {{name: crm, title: CRM, owner: sales}}
spec: {{domain: sales, baseUrl: "http://127.0.0.1:9"}}
---
apiVersion: interlink/v1
kind: Monitor
metadata: {{name: crm-errors, owner: sales}}
spec:
  target: {{kind: System, name: crm}}
  type: slo
  slo: {{objective: 99}}
"""

FACTS: dict[str, Any] = {
    "indicator": "availability",
    "objective": 99.0,
    "error_ratio": 0.03,
    "burn_rate_long": 3.0,
    "burn_rate_short": 4.0,
    "long_window_seconds": 3600,
    "short_window_seconds": 300,
    "budget_remaining": 0.5,
}


@dataclass
class World:
    alerts: Alerts
    store: Store
    clock: FakeClock
    hook: Receiver
    chat: Receiver
    inbox: Inbox
    root: Path

    def verdict(self, firing: bool, monitor: str = "crm-errors") -> Verdict:
        return Verdict(monitor, "slo", firing, self.clock.now(), FACTS)

    def notifications(self) -> list[Any]:
        alerts = self.store.alerts.recent("all")
        found = self.store.alerts.notifications([a.id for a in alerts])
        return sorted((n for ns in found.values() for n in ns), key=lambda n: n.id)

    def by_type(self, kind: str) -> list[Any]:
        return [n for n in self.notifications() if n.channel["type"] == kind]


@asynccontextmanager
async def world(
    tmp_path: Path, *, mail: str = "mail", chat_url: str | None = None
) -> AsyncIterator[World]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    async with Receiver(secret=SECRET) as hook, Receiver() as chat:
        root = tmp_path / "estate"
        root.mkdir(exist_ok=True)
        (root / "estate.yaml").write_text(
            ESTATE.format(mail=mail, webhook=hook.url, smtp=controller.port), encoding="utf-8"
        )
        estate, findings = load_estate(root)
        assert not [f for f in findings if f.severity == "error"], findings
        clock = FakeClock()
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}", clock=clock)
        store.migrate()
        secrets = SecretSource(
            environ={
                "INTERLINK_SECRET_SALES_HOOK": SECRET,
                "INTERLINK_SECRET_SALES_CHAT": chat_url or f"{chat.url}/services/T0/B0/xyz",
            }
        )
        alerts = Alerts(store, lambda: estate, clock=clock, secrets=secrets, metrics=Registry())
        alerts.dispatcher.timeout = 2.0
        try:
            yield World(alerts, store, clock, hook, chat, inbox, root)
        finally:
            await alerts.close()
            store.close()
            controller.stop()


def run(tmp_path: Path, test: Callable[[World], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with world(tmp_path, **kw) as w:
            await test(w)

    asyncio.run(main())


def test_a_firing_alert_is_deduplicated_and_told_once_on_every_channel(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.alerts.verdicts([w.verdict(True)])
        await w.alerts.verdicts([w.verdict(True)])
        [alert] = w.store.alerts.recent("all")
        assert alert.state == "firing"
        assert alert.notified_count == 1
        assert alert.summary.startswith("The CRM is failing 3% of requests over the last hour")
        assert alert.summary.endswith("Owner: Sales.")
        assert len(w.notifications()) == 3  # webhook, chat, email: queued, not sent yet
        assert w.hook.counts["requests"] == 0

        done = await w.alerts.run_once()
        assert (done.sent, done.retried, done.failed) == (3, 0, 0), done.errors

        [received] = w.hook.delivered
        assert received.verified is True
        assert received.path == "/alerts"
        assert received.webhook_id == f"alert_{w.by_type('webhook')[0].id}"
        document = json.loads(received.body)
        assert document["type"] == "alert.firing"
        assert document["alert"]["monitor"] == "crm-errors"
        assert document["alert"]["facts"]["error_ratio"] == 0.03
        assert document["summary"] == alert.summary
        assert document["team"] == "sales"

        [chat] = w.chat.requests
        assert chat.path == "/services/T0/B0/xyz"
        assert json.loads(chat.body)["text"].startswith("The CRM is failing 3%")

        [(mail, rcpt)] = w.inbox.mails
        assert rcpt == ["sales-oncall@example.com"]
        assert mail["Subject"] == "[warning] crm-errors firing"
        assert "Owner: Sales." in mail.get_content()
        assert "Monitor crm-errors" in mail.get_content()
        assert all(n.state == "sent" for n in w.notifications())

        w.clock.advance_to(w.clock.now() + timedelta(minutes=20))
        await w.alerts.verdicts([w.verdict(False)])
        [resolved] = w.store.alerts.recent("resolved")
        assert resolved.id == alert.id
        assert resolved.resolved_at == w.clock.now()
        await w.alerts.run_once()
        resolution = json.loads(w.hook.delivered[-1].body)
        assert resolution["type"] == "alert.resolved"
        assert resolution["summary"].startswith("Resolved after 20 minutes. It said: The CRM")
        assert w.inbox.mails[-1][0]["Subject"] == "[warning] crm-errors resolved"

        await w.alerts.verdicts([w.verdict(True)])  # fires again: a new alert
        assert [a.state for a in w.store.alerts.recent("all")] == ["firing", "resolved"]

    run(tmp_path, test)


def test_a_firing_alert_is_told_again_on_its_severitys_schedule(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.alerts.verdicts([w.verdict(True)])
        w.clock.advance_to(w.clock.now() + timedelta(minutes=59))
        await w.alerts.verdicts([w.verdict(True)])
        assert len(w.by_type("webhook")) == 1
        w.clock.advance_to(w.clock.now() + timedelta(minutes=1))
        await w.alerts.verdicts([w.verdict(True)])
        assert [n.kind for n in w.by_type("webhook")] == ["firing", "renotify"]
        await w.alerts.run_once()
        document = json.loads(w.hook.delivered[-1].body)
        assert document["type"] == "alert.renotify"
        assert document["summary"].startswith("Still firing since 2025-03-14 09:26 UTC.")
        assert w.store.alerts.recent()[0].notified_count == 2

    run(tmp_path, test)


def test_a_silence_holds_notifications_back_until_it_expires(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        silence = w.store.alerts.silence(
            monitor="crm-errors",
            until=w.clock.now() + timedelta(hours=2),
            reason="CRM upgrade",
            by="test",
        )
        await w.alerts.verdicts([w.verdict(True)])
        [alert] = w.store.alerts.recent()
        assert alert.state == "firing"
        assert alert.notified_count == 0
        assert w.notifications() == []
        w.clock.advance_to(w.clock.now() + timedelta(hours=1, minutes=59))
        await w.alerts.verdicts([w.verdict(True)])
        assert w.notifications() == []
        assert w.store.alerts.silences(w.clock.now()) == [silence]

        w.clock.advance_to(w.clock.now() + timedelta(minutes=1))  # the silence has expired
        assert w.store.alerts.silences(w.clock.now()) == []
        await w.alerts.verdicts([w.verdict(True)])
        assert [n.kind for n in w.by_type("webhook")] == ["firing"]

        # A silence on the target holds back the resolution too.
        w.store.alerts.silence(
            target="System/crm", until=w.clock.now() + timedelta(hours=1), reason="x", by="t"
        )
        await w.alerts.verdicts([w.verdict(False)])
        assert [n.kind for n in w.by_type("webhook")] == ["firing"]
        assert w.store.alerts.recent("resolved")[0].id == alert.id

    run(tmp_path, test)


def test_a_refusing_channel_is_retried_with_backoff_and_recorded(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        w.hook.fail(times=2, status=500)
        await w.alerts.verdicts([w.verdict(True)])
        done = await w.alerts.run_once()
        assert (done.sent, done.retried) == (2, 1)
        [note] = w.by_type("webhook")
        assert (note.state, note.attempts, note.error) == (
            "pending",
            1,
            "the receiver answered HTTP 500",
        )
        assert note.due_at == w.clock.now() + timedelta(seconds=30)
        await w.alerts.run_once()  # not due yet: not tried
        assert w.hook.counts["requests"] == 1
        w.clock.advance_to(w.clock.now() + timedelta(seconds=30))
        await w.alerts.run_once()
        [note] = w.by_type("webhook")
        assert (note.state, note.attempts) == ("pending", 2)
        assert note.due_at == w.clock.now() + timedelta(seconds=60)  # the wait doubles
        w.clock.advance_to(w.clock.now() + timedelta(seconds=60))
        await w.alerts.run_once()
        [note] = w.by_type("webhook")
        assert note.state == "sent"
        assert note.attempts == 3
        assert len(w.hook.delivered) == 1
        counted = w.alerts.dispatcher.counted
        assert counted.value("webhook", "retry") == 2
        assert counted.value("webhook", "sent") == 1

        w.hook.fail(times=1, status=400)  # a refusal is not tried again
        w.clock.advance_to(w.clock.now() + timedelta(hours=1))
        await w.alerts.verdicts([w.verdict(True)])
        await w.alerts.run_once()
        assert (w.by_type("webhook")[-1].state, w.by_type("webhook")[-1].attempts) == ("failed", 1)
        assert counted.value("webhook", "failed") == 1

    run(tmp_path, test)


def test_an_unreachable_channel_fails_after_its_attempts_without_holding_anything(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{_free_port()}/hook"

    async def test(w: World) -> None:
        w.alerts.dispatcher.attempts = 3
        await w.alerts.verdicts([w.verdict(True)])
        for wait in (0, 30, 60):
            w.clock.advance_to(w.clock.now() + timedelta(seconds=wait))
            await w.alerts.run_once()
        [chat] = w.by_type("chat")
        assert chat.state == "failed"
        assert chat.attempts == 3
        assert chat.error == "cannot reach the service (ConnectError)"
        assert "/hook" not in chat.error  # the URL is the credential: never said
        assert [n.state for n in w.by_type("webhook")] == ["sent"]  # the others went out

    run(tmp_path, test, chat_url=closed)


def test_a_hanging_channel_times_out_and_verdicts_never_wait_for_it(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        w.hook.hang()
        # Long enough that the channels that answer are never cut off on a loaded machine:
        # only the hanging one reaches it.
        w.alerts.dispatcher.timeout = 2.0
        await w.alerts.verdicts([w.verdict(True)])  # books and returns: nothing sent here
        assert w.hook.counts["requests"] == 0
        done = await w.alerts.run_once()
        assert done.sent == 2
        assert done.retried == 1
        assert w.by_type("webhook")[0].error == "timed out"
        w.hook.release()

    run(tmp_path, test)


def test_email_without_a_mail_system_is_recorded_as_not_sent(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.alerts.verdicts([w.verdict(True)])
        await w.alerts.run_once()
        [mail] = w.by_type("email")
        assert mail.state == "failed"
        assert mail.error == "the mail System 'crm' does not use the smtp connector"

    run(tmp_path, test, mail="crm")


def test_verdicts_of_unknown_monitors_and_a_failing_store_never_raise(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.alerts.verdicts([w.verdict(True, monitor="gone")])
        assert w.store.alerts.recent("all") == []
        w.store.close()
        await w.alerts.verdicts([w.verdict(True)])  # logged and counted, not raised

    run(tmp_path, test)


def test_resolved_alerts_are_purged_after_the_retention(tmp_path: Path) -> None:
    async def test(w: World) -> None:
        await w.alerts.verdicts([w.verdict(True)])
        await w.alerts.verdicts([w.verdict(False)])
        assert w.alerts.purge() == 0
        w.clock.advance_to(w.clock.now() + timedelta(days=91))
        assert w.alerts.purge() == 1
        assert w.store.alerts.recent("all") == []
        assert w.notifications() == []

    run(tmp_path, test)
