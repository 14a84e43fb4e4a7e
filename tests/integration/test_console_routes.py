"""The console's gateway routes and error budgets from real traffic: `interlink serve` runs an
estate of 1,002 routes, one of them split between a legacy and a new upstream with every
request copied to a shadow; requests go through its gateway, and once it stopped (writing out
what it counted) the pages are read over the same store, as any node of the cluster reads them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlink.store import default_store_url, open_store
from interlink.testing.processes import TOKEN, InterlinkProcess, free_port
from interlink.testing.upstreams import UpstreamThread
from tests.integration.test_console import Console

REQUESTS = 40
FAILED = 3  # of them answered 503 by the upstream
FILLER = 1000


def _doc(kind: str, name: str, spec: dict[str, Any]) -> str:
    meta = {"name": name} if kind == "Team" else {"name": name, "owner": "team"}
    return json.dumps({"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec})


def write_estate(root: Path, legacy: str, new: str) -> Path:
    no_retries = {"retries": {"attempts": 0}}
    docs = [
        _doc("Platform", "test", {}),
        _doc("Team", "team", {}),
        _doc("System", "legacy", {"domain": "test", "baseUrl": legacy + "/legacy"}),
        _doc("System", "new", {"domain": "test", "baseUrl": new + "/v2"}),
        _doc("Route", "customers", {
            "match": {"path": "/customers"},
            "upstreams": [
                {"system": "legacy", "weight": 50},
                {"system": "new", "weight": 50},
                {"system": "new", "shadow": True},
            ],
            "sticky": False,
            "compare": {"ignore": ["/headers", "/raw_headers"]},
            "resilience": no_retries,
        }),
        _doc("Route", "orders", {
            "match": {"path": "/orders", "methods": ["POST"]},
            "upstreams": [{"system": "legacy"}],
            "auth": {"methods": [{"type": "apiKey"}], "scopes": ["orders:write"]},
        }),
        _doc("Plan", "gold", {}),
        _doc("Consumer", "shop", {"plan": "gold", "scopes": ["orders:write"]}),
        _doc("Consumer", "reader", {"plan": "gold", "scopes": []}),
        _doc("Monitor", "customers-availability", {
            "target": {"kind": "Route", "name": "customers"},
            "type": "slo",
            "slo": {"indicator": "availability", "objective": 99, "window": "1d"},
        }),
    ]  # fmt: skip
    for i in range(FILLER):
        spec = {"match": {"path": f"/r/{i:04d}"}, "upstreams": [{"system": "legacy"}]}
        docs.append(_doc("Route", f"r-{i:04d}", spec))
    root.mkdir(parents=True)
    (root / "estate.yaml").write_text("\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


@dataclass
class Traffic:
    console: Console
    legacy_served: int  # requests the legacy upstream answered as the primary
    new_served: int


def _comparisons(admin: str, token: str) -> int:
    answer = httpx.get(
        f"{admin}/api/v1/routes/customers/comparison",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    compared: int = answer.json()["compared"]
    return compared


def _send(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for i in range(REQUESTS):
            # The failures spread out, so the circuit breaker never opens.
            failing = i % 13 == 5
            headers = {"x-echo-status": "503"} if failing else {}
            answer = client.get(f"/customers/{i}", headers=headers)
            assert answer.status_code == (503 if failing else 200), answer.text


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """Served once for the module: its tests only read what the traffic left."""
    with UpstreamThread() as legacy, UpstreamThread() as new:
        estate = write_estate(tmp_path_factory.mktemp("routes") / "estate", legacy.url, new.url)
        port = free_port()
        proc = InterlinkProcess(
            ["serve", str(estate), "--admin-listen", f"127.0.0.1:{port}",
             "--gateway-listen", "127.0.0.1:0"]
        )  # fmt: skip
        proc.start()
        try:
            token = proc.wait_for(r"admin token \(shown once, store it now\): " + TOKEN.pattern)
            gateway = proc.wait_for(r"gateway on (http://[0-9.:]+)").group(1)
            proc.wait_for(r"admin API on http://")
            _send(gateway)
            admin = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30  # the comparisons are written every 10 s
            while _comparisons(admin, token.group(1)) < REQUESTS:
                assert time.monotonic() < deadline, proc.output
                time.sleep(0.5)
        finally:
            assert proc.stop() == 0, proc.output  # a clean stop writes out every count
        legacy_served = len(legacy.requests)
        new_served = len(new.requests) - REQUESTS  # every request's shadow copy went there
    from interlink.runtime.runtime import Runtime
    from interlink.runtime.settings import ServeSettings

    runtime = Runtime.open(ServeSettings(estate, store_url=default_store_url(estate)))
    try:
        yield Traffic(Console(runtime), legacy_served, new_served)
    finally:
        runtime.close()


def cells(html: str, row: str) -> list[str]:
    """The text of each cell of the table row headed ``row``."""
    found = re.search(r"<tr><th scope=\"row\">" + row + r"</th>(.*?)</tr>", html, re.S)
    assert found is not None, html
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    ]


def test_the_routes_the_split_the_shadow_report_and_the_budget(traffic: Traffic) -> None:
    assert traffic.legacy_served + traffic.new_served == REQUESTS
    assert traffic.legacy_served
    assert traffic.new_served
    client = traffic.console.sign_in(traffic.console.viewer)

    # The list: first page of 50 out of 1,002, the busy route with its figures.
    listing = client.get("/console/routes", params={"q": "customers"})
    assert listing.status_code == 200, listing.text
    assert "<h1>Gateway routes</h1>" in listing.text
    assert "Routes 1 to 1 of 1 matching “customers”" in listing.text
    row = re.search(
        r'<th scope="row"><a href="/console/routes/customers\?window=1h">.*?</tr>',
        listing.text,
        re.S,
    )
    assert row is not None
    assert "legacy 50% · new 50% · shadow new" in row[0]
    assert "any caller" in row[0]
    assert f'<td class="num">{REQUESTS}</td>' in row[0]
    assert f"{FAILED / REQUESTS * 100:.2f}%" in row[0]
    assert 'aria-label="requests of customers: 40 in the window"' in row[0]
    orders = client.get("/console/routes", params={"q": "/orders"}).text
    assert "shop (gold)" in orders
    assert "reader" not in orders  # lacks the scope

    # The Route's own page.
    page = client.get("/console/routes/customers")
    assert page.status_code == 200, page.text
    assert "<h1>Route customers</h1>" in page.text
    assert cells(page.text, "legacy")[:5] == [
        "primary", "50", "50.00%", str(traffic.legacy_served),
        f"{traffic.legacy_served / REQUESTS * 100:.2f}%",
    ]  # fmt: skip
    assert cells(page.text, "new")[3] == str(traffic.new_served)
    # The shadow answers like the new upstream and unlike the legacy one (another path).
    assert (
        f"{REQUESTS} answers compared in the last 1h: {traffic.new_served} matched, "
        f"{traffic.legacy_served} differed." in page.text
    )
    assert f"Match rate {traffic.new_served / REQUESTS * 100:.2f}%" in page.text
    assert cells(page.text, "<code>/path</code>")[0] == str(traffic.legacy_served)
    assert "the value at /path (array items as *)" in page.text
    assert cells(page.text, r"\(no consumer named\)") == ["—", str(REQUESTS), str(FAILED)]
    for chart in ("volume", "latency"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in page.text
    assert f"{FAILED} errors in all" in page.text
    assert "No data in this window" not in page.text
    assert client.get("/console/routes/customers", params={"window": "7d"}).status_code == 200

    # The SLO's budget: 3 bad of 40 at 99% spends 7.5 times the budget (1% of 40 is 0.4).
    monitors = client.get("/console/monitors")
    assert monitors.status_code == 200, monitors.text
    assert '<h2 id="budgets">Error budgets</h2>' in monitors.text
    assert "-650.00% of the budget left" in monitors.text
    assert 'aria-labelledby="budget-customers-availability-title' in monitors.text
    assert 'aria-labelledby="burn-customers-availability-title' in monitors.text


def test_paging_search_and_bad_input(traffic: Traffic) -> None:
    client = traffic.console.sign_in(traffic.console.viewer)
    first = client.get("/console/routes").text
    assert "Routes 1 to 50 of 1002, traffic over the last 1h." in first
    assert first.count('<tr><th scope="row">') == 50
    assert "Page 1 of 21" in first
    assert 'href="/console/routes?q=&amp;window=1h&amp;page=2" rel="next"' in first
    last = client.get("/console/routes", params={"page": 21}).text
    assert "Routes 1001 to 1002 of 1002" in last
    assert last.count('<tr><th scope="row">') == 2
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    beyond = client.get("/console/routes", params={"page": 99})
    assert beyond.status_code == 200
    assert "There is no page 99: 1002 routes make 21. This is the last." in beyond.text
    by_path = client.get("/console/routes", params={"q": "/r/001"}).text
    assert "Routes 1 to 10 of 10 matching “/r/001”" in by_path
    nothing = client.get("/console/routes", params={"q": "no-such-route"}).text
    assert "No route matches “no-such-route”." in nothing
    for params in ({"page": "0"}, {"window": "1y"}, {"q": "x" * 201}):
        bad = client.get("/console/routes", params=params)
        assert bad.status_code == 400, params
        assert "Traceback" not in bad.text
    missing = client.get("/console/routes/custmers")
    assert missing.status_code == 404
    assert "no Route &#39;custmers&#39;" in missing.text
    assert "customers" in missing.text  # the nearest name
    quiet = client.get("/console/routes/orders").text
    assert "This route has no shadow upstream, so nothing is compared." in quiet
    assert "No request seen in the window." in quiet
    assert "shop (plan gold)" in quiet


def test_an_api_is_searched_by_name(retail_dir: Path, store_url: str) -> None:
    from interlink.runtime.runtime import Runtime
    from interlink.runtime.settings import ServeSettings

    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    try:
        console = Console(runtime)
        client = console.sign_in(console.viewer)
        page = client.get("/console/routes", params={"q": "customers-v1"}).text
        assert "Routes 1 to 1 of 1 matching “customers-v1”" in page
        assert "crm-legacy 90% · crm 10% · shadow crm" in page
        assert 'href="/console/routes"' in page  # in the navigation
        page = client.get("/console/routes/customers").text
        assert "No answer compared in the last 1h." in page
        assert page.count("No data in this window") == 2
    finally:
        runtime.close()


def test_the_store_reads_one_routes_connections(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from interlink.store import ObservedConnection

    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        store.connections.record(
            [ObservedConnection(hour, "shop", "a", "legacy", 3),
             ObservedConnection(hour, "shop", "b", "legacy", 5)]
        )  # fmt: skip
        assert [r.count for r in store.connections.list(route="b")] == [5]
        assert [r.count for r in store.connections.list(hour, "a")] == [3]
        assert len(store.connections.list(hour)) == 2


def test_the_store_reads_signals_of_one_kind(tmp_path: Path) -> None:
    from interlink.store import Bucket, SignalRow

    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        store.signals.record(
            [SignalRow("Route", "a", 60, 120, Bucket(2)),
             SignalRow("System", "a", 60, 120, Bucket(3)),
             SignalRow("Route", "b", 60, 180, Bucket(4))]
        )  # fmt: skip
        assert {k: b.count for k, b in store.signals.totals(0, 600, ["a"], "Route").items()} == {
            ("Route", "a"): 2
        }
        assert len(store.signals.totals(0, 600, ["a"])) == 2
        series = store.signals.series(0, 600, 120, ["a", "b"], "Route")
        assert {k: {t: b.count for t, b in s.items()} for k, s in series.items()} == {
            ("Route", "a"): {120: 2},
            ("Route", "b"): {120: 4},
        }


def _callers_estate(root: Path, holders: int) -> Path:
    """Routes requiring scope ``wide`` (held by ``holders`` Consumers), ``few`` (five) and
    ``none`` (no one), and one requiring no scope."""
    upstream = [{"system": "legacy"}]
    docs = [
        _doc("Platform", "test", {}),
        _doc("Team", "team", {}),
        _doc("System", "legacy", {"domain": "test", "baseUrl": "http://127.0.0.1:9/legacy"}),
        _doc("Plan", "gold", {}),
        _doc("Plan", "free", {}),
        _doc("Route", "open", {"match": {"path": "/open"}, "upstreams": upstream}),
    ]
    for scope in ("wide", "few", "none"):
        auth = {"methods": [{"type": "apiKey"}], "scopes": [scope]}
        spec = {"match": {"path": f"/{scope}"}, "upstreams": upstream, "auth": auth}
        docs.append(_doc("Route", f"needs-{scope}", spec))
    for i in range(holders):
        scopes = ["wide", "few"] if i < 5 else ["wide"]
        spec = {"plan": "gold" if i % 2 else "free", "scopes": scopes}
        docs.append(_doc("Consumer", f"c-{i:03d}", spec))
    root.mkdir(parents=True, exist_ok=True)
    (root / "estate.yaml").write_text("\n---\n".join(docs) + "\n", encoding="utf-8")
    return root


def _callers_cell(page: str, route: str) -> str:
    row = re.search(rf'<a href="/console/routes/{route}\?window=1h">.*?</tr>', page, re.S)
    assert row is not None, route
    cells: list[str] = re.findall(r"<td>(.*?)</td>", row[0], re.S)
    return cells[3]


def test_many_holders_of_a_routes_scopes_are_one_line(tmp_path: Path, store_url: str) -> None:
    """Past 20 holders the callers column and a Route's page say how many hold the scope, as
    the inventory declares them; after a reload that drops holders below it, it names them again."""
    from interlink.runtime.runtime import Runtime
    from interlink.runtime.settings import ServeSettings

    estate = _callers_estate(tmp_path / "estate", 250)
    runtime = Runtime.open(ServeSettings(estate, store_url=store_url))
    try:
        console = Console(runtime)
        client = console.sign_in(console.viewer)
        page = client.get("/console/routes").text
        assert _callers_cell(page, "needs-wide") == "250 Consumers holding wide"
        assert "c-249" not in page  # no holder is listed by name
        few = _callers_cell(page, "needs-few")
        assert few == "c-000 (free), c-001 (gold), c-002 (free) and 2 more"
        assert _callers_cell(page, "needs-none") == "none declared"
        assert _callers_cell(page, "open") == "any caller"
        own = client.get("/console/routes/needs-wide").text
        assert "<dt>Callers</dt><dd>250 Consumers holding wide</dd>" in own
        assert "c-000" not in own
        inventory = client.get("/console/inventory", params={"q": "needs-wide"}).text
        assert "250 Consumers holding wide" in inventory  # the same words

        _callers_estate(estate, 4)
        reloaded = client.post(
            "/api/v1/estate/reload", headers={"Authorization": f"Bearer {console.admin}"}
        )
        assert reloaded.status_code == 200, reloaded.text
        page = client.get("/console/routes").text
        wide = _callers_cell(page, "needs-wide")
        assert wide == "c-000 (free), c-001 (gold), c-002 (free) and 1 more"
    finally:
        runtime.close()
