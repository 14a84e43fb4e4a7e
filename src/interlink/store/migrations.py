"""Versioned SQL migrations shipped inside the package, kept per concern.

Each concern keeps its migrations beside its repository, in ``<folder>/<dialect>/NNNN_name.sql``
(the folders are :data:`SOURCES`, relative to the ``interlink`` package). Versions are global:
a new migration takes the next number after the highest one anywhere, in both dialect folders of
its concern, and a new concern adds its folder to :data:`SOURCES`. The runner in
:class:`~interlink.store.database.Database` applies the pending versions in order, each in its
own transaction, and records them in ``interlink_migrations``.

A version recorded before the migrations were split by concern stays one version: files of
several concerns that share a number *and* a name are the parts of one migration, applied
together (in :data:`SOURCES` order) and recorded once. That is how ``0001_init`` creates both
the revisions and the admin tokens, as it always did.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Final, Literal

from interlink.errors import MigrationError

Dialect = Literal["sqlite", "postgres"]

SOURCES: Final = (
    "store/migrations/revisions",
    "store/migrations/admin_tokens",
    "events/delivery/migrations",
    "store/migrations/consumer_keys",
    "store/migrations/comparisons",
    "store/migrations/connections",
    "store/migrations/nodes",
    "store/migrations/leases",
    "store/migrations/alerts",
    "flows/migrations",
    "store/migrations/lineage",
    "store/migrations/signals",
    "products/migrations",
    "store/migrations/audit",
    "store/migrations/secrets",
    "store/migrations/platform_keys",
    "store/migrations/client_assertions",
    "store/migrations/console_sessions",
)

_FILENAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class MigrationPart:
    path: str  # "store/migrations/revisions/sqlite/0001_init.sql", for messages
    sql: str


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    parts: tuple[MigrationPart, ...]

    @property
    def filename(self) -> str:
        return f"{self.version}_{self.name}.sql"

    def __repr__(self) -> str:
        return f"Migration({self.filename!r})"


def load_migrations(
    dialect: Dialect, sources: Sequence[str] = SOURCES, root: Traversable | None = None
) -> list[Migration]:
    """The migrations for ``dialect`` in version order; a misnamed file, or two files that
    share a version under different names, is an error. ``root`` (the ``interlink`` package
    unless given) is where the ``sources`` folders are."""
    root = root if root is not None else resources.files("interlink")
    found: dict[str, Migration] = {}
    for source in sources:
        folder = root.joinpath(source, dialect)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sql"):
                continue
            path = f"{source}/{dialect}/{entry.name}"
            match = _FILENAME.fullmatch(entry.name)
            if match is None:
                raise MigrationError(f"migration file {path} must be named NNNN_lowercase_name.sql")
            version, name = match.group("version"), match.group("name")
            part = MigrationPart(path, entry.read_text(encoding="utf-8"))
            known = found.get(version)
            if known is None:
                found[version] = Migration(version, name, (part,))
            elif known.name == name:
                found[version] = Migration(version, name, (*known.parts, part))
            else:
                raise MigrationError(
                    f"migrations {known.parts[0].path} and {path} share version {version}"
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
