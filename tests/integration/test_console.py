"""The console over the admin app (in-process): sign-in and its session cookie, CSRF on every
form, pages and buttons following the token's role, expired sessions and revoked tokens, and
errors as pages without a stack trace."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from interlink.admin.app import create_app
from interlink.admin.console.session import COOKIE
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store.console_sessions import session_digest

with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app = create_app(runtime)
        self.admin, self.admin_info = runtime.store.tokens.create("admin", "root")
        self.operator, _ = runtime.store.tokens.create("operator", "oncall")
        self.viewer, self.viewer_info = runtime.store.tokens.create("viewer", "dashboard")

    def browser(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def sign_in(self, token: str) -> TestClient:
        client = self.browser()
        answer = self.submit_sign_in(client, token)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/console/"
        return client

    @staticmethod
    def submit_sign_in(client: TestClient, token: str) -> Any:
        page = client.get("/console/sign-in")
        nonce = CSRF.search(page.text)
        assert nonce is not None
        return client.post("/console/sign-in", data={"csrf": nonce.group(1), "token": token})


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


@pytest.fixture
def console(retail_dir: Path, store_url: str) -> Iterator[Console]:
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def test_sign_in_sets_a_strict_http_only_cookie_and_keeps_only_its_hash(console: Console) -> None:
    client = console.browser()
    answer = console.submit_sign_in(client, console.admin)
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set when reached over https
    session_id = client.cookies[COOKIE]
    with console.runtime.store.db.session() as session:
        rows = session.fetchall("SELECT id_hash, token_id FROM console_sessions")
    assert rows == [(session_digest(session_id), console.admin_info.id)]
    assert session_id not in str(rows)

    [entry] = [e for e in console.runtime.store.audit.list() if e.action == "console.sign_in"]
    assert (entry.who_name, entry.target, entry.result) == (
        "root",
        f"token/{console.admin_info.id}",
        "ok",
    )

    home = client.get("/console/")
    assert (home.status_code, home.headers["location"]) == (303, "/console/catalog")
    page = client.get("/console/catalog")
    assert page.status_code == 200
    assert "<h1>Systems, Apis and Events</h1>" in page.text
    assert "customer-api" in page.text or "customers" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_wrong_token_is_refused_on_the_page(console: Console) -> None:
    client = console.browser()
    answer = console.submit_sign_in(client, "il_nosuchid_" + "x" * 43)
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert COOKIE not in client.cookies


def test_sign_in_without_its_double_submitted_token_is_refused(console: Console) -> None:
    client = console.browser()
    client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"csrf": "forged", "token": console.admin})
    assert answer.status_code == 403
    assert "security token does not match" in answer.text
    assert COOKIE not in client.cookies


def test_pages_need_a_session(console: Console) -> None:
    answer = console.browser().get("/console/subscriptions")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?reason=required"
    htmx = console.browser().get("/console/inventory", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/console/sign-in?reason=required"


def test_each_page_renders_for_an_admin(console: Console) -> None:
    client = console.sign_in(console.admin)
    for path, heading in [
        ("/console/catalog", "Systems, Apis and Events"),
        ("/console/inventory", "Inventory"),
        ("/console/subscriptions", "Subscriptions"),
        ("/console/runs", "Flow runs"),
        ("/console/products", "Data products"),
        ("/console/lineage", "Lineage"),
        ("/console/map", "Estate map"),
        ("/console/monitors", "Monitors and alerts"),
        ("/console/audit", "Audit"),
    ]:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text)
        assert f"<h1>{heading}</h1>" in page.text
        assert 'aria-current="page"' in page.text
        assert '<main id="main"' in page.text
    # No event mesh in this process: said on the page, not an error.
    assert "event mesh is not running" in client.get("/console/subscriptions").text


def test_inventory_search_partial_and_csv(console: Console) -> None:
    client = console.sign_in(console.viewer)
    everything = client.get("/console/inventory.csv")
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("text/csv")
    assert "attachment" in everything.headers["content-disposition"]
    header, *rows = everything.text.splitlines()
    assert header.startswith("kind,from,to,how")
    assert len(rows) > 2
    some = rows[0].split(",")[2]  # a connection's "to"
    found = client.get("/console/inventory.csv", params={"q": some}).text.splitlines()[1:]
    assert found
    assert all(some in row for row in found)
    assert len(found) < len(rows)
    assert (
        client.get("/console/inventory.csv", params={"q": "no-such-thing-x"}).text.count("\n") == 1
    )
    partial = client.get(
        "/console/inventory", params={"q": some}, headers={"HX-Target": "inventory-rows"}
    )
    assert partial.text.startswith('<div id="inventory-rows">')
    assert "<nav" not in partial.text
    # The filter form as a browser sends it, every field present, "any" as empty.
    blank = client.get(
        "/console/inventory", params={"q": "", "kind": "", "flag": "", "since": "7d"}
    )
    assert blank.status_code == 200, blank.text
    bad = client.get("/console/inventory", params={"since": "forever"})
    assert bad.status_code == 400
    assert "Traceback" not in bad.text
    assert "forever" in bad.text


def test_what_a_viewer_sees_and_may_press(console: Console) -> None:
    client = console.sign_in(console.viewer)
    page = client.get("/console/catalog")
    assert 'href="/console/audit"' not in page.text  # audit is for platform admins
    refused = client.get("/console/audit")
    assert refused.status_code == 403
    assert "this needs the admin role; the token has viewer" in refused.text
    csrf = csrf_of(page.text)
    press = client.post(
        "/console/dlq/retry", data={"csrf": csrf, "id": "analytics-address-updates:1"}
    )
    assert press.status_code == 403
    assert "this needs the operator role; the token has viewer" in press.text
    refusals = [e for e in console.runtime.store.audit.list() if e.action == "dlq.retry"]
    assert [(e.result, e.who_name) for e in refusals] == [("refused", "dashboard")]


def test_a_forged_csrf_token_changes_nothing(console: Console) -> None:
    client = console.sign_in(console.admin)
    before = console.runtime.store.audit.list()
    for data in ({"csrf": "0" * 64, "id": "analytics-address-updates:1"}, {"id": "x:1"}):
        answer = client.post("/console/dlq/retry", data=data)
        assert answer.status_code == 403
        assert "Form refused" in answer.text
        assert "nothing was changed" in answer.text
    assert console.runtime.store.audit.list() == before
    # Nor does sign-out happen without it.
    assert client.post("/console/sign-out", data={"csrf": "nope"}).status_code == 403
    assert client.get("/console/catalog").status_code == 200


def test_an_operator_retry_reaches_the_admin_function(console: Console) -> None:
    client = console.sign_in(console.operator)
    csrf = csrf_of(client.get("/console/subscriptions").text)
    bad = client.post("/console/dlq/retry", data={"csrf": csrf, "id": "not an id"})
    assert bad.status_code == 400
    assert "does not name a dead letter" in bad.text
    answer = client.post(
        "/console/dlq/retry", data={"csrf": csrf, "id": "analytics-address-updates:1"}
    )
    assert answer.status_code == 404  # no delivery in this process: the API's own answer
    assert "event mesh is not running" in answer.text
    [entry] = [e for e in console.runtime.store.audit.list() if e.action == "dlq.retry"]
    assert (entry.result, entry.who_name, entry.target) == (
        "failed",
        "oncall",
        "dlq/analytics-address-updates:1",
    )


def test_sign_out_ends_the_session_everywhere(console: Console) -> None:
    client = console.sign_in(console.admin)
    session_id = client.cookies[COOKIE]
    csrf = csrf_of(client.get("/console/catalog").text)
    out = client.post("/console/sign-out", data={"csrf": csrf})
    assert (out.status_code, out.headers["location"]) == (
        303,
        "/console/sign-in?reason=signed-out",
    )
    again = console.browser()
    again.cookies.set(COOKIE, session_id, path="/console")
    answer = again.get("/console/catalog")
    assert answer.headers["location"] == "/console/sign-in?reason=expired"
    message = console.browser().get("/console/sign-in?reason=signed-out")
    assert "You signed out." in message.text


def test_an_idle_session_expires(console: Console) -> None:
    client = console.sign_in(console.admin)
    old = console.runtime.store.db.now() - timedelta(seconds=1)
    with console.runtime.store.db.transaction() as session:
        session.execute(
            "UPDATE console_sessions SET idle_until = ?", (console.runtime.store.db.ts(old),)
        )
    answer = client.get("/console/catalog")
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/console/sign-in?reason=expired",
    )
    page = client.get(answer.headers["location"])
    assert "Your session expired. Sign in again." in page.text
    with console.runtime.store.db.session() as session:
        assert session.fetchall("SELECT id_hash FROM console_sessions") == []


def test_revoking_the_token_ends_its_sessions(console: Console) -> None:
    client = console.sign_in(console.viewer)
    assert client.get("/console/catalog").status_code == 200
    console.runtime.store.tokens.revoke(console.viewer_info.id)
    answer = client.get("/console/catalog")
    assert answer.headers["location"] == "/console/sign-in?reason=token"


def test_a_second_node_serves_the_same_session(console: Console, store_url: str) -> None:
    client = console.sign_in(console.admin)
    other = Runtime.open(ServeSettings(console.runtime.settings.estate_dir, store_url=store_url))
    try:
        node = TestClient(create_app(other), follow_redirects=False)
        node.cookies.set(COOKIE, client.cookies[COOKIE], path="/console")
        assert node.get("/console/audit").status_code == 200
    finally:
        other.close()


def test_unknown_pages_and_bad_parameters_are_pages(console: Console) -> None:
    client = console.sign_in(console.admin)
    missing = client.get("/console/nothing-here")
    assert missing.status_code == 404
    assert "No such page" in missing.text
    assert client.get("/console/runs", params={"flow": "", "status": ""}).status_code == 200
    bad = client.get("/console/runs", params={"status": "sideways"})
    assert bad.status_code == 400
    assert "status" in bad.text
    run = client.get("/console/runs/nosuchrun")
    assert run.status_code == 404
    assert "Traceback" not in run.text


def test_a_team_token_acts_only_on_its_teams_dead_letters(console: Console) -> None:
    store = console.runtime.store
    analytics, _ = store.tokens.create("operator", "bi-oncall", team="analytics")
    client = console.sign_in(analytics)
    csrf = csrf_of(client.get("/console/catalog").text)
    theirs = client.post(
        "/console/dlq/retry", data={"csrf": csrf, "id": "logistics-address-updates:1"}
    )
    assert theirs.status_code == 403
    assert (
        "Subscription/logistics-address-updates is owned by team logistics: a token of team "
        "analytics cannot dlq.retry it"
    ) in theirs.text
    ours = client.post(
        "/console/dlq/discard", data={"csrf": csrf, "id": "analytics-address-updates:1"}
    )
    assert ours.status_code == 404  # let through: no delivery runs in this process
    results = [(e.action, e.result) for e in store.audit.list() if e.action.startswith("dlq.")]
    assert results == [("dlq.retry", "refused"), ("dlq.discard", "failed")]


def test_monitors_page_shows_what_the_api_set(console: Console) -> None:
    api = TestClient(console.app)
    new = {"monitor": "customers-availability", "for": "2h", "reason": "CRM upgrade"}
    made = api.post(
        "/api/v1/alerts/silences", json=new, headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert made.status_code == 201, made.text
    page = console.sign_in(console.viewer).get("/console/monitors")
    assert page.status_code == 200
    silences = page.text.split('id="silences"')[1]
    assert "customers-availability" in silences
    assert "CRM upgrade" in silences
    assert "customers-availability" in page.text.split('id="monitors"')[1]


def test_a_dataplane_token_may_not_sign_in(console: Console) -> None:
    dataplane, _ = console.runtime.store.tokens.create("dataplane", "edge")
    client = console.browser()
    answer = console.submit_sign_in(client, dataplane)
    assert answer.status_code == 403
    assert "a dataplane token is for data-plane nodes" in answer.text
    assert COOKIE not in client.cookies
    [entry] = [e for e in console.runtime.store.audit.list() if e.action == "console.sign_in"]
    assert (entry.who_name, entry.result) == ("edge", "refused")


def test_run_buttons_check_csrf_then_role_then_the_runs_team(console: Console) -> None:
    store = console.runtime.store
    viewer = console.sign_in(console.viewer)
    csrf = csrf_of(viewer.get("/console/runs").text)
    assert viewer.post("/console/runs/r1/cancel", data={"csrf": "forged"}).status_code == 403
    refused = viewer.post("/console/runs/r1/cancel", data={"csrf": csrf})
    assert refused.status_code == 403
    assert "this needs the operator role" in refused.text
    finance, _ = store.tokens.create("operator", "fin-oncall", team="finance")
    team = console.sign_in(finance)
    csrf = csrf_of(team.get("/console/runs").text)
    unknown = team.post("/console/runs/nosuchrun/retry", data={"csrf": csrf})
    assert unknown.status_code == 403  # a run nobody owns: no team token acts on it
    assert "FlowRun/nosuchrun is owned by no team" in unknown.text
    admin = console.sign_in(console.admin)
    csrf = csrf_of(admin.get("/console/runs").text)
    missing = admin.post("/console/runs/nosuchrun/cancel", data={"csrf": csrf})
    assert missing.status_code == 404
    assert "Traceback" not in missing.text
    entries = [(e.action, e.result) for e in store.audit.list() if e.action.startswith("flow.")]
    assert entries == [
        ("flow.cancel", "refused"),
        ("flow.retry", "refused"),
        ("flow.cancel", "failed"),
    ]


def test_over_https_the_cookies_are_secure(console: Console) -> None:
    client = TestClient(console.app, base_url="https://testserver", follow_redirects=False)
    answer = console.submit_sign_in(client, console.viewer)
    assert answer.status_code == 303
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(COOKIE + "="))
    assert "Secure" in session
    assert client.get("/console/catalog").status_code == 200


def _silences(console: Console) -> list[Any]:
    book = console.runtime.store.alerts
    return list(book.silences(book.now()))


def test_an_operator_adds_and_lifts_a_silence_audited_as_the_api(console: Console) -> None:
    client = console.sign_in(console.operator)
    page = client.get("/console/monitors")
    assert '<form method="post" action="/console/silences"' in page.text
    assert '<label for="silence-reason">' in page.text
    csrf = csrf_of(page.text)
    form = {"csrf": csrf, "monitor": "customers-availability", "target": "", "for": "2h"}
    added = client.post("/console/silences", data={**form, "reason": "CRM upgrade"})
    assert added.status_code == 303, added.text
    [held] = _silences(console)
    assert added.headers["location"] == f"/console/monitors?done=silenced&silence={held.id}"
    assert (held.monitor, held.reason, held.created_by) == (
        "customers-availability",
        "CRM upgrade",
        "token:oncall",
    )
    shown = client.get(added.headers["location"]).text
    assert f"Silence {held.id} was added" in shown
    lift = f'action="/console/silences/{held.id}/lift"'
    assert lift in shown.split('id="silences"')[1]
    lifted = client.post(f"/console/silences/{held.id}/lift", data={"csrf": csrf})
    assert lifted.status_code == 303
    assert f"Silence {held.id} was lifted." in client.get(lifted.headers["location"]).text
    assert _silences(console) == []
    entries = [
        (e.action, e.result, e.who_name, e.target)
        for e in console.runtime.store.audit.list()
        if e.action.startswith("alert.")
    ]
    assert entries == [
        ("alert.silence", "ok", "oncall", "monitor/customers-availability"),
        ("alert.unsilence", "ok", "oncall", f"silence/{held.id}"),
    ]


def test_silence_forms_refuse_bad_input_viewers_and_other_teams(console: Console) -> None:
    store = console.runtime.store
    operator = console.sign_in(console.operator)
    csrf = csrf_of(operator.get("/console/monitors").text)
    for data, message in [
        ({"for": "2h", "reason": "x"}, "name a monitor or a target, one of them"),
        ({"monitor": "customers-availability", "for": "forever", "reason": "x"}, "for:"),
        ({"monitor": "customers-availability", "for": "2h", "reason": ""}, "reason:"),
        ({"monitor": "no-such-monitor", "for": "2h", "reason": "x"}, "no-such-monitor"),
    ]:
        bad = operator.post("/console/silences", data={"csrf": csrf, **data})
        assert bad.status_code in (400, 404), (data, bad.text)
        assert message in bad.text, (data, bad.text)
        assert "Traceback" not in bad.text
    assert operator.post("/console/silences/999999/lift", data={"csrf": csrf}).status_code == 404
    forged = {"csrf": "0" * 64, "monitor": "customers-availability", "for": "2h", "reason": "x"}
    assert operator.post("/console/silences", data=forged).status_code == 403
    assert _silences(console) == []

    viewer = console.sign_in(console.viewer)
    page = viewer.get("/console/monitors").text
    assert 'action="/console/silences"' not in page  # no form for a viewer
    form = {**forged, "csrf": csrf_of(page)}
    refused = viewer.post("/console/silences", data=form)
    assert refused.status_code == 403
    assert "this needs the operator role; the token has viewer" in refused.text

    analytics, _ = store.tokens.create("operator", "bi-oncall", team="analytics")
    team = console.sign_in(analytics)
    page = team.get("/console/monitors").text
    assert '<option value="addresses-fresh">' in page  # analytics' own monitor only
    assert '<option value="customers-availability">' not in page
    theirs = team.post("/console/silences", data={**form, "csrf": csrf_of(page)})
    assert theirs.status_code == 403
    assert "Monitor/customers-availability is owned by team sales" in theirs.text
    assert _silences(console) == []
    admin = console.sign_in(console.admin)
    made = admin.post(
        "/console/silences", data={**form, "csrf": csrf_of(admin.get("/console/monitors").text)}
    )
    [held] = _silences(console)
    assert made.status_code == 303
    shown = team.get("/console/monitors").text
    assert f'action="/console/silences/{held.id}/lift"' not in shown  # not analytics' to lift
    lift = team.post(f"/console/silences/{held.id}/lift", data={"csrf": csrf_of(shown)})
    assert lift.status_code == 403
    assert "Monitor/customers-availability is owned by team sales" in lift.text
    assert _silences(console) == [held]
    results = [(e.action, e.result) for e in store.audit.list() if e.action.startswith("alert.")]
    assert results == [
        ("alert.silence", "failed"),
        ("alert.unsilence", "failed"),
        ("alert.silence", "refused"),
        ("alert.silence", "refused"),
        ("alert.silence", "ok"),
        ("alert.unsilence", "refused"),
    ]


def test_products_page_shows_contracts_masking_and_the_latest_refresh(console: Console) -> None:
    from interlink.products.history import RefreshHistory, Violation

    history = RefreshHistory(console.runtime.store.db)
    now = console.runtime.store.db.now()
    history.record("orders", started_at=now, finished_at=now, outcome="ok", rows_total=3)
    broken = [Violation("nullable", "id", "2 null values"), Violation("rowCount", None, "0 rows")]
    history.record(
        "orders", started_at=now, finished_at=now, outcome="failed", error="x", violations=broken
    )
    history.record("customer-360", started_at=now, finished_at=now, outcome="ok", rows_total=7)
    assert sorted(history.latest()) == ["customer-360", "orders"]

    client = console.sign_in(console.viewer)
    page = client.get("/console/products")
    assert page.status_code == 200, page.text
    assert "<h1>Data products</h1>" in page.text
    assert 'href="/console/products" aria-current="page"' in page.text
    addresses = page.text.split('id="product-customer-addresses"')[1].split("</section>")[0]
    assert "virtual" in addresses
    assert "read from its source on each query" in addresses
    street = addresses.split("<code>street</code>")[1].split("</tr>")[0]
    assert '<span class="tag">PII</span>' in street
    assert "redact" in street
    assert "<code>updated_at</code>" in addresses
    orders = page.text.split('id="product-orders"')[1].split("</section>")[0]
    assert "2 broken contract rule(s)" in orders
    assert "2 null values" in orders
    assert "0 rows" in orders
    c360 = page.text.split('id="product-customer-360"')[1].split("</section>")[0]
    assert "7 rows" in c360
    assert "the last refresh kept the contract" in c360


def test_lineage_page_traces_a_subject_and_a_products_reads(console: Console) -> None:
    from datetime import UTC, datetime

    from interlink.store import Hop

    now = datetime.now(UTC)
    read = Hop("DataProduct", "customer-360", now, "read", "DataProduct/customer-360", "Route/c")
    console.runtime.store.lineage.record(
        [
            Hop("customer", "C000042", now, "published", "System/crm", "Event/e"),
            Hop("customer", "C000042", now, "delivered", "Subscription/s", "System/erp"),
            read._replace(detail="rows=3 unmasked=email masked=name:partial via=sql"),
        ]
    )
    client = console.sign_in(console.viewer)
    empty = client.get("/console/lineage")
    assert empty.status_code == 200
    assert "<h1>Lineage</h1>" in empty.text
    assert '<label for="key">Key</label>' in empty.text
    assert '<option value="customer">' in empty.text
    found = client.get("/console/lineage", params={"type": "customer", "key": "C000042"})
    assert found.status_code == 200, found.text
    trail = found.text.split('id="trail"')[1]
    assert "2 hop(s)" in trail
    assert trail.index("published") < trail.index("delivered") < trail.index("System/erp")
    reads = client.get("/console/lineage", params={"type": "DataProduct", "key": "customer-360"})
    assert "3 rows via sql; unmasked: email; masked: name (partial)" in reads.text
    nothing = client.get("/console/lineage", params={"type": "customer", "key": "C404"})
    assert "no record of customer C404" in nothing.text
    for params, status, message in [
        ({"type": "order", "key": "C1"}, 404, "no Event or DataProduct declares subject type"),
        ({"type": "customer", "key": "C000042", "since": "soon"}, 400, "soon"),
        ({"type": "customer", "key": " "}, 404, "non-empty key"),
    ]:
        bad = client.get("/console/lineage", params=params)
        assert bad.status_code == status, (params, bad.text)
        assert message in bad.text
        assert 'role="alert"' in bad.text
        assert '<form method="get" action="/console/lineage"' in bad.text  # to try again


def test_estate_map_draws_declared_and_observed_edges_and_filters(console: Console) -> None:
    from datetime import UTC, datetime, timedelta

    from interlink.store.connections import ObservedLink

    hour = datetime.now(UTC) - timedelta(hours=1)
    seen = ObservedLink(hour, "publish", "Consumer/mystery", "Event/order.placed", "events", 2)
    console.runtime.store.links.record([seen])
    client = console.sign_in(console.viewer)
    page = client.get("/console/map")
    assert page.status_code == 200, page.text
    assert "<h1>Estate map</h1>" in page.text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text
    assert 'role="group" aria-labelledby="map-title"' in page.text
    assert '<a href="/console/flows/order-saga">' in page.text  # a node leads to its page
    edges = page.text.split('id="edges"')[1]
    declared = "<td>System/crm</td><td>Api/customers-v1</td><td>exposes</td>"
    assert declared + '\n<td><span class="tag declared">declared</span>' in edges
    observed = "<td>Consumer/mystery</td><td>Event/order.placed</td><td>publish</td>"
    assert observed + '\n<td><span class="tag observed undeclared">' in edges
    assert "2 in the window" in edges
    assert '<path class="edge observed undeclared"' in page.text
    assert '<path class="edge declared"' in page.text

    sales = client.get("/console/map", params={"domain": "sales", "team": ""}).text
    assert "System/crm" in sales
    assert "Flow/order-saga" in sales  # no domain of its own: linked to a sales node
    logistics = client.get("/console/map", params={"team": "logistics"}).text
    assert "<td>System/crm</td><td>Api/customers-v1</td>" not in logistics
    nobody = client.get("/console/map", params={"team": "no-such-team"})
    assert nobody.status_code == 200
    assert "Nothing in the estate matches team no-such-team." in nobody.text
    bad = client.get("/console/map", params={"since": "never"})
    assert bad.status_code == 400
    assert "give a duration such as 1h, 24h or 7d" in bad.text
    assert "Traceback" not in bad.text
