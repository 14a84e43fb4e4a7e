"""The console's long lists at scale: the catalog's Systems, Apis and Events, the inventory and
the consumers, each paged on the server (50 rows, page links, the total) and searched by name
or owner, with the other parameters kept across pages and bad page numbers refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.integration.test_console import Console

SYSTEMS = 120
CONSUMERS = 260  # and the retail estate's 5
ROUTES = 70
TEAMS = ("sales", "logistics", "finance", "analytics")


def shown(first: int, last: int, total: int, what: str) -> str:
    """The count a list prints above its page links (an en dash between the rows)."""
    return f"{first}\u2013{last} of {total} {what}"


def _doc(kind: str, name: str, owner: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "interlink/v1",
        "kind": kind,
        "metadata": {"name": name, "owner": owner},
        "spec": spec,
    }


@pytest.fixture
def big(retail_dir: Path, store_url: str) -> Iterator[Console]:
    """The retail estate with 120 more Systems, 70 Routes and 260 Consumers."""
    docs = [
        _doc(
            "System",
            f"bulk-sys-{s:03d}",
            TEAMS[s % 4],
            {"domain": "bulk", "baseUrl": "http://127.0.0.1:9"},
        )
        for s in range(SYSTEMS)
    ]
    docs += [
        _doc(
            "Route",
            f"bulk-route-{r:03d}",
            TEAMS[r % 4],
            {"match": {"path": f"/bulk/r{r:03d}"}, "upstreams": [{"system": f"bulk-sys-{r:03d}"}]},
        )
        for r in range(ROUTES)
    ]
    docs += [
        _doc(
            "Consumer",
            f"bulk-consumer-{c:04d}",
            TEAMS[c % 4],
            {"type": "partner", "plan": "partner" if c % 2 else "mobile"},
        )
        for c in range(CONSUMERS)
    ]
    (retail_dir / "bulk.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def _page_links(html: str, what: str) -> list[str]:
    nav = html.split(f'<nav class="pager" aria-label="Pages of {what}">', 1)[1].split(
        "</nav>", maxsplit=1
    )[0]
    return [re.sub(r"<[^>]+>", "", a) for a in re.findall(r"<a .*?</a>", nav)]


def test_consumers_are_paged_fifty_at_a_time_with_the_total(big: Console) -> None:
    client = big.sign_in(big.viewer)
    first = client.get("/console/consumers")
    assert first.status_code == 200, first.text
    assert len(_rows(first.text)) == 50
    assert shown(1, 50, 265, "Consumers") in first.text
    assert _page_links(first.text, "Consumers") == [
        "Page 1", "Page 2", "Page 3", "Page 6", "Next page"
    ]  # fmt: skip
    assert 'href="/console/consumers?page=2" rel="next"' in first.text
    last = client.get("/console/consumers?page=6")
    assert len(_rows(last.text)) == 15
    assert shown(251, 265, 265, "Consumers") in last.text
    assert _page_links(last.text, "Consumers")[0] == "Previous page"
    past = client.get("/console/consumers?page=40")  # past the end: the last page
    assert shown(251, 265, 265, "Consumers") in past.text
    assert 'href="/console/consumers" aria-current="page">Consumers</a>' in first.text


def test_consumers_are_searched_by_name_owner_or_plan(big: Console) -> None:
    client = big.sign_in(big.viewer)
    one = client.get("/console/consumers", params={"q": "bulk-consumer-0007"})
    [row] = _rows(one.text)
    assert all(word in row for word in ("bulk-consumer-0007", "partner", "analytics"))
    owned = client.get("/console/consumers", params={"q": "bulk logistics partner"})
    assert shown(1, 50, 65, "Consumers") in owned.text  # odd numbers owned by logistics
    assert 'href="/console/consumers?q=bulk+logistics+partner&amp;page=2"' in owned.text
    none = client.get("/console/consumers", params={"q": "nobody-at-all"})
    assert "No Consumer matches." in none.text
    assert "No Consumers to show." in none.text


def test_consumers_show_credential_kinds_never_keys(big: Console) -> None:
    plaintext, _ = big.runtime.store.consumer_keys.create("bulk-consumer-0003", "primary")
    revoked, info = big.runtime.store.consumer_keys.create("bulk-consumer-0003", "old")
    big.runtime.store.consumer_keys.revoke(info.id)
    admin = big.sign_in(big.admin).get("/console/consumers", params={"q": "bulk-consumer-0003"})
    [row] = _rows(admin.text)
    assert "API key \u00d7 1" in row  # the revoked one is not counted
    assert plaintext not in admin.text
    assert revoked not in admin.text
    viewer = big.sign_in(big.viewer).get("/console/consumers", params={"q": "bulk-consumer-0003"})
    assert "API key" not in viewer.text  # keys are listed to admins only


def test_the_catalog_pages_each_list_and_keeps_the_others_place(big: Console) -> None:
    client = big.sign_in(big.viewer)
    page = client.get("/console/catalog", params={"apis_page": 1, "systems_page": 2})
    assert page.status_code == 200, page.text
    systems = page.text.split('<h2 id="systems">')[1].split('<h2 id="apis">')[0]
    assert shown(51, 100, 130, "Systems") in systems  # and the retail estate's 10
    assert len(_rows(systems)) == 50
    assert 'href="/console/catalog?apis_page=1&amp;systems_page=3" rel="next"' in systems
    assert "Pages of Apis" not in page.text  # one page: no links
    searched = client.get("/console/catalog", params={"q": "bulk-sys-01"})
    assert shown(1, 10, 10, "Systems") in searched.text
    assert "No Api matches." in searched.text
    by_owner = client.get("/console/catalog", params={"q": "analytics"})
    assert "bulk-sys-003" in by_owner.text
    assert "bulk-sys-004" not in by_owner.text


def test_the_inventory_is_paged_and_its_csv_holds_every_matching_row(big: Console) -> None:
    client = big.sign_in(big.viewer)
    page = client.get("/console/inventory", params={"q": "bulk-route", "page": 2})
    assert page.status_code == 200, page.text
    assert shown(51, 70, 70, "connections") in page.text
    assert len(_rows(page.text)) == 20
    assert "Download these 70 rows as CSV" in page.text
    csv = client.get("/console/inventory.csv", params={"q": "bulk-route", "page": 2})
    assert len(csv.text.strip().splitlines()) == 1 + 70
    typed = client.get(
        "/console/inventory", params={"q": "bulk-route"}, headers={"HX-Target": "inventory-rows"}
    )
    assert typed.text.startswith('<div id="inventory-rows">')  # the rows and their page links
    assert shown(1, 50, 70, "connections") in typed.text


@pytest.mark.parametrize("query", ["page=0", "page=x", "page=99999999"])
def test_a_bad_page_number_is_a_page_saying_so(big: Console, query: str) -> None:
    answer = big.sign_in(big.viewer).get(f"/console/consumers?{query}")
    assert answer.status_code == 400
    assert "page" in answer.text
    assert "Traceback" not in answer.text
