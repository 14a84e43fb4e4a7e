"""Signals: what each monitorable target did per minute, and each Monitor's latest verdict.

A target is a ``(kind, name)`` pair (``Route``, ``System``, ``Event``, ``Subscription``,
``Flow``, ``DataProduct``). Each bucket holds its occurrences, failures, latency (sum and a
fixed histogram over :data:`LATENCY_BOUNDS`) and the moment of the last success. Processes add
to minute buckets; :meth:`SignalBuckets.roll_up` folds minutes older than :data:`MINUTES_KEPT`
into hour buckets and drops hours older than :data:`HOURS_KEPT`, so at any moment the hour
buckets cover the past before a whole hour and the minute buckets what follows: a sum over
both spans from a moment counts everything once.

Retention is two days of minutes (the SLO burn-rate windows and the anomaly intervals need
that fine a grain) and five weeks of hours (the hour-of-week baselines need several samples
of each hour of the week, and the default SLO window is 28 days).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from interlink.store.database import Database, Row

#: Upper bounds (seconds) of the latency histogram's buckets; slower ones count only in
#: ``count`` (a request over the last bound is over every threshold).
LATENCY_BOUNDS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
MINUTE: Final = 60
HOUR: Final = 3600
MINUTES_KEPT: Final = 2 * 24 * HOUR
HOURS_KEPT: Final = 35 * 24 * HOUR

# The statements below are built from these constants only (never from input): S608 is moot.
_HIST: Final = tuple(f"h{i}" for i in range(len(LATENCY_BOUNDS)))
_SUMS: Final = "SUM(count), SUM(errors), SUM(latency_sum), " + ", ".join(f"SUM({h})" for h in _HIST)
_COLUMNS: Final = "count, errors, latency_sum, " + ", ".join(_HIST)
_MERGE: Final = (
    "ON CONFLICT (kind, name, span, start) DO UPDATE SET "
    + ", ".join(
        f"{c} = signal_buckets.{c} + excluded.{c}"
        for c in ("count", "errors", "latency_sum", *_HIST)
    )
    + ", last_seen = CASE WHEN excluded.last_seen IS NULL THEN signal_buckets.last_seen "
    "WHEN signal_buckets.last_seen IS NULL THEN excluded.last_seen "
    "WHEN excluded.last_seen > signal_buckets.last_seen THEN excluded.last_seen "
    "ELSE signal_buckets.last_seen END"
)
_INSERT: Final = f"INSERT INTO signal_buckets (kind, name, span, start, {_COLUMNS}, last_seen) "
_UPSERT: Final = _INSERT + f"VALUES ({', '.join('?' * (len(_HIST) + 8))}) " + _MERGE
_SLOT: Final = "SELECT kind, name, start - (start % {step}) AS slot, " + _SUMS
_TOTALS: Final = "SELECT kind, name, " + _SUMS
_READ: Final = ", MAX(last_seen) FROM signal_buckets WHERE start >= ? AND start < ?"
_ROLL_UP: Final = (
    _INSERT
    + f"SELECT kind, name, {HOUR}, start - (start % {HOUR}) AS hour, {_SUMS}, MAX(last_seen) "  # noqa: S608
    f"FROM signal_buckets WHERE span = {MINUTE} AND start < ? GROUP BY kind, name, hour " + _MERGE
)
_ROWS: Final = (
    f"SELECT kind, name, span, start, {_COLUMNS}, last_seen FROM signal_buckets "  # noqa: S608
    "ORDER BY kind, name, span, start"
)


@dataclass
class Bucket:
    """What a target did within one span (or any window: buckets add up)."""

    count: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS))
    last_seen: float | None = None  # epoch seconds of the last success

    def add(self, other: Bucket) -> None:
        self.count += other.count
        self.errors += other.errors
        self.latency_sum += other.latency_sum
        h = self.histogram
        for i, n in enumerate(other.histogram):
            h[i] += n
        if other.last_seen is not None and (
            self.last_seen is None or other.last_seen > self.last_seen
        ):
            self.last_seen = other.last_seen

    def within(self, threshold: float) -> int:
        """Occurrences as fast as ``threshold`` seconds, counted at the largest histogram bound
        not above it (so a threshold between two bounds errs towards counting more as slow)."""
        return sum(
            n for bound, n in zip(LATENCY_BOUNDS, self.histogram, strict=True) if bound <= threshold
        )


Key = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class SignalRow:
    kind: str
    name: str
    span: int  # seconds: MINUTE or HOUR
    start: int  # epoch seconds
    bucket: Bucket


def _bucket(row: Sequence[object], at: int) -> Bucket:
    n = len(LATENCY_BOUNDS)
    hist = [int(v or 0) for v in row[at + 3 : at + 3 + n]]  # type: ignore[call-overload]
    last = row[at + 3 + n]
    return Bucket(
        int(row[at] or 0),  # type: ignore[call-overload]
        int(row[at + 1] or 0),  # type: ignore[call-overload]
        float(row[at + 2] or 0.0),  # type: ignore[arg-type]
        hist,
        None if last is None else float(last),  # type: ignore[arg-type]
    )


class SignalBuckets:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: Iterable[SignalRow]) -> None:
        """Add each row to the bucket stored for its (kind, name, span, start)."""
        values = [
            (
                r.kind,
                r.name,
                r.span,
                r.start,
                r.bucket.count,
                r.bucket.errors,
                r.bucket.latency_sum,
                *r.bucket.histogram,
                r.bucket.last_seen,
            )
            for r in rows
        ]
        if values:
            with self._db.transaction() as session:
                session.executemany(_UPSERT, values)

    def totals(
        self, since: int, until: int, names: Sequence[str] | None = None, kind: str | None = None
    ) -> dict[Key, Bucket]:
        """Each target's sum over the buckets starting in [since, until), of every target or
        of those whose name is in ``names`` (and of ``kind``: then read by the key, not the
        whole window). An hour bucket counts whole: a window reaching past two days back is
        counted to the hour."""
        rows = self._read(_TOTALS, since, until, names, "", kind)
        return {(r[0], r[1]): _bucket(r, 2) for r in rows}

    def series(
        self,
        since: int,
        until: int,
        step: int,
        names: Sequence[str] | None = None,
        kind: str | None = None,
    ) -> dict[Key, dict[int, Bucket]]:
        """Each target's buckets from ``since`` to ``until``, summed per ``step`` seconds (a
        multiple of the spans read: 3600 reads hour and minute buckets alike), of every target
        or of those in ``names`` (and of ``kind``)."""
        rows = self._read(_SLOT.format(step=int(step)), since, until, names, ", slot", kind)
        found: dict[Key, dict[int, Bucket]] = {}
        for r in rows:
            found.setdefault((r[0], r[1]), {})[int(r[2])] = _bucket(r, 3)
        return found

    def last_seen(self, names: Sequence[str]) -> dict[Key, float]:
        """The last success of each target whose name is in ``names`` and that had one."""
        if not names:
            return {}
        marks = ", ".join("?" * len(names))
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT kind, name, MAX(last_seen) FROM signal_buckets "  # noqa: S608
                f"WHERE name IN ({marks}) AND last_seen IS NOT NULL GROUP BY kind, name",
                tuple(names),
            )
        return {(r[0], r[1]): float(r[2]) for r in rows}

    def _read(
        self,
        select: str,
        since: int,
        until: int,
        names: Sequence[str] | None,
        group: str,
        kind: str | None = None,
    ) -> list[Row]:
        query = select + _READ
        params: list[int | str] = [since, until]
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if names is not None:
            if not names:
                return []
            query += f" AND name IN ({', '.join('?' * len(names))})"
            params.extend(names)
        with self._db.session() as session:
            return session.fetchall(query + " GROUP BY kind, name" + group, tuple(params))

    def rows(self) -> list[SignalRow]:
        """Every stored bucket (for tests and tools), by kind, name, span and start."""
        with self._db.session() as session:
            rows = session.fetchall(_ROWS)
        return [SignalRow(r[0], r[1], int(r[2]), int(r[3]), _bucket(r, 4)) for r in rows]

    def roll_up(self, now: float) -> int:
        """Fold the minute buckets older than :data:`MINUTES_KEPT` (to the hour) into hour
        buckets and drop the hour buckets older than :data:`HOURS_KEPT`; the minute buckets
        folded."""
        cutoff = int(now - MINUTES_KEPT) // HOUR * HOUR
        with self._db.transaction() as session:
            session.execute(_ROLL_UP, (cutoff,))
            folded = session.execute(
                "DELETE FROM signal_buckets WHERE span = ? AND start < ?", (MINUTE, cutoff)
            )
            session.execute(
                "DELETE FROM signal_buckets WHERE span = ? AND start < ?",
                (HOUR, int(now - HOURS_KEPT) // HOUR * HOUR),
            )
        return folded


@dataclass(frozen=True)
class MonitorState:
    """A Monitor's latest verdict as stored: ``facts`` as the verdict gave them."""

    monitor: str
    type: str
    firing: bool
    at: datetime
    facts: dict[str, float | int | str | None]


