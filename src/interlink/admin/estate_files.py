"""One estate file, changed: checked with the rest of the estate as `interlink check` checks
it, and written into the estate directory when the Platform allows it (``console.writeEstate``).

The YAML file is the only thing written: there is no second model of the estate. A candidate
file is checked with the running snapshot's objects standing for the other files while the
snapshot is what the directory holds (estate/amend.py), else in a copy of the estate directory
with it in place; either way its findings are the ones `check` would report once it is
written. A write happens only without errors, through a
temporary file renamed over the old one, so a reader sees the old file or the new, never half.
``PUT /api/v1/estate/files?path=…`` and the console's editor both run :func:`write_file`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Grant, Granted
from interlink.admin.bodies import read_capped
from interlink.admin.estate_git import open_change
from interlink.admin.problems import problem
from interlink.admin.responses import problems
from interlink.connectors.registry import registry
from interlink.errors import BadRequest, EstateError, InterlinkError
from interlink.estate.amend import amended
from interlink.estate.check import check_estate, check_loaded, sort_key
from interlink.estate.findings import Finding
from interlink.estate.loader import ESTATE_SUFFIXES, SKIPPED_DIRS, TEST_SUFFIXES, estate_files
from interlink.estate.model import Estate
from interlink.runtime.runtime import Runtime
from interlink.runtime.servable import unservable_routes
from interlink.runtime.snapshot import Snapshot, content_hash

router = APIRouter()

#: The largest estate file the editor or the API writes: a hand-written object is far smaller.
MAX_FILE_BYTES: Final = 1_048_576
YAML_MEDIA_TYPE: Final = "application/yaml"


class WriteRefused(InterlinkError):
    """The platform does not write here: turned off, a data-plane node, a changed file."""

    status = 409
    title = "Not written"


class TooLarge(InterlinkError):
    status = 413
    title = "Too large"


class DraftInvalid(EstateError):
    """``check`` found errors with the file in place: nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(
            f"check finds {len(errors)} error(s), so nothing was written; the first: "
            f"{first['file']}:{first['line']}: {first['message']}"
        )
        self.errors = errors


def relative_path(raw: str) -> str:
    """``raw`` as a path inside the estate directory that the loader reads as an estate file;
    BadRequest saying what is wrong otherwise."""
    text = raw.strip().replace("\\", "/")
    path = PurePosixPath(text)
    if not text or path.is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise BadRequest("the file is a path relative to the estate directory: systems/crm.yaml")
    if any(p in ("", ".", "..") for p in text.split("/")):
        raise BadRequest(f"{text!r}: a path inside the estate directory, without . or .. parts")
    if any(p.startswith(".") or p in SKIPPED_DIRS for p in path.parts):
        raise BadRequest(f"{text!r}: the estate is not read from hidden folders or files")
    if not path.name.endswith(ESTATE_SUFFIXES) or path.name.endswith(TEST_SUFFIXES):
        raise BadRequest(f"{text!r}: an estate file ends in .yaml or .yml (not .test.yaml)")
    if len(text) > 500:
        raise BadRequest("the file's path is longer than 500 characters")
    return str(path)


def estate_dir(runtime: Runtime) -> Path:
    """The estate directory this node reads, which the editor changes; WriteRefused on a
    node that takes its revisions from a control plane, or that serves a single file."""
    if runtime.settings.control_plane:
        raise WriteRefused(
            "this is a data-plane node: it runs the control plane's revisions; edit the estate "
            f"on the control plane at {runtime.settings.control_plane}"
        )
    root = runtime.settings.estate_dir.resolve()
    if not root.is_dir():
        raise WriteRefused(f"the estate is the one file {root.name}: the editor needs a directory")
    return root


def digest(text: str | None) -> str:
    """A file's version as the editor compares it: SHA-256 of its text ("" for no file)."""
    return "" if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text(root: Path, relative: str) -> str | None:
    """The text of an estate file, None when there is none."""
    try:
        return (root / relative).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"{relative} cannot be read: {exc}") from None


@dataclass(frozen=True)
class Shown:
    """A finding as the editor lists it: where, relative to the estate directory, and what."""

    severity: str
    code: str
    file: str
    line: int
    col: int
    message: str
    hint: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _ignore(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIPPED_DIRS or n.startswith(".")}


def check_with(
    root: Path, relative: str, text: str, snapshot: Snapshot | None = None
) -> list[Shown]:
    """What `interlink check` says of the estate at ``root`` with ``relative`` holding
    ``text`` (blocking). With the running ``snapshot`` of that directory, only the file is
    parsed and the snapshot's objects stand for the rest; else the estate is copied and the
    copy checked."""
    loaded = _amended(root, relative, text, snapshot) if snapshot is not None else None
    if loaded is not None:
        result = check_loaded(*loaded, root, connectors=registry())
        result.findings.extend(unservable_routes(result))
        result.findings.sort(key=sort_key)
        return [_shown(f, root) for f in result.findings]
    with tempfile.TemporaryDirectory(prefix="interlink-draft-") as scratch:
        copy = Path(scratch).resolve() / "estate"
        shutil.copytree(root, copy, ignore=_ignore, symlinks=False)
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        result = check_estate(copy, connectors=registry())
        result.findings.extend(unservable_routes(result))
        result.findings.sort(key=sort_key)
        return [_shown(f, copy) for f in result.findings]


