"""Estate revisions: each applied revision, its hash, who applied it and what changed, and the
estate content of each (a bundle, kept once per content hash).

The latest revision is the current one for every node on the store; recording one notifies
the others (on PostgreSQL; on SQLite they poll :meth:`Revisions.head`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from interlink.errors import NotFound
from interlink.store.base import check_page, dump_json
from interlink.store.database import Database, Row

CHANNEL: Final = "interlink_revisions"

_SELECT: Final = (
    "SELECT id, hash, applied_at, applied_by, source, summary, object_hashes FROM revisions"
)


@dataclass(frozen=True)
class Revision:
    """One applied estate revision.

    ``summary`` is what the caller says changed; ``object_hashes`` maps each object key
    (``"System/crm"``) to its content hash so the next revision can be diffed after a restart.
    """

    id: int
    hash: str
    applied_at: datetime
    applied_by: str
    source: str
    summary: dict[str, Any]
    object_hashes: dict[str, str]


class Revisions:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        hash: str,
        applied_by: str,
        source: str,
        summary: Mapping[str, Any],
        object_hashes: Mapping[str, str],
        bundle: bytes | None = None,
    ) -> Revision:
        """Record an applied estate revision, with its content when given, and return it with
        its id and time. It becomes the current revision of every node on the store."""
        summary_json, hashes_json = dump_json(summary), dump_json(object_hashes)
        applied_at = self._db.now()
        with self._db.transaction() as session:
            if bundle is not None:
                session.execute(
                    "INSERT INTO revision_bundles (hash, bundle, size) VALUES (?, ?, ?) "
                    "ON CONFLICT (hash) DO NOTHING",
                    (hash, bundle, len(bundle)),
                )
            row = session.fetchone(
                "INSERT INTO revisions (hash, applied_at, applied_by, source, summary, "
                "object_hashes) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (hash, self._db.ts(applied_at), applied_by, source, summary_json, hashes_json),
            )
            assert row is not None
            self._db.notify(session, CHANNEL, str(row[0]))
        return Revision(
            int(row[0]),
            hash,
            applied_at,
            applied_by,
            source,
            json.loads(summary_json),
            json.loads(hashes_json),
        )

    def latest(self) -> Revision | None:
        """The most recently recorded revision, if any."""
        revisions = self.list(limit=1)
        return revisions[0] if revisions else None

    def head(self) -> tuple[int, str] | None:
        """The current revision's id and hash: a cheap read, for nodes that poll."""
        with self._db.session() as session:
            row = session.fetchone("SELECT id, hash FROM revisions ORDER BY id DESC LIMIT 1")
        return None if row is None else (int(row[0]), str(row[1]))

    def find_hash(self, hash: str) -> Revision | None:
        """The newest revision recorded with content ``hash``, if any."""
        with self._db.session() as session:
            row = session.fetchone(_SELECT + " WHERE hash = ? ORDER BY id DESC LIMIT 1", (hash,))
        return None if row is None else self._revision(row)

    def has_bundle(self, hash: str) -> bool:
        """Whether the store holds the content of ``hash``, without reading it."""
        with self._db.session() as session:
            row = session.fetchone("SELECT 1 FROM revision_bundles WHERE hash = ?", (hash,))
        return row is not None

    def keep_bundle(self, hash: str, bundle: bytes) -> None:
        """Keep the content of ``hash`` when the store has none yet (a revision recorded before
        revisions carried their content)."""
        with self._db.transaction() as session:
            session.execute(
                "INSERT INTO revision_bundles (hash, bundle, size) VALUES (?, ?, ?) "
                "ON CONFLICT (hash) DO NOTHING",
                (hash, bundle, len(bundle)),
            )

    def bundle(self, hash: str) -> bytes | None:
        """The stored estate content of ``hash``, if it was recorded with it."""
        with self._db.session() as session:
            row = session.fetchone("SELECT bundle FROM revision_bundles WHERE hash = ?", (hash,))
        return None if row is None else bytes(row[0])

    def list(self, limit: int = 50, before_id: int | None = None) -> list[Revision]:
        """Revisions newest first; pass the last id seen as ``before_id`` for the next page."""
        check_page(limit)
        with self._db.session() as session:
            rows = session.fetchall(
                _SELECT + " WHERE CAST(? AS BIGINT) IS NULL OR id < ? ORDER BY id DESC LIMIT ?",
                (before_id, before_id, limit),
            )
        return [self._revision(row) for row in rows]

    def get(self, id: int) -> Revision:
        """The revision with ``id``; raises ``NotFound``."""
        with self._db.session() as session:
            row = session.fetchone(_SELECT + " WHERE id = ?", (id,))
        if row is None:
            raise NotFound(f"revision {id} not found")
        return self._revision(row)

    def _revision(self, row: Row) -> Revision:
        return Revision(
            id=row[0],
            hash=row[1],
            applied_at=self._db.dt(row[2]),
            applied_by=row[3],
            source=row[4],
            summary=self._db.json(row[5]),
            object_hashes=self._db.json(row[6]),
        )
