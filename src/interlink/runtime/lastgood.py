"""A data-plane node's last good revision on disk: the revision it last ran, with its estate
files, so that it starts and serves while its control plane is away.

One file, ``last-good.json`` in the state directory: the revision and its bundle (base64),
written aside, flushed and renamed over the old one, so a crash leaves the old or the new one
whole, never half of either."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Final

from interlink.errors import EstateError
from interlink.store import Revision

FILENAME: Final = "last-good.json"
_FORMAT: Final = 1


def last_good_path(state_dir: Path) -> Path:
    return state_dir / FILENAME


def save_last_good(state_dir: Path, revision: Revision, bundle: bytes) -> None:
    """Write ``revision`` and its ``bundle`` as the last good revision (blocking)."""
    document = {
        "format": _FORMAT,
        "revision": {
            "id": revision.id,
            "hash": revision.hash,
            "applied_at": revision.applied_at.isoformat(),
            "applied_by": revision.applied_by,
            "source": revision.source,
            "summary": revision.summary,
            "object_hashes": revision.object_hashes,
        },
        "bundle": base64.b64encode(bundle).decode("ascii"),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{FILENAME}.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(scratch, last_good_path(state_dir))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise
    _sync_dir(state_dir)


def load_last_good(state_dir: Path) -> tuple[Revision, bytes] | None:
    """The last good revision and its bundle, or None when there is none; raises
    ``EstateError`` for a file that cannot be read."""
    path = last_good_path(state_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EstateError(f"cannot read the last good revision {path}: {exc}") from None
    try:
        document = json.loads(text)
        if document.get("format") != _FORMAT:
            raise ValueError(f"format {document.get('format')!r}, not {_FORMAT}")
        rev = document["revision"]
        revision = Revision(
            id=int(rev["id"]),
            hash=str(rev["hash"]),
            applied_at=datetime.fromisoformat(rev["applied_at"]),
            applied_by=str(rev["applied_by"]),
            source=str(rev["source"]),
            summary=dict(rev["summary"]),
            object_hashes={str(k): str(v) for k, v in rev["object_hashes"].items()},
        )
        bundle = base64.b64decode(document["bundle"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise EstateError(f"the last good revision {path} cannot be read: {exc}") from None
    return revision, bundle


def _sync_dir(directory: Path) -> None:
    """Flush the rename itself, so the new file survives a power loss (where it can be)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