def _amended(
    root: Path, relative: str, text: str, snapshot: Snapshot
) -> tuple[Estate, list[Finding]] | None:
    base = current_estate(root, snapshot)
    return amended(base, root / relative, text) if base is not None else None


#: Per estate directory, the snapshot content hash last found to match its files and those
#: files' (mtime, size) then: while they stay the same, an editor's check (one a keystroke)
#: does not read every file again to hash it.
_CONFIRMED: dict[Path, tuple[str, list[tuple[int, int]]]] = {}


def current_estate(root: Path, snapshot: Snapshot) -> Estate | None:
    """The snapshot's estate when it is what the directory at ``root`` holds now: the same
    files with the same bytes. None after a file changed since the last reload (or one that
    no longer loads): then only reading the directory is exact."""
    base = snapshot.estate
    files, unreadable = estate_files(root)
    if base.root != root or unreadable or files != base.files:
        return None
    try:
        # Taken before the hash: a file changed after it shows as changed next time.
        seen = (snapshot.content_hash, _stats(base))
        if _CONFIRMED.get(root) != seen:
            if content_hash(base) != snapshot.content_hash:
                return None
            _CONFIRMED[root] = seen
    except OSError:
        return None
    return base


def _stats(estate: Estate) -> list[tuple[int, int]]:
    """Each estate and contract file's modification time (ns) and size."""
    found = []
    for file in sorted({*estate.files, *estate.contracts}):
        stat = file.stat()
        found.append((stat.st_mtime_ns, stat.st_size))
    return found


def _shown(finding: Finding, root: Path) -> Shown:
    loc = finding.location
    file, line, col = "", 0, 0
    if loc is not None:
        file = loc.render(root).rsplit(":", 2)[0]
        line, col = loc.line, loc.col
    return Shown(finding.severity, finding.code, file, line, col, finding.message, finding.hint)


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a hidden temporary file beside it, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write(
    runtime: Runtime, who: Grant, relative: str, text: str, base: str | None
) -> dict[str, Any]:
    """Check, then write or commit on a new branch (blocking); the answer says which."""
    settings = runtime.snapshot.estate.platform.spec.console
    if not settings.write_estate:
        raise WriteRefused(
            "writing the estate directory is turned off: set spec.console.writeEstate: true on "
            "the Platform to allow it, or download the file and commit it yourself"
        )
    root = estate_dir(runtime)
    if not (root / relative).resolve().is_relative_to(root):  # through a symbolic link
        raise BadRequest(f"{relative} leads out of the estate directory")
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise TooLarge(f"an estate file written here is at most {MAX_FILE_BYTES} bytes")
    if base is not None and digest(read_text(root, relative)) != base:
        raise WriteRefused(
            f"{relative} changed since it was opened: nothing was written; open it again"
        )
    found = check_with(root, relative, text, runtime.snapshot)
    errors = [f.to_json() for f in found if f.severity == "error"]
    if errors:
        raise DraftInvalid(errors)
    warnings = sum(f.severity == "warning" for f in found)
    done: dict[str, Any] = {"file": relative, "sha256": digest(text), "warnings": warnings}
    if settings.git_changes:
        change = open_change(root, relative, text, who.token_name, who.token_id)
        return {**done, "branch": change.branch, "commit": change.commit}
    write_atomically(root / relative, text)
    return done


async def write_file(
    request: Request, who: Grant, relative: str, text: str, base: str | None
) -> dict[str, Any]:
    """Write ``text`` to the estate file ``relative``, audited as ``estate.write`` on
    ``file/<relative>``; ``base`` is the digest the file must still have (None: any)."""
    runtime: Runtime = request.app.state.runtime
    async with audited(request, who, "estate.write", f"file/{relative}") as outcome:
        done = await run_in_threadpool(_write, runtime, who, relative, text, base)
        outcome.details.update(sha256=done["sha256"], bytes=len(text.encode("utf-8")))
        outcome.details.update({k: done[k] for k in ("branch", "commit") if k in done})
    return done


def _too_large(_: int | None) -> Exception:
    return TooLarge(f"an estate file written here is at most {MAX_FILE_BYTES} bytes")


@router.put(
    "/api/v1/estate/files",
    tags=["estate"],
    response_model=None,
    responses=problems(
        {
            400: "not a path to an estate YAML file, or not UTF-8",
            409: "writing is turned off (console.writeEstate), a data-plane node, the file "
            "changed since the If-Match digest, or no git change could be opened",
            413: "larger than an estate file may be",
            422: "`check` finds errors with the file in place; nothing was written",
        }
    ),
    openapi_extra=audited_route(
        "estate.write",
        requestBody={
            "required": True,
            "description": "the file's new YAML text",
            "content": {YAML_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
    ),
)
async def put_file(
    who: Granted,
    request: Request,
    path: Annotated[
        str, Query(max_length=500, description="the file, relative to the estate directory")
    ],
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> dict[str, Any] | JSONResponse:
    """Write one YAML file into the estate directory when the Platform allows it and `check`
    finds no error with it in place; it runs from the next reload (at once with --watch). With
    console.gitChanges the file is committed on a new branch instead (named in the answer)."""
    relative = relative_path(path)
    raw = await read_capped(request, MAX_FILE_BYTES, _too_large)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the file is not UTF-8 text") from None
    base = if_match.strip('"') if if_match is not None else None
    try:
        return await write_file(request, who, relative, text, base)
    except DraftInvalid as exc:
        return problem(422, exc.message, slug="invalid-estate", errors=exc.errors)
