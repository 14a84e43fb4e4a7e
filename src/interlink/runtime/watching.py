"""What ``interlink serve --watch`` reloads for: the estate's files, not what runs beside them.

The platform writes into the estate directory itself: the SQLite store and the embedded event
log (with their ``-wal``/``-shm`` files) under ``.interlink``, on every published event. Those
changes, any hidden file or folder below the estate root (``.secrets``, editor swap files), and
a SQLite store named anywhere inside the estate are ignored. Only the part of a path below the
root is looked at, so an estate that itself lives under a hidden folder (``interlink demo``'s
``.interlink/demo``) is still watched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

_SQLITE = "sqlite:///"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def estate_changes(root: Path, store_url: str) -> Callable[[object, str], bool]:
    """A ``watch_filter`` for watchfiles: True for a change to one of the estate's files."""
    base = root.resolve()
    ignored: set[str] = set()
    if store_url.lower().startswith(_SQLITE) and store_url[len(_SQLITE) :] != ":memory:":
        store = Path(store_url[len(_SQLITE) :]).resolve()
        ignored = {f"{store}{suffix}" for suffix in _SIDE_FILES}

    def wanted(_change: object, path: str) -> bool:
        if path in ignored:
            return False
        try:
            parts = Path(path).relative_to(base).parts
        except ValueError:
            return False
        return not any(part.startswith(".") for part in parts)

    return wanted
