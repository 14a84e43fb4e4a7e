"""Edit the estate: forms drawn from the JSON Schemas of `interlink schema` (and, for a
System's connection, its connector's spec) that make YAML, show what `interlink check` says of
the estate with it, and give the file to download or, where the Platform allows it, write it.

The YAML is the source of truth: an object is edited by reading its document from its file,
and the file comes back with that document replaced and everything else in it as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import audited_route
from interlink.admin.console import documents
from interlink.admin.console.access import may, require
from interlink.admin.console.paging import PageNumber, matches, paged
from interlink.admin.console.render import html
from interlink.admin.console.schema_form import Built, Form, attach, build, dump, form_of, split
from interlink.admin.console.session import BASE, Signed, Viewer, checked_form
from interlink.admin.estate_files import (
    MAX_FILE_BYTES,
    Shown,
    check_with,
    current_estate,
    digest,
    estate_dir,
    read_text,
    relative_path,
    write_file,
)
from interlink.connectors.registry import registry
from interlink.errors import BadRequest, InterlinkError, NotFound
from interlink.estate.json_schema import kind_schema
from interlink.estate.kinds import KINDS
from interlink.estate.loader import load_estate
from interlink.estate.yamlsource import parse_documents
from interlink.runtime.runtime import Runtime
from interlink.runtime.snapshot import Snapshot

router = APIRouter(include_in_schema=False)

#: Where a new object's file goes by default, by kind (as the example estate lays them out).
FOLDERS: Final = {
    "Platform": "",
    "Team": "teams",
    "System": "systems",
    "Api": "apis",
    "Event": "events",
    "Route": "gateway",
    "Plan": "gateway",
    "Consumer": "gateway",
    "Subscription": "events",
    "Flow": "flows",
    "DataProduct": "data",
    "Monitor": "monitors",
    "Glossary": "glossary",
    "Policy": "policies",
}
KindPath = Annotated[str, Path(max_length=40)]
NamePath = Annotated[str, Path(max_length=253)]


@dataclass
class Draft:
    """An object being edited: its kind, file, where it is in the file, and the form."""

    kind: str
    file: str  # relative to the estate directory; "" until named
    index: int | None  # its document in the file; None: a new object, added at the end
    base: str  # the file's digest when the form was opened ("" for a new file)
    form: Form


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"no kind {kind!r} in the estate (kinds: {', '.join(KINDS)})")
    return kind


def _connectors() -> list[str]:
    return [s.name for s in registry().specs()]


def _draft_form(kind: str, connector: str | None) -> Form:
    schema, defs = kind_schema(kind)
    form = form_of(schema, defs)
    if kind != "System":
        return form
    for leaf in form.leaves():
        if leaf.path == ("spec", "connector"):
            leaf.widget, leaf.options = "select", tuple(_connectors())
    if connector:
        found = next((s for s in registry().specs() if s.name == connector), None)
        if found is not None:
            attach(form, ("spec", "connection"), dict(found.config), f"{found.title} connection")
    return form


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _may_write(request: Request, viewer: Viewer) -> bool:
    platform = _runtime(request).snapshot.estate.platform
    return platform.spec.console.write_estate and may(viewer, "estate.write")


@router.get("/edit")
async def edit_home(
    request: Request,
    viewer: Signed,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
    page: PageNumber = 1,
) -> Response:
    """The kinds to make a new object of, and the estate's objects to edit: fifty to a page,
    searched by name and narrowed to a kind, so ten thousand objects cost one page of HTML."""
    await require(request, viewer, "estate.read")
    if kind and kind not in KINDS:
        raise BadRequest(f"no kind {kind!r} to list (kinds: {', '.join(KINDS)})")
    estate = _runtime(request).snapshot.estate
    order = {k: i for i, k in enumerate(KINDS)}
    found = sorted(
        (
            (item.obj.KIND, item.obj.name)
            for item in estate
            if kind in ("", item.obj.KIND) and matches(q, item.obj.name)
        ),
        key=lambda o: (order[o[0]], o[1]),
    )
    return html(
        request,
        "edit.html",
        viewer,
        kinds=list(KINDS),
        shown=paged(request, found, page),
        q=q,
        kind=kind,
        may_write=_may_write(request, viewer),
    )


@router.get("/edit/new/{kind}")
async def new_object(
    request: Request,
    viewer: Signed,
    kind: KindPath,
    connector: Annotated[str, Query(max_length=63)] = "",
) -> Response:
    await require(request, viewer, "estate.read")
    draft = Draft(_kind(kind), "", None, "", _draft_form(kind, connector or None))
    values = {"f:spec.connector": connector} if connector else {}
    return _page(request, viewer, draft, values, "", None)


def _located(
    root: FsPath, kind: str, name: str, snapshot: Snapshot
) -> tuple[str, int, dict[str, Any]]:
    """The file (relative), document index and data of ``kind/name`` in the estate directory
    as it is on disk now (blocking): the running snapshot's when it is current."""
    estate = current_estate(root, snapshot) or load_estate(root)[0]
    item = estate.get(kind, name)
    if item is None:
        raise NotFound(f"no {kind}/{name} in the estate directory")
    file = item.doc.file
    docs, problems = parse_documents(file.read_text(encoding="utf-8"), file, json_values=True)
    if problems or item.doc.index >= len(docs) or not isinstance(docs[item.doc.index].data, dict):
        raise BadRequest(f"{kind}/{name}'s file cannot be read as YAML documents")
    return str(file.relative_to(root)), item.doc.index, docs[item.doc.index].data


