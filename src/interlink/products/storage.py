"""Where a materialised product's data lives: one Parquet file per product under the node's
data directory, replaced whole and atomically.

A refresh writes a temporary file beside the current one and, once its contract checks pass,
renames it over the current one (``os.replace``, atomic on POSIX and Windows). A query that
opened the old file reads it to the end; the next one reads the new. A process killed
mid-refresh leaves the current file as it was, and a stray temporary file that the next
refresh removes.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Final

CURRENT: Final = "data.parquet"
_TEMPORARY = re.compile(r"^\.data\.[0-9a-f]{12}\.parquet$")


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
        for stray in folder.iterdir():
            if _TEMPORARY.match(stray.name):
                stray.unlink(missing_ok=True)
        return folder / f".data.{uuid.uuid4().hex[:12]}.parquet"

    def swap(self, product: str, spare: Path) -> Path:
        """Make ``spare`` the current file, atomically; the current path."""
        with open(spare, "rb") as written:  # on disk before it is named current
            os.fsync(written.fileno())
        target = self.folder(product) / CURRENT
        os.replace(spare, target)
        return target
