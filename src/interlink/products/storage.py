"""Where a materialised product's data lives: one Parquet file per product under the node's
data directory, replaced whole and atomically.

A refresh writes a temporary file beside the current one and, once its contract checks pass,
renames it over the current one (``os.replace``, atomic on POSIX and Windows, and on NFS). A
query that opened the old file reads it to the end; the next one reads the new. A process
killed mid-refresh leaves the current file as it was, and a stray temporary file that a later
refresh removes once it is an hour old (younger, it may be another node's refresh writing).

With several nodes the Platform's ``products.dataDir`` names a directory they all share: the
node holding the ``product-refresh`` lease writes there and every node reads the same file.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Final

from interlink.estate.model import Estate

CURRENT: Final = "data.parquet"
_TEMPORARY = re.compile(r"^\.data\.[0-9a-f]{12}\.parquet$")
#: A temporary file older than this is a stray (its writer died); a younger one may be another
#: node's refresh still writing, on a shared directory.
STRAY_AFTER: Final = 3600.0


def data_dir(estate: Estate, own: Path) -> Path:
    """Where materialised products are kept: the Platform's ``products.dataDir`` (shared by the
    nodes; relative to the estate), else ``own`` (the node's own directory)."""
    shared = estate.platform.spec.products.data_dir
    if shared is None:
        return own
    path = Path(shared).expanduser()
    return path if path.is_absolute() else (estate.root / path).resolve()


class ProductFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, product: str) -> Path:
        return self.root / product

    def current(self, product: str) -> Path | None:
        """The file serving ``product``; None before its first good refresh."""
        path = self.folder(product) / CURRENT
        return path if path.is_file() else None

    def spare(self, product: str) -> Path:
        """A fresh temporary path to write the next version to (strays removed first)."""
        folder = self.folder(product)
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for stray in folder.iterdir():
            if _TEMPORARY.match(stray.name) and _age(stray, now) > STRAY_AFTER:
                stray.unlink(missing_ok=True)
        return folder / f".data.{uuid.uuid4().hex[:12]}.parquet"

    def swap(self, product: str, spare: Path) -> Path:
        """Make ``spare`` the current file, atomically; the current path."""
        with open(spare, "rb") as written:  # on disk before it is named current
            os.fsync(written.fileno())
        target = self.folder(product) / CURRENT
        os.replace(spare, target)
        return target


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:  # another node's refresh renamed it meanwhile
        return 0.0
