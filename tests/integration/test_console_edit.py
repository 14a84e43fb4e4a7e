"""The console's editor over a real runtime on a copy of the retail estate: forms drawn from the
schema, the findings of `check` as typed, the file to download, and writing it into the estate
directory only when the Platform allows it, audited, never with errors, never half-written."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings
from tests.integration.test_console import Console

WRITE_ON = "spec:\n  console:\n    writeEstate: true\n"


def _allow_writes(estate: Path, *, git: bool = False) -> None:
    platform = estate / "platform.yaml"
    setting = WRITE_ON + ("    gitChanges: true\n" if git else "")
    text = platform.read_text(encoding="utf-8")
    platform.write_text(text.replace("spec:\n", setting, 1), encoding="utf-8")


def _crm_form(console: Console, button: str) -> tuple[Any, dict[str, str], str]:
    """An admin's browser on System crm's form (offering ``button``), and its file's text."""
    client = console.sign_in(console.admin)
    page = client.get("/console/edit/System/crm")
    assert button in page.text
    form = _fields(page.text)
    return client, form, (console.runtime.settings.estate_dir / form["file"]).read_text()


@pytest.fixture
def writable(retail_dir: Path, store_url: str) -> Iterator[Console]:
    _allow_writes(retail_dir)
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


@pytest.fixture
def read_only(retail_dir: Path, store_url: str) -> Iterator[Console]:
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def _fields(page: str) -> dict[str, str]:
    """The hidden and prefilled inputs of the edit form, as a browser would post them."""
    out = dict(re.findall(r'<input[^>]*name="([^"]+)" value="([^"]*)"', page))
    for name, selected in re.findall(
        r'<select[^>]*name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
        page,
        re.S,
    ):
        out[name] = selected
    out.update(re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', page))
    return {
        k: v.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
        for k, v in out.items()
    }


def test_the_edit_page_lists_every_kind_and_the_estates_objects(read_only: Console) -> None:
    client = read_only.sign_in(read_only.viewer)
    page = client.get("/console/edit")
    assert page.status_code == 200
    assert 'href="/console/edit"' in page.text  # in the navigation
    for kind in ("System", "Api", "Flow", "Platform", "Policy"):
        assert f'href="/console/edit/new/{kind}"' in page.text
    assert 'href="/console/edit/System/crm"' in page.text
    catalog = client.get("/console/catalog")
    assert 'href="/console/edit/System/crm"' in catalog.text


def test_a_new_system_shows_checks_findings_then_downloads(read_only: Console) -> None:
    client = read_only.sign_in(read_only.viewer)
    page = client.get("/console/edit/new/System")
    assert page.status_code == 200
    assert 'name="f:spec.domain"' in page.text
    assert 'name="f:spec.criticality"' in page.text  # an enum: a select
    assert "Write it into the estate directory" not in page.text  # turned off here
    form = {
        **_fields(page.text),
        "f:metadata.name": "warehouse",
        "f:metadata.owner": "nobody-team",
        "f:spec.domain": "carriers",
        "f:spec.baseUrl": "https://warehouse.example",
    }
    preview = client.post("/console/edit/preview", data=form)
    assert preview.status_code == 200
    assert "systems/warehouse.yaml" in preview.text
    assert "systems/warehouse.yaml:" in preview.text  # a finding there, file:line
    assert "Team/nobody-team, which does not exist" in preview.text

    form["f:metadata.owner"] = "sales"
    download = client.post("/console/edit/submit", data={**form, "do": "download"})
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="warehouse.yaml"'
    assert download.headers["x-estate-path"] == "systems/warehouse.yaml"
    made = yaml.safe_load(download.text)
    assert made["kind"] == "System"
    assert made["metadata"] == {"name": "warehouse", "owner": "sales"}
    assert made["spec"]["baseUrl"] == "https://warehouse.example"
    assert not (read_only.runtime.settings.estate_dir / "systems/warehouse.yaml").exists()


def test_editing_keeps_the_files_other_documents_and_shows_the_finding(
    read_only: Console,
) -> None:
    client = read_only.sign_in(read_only.viewer)
    page = client.get("/console/edit/Api/customers-v2")
    assert page.status_code == 200
    form = _fields(page.text)
    assert form["f:metadata.name"] == "customers-v2"
    assert form["f:spec.system"] == "crm"
    assert form["file"] == "apis.yaml"
    form["f:spec.system"] = "crmm"
    preview = client.post("/console/edit/preview", data=form)
    assert "Api/customers-v2 refers to System/crmm, which does not exist" in preview.text
    assert re.search(r"<code>apis\.yaml:\d+</code> error", preview.text)
    download = client.post("/console/edit/submit", data={**form, "do": "download"})
    docs = list(yaml.safe_load_all(download.text))
    assert [d["metadata"]["name"] for d in docs] == ["customers-v1", "customers-v2"]
    assert docs[1]["spec"]["system"] == "crmm"
    original = (read_only.runtime.settings.estate_dir / "apis.yaml").read_text()
    assert download.text.startswith(original[: original.index("---")])  # v1 as written


def test_invalid_values_are_said_beside_their_fields_and_nothing_is_made(
    writable: Console,
) -> None:
    client = writable.sign_in(writable.admin)
    page = client.get("/console/edit/new/System")
    form = {
        **_fields(page.text),
        "f:metadata.name": "Not A Name",
        "f:spec.domain": "x",
        "f:spec.tls.verify": "maybe",
        "f:spec.connector": "postgresql",
    }
    answer = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert answer.status_code == 400
    assert 'id="field-metadata-name-error"' in answer.text
    assert "choose true or false" in answer.text
    assert "nothing was made" in answer.text
    assert not list((writable.runtime.settings.estate_dir / "systems").glob("not*"))
    # The connector's own fields, drawn from its spec; a secret takes only a reference.
    again = client.post("/console/edit/submit", data={**form, "do": "refresh"})
    assert 'name="f:spec.connection.host"' in again.text
    form = {
        **_fields(again.text),
        "f:metadata.name": "stock-db",
        "f:spec.connection.password": "hunter2",
    }
    answer = client.post("/console/edit/submit", data={**form, "do": "download"})
    assert answer.status_code == 400
    assert "a secret is given as a reference" in answer.text
    assert "hunter2" not in answer.text.replace('value="hunter2"', "")


def test_writing_is_audited_and_refused_with_errors(writable: Console) -> None:
    estate = writable.runtime.settings.estate_dir
    client, form, before = _crm_form(writable, "Write it into the estate directory")

    form["f:metadata.owner"] = "no-such-team"
    refused = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert refused.status_code == 422
    assert "nothing was written" in refused.text
    assert (estate / form["file"]).read_text() == before
    failed = [e for e in writable.runtime.store.audit.list() if e.action == "estate.write"]
    assert [(e.result, e.target) for e in failed] == [("failed", f"file/{form['file']}")]

    form["f:metadata.owner"] = "platform"
    written = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert written.status_code == 303, written.text
    assert written.headers["location"] == "/console/edit/System/crm?done=written"
    after = (estate / form["file"]).read_text()
    assert [
        d["metadata"]["owner"] for d in yaml.safe_load_all(after) if d["metadata"]["name"] == "crm"
    ] == ["platform"]
    assert not list(estate.rglob(".*.tmp"))  # no temporary file left behind
    entries = [e for e in writable.runtime.store.audit.list() if e.action == "estate.write"]
    assert (entries[-1].result, entries[-1].who_name) == ("ok", "root")

    # The form as opened before the write is stale now: refused, nothing lost.
    stale = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert stale.status_code == 409
    assert "changed since it was opened" in stale.text


def test_writing_is_refused_while_turned_off(read_only: Console) -> None:
    client = read_only.sign_in(read_only.admin)
    form = _fields(client.get("/console/edit/System/crm").text)
    before = (read_only.runtime.settings.estate_dir / form["file"]).read_text()
    form["f:metadata.description"] = "changed"
    off = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert off.status_code == 409
    assert "writeEstate" in off.text
    assert (read_only.runtime.settings.estate_dir / form["file"]).read_text() == before


def test_writing_needs_the_role_and_the_csrf_token(writable: Console) -> None:
    operator = writable.sign_in(writable.operator)
    page = operator.get("/console/edit/System/crm")
    assert "Write it into the estate directory" not in page.text
    form = _fields(page.text)
    form["f:metadata.description"] = "changed by an operator"
    estate = writable.runtime.settings.estate_dir
    before = (estate / form["file"]).read_text()
    refused = operator.post("/console/edit/submit", data={**form, "do": "write"})
    assert refused.status_code == 403
    assert (estate / form["file"]).read_text() == before
    [entry] = [e for e in writable.runtime.store.audit.list() if e.action == "estate.write"]
    assert entry.result == "refused"

    forged = operator.post("/console/edit/submit", data={**form, "csrf": "forged", "do": "write"})
    assert forged.status_code == 403
    assert "security token does not match" in forged.text
    assert (estate / form["file"]).read_text() == before
    assert len([e for e in writable.runtime.store.audit.list() if e.action == "estate.write"]) == 1


def test_the_api_writes_the_same_way(writable: Console) -> None:
    api = writable.browser()
    estate = writable.runtime.settings.estate_dir
    auth = {"Authorization": f"Bearer {writable.admin}", "Content-Type": "application/yaml"}
    team = "apiVersion: interlink/v1\nkind: Team\nmetadata: {name: carriers}\n"
    put = api.put(
        "/api/v1/estate/files", params={"path": "teams/carriers.yaml"}, content=team, headers=auth
    )
    assert put.status_code == 200, put.text
    assert (estate / "teams/carriers.yaml").read_text() == team
    assert put.json()["sha256"]

    broken = team.replace("carriers}", "carriers, owner: nobody}")
    bad = api.put(
        "/api/v1/estate/files",
        params={"path": "teams/carriers.yaml"},
        content=broken,
        headers=auth,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert any("Team/nobody" in e["message"] for e in bad.json()["errors"])
    stale = api.put(
        "/api/v1/estate/files",
        params={"path": "teams/carriers.yaml"},
        content=team,
        headers={**auth, "If-Match": '"0000"'},
    )
    assert stale.status_code == 409
    for path in ("../outside.yaml", "/etc/x.yaml", ".git/config.yaml", "systems/x.txt"):
        refused = api.put("/api/v1/estate/files", params={"path": path}, content=team, headers=auth)
        assert refused.status_code == 400, path
    outside = estate.parent / "outside"
    outside.mkdir()
    (estate / "linked").symlink_to(outside)
    linked = api.put(
        "/api/v1/estate/files", params={"path": "linked/t.yaml"}, content=team, headers=auth
    )
    assert linked.status_code == 400
    assert "leads out of the estate directory" in linked.json()["detail"]
    assert not list(outside.iterdir())
    assert (estate / "teams/carriers.yaml").read_text() == team
    assert not (estate.parent / "outside.yaml").exists()


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def in_git(retail_dir: Path, store_url: str) -> Iterator[Console]:
    _allow_writes(retail_dir, git=True)
    _git(retail_dir, "init", "-q", "-b", "main")
    _git(retail_dir, "add", "-A")
    _git(
        retail_dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "start"
    )
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    yield Console(runtime)
    runtime.close()


def test_a_change_is_opened_on_a_new_branch_leaving_the_working_tree(in_git: Console) -> None:
    estate = in_git.runtime.settings.estate_dir
    client, form, before = _crm_form(in_git, "Commit it on a new branch")
    form["f:metadata.description"] = "Proposed from the console."
    answer = client.post("/console/edit/submit", data={**form, "do": "write"})
    assert answer.status_code == 200, answer.text
    branch = re.search(r"new branch (interlink/console/root/\S+) \(commit", answer.text)
    assert branch is not None, answer.text
    assert (estate / form["file"]).read_text() == before  # the working tree is untouched
    assert not _git(estate, "status", "--porcelain", "--", form["file"])
    assert _git(estate, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    committed = _git(estate, "show", f"{branch.group(1)}:{form['file']}")
    assert "Proposed from the console." in committed
    assert _git(estate, "log", "-1", "--format=%an", branch.group(1)) == "root"
    assert _git(estate, "diff", "--name-only", "main", branch.group(1)) == form["file"]
    [entry] = [e for e in in_git.runtime.store.audit.list() if e.action == "estate.write"]
    assert entry.result == "ok"
    assert entry.details["branch"] == branch.group(1)


def test_a_change_is_refused_outside_a_git_repository(retail_dir: Path, store_url: str) -> None:
    _allow_writes(retail_dir, git=True)
    runtime = Runtime.open(ServeSettings(retail_dir, store_url=store_url))
    try:
        client, form, _ = _crm_form(Console(runtime), "Commit it on a new branch")
        form["f:metadata.description"] = "Proposed."
        answer = client.post("/console/edit/submit", data={**form, "do": "write"})
        assert answer.status_code == 409
        assert "not in a git repository" in answer.text
        assert "Proposed." in answer.text  # the form as it was sent: nothing lost
    finally:
        runtime.close()
