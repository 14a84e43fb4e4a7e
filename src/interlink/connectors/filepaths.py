"""Paths of a file connection: relative to the System's root, ``/`` between parts, never out.

Every file connector checks each path it is given here first, so that a path from an
expression or a listing can never reach a file outside the System's root: an absolute path, a
``..`` part, an empty part or a NUL is refused with a :class:`StatementError` naming it.
"""

from __future__ import annotations

from interlink.connectors.base import StatementError

#: The start of the temporary name a file is written under before its rename; listings skip it.
TEMPORARY = ".il-tmp-"


def file_path(path: str, system: str) -> str:
    """``path`` checked: relative, no ``.`` or ``..`` part, no empty part; StatementError."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\x00" in path or "\\" in path:
        raise StatementError(
            "a file path is relative to the System's root, with / between parts",
            system=system,
            object=repr(path),
        )
    if any(part in ("", ".", "..") for part in parts):
        raise StatementError(
            "a file path has no empty, '.' or '..' part: it stays under the System's root",
            system=system,
            object=repr(path),
        )
    return path


def file_prefix(prefix: str, system: str) -> str:
    """A listing's prefix checked like a path; empty (everything) and a trailing / allowed."""
    if prefix == "":
        return prefix
    file_path(prefix.removesuffix("/"), system)
    return prefix


def temporary(path: str, token: str) -> str:
    """The temporary name ``path`` is written under: a hidden file in the same directory."""
    head, _, name = path.rpartition("/")
    hidden = f"{TEMPORARY}{token}-{name}"
    return f"{head}/{hidden}" if head else hidden


def is_temporary(path: str) -> bool:
    return path.rpartition("/")[2].startswith(TEMPORARY)
