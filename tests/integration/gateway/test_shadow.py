"""Strangler fig through a real gateway: a weighted split and a shadow upstream that differs
in one field, compared in the background and read back with `interlink routes compare`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from interlink.cli.main import cli
from interlink.estate.check import check_estate
from interlink.gateway import compile_gateway
from interlink.gateway.services import GatewayServices
from interlink.gateway.shadow.mirror import COMPARED, MISMATCHED, SKIPPED, comparison_log
from interlink.store import open_store
from interlink.testing.upstreams import UpstreamThread
from tests.integration.gateway.conftest import FAST, GatewayThread
from tests.unit.gateway.helpers import route, write_estate

IGNORE = ["/headers", "/raw_headers"]  # the echo shows each upstream its own Host


@dataclass
class Strangler:
    gateway: GatewayThread
    services: GatewayServices
    root: Path
    store_url: str

    def counter(self, name: str, *labels: str) -> float:
        return self.services.metrics.counter(name, "", ("route",)).value(*labels)

    def wait(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, self.services.metrics.render()
            time.sleep(0.02)


@pytest.fixture
def old() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


@pytest.fixture
def new() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


def start(tmp_path: Path, routes: list[dict[str, Any]], systems: dict[str, str]) -> Strangler:
    root = write_estate(tmp_path / "estate", dict(systems), routes)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(store_url)
    store.migrate()
    services = GatewayServices(store=store)
    result = check_estate(root)
    assert result.ok, [f.render() for f in result.findings]
    config = compile_gateway(result.estate, FAST, services)
    return Strangler(GatewayThread(config).start(), services, root, store_url)


@pytest.fixture
def strangler(tmp_path: Path, old: UpstreamThread, new: UpstreamThread) -> Iterator[Strangler]:
    shadowed = route("customers", "/customers", "crm-legacy", compare={"ignore": IGNORE})
    shadowed["spec"]["upstreams"].append({"system": "crm", "shadow": True})
    split = route("split", "/split", "crm-legacy")
    split["spec"]["upstreams"] = [
        {"system": "crm-legacy", "weight": 50},
        {"system": "crm", "weight": 50},
    ]
    down = route("down", "/down", "crm-legacy")
    down["spec"]["upstreams"].append({"system": "nowhere", "shadow": True})
    setup = start(
        tmp_path,
        [shadowed, split, down],
        {
            "crm-legacy": old.url + "/legacy",
            "crm": new.url + "/v2",
            "nowhere": "http://127.0.0.1:9",
        },
    )
    try:
        yield setup
    finally:
        setup.gateway.stop()
        assert setup.services.store is not None
        setup.services.store.close()


def test_the_client_gets_the_primary_and_the_shadow_is_compared(
    strangler: Strangler, old: UpstreamThread, new: UpstreamThread
) -> None:
    requests = 20
    with httpx.Client(base_url=strangler.gateway.url) as client:
        for i in range(requests):
            response = client.post(f"/customers/{i}", json={"n": i}, headers={"X-Api": "1"})
            assert response.status_code == 200
            seen = response.json()
            assert seen["path"] == f"/legacy/customers/{i}"  # always the primary's answer
    strangler.wait(lambda: strangler.counter(COMPARED, "customers") == requests)
    assert strangler.counter(MISMATCHED, "customers") == requests
    # Only /path differs: the shadow saw the same method, query, body (its hash) and headers
    # (but Host), so it got a faithful copy.
    with httpx.Client(base_url=strangler.gateway.url) as client:
        client.get("/customers/7?expand=1")
    strangler.wait(lambda: strangler.counter(COMPARED, "customers") == requests + 1)

    log = comparison_log(strangler.services)
    assert log.flush() >= 1
    runner = CliRunner()
    args = ["routes", "compare", "customers", "--estate", str(strangler.root)]
    args += ["--store-url", strangler.store_url]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"route customers: {requests + 1} compared since ")
    assert lines[0].endswith(", 0 matched (0.0%)")
    assert lines[1] == "top differing fields:"
    assert lines[2].split() == ["/path", str(requests + 1), "100.0%", "of", "compared"]
    assert len(lines) == 3

    result = runner.invoke(cli, [*args, "--format", "json", "--since", "1h"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["compared"] == requests + 1
    assert data["matched"] == 0
    assert data["matchRate"] == 0
    assert data["fields"] == [{"field": "/path", "mismatches": requests + 1}]


def test_a_failing_shadow_never_touches_the_client(strangler: Strangler) -> None:
    with httpx.Client(base_url=strangler.gateway.url) as client:
        for _ in range(5):
            response = client.get("/down/x")
            assert response.status_code == 200
            assert response.json()["path"] == "/legacy/down/x"
    metrics = strangler.services.metrics
    skipped = metrics.counter(SKIPPED, "", ("route", "reason"))
    strangler.wait(lambda: skipped.value("down", "error") == 5)
    assert strangler.counter(COMPARED, "down") == 0


def test_the_split_is_sticky_per_client(strangler: Strangler) -> None:
    seen: dict[str, set[str]] = {}
    with httpx.Client(base_url=strangler.gateway.url) as client:
        for _ in range(10):
            path = client.get("/split/a").json()["path"]
            seen.setdefault("127.0.0.1", set()).add(path.split("/")[1])
    assert len(seen["127.0.0.1"]) == 1  # one client never flips between old and new
