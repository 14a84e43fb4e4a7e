"""The console's revisions: the list of estate revisions with what each changed, one revision's
diff to the one before it (added, removed and changed objects with their YAML), the audit
entries linked both ways, and a revision recorded without its files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.admin.console.revision_diff import objects_of
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.integration.test_console import Console

MOBILE_APP = """---
apiVersion: interlink/v1
kind: Consumer
metadata:
  name: mobile-app
  title: Retail mobile app
  owner: sales
spec:
  type: app
  plan: mobile
  scopes: [customers:read]
"""
KIOSK = """---
apiVersion: interlink/v1
kind: Consumer
metadata:
  name: kiosk
  owner: sales
spec:
  type: app
  plan: mobile
  scopes: [customers:read]
"""


@pytest.fixture
def console(retail_dir: Path, store_url: str) -> Iterator[Console]:
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def _second_revision(console: Console, estate: Path) -> int:
    """Change the estate (one System's description, a Consumer removed, one added) and reload
    it over the admin API, as an operator would; the new revision's id."""
    systems = estate / "systems" / "sales.yaml"
    text = systems.read_text()
    old = "The new customer-relationship system; the customers API is moving here."
    assert old in text
    systems.write_text(text.replace(old, "The customer-relationship system of record."))
    consumers = estate / "gateway" / "consumers.yaml"
    text = consumers.read_text()
    assert MOBILE_APP.removeprefix("---\n") in text
    consumers.write_text(text.replace(MOBILE_APP.removeprefix("---\n") + "---\n", "") + KIOSK)
    client = console.browser()
    answer = client.post(
        "/api/v1/estate/reload", headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] is True
    revision: int = answer.json()["revision"]["id"]
    return revision


def test_the_revisions_list_says_who_loaded_each_and_what_it_changed(
    console: Console, retail_dir: Path
) -> None:
    first = console.runtime.snapshot.revision
    assert first is not None
    second = _second_revision(console, retail_dir)
    client = console.sign_in(console.admin)
    page = client.get("/console/revisions")
    assert page.status_code == 200, page.text
    assert 'href="/console/revisions" aria-current="page">Revisions</a>' in page.text
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", page.text, re.S)
    assert f"Revision {second}</a>" in rows[0]  # newest first
    assert "running" in rows[0]
    assert "token:root" in rows[0]
    # 1 added, 1 removed and 1 changed object, as the cells after the object count say.
    assert re.search(r"<td>\d+</td>\s*<td>1</td><td>1</td><td>1</td>", rows[0]), rows[0]
    assert f"Revision {first.id}</a>" in rows[1]


def test_a_revision_shows_each_objects_diff_and_its_audit_entry(
    console: Console, retail_dir: Path
) -> None:
    second = _second_revision(console, retail_dir)
    client = console.sign_in(console.admin)
    page = client.get(f"/console/revisions/{second}")
    assert page.status_code == 200, page.text
    text = page.text
    assert f"<h1>Revision {second}</h1>" in text
    assert '<span class="tag changed">changed</span> System/crm' in text
    assert (
        "<del>-  description: The new customer-relationship system; the customers API is moving "
        "here.</del>" in text
    )
    assert "<ins>+  description: The customer-relationship system of record.</ins>" in text
    assert '<span class="tag added">added</span> Consumer/kiosk' in text
    assert "<ins>+  name: kiosk</ins>" in text
    assert '<span class="tag removed">removed</span> Consumer/mobile-app' in text
    assert "<del>-  title: Retail mobile app</del>" in text
    assert "System/crm-legacy" not in text  # unchanged objects are not listed

    entries = console.runtime.store.audit.list()
    [entry] = [e for e in entries if e.details.get("revision") == second]
    assert (entry.action, entry.who_name) == ("estate.reload", "root")
    assert f'<a href="/console/audit?after={entry.seq - 1}">Entry {entry.seq}</a>' in text
    audit = client.get("/console/audit")
    assert f'<a href="/console/revisions/{second}">revision {second}</a>' in audit.text


def test_a_viewer_sees_the_diff_but_not_the_audit_log(console: Console, retail_dir: Path) -> None:
    second = _second_revision(console, retail_dir)
    client = console.sign_in(console.viewer)
    page = client.get(f"/console/revisions/{second}")
    assert page.status_code == 200
    assert "Consumer/kiosk" in page.text
    assert "Entry " not in page.text
    assert '<a href="/console/audit">' not in page.text


def test_a_revision_without_its_files_lists_its_changes_by_name(console: Console) -> None:
    store = console.runtime.store
    latest = store.revisions.latest()
    assert latest is not None
    hashes = dict(latest.object_hashes)
    hashes["System/crm"] = "0" * 16
    del hashes["Consumer/webshop"]
    recorded = store.revisions.record("f" * 64, "ada@host", "test", {}, hashes, bundle=None)
    client = console.sign_in(console.admin)
    page = client.get(f"/console/revisions/{recorded.id}")
    assert page.status_code == 200, page.text
    assert "The store holds no files for this revision" in page.text
    assert "2 object(s) are listed by name" in page.text
    assert '<span class="tag changed">changed</span> System/crm' in page.text
    assert '<span class="tag removed">removed</span> Consumer/webshop' in page.text
    assert "<pre" not in page.text


def test_an_unknown_or_malformed_revision_is_a_page_saying_so(console: Console) -> None:
    client = console.sign_in(console.admin)
    missing = client.get("/console/revisions/999")
    assert missing.status_code == 404
    assert "revision 999 not found" in missing.text
    bad = client.get("/console/revisions/first")
    assert bad.status_code == 400
    assert "Traceback" not in bad.text
    older = client.get("/console/revisions?before=0")
    assert older.status_code == 400


def test_objects_are_read_from_a_revisions_files_with_secrets_masked() -> None:
    files = {
        "a.yaml": b"kind: System\nmetadata: {name: s}\nspec: {password: hunter2, "
        b"token: '${secret:t}'}\n---\nkind: Team\nmetadata: {name: t}\n",
        "contract.yaml": b"openapi: 3.1.0\n",
        "broken.yml": b"a: [\n",
        "data.csv": b"kind: System\n",
    }
    found = objects_of(files)
    assert sorted(found) == ["System/s", "Team/t"]
    assert "hunter2" not in found["System/s"]
    assert "password: '***'" in found["System/s"]
    assert "${secret:t}" in found["System/s"]  # a reference is shown as written
