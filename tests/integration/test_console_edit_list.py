"""The editor's list of the estate's objects over a real runtime: fifty to a page in kind
order then by name, searched by name, narrowed to a kind, and bad input answered clearly."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.integration.test_console import Console
from tests.integration.test_console_paging import shown

CONSUMERS = 120
ROW = re.compile(r'<tr><td>(\w+)</td><th scope="row"><a href="/console/edit/(\w+)/([\w-]+)"')


def _doc(kind: str, name: str, spec: dict[str, object]) -> str:
    meta = {"name": name} if kind == "Team" else {"name": name, "owner": "team"}
    return json.dumps({"apiVersion": "interlink/v1", "kind": kind, "metadata": meta, "spec": spec})


@pytest.fixture
def console(tmp_path: Path, store_url: str) -> Iterator[Console]:
    docs = [
        _doc("Platform", "test", {}),
        _doc("Team", "team", {}),
        _doc("Plan", "gold", {}),
        _doc("Plan", "free", {}),
        *(_doc("Consumer", f"c-{i:03d}", {"plan": "gold"}) for i in range(CONSUMERS)),
    ]
    (tmp_path / "estate.yaml").write_text("\n---\n".join(docs) + "\n", encoding="utf-8")
    runtime = Runtime.open(ServeSettings(tmp_path, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def test_the_objects_are_paged_searched_and_narrowed_to_a_kind(console: Console) -> None:
    client = console.sign_in(console.viewer)
    total = CONSUMERS + 4
    first = client.get("/console/edit").text
    rows = ROW.findall(first)
    assert len(rows) == 50
    assert [r[2] for r in rows[:4]] == ["test", "team", "free", "gold"]  # kind order, then name
    assert all(kind == link for kind, link, _ in rows)
    assert rows[4][2] == "c-000"
    assert shown(1, 50, total, "objects") in first
    assert 'href="/console/edit?page=2" rel="next"' in first
    assert 'href="/console/edit/new/Consumer"' in first  # the new-object links stay

    last = client.get("/console/edit", params={"page": 99}).text  # past the end: the last
    assert [r[2] for r in ROW.findall(last)] == [f"c-{i:03d}" for i in range(96, CONSUMERS)]
    assert shown(101, total, total, "objects") in last

    found = client.get("/console/edit", params={"q": "C-11"}).text
    assert [r[2] for r in ROW.findall(found)] == [f"c-{i}" for i in range(110, 120)]
    plans = client.get("/console/edit", params={"kind": "Plan"}).text
    assert [r[1:] for r in ROW.findall(plans)] == [("Plan", "free"), ("Plan", "gold")]
    assert '<option value="Plan" selected>' in plans
    nothing = client.get("/console/edit", params={"q": "gold", "kind": "Consumer"}).text
    assert "No object matches." in nothing
    assert "No objects to show." in nothing


def test_bad_input_is_answered_clearly(console: Console) -> None:
    client = console.sign_in(console.viewer)
    kind = client.get("/console/edit", params={"kind": "Robot"})
    assert kind.status_code == 400
    assert "no kind &#39;Robot&#39; to list" in kind.text
    for params in ({"page": "0"}, {"q": "x" * 201}, {"kind": "k" * 41}):
        bad = client.get("/console/edit", params=params)
        assert bad.status_code == 400, params
        assert "Traceback" not in bad.text
