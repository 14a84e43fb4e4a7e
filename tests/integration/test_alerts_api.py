"""The alert book on each store backend, and the alerts endpoints of the admin API."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import Store, open_store
from interlink.testing.clock import FakeClock


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[Store, FakeClock]]:
    clock = FakeClock()
    with open_store(store_url, clock=clock) as opened:
        opened.migrate()
        yield opened, clock


def fire(store: Store, monitor: str, at: Any, summary: str = "The CRM is failing.") -> Any:
    return store.alerts.fire(
        monitor,
        type="slo",
        severity="critical",
        target="Route/customers",
        summary=summary,
        detail="Monitor …",
        facts={"error_ratio": 0.03},
        at=at,
    )


def test_the_book_keeps_one_firing_alert_per_monitor(store: tuple[Store, FakeClock]) -> None:
    book, clock = store[0].alerts, store[1]
    first, opened = fire(store[0], "m", clock.now())
    again, reopened = fire(store[0], "m", clock.now() + timedelta(minutes=1), "Still failing.")
    assert opened
    assert not reopened
    assert again.id == first.id
    assert again.summary == "Still failing."
    assert again.facts == {"error_ratio": 0.03}
    book.enqueue(
        first.id, "firing", [("sales", {"type": "email", "to": "a@example.com"})], clock.now()
    )
    [due] = book.due(clock.now())
    book.attempted(
        due.id,
        "pending",
        at=clock.now(),
        error="HTTP 500",
        retry_at=clock.now() + timedelta(seconds=30),
    )
    assert book.due(clock.now()) == []
    assert book.next_due() == clock.now() + timedelta(seconds=30)
    resolved = book.resolve("m", clock.now() + timedelta(minutes=5))
    assert resolved is not None
    assert resolved.state == "resolved"
    assert book.resolve("m", clock.now()) is None
    assert [a.state for a in book.recent("all")] == ["resolved"]

    held = book.silence(
        target="Route/customers", until=clock.now() + timedelta(hours=1), reason="upgrade", by="me"
    )
    assert book.silenced("other", "Route/customers", clock.now()) == held
    assert book.silenced("other", "Route/orders", clock.now()) is None
    assert book.lift(held.id, clock.now()).ended_at == clock.now()
    assert book.silenced("other", "Route/customers", clock.now()) is None

    assert book.purge(clock.now() + timedelta(days=1)) == 1
    assert book.recent("all") == []
    assert book.silences() == []


class Api:
    def __init__(self, runtime: Runtime) -> None:
        with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

        self.runtime = runtime
        self.client = TestClient(create_app(runtime))
        self.operator, _ = runtime.store.tokens.create("operator", "oncall")
        self.viewer, _ = runtime.store.tokens.create("viewer", "dashboard")

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, headers=headers, **kw)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, response.json()


@pytest.fixture
def api(retail_dir: Path) -> Iterator[Api]:
    runtime = Runtime.open(ServeSettings(retail_dir))
    yield Api(runtime)
    runtime.close()


def test_alerts_and_silences_over_the_admin_api(api: Api) -> None:
    store = api.runtime.store
    alert, _ = fire(store, "customers-availability", store.db.now())
    store.alerts.enqueue(
        alert.id,
        "firing",
        [("sales", {"type": "chat", "to": "https://hooks.example.com/T0/B0/secret"})],
        store.db.now(),
    )

    assert api.call("GET", "/api/v1/alerts", None)[0] == 401
    status, body = api.call("GET", "/api/v1/alerts", api.viewer)
    assert status == 200
    [shown] = body["alerts"]
    assert shown["monitor"] == "customers-availability"
    assert shown["summary"] == "The CRM is failing."
    assert shown["notifications"][0]["channel"] == "chat https://hooks.example.com/…"
    assert shown["notifications"][0]["state"] == "pending"
    assert shown["silenced_by"] is None
    assert api.call("GET", "/api/v1/alerts?state=resolved", api.viewer)[1] == {"alerts": []}
    assert api.call("GET", "/api/v1/alerts?state=gone", api.viewer)[0] == 422

    new = {"monitor": "customers-availability", "for": "2h", "reason": "CRM upgrade"}
    assert api.call("POST", "/api/v1/alerts/silences", api.viewer, json=new)[0] == 403
    status, made = api.call("POST", "/api/v1/alerts/silences", api.operator, json=new)
    assert status == 201
    assert made["created_by"] == "token:oncall"
    assert made["reason"] == "CRM upgrade"
    assert (
        api.call("GET", "/api/v1/alerts", api.viewer)[1]["alerts"][0]["silenced_by"] == made["id"]
    )
    assert api.call("GET", "/api/v1/alerts/silences", api.viewer)[1]["silences"] == [made]

    status, problem = api.call(
        "POST",
        "/api/v1/alerts/silences",
        api.operator,
        json={**new, "monitor": "customers-availabilty"},
    )
    assert status == 404
    assert "did you mean 'customers-availability'" in problem["detail"]
    both = {**new, "target": "Route/customers"}
    assert api.call("POST", "/api/v1/alerts/silences", api.operator, json=both)[0] == 422
    too_long = {**new, "for": "45d"}
    status, problem = api.call("POST", "/api/v1/alerts/silences", api.operator, json=too_long)
    assert status == 400
    assert "at most 30 days" in problem["detail"]

    status, lifted = api.call("DELETE", f"/api/v1/alerts/silences/{made['id']}", api.operator)
    assert status == 200
    assert lifted["ended_at"] is not None
    assert api.call("DELETE", f"/api/v1/alerts/silences/{made['id']}", api.operator)[0] == 404
    assert api.call("GET", "/api/v1/alerts/silences", api.viewer)[1] == {"silences": []}