class MonitorStates:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, states: Iterable[MonitorState]) -> None:
        """Replace each monitor's stored state with ``states``'."""
        ts = self._db.ts
        values = [
            (s.monitor, s.type, s.firing, ts(s.at), json.dumps(s.facts, sort_keys=True))
            for s in states
        ]
        if values:
            with self._db.transaction() as session:
                session.executemany(
                    "INSERT INTO monitor_states (monitor, type, firing, at, facts) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (monitor) DO UPDATE SET "
                    "type = excluded.type, firing = excluded.firing, at = excluded.at, "
                    "facts = excluded.facts",
                    values,
                )

    def list(self) -> list[MonitorState]:
        """Every stored state, by monitor name."""
        with self._db.session() as session:
            rows = session.fetchall(
                "SELECT monitor, type, firing, at, facts FROM monitor_states ORDER BY monitor"
            )
        return [
            MonitorState(r[0], r[1], bool(r[2]), self._db.dt(r[3]), json.loads(r[4])) for r in rows
        ]

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the states of monitors not in ``keep`` (no longer declared)."""
        kept = sorted(set(keep))
        with self._db.transaction() as session:
            if not kept:
                session.execute("DELETE FROM monitor_states")
            else:
                marks = ", ".join("?" * len(kept))
                forget = f"DELETE FROM monitor_states WHERE monitor NOT IN ({marks})"  # noqa: S608
                session.execute(forget, kept)
