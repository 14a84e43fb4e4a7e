"""One-time console sign-in links on SQLite and PostgreSQL: only the code's hash kept, a code
used once (and by exactly one of several nodes opening it at once), expired after ten minutes,
exchanged for a session like a token's sign-in, and minted by `interlink console link`."""

from __future__ import annotations

import re
import threading
import warnings
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from interlink.admin.app import create_app
from interlink.admin.console.session import COOKIE
from interlink.admin.console.sign_in_link import link_address
from interlink.cli.main import cli
from interlink.errors import AuthError, ConfigError
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from interlink.store import LINK_LIFETIME, LinkRefused, Store
from interlink.store.console_links import code_digest
from tests.integration.test_console import CSRF, Console, console  # noqa: F401
from tests.integration.test_store import (  # noqa: F401
    FakeClock,
    StoreFactory,
    clock,
    open_stores,
    store,
)

with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def link_rows(store: Store) -> list[tuple[str, str]]:  # noqa: F811 - the fixture's name
    with store.db.session() as session:
        rows = session.fetchall("SELECT code_hash, token_id FROM console_links")
    return [(str(r[0]), str(r[1])) for r in rows]


def test_a_code_keeps_only_its_hash_and_works_once(store: Store) -> None:  # noqa: F811
    _, token = store.tokens.create("viewer", "ada")
    code = store.console_links.mint(token.id)
    assert len(code) >= 43
    assert link_rows(store) == [(code_digest(code), token.id)]
    assert store.console_links.consume(code) == token.id
    assert link_rows(store) == []
    with pytest.raises(LinkRefused, match="unknown or was used already"):
        store.console_links.consume(code)
    with pytest.raises(LinkRefused, match="unknown or was used already"):
        store.console_links.consume("not-a-code")


def test_a_code_expires_after_ten_minutes(
    store: Store,  # noqa: F811 - the fixture
    clock: FakeClock,  # noqa: F811 - the fixture
) -> None:
    _, token = store.tokens.create("viewer", "ada")
    kept = store.console_links.mint(token.id)
    late = store.console_links.mint(token.id)
    clock.advance(LINK_LIFETIME.total_seconds() - 1)
    assert store.console_links.consume(kept) == token.id
    clock.advance(1)
    with pytest.raises(LinkRefused, match="has expired"):
        store.console_links.consume(late)
    assert link_rows(store) == []  # an expired code is gone once tried
    unused = store.console_links.mint(token.id)
    clock.advance(LINK_LIFETIME.total_seconds())
    store.console_links.mint(token.id)  # removes the expired ones
    assert code_digest(unused) not in dict(link_rows(store))