@router.get("/edit/{kind}/{name}")
async def edit_object(
    request: Request, viewer: Signed, kind: KindPath, name: NamePath, done: str = ""
) -> Response:
    await require(request, viewer, "estate.read")
    root = estate_dir(_runtime(request))
    file, index, data = await run_in_threadpool(
        _located, root, _kind(kind), name, _runtime(request).snapshot
    )
    connector = (data.get("spec") or {}).get("connector") if kind == "System" else None
    form = _draft_form(kind, connector if isinstance(connector, str) else None)
    text = await run_in_threadpool(read_text, root, file)
    values, extra = split(form, data)
    draft = Draft(kind, file, index, digest(text), form)
    notice = f"{file} was written; it runs from the next reload." if done == "written" else None
    return _page(request, viewer, draft, values, extra, None, notice=notice)


def _draft_of(fields: dict[str, str]) -> Draft:
    kind = _kind(fields.get("kind", ""))
    index = fields.get("index", "")
    connector = fields.get("f:spec.connector", "") if kind == "System" else ""
    return Draft(
        kind,
        fields.get("file", "").strip(),
        int(index) if index.isdigit() else None,
        fields.get("base", ""),
        _draft_form(kind, connector or None),
    )


def _file_of(draft: Draft, built: Built) -> str:
    """The draft's file: as given, else the kind's folder and the object's name."""
    if draft.file:
        return relative_path(draft.file)
    name = str((built.document.get("metadata") or {}).get("name") or "")
    if not name:
        raise BadRequest("name the object (metadata.name) or its file")
    if draft.kind == "Platform":
        return "platform.yaml"
    return relative_path(f"{FOLDERS[draft.kind]}/{name}.yaml")


def _file_text(root: FsPath, draft: Draft, file: str, document: str) -> str:
    """The whole file as it would be with the draft's document in it (blocking)."""
    current = read_text(root, file)
    if draft.index is None:
        return documents.append(current, document)
    if current is None:
        raise BadRequest(f"{file} is no longer in the estate directory; open the object again")
    return documents.replace(current, draft.index, document)


@dataclass
class Checked:
    """A posted draft: what it builds, its file, and what check says of the estate with it."""

    built: Built
    file: str
    text: str
    findings: list[Shown]
    problem: str | None = None  # why there is no file to check yet


