"""What `check` says of the alert settings: the mail System, a channel's signing secret."""

from __future__ import annotations

from pathlib import Path

from interlink.estate.check import check_estate

ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: p}
spec:
  alerts: {mail: MAIL, renotify: {critical: 15m}}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: sales}
spec:
  channels:
    - {type: webhook, to: "https://hooks.example.com/a", secret: "${secret:hook}"}
    - {type: CHANNEL, to: "https://chat.example.com/a", secret: "${secret:hook}"}
---
apiVersion: interlink/v1
kind: System
metadata: {name: crm, owner: sales}
spec: {domain: sales}
---
apiVersion: interlink/v1
kind: System
metadata: {name: mail, owner: sales}
spec:
  domain: platform
  connector: smtp
  connection: {host: smtp.example.com, from: alerts@example.com}
"""


def errors(tmp_path: Path, mail: str, channel: str = "webhook") -> list[str]:
    (tmp_path / "estate.yaml").write_text(
        ESTATE.replace("MAIL", mail).replace("CHANNEL", channel), encoding="utf-8"
    )
    findings = check_estate(tmp_path).findings
    return [f"{f.code}: {f.message}" for f in findings if f.severity == "error"]


def test_the_mail_system_sends_mail_and_only_webhooks_are_signed(tmp_path: Path) -> None:
    assert errors(tmp_path, "mail") == []
    assert errors(tmp_path, "crm") == [
        "ALERTS_MAIL: alert emails go through System/crm, whose connector is none, not smtp"
    ]
    [dangling] = errors(tmp_path, "mial")
    assert dangling.endswith("refers to System/mial, which does not exist")
    said = errors(tmp_path, "mail", "chat")
    assert any(e.endswith("only a webhook channel is signed: a chat takes no secret") for e in said)
