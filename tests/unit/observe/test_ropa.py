"""The record of processing, generated from an estate: activities, recipients, transfers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from interlink.estate.loader import load_estate
from interlink.observe.ropa import record_of_processing, ropa_markdown

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}}}
ESTATE = """\
apiVersion: interlink/v1
kind: Platform
metadata: {name: p}
spec:
  privacy: {controller: Example GmbH, contact: dpo@example.com, country: DE}
---
apiVersion: interlink/v1
kind: Team
metadata: {name: ops}
---
apiVersion: interlink/v1
kind: System
metadata: {name: crm, owner: ops}
spec: {domain: sales, country: DE, retention: 2w, purposes: [customer care]}
---
apiVersion: interlink/v1
kind: System
metadata: {name: mailer, owner: ops}
spec: {domain: marketing, baseUrl: "https://mailer.example.com", country: US}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: customer.signed-up, title: Customer sign-ups, owner: ops}
spec:
  system: crm
  schemas: [{version: 1, file: s.json}]
  classification: {level: confidential, pii: [email], piiCategories: [contact, identity]}
  subject: {type: customer, key: data.id}
---
apiVersion: interlink/v1
kind: Event
metadata: {name: stock.changed, owner: ops}
spec:
  system: crm
  schemas: [{version: 1, file: s.json}]
---
apiVersion: interlink/v1
kind: Subscription
metadata: {name: welcome-mail, owner: ops}
spec:
  event: customer.signed-up
  target: {system: mailer, path: /welcome}
"""


def test_an_activity_lists_subjects_purposes_recipients_transfers_and_retention(
    tmp_path: Path,
) -> None:
    (tmp_path / "estate.yaml").write_text(ESTATE, encoding="utf-8")
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    estate, findings = load_estate(tmp_path)
    assert [f for f in findings if f.severity == "error"] == []
    record = record_of_processing(estate, today=date(2026, 3, 1))
    assert record["controller"] == {
        "name": "Example GmbH",
        "contact": "dpo@example.com",
        "country": "DE",
    }
    (activity,) = record["activities"]  # stock.changed carries no personal data
    assert activity["dataSubjects"] == ["customer"]
    assert activity["personalData"] == {"categories": ["contact", "identity"], "fields": ["email"]}
    assert activity["purposes"] == ["customer care"]  # the publishing System's
    assert activity["recipients"] == [
        {"system": "mailer", "via": "Subscription/welcome-mail", "owner": "ops", "country": "US"}
    ]
    assert activity["transfers"] == [{"system": "mailer", "country": "US"}]
    assert activity["retention"] == {"crm": "2w", "mailer": "not declared"}
    assert [s["name"] for s in record["systems"]] == ["crm", "mailer"]
    text = ropa_markdown(record)
    assert "## Customer sign-ups (`customer.signed-up`)" in text
    assert "| Transfers | System/mailer (US) |" in text
    assert "| crm | ops | DE | 2w | customer care |" in text