def _outcome(
    root: FsPath, draft: Draft, fields: dict[str, str], snapshot: Snapshot | None = None
) -> Checked:
    """Build the draft and check the estate with it (blocking)."""
    built = build(draft.form, draft.kind, fields, fields.get("yaml", ""))
    try:
        file = _file_of(draft, built)
        text = _file_text(root, draft, file, dump(built.document))
    except BadRequest as exc:
        return Checked(built, "", "", [], exc.message)
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return Checked(built, file, "", [], f"the file would pass {MAX_FILE_BYTES} bytes")
    return Checked(built, file, text, check_with(root, file, text, snapshot))


@router.post("/edit/preview")
async def preview(request: Request, viewer: Signed) -> Response:
    """The YAML and the findings of the form as typed so far (htmx asks, debounced)."""
    fields = await checked_form(request, viewer, MAX_FILE_BYTES + 65_536)
    await require(request, viewer, "estate.read")
    draft = _draft_of(fields)
    root = estate_dir(_runtime(request))
    done = await run_in_threadpool(_outcome, root, draft, fields, _runtime(request).snapshot)
    return html(request, "_edit_preview.html", viewer, problem=done.problem, outcome=done)


@router.post("/edit/submit", openapi_extra=audited_route("estate.write"))
async def submit(request: Request, viewer: Signed) -> Response:
    """The form's buttons: show it again (for another connector's fields), download the
    file, or write it into the estate directory."""
    fields = await checked_form(request, viewer, MAX_FILE_BYTES + 65_536)
    await require(request, viewer, "estate.read")
    draft = _draft_of(fields)
    root = estate_dir(_runtime(request))
    action = fields.get("do", "refresh")
    done = await run_in_threadpool(_outcome, root, draft, fields, _runtime(request).snapshot)
    if action == "refresh":
        return _again(request, viewer, draft, fields, done, done.problem)
    if done.built.errors:
        message = "Some fields are not valid (said beside each): nothing was made."
        return _again(request, viewer, draft, fields, done, message, 400)
    if done.problem is not None:
        return _again(request, viewer, draft, fields, done, done.problem, 400)
    if action == "download":
        name = done.file.rsplit("/", 1)[-1]
        return Response(
            done.text,
            media_type="application/yaml; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "X-Estate-Path": done.file,
            },
        )
    if action != "write":
        raise BadRequest("the form's button is refresh, download or write")
    return await _write(request, viewer, draft, fields, done)


async def _write(
    request: Request, viewer: Viewer, draft: Draft, fields: dict[str, str], done: Checked
) -> Response:
    who = await require(request, viewer, "estate.write")
    base = draft.base if draft.index is not None else None  # an edit: the file as opened
    try:
        made = await write_file(request, who, done.file, done.text, base)
    except InterlinkError as exc:
        if exc.status == 403:
            raise
        return _again(request, viewer, draft, fields, done, exc.message, exc.status)
    if "branch" in made:  # a change to merge: the estate directory is as it was
        notice = (
            f"{made['file']} was committed on the new branch {made['branch']} "
            f"(commit {made['commit'][:10]}); the estate changes when it is merged."
        )
        return _again(request, viewer, draft, fields, done, None, 200, notice)
    name = (done.built.document.get("metadata") or {}).get("name", "")
    return RedirectResponse(f"{BASE}/edit/{draft.kind}/{name}?done=written", status_code=303)


def _again(
    request: Request,
    viewer: Viewer,
    draft: Draft,
    fields: dict[str, str],
    done: Checked | None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    """The posted form shown again as it was sent, with what is wrong with it."""
    extra = fields.get("yaml", "")
    return _page(request, viewer, draft, fields, extra, done, problem, status, notice)


def _page(
    request: Request,
    viewer: Viewer,
    draft: Draft,
    values: dict[str, str],
    extra: str,
    done: Checked | None,
    problem: str | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    return html(
        request,
        "edit_form.html",
        viewer,
        status=status,
        draft=draft,
        values=values,
        extra=extra,
        errors=done.built.errors if done is not None else {},
        outcome=done,
        problem=problem,
        notice=notice,
        may_write=_may_write(request, viewer),
        write_enabled=_runtime(request).snapshot.estate.platform.spec.console.write_estate,
        git=_runtime(request).snapshot.estate.platform.spec.console.git_changes,
    )
