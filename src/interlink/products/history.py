"""Each product refresh, kept in the store: how it ended, the rows it left serving, the cursor
an incremental refresh goes on from, and the contract rules a failed one broke.

The table is the node's memory across restarts: the last good refresh's cursor is where the
next incremental read starts, and ``interlink products list`` shows the last outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from interlink.store.database import Database, Row, Session

Outcome = Literal["ok", "failed"]

_REFRESH: Final = (
    "SELECT id, product, started_at, finished_at, outcome, rows_total, rows_added, cursor, error "
    "FROM product_refreshes"
)
_VIOLATION: Final = "SELECT refresh_id, rule, column_name, message FROM product_violations"


@dataclass(frozen=True)
class Violation:
    """One contract rule the data broke: ``rule`` (``type``, ``nullable``, ``unique``,
    ``allowed``, ``minimum``, ``maximum``, ``pattern``, ``rowCount``, ``freshness``,
    ``columns``), the column (none for the table's rules) and what was found."""

    rule: str
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}" if self.column else self.message


@dataclass(frozen=True)
class RefreshRecord:
    id: int
    product: str
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    rows_total: int
    rows_added: int
    cursor: str | None  # the cursor column's highest value, as text; None: a full refresh
    error: str | None
    violations: tuple[Violation, ...] = ()


def record_json(record: RefreshRecord) -> dict[str, Any]:
    """A refresh as the CLI prints it and the admin API answers it."""
    return {
        "outcome": record.outcome,
        "startedAt": record.started_at.isoformat(),
        "finishedAt": record.finished_at.isoformat(),
        "rows": record.rows_total,
        "added": record.rows_added,
        "cursor": record.cursor,
        "error": record.error,
        "violations": [
            {"rule": v.rule, "column": v.column, "message": v.message} for v in record.violations
        ],
    }


class RefreshHistory:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        product: str,
        *,
        started_at: datetime,
        finished_at: datetime,
        outcome: Outcome,
        rows_total: int = 0,
        rows_added: int = 0,
        cursor: str | None = None,
        error: str | None = None,
        violations: Sequence[Violation] = (),
    ) -> int:
        """Keep one refresh and its violations; its id."""
        with self._db.transaction() as session:
            row = session.fetchone(
                "INSERT INTO product_refreshes (product, started_at, finished_at, outcome, "
                "rows_total, rows_added, cursor, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (
                    product,
                    self._db.ts(started_at),
                    self._db.ts(finished_at),
                    outcome,
                    rows_total,
                    rows_added,
                    cursor,
                    error,
                ),
            )
            assert row is not None
            refresh_id = int(row[0])
            if violations:
                session.executemany(
                    "INSERT INTO product_violations (refresh_id, rule, column_name, message) "
                    "VALUES (?, ?, ?, ?)",
                    [(refresh_id, v.rule, v.column, v.message) for v in violations],
                )
        return refresh_id

    def recent(self, product: str, limit: int = 20) -> list[RefreshRecord]:
        """The product's latest refreshes, newest first, with their violations."""
        with self._db.session() as session:
            rows = session.fetchall(
                _REFRESH + " WHERE product = ? ORDER BY id DESC LIMIT ?", (product, limit)
            )
            found = [self._refresh(r) for r in rows]
            by_refresh = self._violations(session, [r.id for r in found])
        return [
            _with(r, tuple(by_refresh.get(r.id, ()))) if r.id in by_refresh else r for r in found
        ]

    def latest(self) -> dict[str, RefreshRecord]:
        """Each product's latest refresh, with its violations: two queries for them all."""
        with self._db.session() as session:
            rows = session.fetchall(
                _REFRESH + " WHERE id IN (SELECT MAX(id) FROM product_refreshes GROUP BY product)"  # noqa: S608 - constants only
            )
            found = [self._refresh(r) for r in rows]
            broken = self._violations(session, [r.id for r in found])
        return {r.product: _with(r, tuple(broken.get(r.id, ()))) for r in found}

    def _violations(self, session: Session, ids: list[int]) -> dict[int, list[Violation]]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        query = f"{_VIOLATION} WHERE refresh_id IN ({marks}) ORDER BY id"
        rows = session.fetchall(query, tuple(ids))
        by_refresh: dict[int, list[Violation]] = {}
        for refresh_id, rule, column, message in rows:
            by_refresh.setdefault(int(refresh_id), []).append(Violation(rule, column, message))
        return by_refresh

    def last(self, product: str, outcome: Outcome | None = None) -> RefreshRecord | None:
        """The product's latest refresh (of that ``outcome``, when given)."""
        query = _REFRESH + " WHERE product = ?" + (" AND outcome = ?" if outcome else "")
        params: tuple[str, ...] = (product, outcome) if outcome else (product,)
        with self._db.session() as session:
            row = session.fetchone(query + " ORDER BY id DESC LIMIT 1", params)
        return None if row is None else self._refresh(row)

    def _refresh(self, row: Row) -> RefreshRecord:
        return RefreshRecord(
            id=int(row[0]),
            product=row[1],
            started_at=self._db.dt(row[2]),
            finished_at=self._db.dt(row[3]),
            outcome=row[4],
            rows_total=int(row[5]),
            rows_added=int(row[6]),
            cursor=row[7],
            error=row[8],
        )


def _with(record: RefreshRecord, violations: tuple[Violation, ...]) -> RefreshRecord:
    return RefreshRecord(
        record.id,
        record.product,
        record.started_at,
        record.finished_at,
        record.outcome,
        record.rows_total,
        record.rows_added,
        record.cursor,
        record.error,
        violations,
    )
