"""The console in a real Chromium (Debian's, driven by Playwright) against a real
`interlink serve`: sign in, every page, the inventory search and CSV, a dead letter retried and
delivered, a flow run's timeline, a silence added and lifted, the data products (a sample
asked for), lineage and estate map pages, an object edited through its form, sign-out; a replay
followed until its copies are delivered, and a flow's drawing.

Skipped when /usr/bin/chromium is absent, failed instead under INTERLINK_REQUIRE_SERVICES=1;
`playwright install` is never run: no browser is downloaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlink.testing.services import require_service
from tests.e2e.test_events_operations import (  # noqa: F401 - the fixture
    ANALYTICS,
    Platform,
    platform,
    wait_until,
)

CHROMIUM = Path("/usr/bin/chromium")


def _chromium() -> bool | str:
    return CHROMIUM.exists() or f"{CHROMIUM} is not installed (apt-get install chromium)"


@pytest.fixture
def page() -> Iterator[Any]:
    require_service("Chromium", _chromium)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # As root (CI) Chromium refuses to start sandboxed.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(20_000)
            yield context.new_page()
        finally:
            browser.close()


def heading(page: Any) -> str:
    text: str = page.locator("main h1").inner_text()
    return text


def test_an_operator_signs_in_reads_every_page_and_retries_a_dead_letter(
    platform: Platform,  # noqa: F811 - the fixture
    page: Any,
) -> None:
    platform.analytics.status = 500
    event_id, discarded_id = platform.publish(1, 2)
    wait_until(lambda: len(platform.dead()) == 2)
    wait_until(lambda: platform.get("/api/v1/flows/runs").json()["items"] != [])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(platform.admin + "/console/")
    assert page.url.endswith("/console/sign-in?reason=required")
    assert "Sign in to use the console." in page.locator("main").inner_text()
    page.get_by_label("Admin token").fill("il_wrongone_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    assert "unknown or revoked" in page.get_by_role("alert").inner_text()
    page.get_by_label("Admin token").fill(platform.token)
    page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_url("**/console/catalog")
    assert heading(page) == "Systems, Apis and Events"
    assert page.get_by_role("row", name="customer.address-updated").count() == 1
    assert ANALYTICS in page.get_by_role("row", name="customer.address-updated").inner_text()

    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Gateway routes").click()
    page.get_by_label("Search name, Api or path").fill("customers-v1")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"/console/routes\?q=customers-v1&"))
    page.get_by_role("link", name="customers", exact=True).click()
    page.locator("main h1").filter(has_text="Route customers").wait_for()
    assert page.get_by_role("img", name="Latency of customers").count() == 1
    assert "90" in page.get_by_role("row", name="crm-legacy").inner_text()  # the declared split
    for label, title in [
        ("Gateway routes", "Gateway routes"),
        ("Inventory", "Inventory"),
        ("Flow runs", "Flow runs"),
        ("Monitors and alerts", "Monitors and alerts"),
        ("Data products", "Data products"),
        ("Lineage", "Lineage"),
        ("Estate map", "Estate map"),
        ("Audit", "Audit"),
        ("Subscriptions", "Subscriptions"),
    ]:
        nav.get_by_role("link", name=label).click()
        page.locator("main h1").filter(has_text=title).wait_for()
        assert nav.get_by_role("link", name=label).get_attribute("aria-current") == "page"

    page.get_by_role("link", name=f"{ANALYTICS}:2").click()  # the dead letter's own page
    page.locator("main h1").filter(has_text=f"Dead letter {ANALYTICS}:2").wait_for()
    assert discarded_id in page.locator("main").inner_text()  # its event
    page.get_by_role("button", name=f"Discard dead letter {ANALYTICS}:2").click()
    page.get_by_role("status").filter(has_text="was discarded").wait_for()
    assert [d["id"] for d in platform.dead()] == [f"{ANALYTICS}:1"]

    row = page.get_by_role("row", name=f"{ANALYTICS}:1")
    assert "500" in row.inner_text()
    platform.analytics.status = 204  # the warehouse is back
    row.get_by_role("button", name=f"Retry dead letter {ANALYTICS}:1").click()
    page.get_by_role("status").filter(has_text="was sent again").wait_for()
    wait_until(lambda: platform.analytics.seen[event_id] == 1)
    page.reload()
    assert "The dead-letter queue is empty." in page.locator("main").inner_text()
    audit = platform.get("/api/v1/audit").json()["entries"]
    retried = [e for e in audit if e["action"] == "dlq.retry"]
    assert [(e["target"], e["result"], e["who"]["name"]) for e in retried] == [
        (f"dlq/{ANALYTICS}:1", "ok", "initial")
    ]
    assert platform.analytics.seen[discarded_id] == 0

    nav.get_by_role("link", name="Flow runs").click()
    page.wait_for_url("**/console/runs")
    page.locator("main table a").first.click()
    page.wait_for_url("**/console/runs/*")
    assert "Steps" in page.locator("main").inner_text()
    assert page.locator("ol.timeline li").count() >= 1

    # An order whose stock cannot be reserved (no inventory system answers here) fails.
    order = {"orderId": "O1", "customerId": "C1", "items": [{"sku": "A"}], "amount": 1,
             "currency": "EUR"}  # fmt: skip
    started = platform.post("/api/v1/flows/order-saga/runs", json=order)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def status() -> str:
        found: str = platform.get(f"/api/v1/flows/runs/{run_id}").json()["status"]
        return found

    wait_until(lambda: status() == "failed", timeout=60)
    page.goto(f"{platform.admin}/console/runs/{run_id}")
    assert "reserve-stock" in page.locator("ol.timeline").inner_text()
    page.get_by_role("button", name="Retry run").click()
    page.get_by_role("status").filter(has_text="The run was started again.").wait_for()
    flow_audit = platform.get("/api/v1/audit").json()["entries"]
    assert [
        (e["action"], e["target"], e["result"]) for e in flow_audit if e["action"] == "flow.retry"
    ] == [("flow.retry", f"run/{run_id}", "ok")]

    # A silence added and lifted from the monitors page, audited as over the API.
    nav.get_by_role("link", name="Monitors and alerts").click()
    page.wait_for_url("**/console/monitors")
    page.get_by_label("Monitor", exact=True).select_option("customers-availability")
    page.get_by_label("For").fill("1h")
    page.get_by_label("Reason").fill("CRM upgrade")
    page.get_by_role("button", name="Add silence").click()
    page.get_by_role("status").filter(has_text="was added").wait_for()
    held = page.get_by_role("row", name="customers-availability CRM upgrade")
    held.get_by_role("button", name="Lift").click()
    page.get_by_role("status").filter(has_text="was lifted").wait_for()
    assert "No active silence." in page.locator("main").inner_text()
    entries = platform.get("/api/v1/audit").json()["entries"]
    assert [(e["action"], e["result"]) for e in entries if e["action"].startswith("alert.")] == [
        ("alert.silence", "ok"),
        ("alert.unsilence", "ok"),
    ]

    nav.get_by_role("link", name="Data products").click()
    page.get_by_role("heading", name="customer-addresses").wait_for()
    orders = page.locator('section[aria-labelledby="product-orders"]')
    orders.get_by_label("Rows").select_option("25")
    orders.get_by_role("button", name="Show a masked sample").click()  # read only now
    # Its rows, or (the serving process's directory holding no files/) why there are none.
    panel = orders.locator("#sample-orders-rows")
    panel.filter(has_text=re.compile(r"(A masked|No) sample of orders")).wait_for()
    assert "Traceback" not in panel.inner_text()
    nav.get_by_role("link", name="Estate map").click()
    page.wait_for_url("**/console/map")
    page.get_by_label("Team").select_option("sales")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"/console/map\?team=sales"))
    assert page.locator("svg path.edge").count() > 0
    page.locator('svg a[href$="/flows/order-saga"]').click()  # a node leads to its page
    page.wait_for_url("**/console/flows/order-saga")
    nav.get_by_role("link", name="Lineage").click()
    page.wait_for_url("**/console/lineage")
    page.get_by_label("Subject type").select_option("DataProduct")
    page.get_by_label("Key").fill("customer-360")
    page.get_by_role("button", name="Trace").click()
    page.locator("#trail").wait_for()

    # Loaded whole, so htmx has processed the search form before it is typed into.
    page.goto(platform.admin + "/console/inventory")
    rows_before = page.locator("#inventory-rows tbody tr").count()
    page.get_by_label("Search").fill("analytics")
    page.wait_for_url(re.compile(r"/console/inventory\?q=analytics&"))  # htmx swapped the rows
    rows = page.locator("#inventory-rows tbody tr")
    assert 0 < rows.count() < rows_before
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these").click()
    csv_text = Path(download.value.path()).read_text()
    assert csv_text.startswith("kind,from,to,how")
    assert all("analytics" in line for line in csv_text.splitlines()[1:])

    page.get_by_label("Since").fill("forever")
    page.get_by_role("button", name="Filter").click()  # an error answers the whole page
    page.locator("main h1").filter(has_text="Bad request").wait_for()
    assert "forever" in page.get_by_role("alert").inner_text()
    nav.get_by_role("link", name="Inventory").click()
    page.wait_for_url("**/console/inventory")

    # An object edited through its form: check's finding shows up as it is typed.
    nav.get_by_role("link", name="Systems, Apis and Events").click()
    page.get_by_role("link", name="Edit System crm", exact=True).click()
    page.wait_for_url("**/console/edit/System/crm")
    page.locator("#preview").filter(has_text="What check says").wait_for()
    page.get_by_label("owner", exact=True).fill("no-such-team")
    page.locator("#preview li.error").filter(has_text="Team/no-such-team").wait_for()
    assert "owner: no-such-team" in page.get_by_label("The YAML file").inner_text()
    with page.expect_download() as edited:
        page.get_by_role("button", name="Download the file").click()
    assert "no-such-team" in Path(edited.value.path()).read_text()

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # tables scroll inside their box, the page does not

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in?reason=signed-out")
    page.goto(platform.admin + "/console/subscriptions")
    assert page.url.endswith("/console/sign-in?reason=required")  # the cookie is gone too
    assert errors == []


def test_a_replay_from_the_browser_reaches_done_and_a_flow_is_drawn(
    platform: Platform,  # noqa: F811 - the fixture
    page: Any,
) -> None:
    ids = platform.publish(1, 2)
    wait_until(lambda: all(platform.analytics.seen[i] == 1 for i in ids))
    wait_until(lambda: platform.get("/api/v1/flows/runs").json()["items"] != [])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(platform.admin + "/console/sign-in")
    page.get_by_label("Admin token").fill(platform.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/catalog")

    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Subscriptions").click()
    page.get_by_role("link", name=ANALYTICS, exact=True).click()
    page.locator("main h1").filter(has_text=f"Subscription {ANALYTICS}").wait_for()
    page.get_by_label("From sequence").fill("1")
    page.get_by_role("button", name="Start replay").click()
    page.wait_for_url(re.compile(r"/console/replays/\d+$"))
    # htmx polls the panel every second until the copies are delivered.
    page.get_by_role("status").filter(has_text="Done: 2 copies delivered.").wait_for()
    assert "2 of 2 events read" in page.locator("#replay-progress").inner_text()
    assert all(platform.analytics.seen[i] == 2 for i in ids)

    nav.get_by_role("link", name="Flow runs").click()
    page.wait_for_url("**/console/runs")
    page.get_by_role("link", name="address-sync").first.click()
    page.locator("main h1").filter(has_text="Flow address-sync").wait_for()
    steps = page.get_by_role("list", name="Steps of address-sync, in order")
    assert steps.locator(":scope > li").count() == 5
    assert "undone by POST erp" in steps.inner_text()
    assert errors == []