def race(nodes: list[Store], code: str) -> tuple[list[str], list[str]]:
    """``code`` used by every node at the same moment: the token ids won, the refusals."""
    start = threading.Barrier(len(nodes))
    won: list[str] = []
    refused: list[str] = []

    def open_link(node: Store) -> None:
        start.wait()
        try:
            won.append(node.console_links.consume(code))
        except LinkRefused as exc:
            refused.append(exc.message)

    threads = [threading.Thread(target=open_link, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, refused


def test_one_of_several_nodes_opening_a_link_at_once_wins(
    open_stores: StoreFactory,  # noqa: F811 - the fixture
) -> None:
    nodes = [open_stores() for _ in range(6)]  # a store each, as each node has its own
    nodes[0].migrate()
    _, token = nodes[0].tokens.create("operator", "oncall")
    for _ in range(5):  # several rounds: a lucky interleaving cannot pass by chance alone
        won, refused = race(nodes, nodes[0].console_links.mint(token.id))
        assert won == [token.id]
        assert len(refused) == len(nodes) - 1


def link_of(console: Console, token: str) -> str:  # noqa: F811 - the fixture's name
    info = console.runtime.store.tokens.check(token)
    return link_address("http://testserver", console.runtime.store.console_links.mint(info.id))


def open_link(client: TestClient, link: str) -> tuple[str, object]:
    """The link's page and the answer to pressing its button."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    nonce = CSRF.search(page.text)
    assert nonce is not None
    code = parse_qs(urlsplit(link).query)["code"][0]
    assert f'name="code" value="{code}"' in page.text
    return page.text, client.post(
        "/console/sign-in/link", data={"csrf": nonce.group(1), "code": code}
    )


def test_a_link_signs_in_once(console: Console) -> None:  # noqa: F811 - the fixture
    link = link_of(console, console.operator)
    preview = console.browser()
    preview.get(link)
    preview.get(link)
    assert COOKIE not in preview.cookies  # opening the link alone signs nobody in, uses nothing
    client = console.browser()
    page, answer = open_link(client, link)
    assert "one-time link" in page
    assert answer.status_code == 303, answer.text  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/console/"  # type: ignore[attr-defined]
    assert client.get("/console/subscriptions").status_code == 200
    [entry] = [e for e in console.runtime.store.audit.list() if e.action == "console.sign_in"]
    assert (entry.who_name, entry.result, entry.details) == ("oncall", "ok", {"by": "link"})

    again = console.browser()
    _, second = open_link(again, link)
    assert second.status_code == 303  # type: ignore[attr-defined]
    assert second.headers["location"] == "/console/sign-in?reason=link"  # type: ignore[attr-defined]
    assert COOKIE not in again.cookies
    refused = again.get("/console/sign-in?reason=link")
    assert "This sign-in link is unknown, used already or expired." in refused.text


def test_an_expired_or_unknown_link_leads_to_the_sign_in_page(
    console: Console,  # noqa: F811 - the fixture
) -> None:
    link = link_of(console, console.admin)
    db = console.runtime.store.db
    with db.session() as session:
        past = db.ts(db.now() - timedelta(seconds=1))
        session.execute("UPDATE console_links SET expires_at = ?", (past,))
    client = console.browser()
    _, answer = open_link(client, link)
    assert answer.headers["location"] == "/console/sign-in?reason=link"  # type: ignore[attr-defined]
    _, unknown = open_link(client, link_address("http://testserver", "no-such-code"))
    assert unknown.headers["location"] == "/console/sign-in?reason=link"  # type: ignore[attr-defined]
    bare = client.get("/console/sign-in/link")
    assert (bare.status_code, bare.headers["location"]) == (303, "/console/sign-in?reason=link")
    assert COOKIE not in client.cookies


def test_a_link_of_a_token_revoked_since_signs_nobody_in(
    console: Console,  # noqa: F811 - the fixture
) -> None:
    link = link_of(console, console.viewer)
    console.runtime.store.tokens.revoke(console.viewer_info.id)
    client = console.browser()
    _, answer = open_link(client, link)
    assert answer.headers["location"] == "/console/sign-in?reason=link"  # type: ignore[attr-defined]
    assert COOKIE not in client.cookies


def test_the_cli_mints_a_link_for_the_token_given(
    console: Console,  # noqa: F811 - the fixture
    retail_dir: Path,
) -> None:
    store_url = console.runtime.settings.store_url
    assert store_url is not None
    runner = CliRunner()
    args = ["console", "link", "--estate", str(retail_dir), "--store-url", store_url]
    result = runner.invoke(cli, args, env={"INTERLINK_TOKEN": console.viewer})
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8081/console/sign-in/link\?code=[\w-]{43}", link)
    assert "signs in as dashboard (viewer)" in result.stderr
    assert console.viewer not in result.output  # the token is never in the link
    [entry] = [e for e in console.runtime.store.audit.list() if e.action == "console.link"]
    assert (entry.who_name, entry.target) == ("dashboard", f"token/{console.viewer_info.id}")

    client = console.browser()
    _, answer = open_link(client, link.replace("http://127.0.0.1:8081", "http://testserver"))
    assert answer.headers["location"] == "/console/"  # type: ignore[attr-defined]

    given = runner.invoke(
        cli, [*args, "--admin", "https://admin.example.com/", "--token", console.admin]
    )
    assert given.stdout.startswith("https://admin.example.com/console/sign-in/link?code=")

    # Refusals are InterlinkErrors: `interlink` prints them as one line (cli/main.py).
    bad = runner.invoke(cli, [*args, "--token", "il_nosuchid_" + "x" * 43])
    assert isinstance(bad.exception, AuthError)
    assert bad.exception.message == "the token is unknown or revoked"
    node, _ = console.runtime.store.tokens.create("dataplane", "edge")
    refused = runner.invoke(cli, [*args, "--token", node])
    assert isinstance(refused.exception, ConfigError)
    assert "a dataplane token cannot sign in to the console" in refused.exception.message
    assert len(link_rows(console.runtime.store)) == 1  # the one given --admin, not used


def test_two_nodes_pressing_sign_in_on_one_link_at_once_open_one_session(
    console: Console,  # noqa: F811 - the fixture
    retail_dir: Path,
) -> None:
    settings = ServeSettings(retail_dir, store_url=console.runtime.settings.store_url)
    other = Runtime.open(settings)  # a second node on the same store
    try:
        apps = [console.app, create_app(other)] * 2
        link = link_of(console, console.admin)
        code = parse_qs(urlsplit(link).query)["code"][0]
        browsers = [TestClient(app, follow_redirects=False) for app in apps]
        forms = []
        for browser in browsers:  # each opens the link: the page alone uses nothing
            page = browser.get(link)
            nonce = CSRF.search(page.text)
            assert nonce is not None
            forms.append({"csrf": nonce.group(1), "code": code})
        start = threading.Barrier(len(browsers))
        places: list[str] = []

        def press(browser: TestClient, form: dict[str, str]) -> None:
            start.wait()
            places.append(browser.post("/console/sign-in/link", data=form).headers["location"])

        threads = [
            threading.Thread(target=press, args=pair) for pair in zip(browsers, forms, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(places) == ["/console/"] + ["/console/sign-in?reason=link"] * 3
        assert sum(COOKIE in browser.cookies for browser in browsers) == 1
    finally:
        other.close()
