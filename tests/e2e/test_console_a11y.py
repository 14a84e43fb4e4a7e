"""Every console page in a real Chromium, signed in, checked by axe-core for accessibility
violations of impact "serious" or "critical"; every page at phone width (375 px) without a
horizontal scroll of the page itself and with its navigation usable; and the keyboard: the skip
link first, then the navigation and the page's primary action, each focus visible.

axe-core 4.14.1 is vendored for the tests only (tests/e2e/vendor/axe.min.js from `npm pack
axe-core@4.14.1`, SHA-256 29348999…a9ed95c; MPL-2.0, its licence beside it as axe.LICENSE): the
browser driver injects it into each page, and the console never serves it.

Skipped when /usr/bin/chromium is absent, failed instead under INTERLINK_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_console_browser import page  # noqa: F401 - the fixture
from tests.e2e.test_events_operations import (  # noqa: F401 - the fixture
    ANALYTICS,
    Platform,
    platform,
    wait_until,
)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 375, "height": 740}
#: What axe reports, trimmed to what a failure message needs.
RUN_AXE = """async () => {
  const found = await axe.run(document, {resultTypes: ["violations"]});
  return found.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {tag: el.tagName, text: (el.innerText || el.value || "").trim(),
          outline: style.outlineStyle, width: style.outlineWidth,
          inNav: !!el.closest("nav[aria-label=Console]")};
}"""


def _violations(page: Any) -> list[dict[str, Any]]:  # noqa: F811 - the fixture's name
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def _signed_in(platform: Platform, page: Any) -> list[str]:  # noqa: F811
    page.context.add_init_script(path=str(AXE))
    page.goto(platform.admin + "/console/sign-in")
    assert _violations(page) == [], "the sign-in page"
    page.get_by_label("Admin token").fill(platform.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/catalog")
    nav = page.get_by_role("navigation", name="Console").get_by_role("link")
    links: list[str] = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    return links


def _pages(platform: Platform, page: Any, links: list[str]) -> list[str]:  # noqa: F811
    """Every navigation page, and the pages they lead to: a dead letter, a run, a revision, a
    subscription, a flow's drawing, a route, an object's form, a search, and an error page."""
    platform.analytics.status = 500
    platform.publish(1)
    wait_until(lambda: len(platform.dead()) == 1)
    wait_until(lambda: platform.get("/api/v1/flows/runs").json()["items"] != [])
    first = platform.get("/api/v1/flows/runs").json()["items"][0]
    run, flow = first["id"], first["flow"]
    revision = platform.get("/api/v1/estate/revisions").json()[0]["id"]
    return [
        *links,
        f"/console/dlq/{ANALYTICS}:1",
        f"/console/runs/{run}",
        f"/console/revisions/{revision}",
        f"/console/subscriptions/{ANALYTICS}",
        f"/console/flows/{flow}",
        "/console/routes/customers-v1",
        "/console/edit/System/crm",
        "/console/inventory?q=analytics",
        "/console/no-such-page",
    ]


def test_every_page_has_no_serious_accessibility_violation_and_fits_a_phone(
    platform: Platform,  # noqa: F811 - the fixture
    page: Any,  # noqa: F811 - the fixture
) -> None:
    links = _signed_in(platform, page)
    assert {"/console/catalog", "/console/consumers", "/console/revisions"} <= set(links)
    assert httpx.get(platform.admin + "/console/static/axe.min.js").status_code == 404
    found: dict[str, Any] = {}  # every page's problems, so one run names them all
    for path in _pages(platform, page, links):
        for width in (1280, PHONE["width"]):
            page.set_viewport_size(PHONE if width < 1280 else {"width": 1280, "height": 900})
            page.goto(platform.admin + path)
            page.locator("main h1").wait_for()
            # What htmx loads on its own (the editor's preview) is part of the page checked.
            page.wait_for_load_state("networkidle")
            violations = _violations(page)
            if violations:
                found[f"{path} at {width} px"] = violations
        # At phone width: the page does not scroll sideways, and its navigation is on screen.
        body = page.evaluate("document.documentElement.scrollWidth")
        if body > PHONE["width"]:
            found[f"{path} width"] = f"{body} px wide at phone width"
        nav = page.get_by_role("navigation", name="Console").get_by_role("link")
        for i in range(nav.count()):
            box = nav.nth(i).bounding_box()
            assert box is not None, path
            if box["x"] < 0 or box["x"] + box["width"] > PHONE["width"]:
                found[f"{path} nav"] = f"link {i} is off screen: {box}"
    assert not found, json.dumps(found, indent=1)

    # The navigation works at phone width, from a tap.
    page.goto(platform.admin + "/console/catalog")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Revisions").click()
    page.wait_for_url("**/console/revisions")


def test_the_keyboard_reaches_the_skip_link_the_navigation_and_the_primary_action(
    platform: Platform,  # noqa: F811 - the fixture
    page: Any,  # noqa: F811 - the fixture
) -> None:
    links = _signed_in(platform, page)
    page.goto(platform.admin + "/console/consumers")
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    assert first["text"] == "Skip to content"
    assert first["outline"] != "none"  # a visible focus ring
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.goto(platform.admin + "/console/consumers")
    seen: list[dict[str, Any]] = []
    for _ in range(len(links) + 12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))
        if seen[-1]["text"] == "Search":
            break
    texts = [f["text"] for f in seen]
    assert texts[0] == "Skip to content"
    assert "Sign out" in texts
    in_nav = [f["text"] for f in seen if f["inNav"]]
    assert len(in_nav) == len(links)  # every navigation link, in order
    assert texts.index("Sign out") < texts.index(in_nav[0]) < texts.index("Search")
    assert all(f["outline"] != "none" and f["width"] != "0px" for f in seen), seen

    # The search and its page links work from the keyboard alone.
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("analytics")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/consumers?q=analytics")
    assert page.get_by_role("row", name="analytics").count() == 1
