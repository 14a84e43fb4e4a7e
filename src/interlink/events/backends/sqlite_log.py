"""The embedded event log's storage: plain synchronous SQLite, called from worker threads.

``SQLiteLog`` holds two connections. The writer connection is used only by the bus's single
writer thread, the reader connection only by its reader thread; WAL mode lets the reader see
every committed transaction while the writer appends the next one.

Times are integer microseconds since the epoch (UTC). Within a type ``stored_at`` never goes
backwards (a clock step back is clamped), so "the first event stored at or after T" is a binary
search over sequence numbers and needs no index of its own.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from interlink.errors import UnknownEventType
from interlink.events.bus import Appended, ConsumerSpec, Envelope, Message, StreamSpec

SCHEMA_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_IN_CHUNK: Final = 500  # host parameters per IN (...) list, well under SQLite's limit
_COLUMNS: Final = "seq, id, source, key, body, stored_at"

_SCHEMA: Final = (
    # last_stored_at keeps stored_at monotonic per type across restarts.
    """CREATE TABLE IF NOT EXISTS streams (
        type TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        dedup_window REAL NOT NULL,
        max_payload INTEGER NOT NULL,
        last_stored_at INTEGER NOT NULL
    )""",
    # Clustered on (type, seq): pulls and reads are range scans of one type's log.
    """CREATE TABLE IF NOT EXISTS events (
        type TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        key TEXT,
        body BLOB NOT NULL,
        stored_at INTEGER NOT NULL,
        PRIMARY KEY (type, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS consumers (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    )""",
)


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass
class StreamRow:
    type: str
    last_seq: int
    dedup_window: float
    max_payload: int
    last_stored_at: int


@dataclass(frozen=True)
class ConsumerRow:
    name: str
    type: str
    cursor: int


@dataclass(frozen=True)
class AppendResult:
    appended: list[list[Appended]]  # one list per batch, in order
    streams: list[StreamRow]  # the streams touched, as committed


class DedupIndex:
    """One stream's ids appended within its window: ``dedup_id`` → (seq, stored_at), oldest first.

    It lives in memory and is rebuilt from the log itself when the file is opened, so it can
    never disagree with what was appended. An SQLite index would cost a random page write per
    event, which measured at about half the append throughput; this costs about 300 bytes an id.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, dedup_id: str) -> tuple[int, int] | None:
        return self._entries.get(dedup_id)

    def add(self, dedup_id: str, seq: int, at: int) -> None:
        self._entries[dedup_id] = (seq, at)
        self._entries.move_to_end(dedup_id)

    def expire(self, cutoff: int) -> None:
        """Forget ids appended at or before ``cutoff``."""
        entries = self._entries
        while entries:
            _, (_, at) = next(iter(entries.items()))
            if at > cutoff:
                return
            entries.popitem(last=False)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is synced at every commit, so an acknowledged append survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class SQLiteLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._w: sqlite3.Connection | None = None
        self._r: sqlite3.Connection | None = None
        self._dedup: dict[str, DedupIndex] = {}  # writer thread only

    # --- set-up (writer thread, then reader thread) -------------------------------------------

    def open_writer(self, now: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
            for stream in self.streams(conn):
                self._rebuild_dedup(conn, stream, now)
        except BaseException:
            conn.close()
            raise
        self._w = conn

    def open_reader(self) -> None:
        self._r = connect(self.path)

    def close_writer(self) -> None:
        if self._w is not None:
            self._w.close()
            self._w = None

    def close_reader(self) -> None:
        if self._r is not None:
            self._r.close()
            self._r = None

    @property
    def writer(self) -> sqlite3.Connection:
        assert self._w is not None, "writer connection not open"
        return self._w

    @property
    def reader(self) -> sqlite3.Connection:
        assert self._r is not None, "reader connection not open"
        return self._r

    # --- writer thread ----------------------------------------------------------------------------

    def append(
        self, batches: Sequence[Sequence[Envelope]], cursors: dict[str, int], now: int
    ) -> AppendResult:
        """Append every batch and move cursors in one transaction (one fsync for all of it)."""
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            result, added = self._append(conn, batches, now)
            conn.executemany(
                "UPDATE consumers SET cursor = ? WHERE name = ? AND cursor < ?",
                [(cursor, name, cursor) for name, cursor in cursors.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # Only what is committed may count as seen.
        for (type_, dedup_id), (seq, at) in added.items():
            self._dedup[type_].add(dedup_id, seq, at)
        for stream in result.streams:
            if stream.dedup_window > 0:
                self._dedup[stream.type].expire(now - _micros(stream.dedup_window))
        return result

    def _append(
        self, conn: sqlite3.Connection, batches: Sequence[Sequence[Envelope]], now: int
    ) -> tuple[AppendResult, dict[tuple[str, str], tuple[int, int]]]:
        streams = self._streams(conn, {e.type for batch in batches for e in batch})
        added: dict[tuple[str, str], tuple[int, int]] = {}  # earlier in this transaction
        events: list[tuple[str, int, str, str, str | None, bytes, int]] = []
        appended: list[list[Appended]] = []
        for batch in batches:
            out: list[Appended] = []
            for envelope in batch:
                stream = streams[envelope.type]
                window = _micros(stream.dedup_window)
                if window > 0:
                    dedup_id = envelope.dedup_id
                    hit = added.get((envelope.type, dedup_id)) or self._dedup_of(envelope.type).get(
                        dedup_id
                    )
                    if hit is not None and hit[1] > now - window:
                        out.append(Appended(hit[0], duplicate=True))
                        continue
                stream.last_seq += 1
                stream.last_stored_at = max(now, stream.last_stored_at)
                seq, at = stream.last_seq, stream.last_stored_at
                events.append(
                    (
                        envelope.type,
                        seq,
                        envelope.id,
                        envelope.source,
                        envelope.key,
                        envelope.body,
                        at,
                    )
                )
                if window > 0:
                    added[envelope.type, dedup_id] = (seq, at)
                out.append(Appended(seq))
            appended.append(out)
        conn.executemany(
            "INSERT INTO events (type, seq, id, source, key, body, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        conn.executemany(
            "UPDATE streams SET last_seq = ?, last_stored_at = ? WHERE type = ?",
            [(s.last_seq, s.last_stored_at, s.type) for s in streams.values()],
        )
        return AppendResult(appended, list(streams.values())), added

    def _dedup_of(self, type_: str) -> DedupIndex:
        index = self._dedup.get(type_)
        if index is None:
            index = self._dedup[type_] = DedupIndex()
        return index

    def _rebuild_dedup(self, conn: sqlite3.Connection, stream: StreamRow, now: int) -> None:
        """Refill a stream's dedup index from the events appended within its window."""
        index = self._dedup[stream.type] = DedupIndex()
        if stream.dedup_window <= 0 or stream.last_seq == 0:
            return
        first = self._first_seq_at(conn, stream, now - _micros(stream.dedup_window) + 1)
        rows = conn.execute(
            "SELECT seq, id, source, stored_at FROM events"
            " WHERE type = ? AND seq >= ? ORDER BY seq",
            (stream.type, first),
        )
        for seq, id_, source, stored_at in rows:
            index.add(Envelope(stream.type, id_, source, None, b"").dedup_id, seq, stored_at)

    @staticmethod
    def _streams(conn: sqlite3.Connection, types: Iterable[str]) -> dict[str, StreamRow]:
        streams: dict[str, StreamRow] = {}
        for type_ in types:
            row = conn.execute(
                "SELECT type, last_seq, dedup_window, max_payload, last_stored_at"
                " FROM streams WHERE type = ?",
                (type_,),
            ).fetchone()
            if row is None:
                raise UnknownEventType(f"no stream for event type {type_!r}")
            streams[type_] = StreamRow(*row)
        return streams

    def ensure(
        self,
        streams: Sequence[StreamSpec],
        consumers: Sequence[ConsumerSpec],
        now: int,
        prune: bool = False,
    ) -> tuple[list[StreamRow], list[ConsumerRow]]:
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO streams (type, last_seq, dedup_window, max_payload, last_stored_at)"
                " VALUES (?, 0, ?, ?, 0) ON CONFLICT (type) DO UPDATE SET"
                " dedup_window = excluded.dedup_window, max_payload = excluded.max_payload",
                [(s.type, s.dedup_window, s.max_payload_bytes) for s in streams],
            )
            known = {row.type: row for row in self.streams(conn)}
            existing = {row.name: row for row in self.consumers(conn)}
            for spec in consumers:
                if spec.type not in known:
                    raise UnknownEventType(
                        f"consumer {spec.name!r} reads {spec.type!r}, which has no stream"
                    )
                current = existing.get(spec.name)
                if current is not None and (current.type == spec.type or not prune):
                    continue  # an existing cursor is never moved by its start position
                cursor = self._start_cursor(conn, known[spec.type], spec)
                conn.execute(
                    "INSERT OR REPLACE INTO consumers (name, type, cursor, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (spec.name, spec.type, cursor, now),
                )
            listed = {spec.name for spec in consumers}
            conn.executemany(
                "DELETE FROM consumers WHERE name = ?",
                [(name,) for name in existing if prune and name not in listed],
            )
            before = {row.type: row.dedup_window for row in self.streams(conn)}
            result = self.streams(conn), self.consumers(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for row in result[0]:
            # A longer window needs ids the index has already forgotten.
            if row.type not in self._dedup or row.dedup_window > before.get(row.type, 0):
                self._rebuild_dedup(conn, row, now)
        return result

    def _start_cursor(self, conn: sqlite3.Connection, stream: StreamRow, spec: ConsumerSpec) -> int:
        if spec.resume_after is not None:
            return min(spec.resume_after, stream.last_seq)
        if spec.start_at == "earliest":
            return 0
        if spec.start_at == "new":
            return stream.last_seq
        return self._first_seq_at(conn, stream, to_micros(spec.start_at)) - 1

    @staticmethod
    def _first_seq_at(conn: sqlite3.Connection, stream: StreamRow, at: int) -> int:
        """The first sequence stored at or after ``at``; ``last_seq + 1`` when there is none."""
        low, high = 1, stream.last_seq + 1
        while low < high:
            middle = (low + high) // 2
            row = conn.execute(
                "SELECT stored_at FROM events WHERE type = ? AND seq = ?", (stream.type, middle)
            ).fetchone()
            if row is not None and row[0] >= at:
                high = middle
            else:
                low = middle + 1
        return low

    # --- either thread (each passes its own connection) -------------------------------------------

    @staticmethod
    def streams(conn: sqlite3.Connection) -> list[StreamRow]:
        rows = conn.execute(
            "SELECT type, last_seq, dedup_window, max_payload, last_stored_at FROM streams"
        )
        return [StreamRow(*row) for row in rows]

    @staticmethod
    def consumers(conn: sqlite3.Connection) -> list[ConsumerRow]:
        return [
            ConsumerRow(*row) for row in conn.execute("SELECT name, type, cursor FROM consumers")
        ]

    # --- reader thread ----------------------------------------------------------------------------

    def load(self) -> tuple[list[StreamRow], list[ConsumerRow]]:
        return self.streams(self.reader), self.consumers(self.reader)

    def read_from(self, type_: str, seq: int, limit: int) -> list[Message]:
        rows = self.reader.execute(
            f"SELECT {_COLUMNS} FROM events WHERE type = ? AND seq >= ? ORDER BY seq LIMIT ?",  # noqa: S608
            (type_, seq, limit),
        )
        return [_message(type_, row) for row in rows]

    def read_at(self, type_: str, at: datetime, limit: int) -> list[Message]:
        conn = self.reader
        stream = next((s for s in self.streams(conn) if s.type == type_), None)
        if stream is None:
            raise UnknownEventType(f"no stream for event type {type_!r}")
        return self.read_from(type_, self._first_seq_at(conn, stream, to_micros(at)), limit)

    def read_seqs(self, type_: str, seqs: Sequence[int]) -> list[Message]:
        out: list[Message] = []
        for start in range(0, len(seqs), _IN_CHUNK):
            chunk = seqs[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_COLUMNS} FROM events WHERE type = ? AND seq IN ({marks})"  # noqa: S608
            rows = self.reader.execute(query, (type_, *chunk))
            out.extend(_message(type_, row) for row in rows)
        return out

    def take(
        self, type_: str, again: Sequence[int], after: int | None, fresh: int
    ) -> list[Message]:
        """Events ``again`` (redeliveries) plus up to ``fresh`` events after ``after``, by seq."""
        out = self.read_seqs(type_, again) if again else []
        if after is not None and fresh > 0:
            out.extend(self.read_from(type_, after + 1, fresh))
        out.sort(key=lambda m: m.seq)
        return out

    def bounds(self, type_: str) -> tuple[int, int]:
        row = self.reader.execute(
            "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM events WHERE type = ?",
            (type_,),
        ).fetchone()
        return int(row[0]), int(row[1])


def _message(type_: str, row: tuple[int, str, str, str | None, bytes, int]) -> Message:
    seq, id_, source, key, body, stored_at = row
    return Message(type_, seq, id_, source, key, body, from_micros(stored_at))
