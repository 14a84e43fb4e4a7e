"""REST to event through `interlink serve` (embedded backend): a plain POST becomes an event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from interlink.testing.processes import InterlinkProcess, free_port

TYPE = "customer.address-updated"

OPEN_ROUTE = """\
apiVersion: interlink/v1
kind: Route
metadata:
  name: address-changes-open
  owner: sales
spec:
  match: {path: /open/address-changes, methods: [POST]}
  publish: {event: customer.address-updated}
"""


def address(n: int) -> dict[str, object]:
    return {
        "customerId": f"C{n:06d}",
        "address": {"street": f"{n} Main St", "city": "Cork", "postalCode": "T12", "country": "IE"},
        "changedAt": "2026-11-22T10:00:00Z",
    }


@dataclass
class Served:
    proc: InterlinkProcess
    gateway: str
    admin: str
    token: str

    def log(self) -> list[dict[str, object]]:
        response = httpx.get(
            f"{self.admin}/api/v1/events/{TYPE}/log",
            headers={"authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, object]] = response.json()["events"]
        return events


@pytest.fixture
def served(retail_dir: Path) -> Iterator[Served]:
    (retail_dir / "gateway" / "open-route.yaml").write_text(OPEN_ROUTE)
    admin = f"127.0.0.1:{free_port()}"
    proc = InterlinkProcess(["serve", str(retail_dir), "--admin-listen", admin]).start()
    try:
        gateway = proc.wait_for(r"gateway on http://(\S+)").group(1)
        token = proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        yield Served(proc, f"http://{gateway}", f"http://{admin}", token)
    finally:
        proc.stop()


def test_a_posted_body_is_published_and_read_back_from_the_bus(served: Served) -> None:
    url = served.gateway + "/open/address-changes"
    response = httpx.post(url, json=address(1), headers={"X-Request-Id": "change-1"})
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["id"] == "change-1"
    assert receipt["type"] == TYPE
    assert receipt["seq"] == 1
    assert receipt["duplicate"] is False
    assert response.headers["x-request-id"] == "change-1"

    again = httpx.post(url, json=address(1), headers={"X-Request-Id": "change-1"})
    assert again.status_code == 202
    assert again.json()["duplicate"] is True

    (stored,) = served.log()
    event = stored["event"]
    assert isinstance(event, dict)
    assert event["id"] == "change-1"
    assert event["source"] == "/routes/address-changes-open"
    assert event["type"] == TYPE
    assert event["datacontenttype"] == "application/json"
    assert isinstance(event["time"], str)
    assert event["time"].endswith("Z")
    assert "dataschema" not in event
    assert event["data"] == address(1)


def test_an_invalid_body_is_a_422_pointing_into_it(served: Served) -> None:
    url = served.gateway + "/open/address-changes"
    bad = {**address(2), "customerId": 42}
    response = httpx.post(url, json=bad, headers={"X-Request-Id": "bad-1"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["instance"] == "bad-1"
    assert [v["pointer"] for v in problem["violations"]] == ["/body/customerId"]

    not_json = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["violations"][0]["pointer"] == "/body"

    text = httpx.post(url, content=b"hello", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert text.headers["accept-post"] == "application/json"
    assert served.log() == []
