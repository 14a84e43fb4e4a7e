"""Shadow comparisons: per route and period, how often the shadow upstream answered like the
primary, and which fields differed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from interlink.store.base import check_page
from interlink.store.database import Database


@dataclass(frozen=True)
class ComparisonSummary:
    """A route's shadow comparisons since a time: counts and the fields differing most often."""

    route: str
    since: datetime
    compared: int
    matched: int
    fields: list[tuple[str, int]]  # (field, mismatches), most frequent first

    @property
    def match_rate(self) -> float | None:
        """Matched out of compared, 0 to 1; None when nothing was compared."""
        return self.matched / self.compared if self.compared else None


class ShadowComparisons:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        route: str,
        period_start: datetime,
        compared: int,
        matched: int,
        field_counts: Mapping[str, int],
    ) -> None:
        """Add these counts of shadow comparisons to those stored for (route, period_start)."""
        start = self._db.ts(period_start)
        with self._db.transaction() as session:
            session.execute(
                "INSERT INTO shadow_comparisons (route, period_start, compared, matched) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (route, period_start) DO UPDATE SET "
                "compared = shadow_comparisons.compared + excluded.compared, "
                "matched = shadow_comparisons.matched + excluded.matched",
                (route, start, compared, matched),
            )
            session.executemany(
                "INSERT INTO shadow_comparison_fields (route, period_start, field, mismatches) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (route, period_start, field) DO UPDATE "
                "SET mismatches = shadow_comparison_fields.mismatches + excluded.mismatches",
                [(route, start, name, count) for name, count in field_counts.items()],
            )

    def summary(self, route: str, since: datetime, top: int = 10) -> ComparisonSummary:
        """The route's comparisons in periods starting at or after ``since``, with the ``top``
        most frequent differing fields (ties by name)."""
        check_page(top)
        start = self._db.ts(since)
        with self._db.session() as session:
            totals = session.fetchone(
                "SELECT COALESCE(SUM(compared), 0), COALESCE(SUM(matched), 0) "
                "FROM shadow_comparisons WHERE route = ? AND period_start >= ?",
                (route, start),
            )
            fields = session.fetchall(
                "SELECT field, SUM(mismatches) AS n FROM shadow_comparison_fields "
                "WHERE route = ? AND period_start >= ? GROUP BY field ORDER BY n DESC, field "
                "LIMIT ?",
                (route, start, top),
            )
        compared, matched = (int(totals[0]), int(totals[1])) if totals else (0, 0)
        return ComparisonSummary(
            route, since, compared, matched, [(str(f), int(n)) for f, n in fields]
        )
