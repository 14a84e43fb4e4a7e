"""The limit on failed console sign-ins per client address, counted in the store: past ten a
minute every node answers 429 with Retry-After, whatever the form holds, until the minute is
over; other addresses are not affected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.admin.app import create_app
from interlink.admin.console.session import COOKIE
from interlink.admin.console.sign_in import MAX_FAILURES
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import Store
from interlink.store.sign_in_failures import WINDOW
from tests.integration.test_console import CSRF, Console, console  # noqa: F401
from tests.integration.test_store import FakeClock, clock, open_stores, store  # noqa: F401

WRONG = "il_nosuchid_" + "x" * 43


def test_failures_are_counted_per_client_and_window(
    store: Store,  # noqa: F811 - the fixture
    clock: FakeClock,  # noqa: F811 - the fixture
) -> None:
    failures = store.sign_in_failures
    clock.advance(-clock.now.timestamp() % 60 + 15)  # 15 s into a window
    for n in range(1, 4):
        assert failures.retry_after("10.0.0.1", 3) is None
        assert failures.record("10.0.0.1") == n
    assert failures.retry_after("10.0.0.1", 3) == 45
    assert failures.retry_after("10.0.0.2", 3) is None
    clock.advance(44.5)
    assert failures.retry_after("10.0.0.1", 3) == 1
    clock.advance(0.5)  # the next window
    assert failures.retry_after("10.0.0.1", 3) is None
    assert failures.record("10.0.0.1") == 1


@pytest.fixture
def second_node(retail_dir: Path, console: Console) -> Iterator[Console]:  # noqa: F811
    """Another node on the same store."""
    settings = ServeSettings(retail_dir, store_url=console.runtime.settings.store_url)
    runtime = Runtime.open(settings)
    node = Console.__new__(Console)
    node.runtime, node.app = runtime, create_app(runtime)
    node.admin = console.admin
    yield node
    runtime.close()


def test_too_many_failures_are_refused_on_every_node(
    console: Console,  # noqa: F811 - the fixture
    second_node: Console,
) -> None:
    client = console.browser()
    for _ in range(MAX_FAILURES):
        assert console.submit_sign_in(client, WRONG).status_code == 401
    refused = console.submit_sign_in(client, console.admin)  # even the right token, for now
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins from your address: at most 10 a minute." in refused.text
    assert COOKIE not in client.cookies

    other = second_node.browser()
    assert second_node.submit_sign_in(other, console.admin).status_code == 429

    # Unknown tokens are not audit entries (anyone could fill the log), as before the limit.
    assert [e for e in console.runtime.store.audit.list() if e.action == "console.sign_in"] == []
    with console.runtime.store.db.session() as session:
        rows = session.fetchall("SELECT client, failures FROM console_sign_in_failures")
    assert [tuple(r) for r in rows] == [("testclient", MAX_FAILURES)]


def test_the_count_ends_with_its_window(
    console: Console,  # noqa: F811 - the fixture
) -> None:
    client = console.browser()
    for _ in range(MAX_FAILURES):
        console.submit_sign_in(client, WRONG)
    db = console.runtime.store.db
    with db.transaction() as session:  # as if the minute had passed
        # Each window two back, one by one: failures that straddled a minute are two rows.
        for address, start in session.fetchall(
            "SELECT client, window_start FROM console_sign_in_failures ORDER BY window_start"
        ):
            session.execute(
                "UPDATE console_sign_in_failures SET window_start = ? "
                "WHERE client = ? AND window_start = ?",
                (db.ts(db.dt(start) - 2 * WINDOW), address, start),
            )
    assert console.submit_sign_in(client, console.admin).status_code == 303


def test_unusable_links_and_dataplane_tokens_count_too(
    console: Console,  # noqa: F811 - the fixture
) -> None:
    node, _ = console.runtime.store.tokens.create("dataplane", "edge")
    client = console.browser()
    for _ in range(MAX_FAILURES // 2):
        assert console.submit_sign_in(client, node).status_code == 403
    for n in range(MAX_FAILURES - MAX_FAILURES // 2):
        page = client.get(f"/console/sign-in/link?code=guess-{n}")
        nonce = CSRF.search(page.text)
        assert nonce is not None
        used = client.post("/console/sign-in/link", data={"csrf": nonce.group(1), "code": "x"})
        assert used.headers["location"] == "/console/sign-in?reason=link"
    page = client.get("/console/sign-in/link?code=one-more")
    nonce = CSRF.search(page.text)
    assert nonce is not None
    refused = client.post("/console/sign-in/link", data={"csrf": nonce.group(1), "code": "x"})
    assert refused.status_code == 429
    assert "retry-after" in refused.headers
    # A known token's refusal is in the audit log, as before the limit.
    refusals = [e for e in console.runtime.store.audit.list() if e.action == "console.sign_in"]
    assert [e.result for e in refusals] == ["refused"] * (MAX_FAILURES // 2)
