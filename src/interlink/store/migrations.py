"""Versioned SQL migrations shipped inside the package.

Each backend has a directory ``migrations/<dialect>/`` of files named ``NNNN_name.sql``. Adding
a migration means adding the next file to both directories; the runners in the backends apply
the pending ones in version order, each in its own transaction, and record them in
``interlink_migrations``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from interlink.errors import MigrationError

Dialect = Literal["sqlite", "postgres"]

_FILENAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    filename: str
    sql: str

    def __repr__(self) -> str:
        return f"Migration({self.filename!r})"


def load_migrations(dialect: Dialect) -> list[Migration]:
    """The migrations for ``dialect`` in version order; a misnamed or duplicate file is an error."""
    folder = resources.files(__package__ or "interlink.store").joinpath("migrations", dialect)
    found: dict[str, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILENAME.fullmatch(entry.name)
        if match is None:
            raise MigrationError(
                f"migration file {dialect}/{entry.name} must be named NNNN_lowercase_name.sql"
            )
        version = match.group("version")
        if version in found:
            raise MigrationError(
                f"migrations {dialect}/{found[version].filename} and {dialect}/{entry.name} "
                f"share version {version}"
            )
        found[version] = Migration(
            version, match.group("name"), entry.name, entry.read_text(encoding="utf-8")
        )
    return [found[v] for v in sorted(found)]


def split_sqlite_script(script: str) -> list[str]:
    """Split a script into statements so they can run inside one explicit transaction.

    ``sqlite3.executescript`` would commit any open transaction first, which defeats both
    atomicity and the check-then-apply lock. ``sqlite3.complete_statement`` knows about string
    literals, comments and trigger bodies, so a ";" only ends a statement where SQLite agrees.
    """
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statements.append(script[start : index + 1].strip())
            start = index + 1
    tail = script[start:].strip()
    if tail and not _only_comments(tail):
        statements.append(tail)
    return statements


def _only_comments(text: str) -> bool:
    lines = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL).splitlines()
    return all(not line.strip() or line.strip().startswith("--") for line in lines)
