"""The audit log: every change and privileged action, who did it, from where and how it ended.

Append-only and hash-chained: each entry's ``hash`` is the SHA-256 of a canonical encoding of
the entry and the previous entry's hash, so editing, inserting, re-ordering or deleting an entry
breaks the chain from there on, and :meth:`AuditLog.verify` names the first entry that does not
fit. A one-row head (the last seq and hash) serializes appends from every node on the store and
tells a deleted last entry from the end of the chain. Tamper-evident, not tamper-proof: whoever
can rewrite the whole table and its head can forge a consistent chain, which is why the head's
hash is worth noting somewhere else (``interlink audit verify`` prints it).

Callers append through :meth:`AuditLog.append` (``store.audit.append(actor, action, target,
details)``); details are scrubbed of anything that looks like a secret or a token before they
are hashed and kept.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol, get_args

from interlink.errors import ConfigError, InterlinkError
from interlink.store.base import check_page, dump_json
from interlink.store.database import Database, Row, Session
from interlink.store.sqlite import sqlite_ts

Action = Literal[
    "estate.apply",
    "estate.reload",
    "estate.write",
    "token.create",
    "token.revoke",
    "consumer_key.create",
    "consumer_key.revoke",
    "subscription.enable",
    "dlq.retry",
    "dlq.discard",
    "replay.start",
    "flow.run",
    "flow.retry",
    "flow.cancel",
    "flow.resume",
    "secret.set",
    "secret.rotate",
    "secret.delete",
    "secret.rewrap",
    "alert.silence",
    "alert.unsilence",
    "product.refresh",
    "console.sign_in",
    "console.link",
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
Result = Literal["ok", "refused", "failed"]
RESULTS: Final[tuple[Result, ...]] = get_args(Result)

GENESIS: Final = "0" * 64
LOCAL: Final = "cli-local"
SYSTEM: Final = "system"
REDACTED: Final = "***"
# Keys whose string values are never kept, whatever they hold.
_SECRET_KEYS: Final = re.compile(
    r"(password|passwd|secret|token|plaintext|credential|authorization|api_?key|value)$",
    re.IGNORECASE,
)
# Admin tokens and consumer keys, wherever they appear in a string.
_CREDENTIAL: Final = re.compile(r"\bi[lk]_[a-z0-9]{8}_[A-Za-z0-9_-]{20,}")
_SELECT: Final = (
    "SELECT seq, at, who_id, who_name, who_role, address, action, target, details, result, "
    "reason, prev_hash, hash FROM audit_log"
)


class _Credential(Protocol):
    """What an authenticated caller is known by (an admin token's ``TokenInfo``)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """Who acted, and from where: an admin token (its id, name and role, never the token),
    a local command (``cli-local`` and the user@host that ran it) or the platform itself."""

    name: str
    address: str
    id: str | None = None
    role: str | None = None

    @classmethod
    def of_token(cls, token: _Credential, address: str) -> Actor:
        return cls(token.name, address or "unknown", token.id, token.role)

    @classmethod
    def local(cls) -> Actor:
        """The person running a CLI command on the store directly."""
        return cls(LOCAL, local_address())

    @classmethod
    def system(cls, address: str | None = None) -> Actor:
        """The platform acting on its own (a reload on SIGHUP or a file change)."""
        return cls(SYSTEM, address or socket.gethostname())


def local_address() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a bare container)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    who_id: str | None
    who_name: str
    who_role: str | None
    address: str
    action: str
    target: str
    details: dict[str, Any]
    result: str
    reason: str | None
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "who": {"id": self.who_id, "name": self.who_name, "role": self.who_role},
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "result": self.result,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class Verdict:
    """What :meth:`AuditLog.verify` found: ``ok``, the entries walked and the head's hash, or
    the first entry that breaks the chain (``broken_at``) and why."""

    checked: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    action: str | None = None
    who: str | None = None
    after_seq: int = 0


def entry_hash(
    seq: int,
    at: datetime,
    who: tuple[str | None, str, str | None],
    address: str,
    action: str,
    target: str,
    details: str,
    outcome: tuple[str, str | None],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical encoding of an entry and the previous entry's hash: a JSON
    array in a fixed order, times as UTC ISO 8601 with microseconds, details as their
    canonical JSON text."""
    canonical = json.dumps(
        [seq, sqlite_ts(at), *who, address, action, target, details, *outcome, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def scrub(value: Any, key: str = "") -> Any:
    """``value`` as JSON, with every string under a secret-sounding key, and every token or key
    in a string, replaced by ``***``."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET_KEYS.search(key) and value:
            return REDACTED
        return _CREDENTIAL.sub(REDACTED, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    # A time, a path, an enum: kept as its text, so an entry never fails on a detail's type.
    return scrub(str(value), key)


@dataclass
class Outcome:
    """How an audited action ended, and what its entry says: the block that does it adds
    details, names what it made (``target``), or says it was refused or failed without
    raising."""

    details: dict[str, Any] = field(default_factory=dict)
    result: Result = "ok"
    reason: str | None = None
    target: str | None = None  # what the action made, once known (a new token's id)

    def refuse(self, reason: str) -> None:
        self.result, self.reason = "refused", reason

    def fail(self, reason: str) -> None:
        self.result, self.reason = "failed", reason

    def failed_with(self, exc: Exception) -> None:
        """Say how ``exc`` ended the action: refused when it is a refusal (403), else failed
        with its message (an unexpected error by its type alone: its text may hold data)."""
        if isinstance(exc, InterlinkError):
            (self.refuse if exc.status == 403 else self.fail)(exc.message)
        else:
            self.fail(f"internal error: {type(exc).__name__}")


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def recording(
        self, actor: Actor, action: Action, target: str, **details: Any
    ) -> Iterator[Outcome]:
        """Run the block as ``action`` on ``target`` and append its entry when it ends,
        whether it succeeds, says it was refused, or raises::

            with store.audit.recording(actor, "secret.set", f"secret/{name}"):
                vault.set(name, value)
        """
        outcome = Outcome(dict(details))
        try:
            yield outcome
        except Exception as exc:
            outcome.failed_with(exc)
            self.record(actor, action, target, outcome)
            raise
        self.record(actor, action, target, outcome)

    def record(self, actor: Actor, action: Action, target: str, outcome: Outcome) -> AuditEntry:
        """Append ``outcome`` of ``action`` (its ``target`` when it names one)."""
        return self.append(
            actor, action, outcome.target or target, outcome.details, outcome.result, outcome.reason
        )

    def append(
        self,
        actor: Actor,
        action: Action,
        target: str,
        details: Mapping[str, Any] | None = None,
        result: Result = "ok",
        reason: str | None = None,
    ) -> AuditEntry:
        """Add an entry at the end of the chain and return it."""
        if action not in ACTIONS:
            raise ConfigError(f"unknown audit action {action!r}")
        if result not in RESULTS:
            raise ConfigError(f"unknown audit result {result!r}: use one of {', '.join(RESULTS)}")
        text = dump_json(scrub(dict(details or {})))
        target = _CREDENTIAL.sub(REDACTED, target)
        clean_reason = None if reason is None else _CREDENTIAL.sub(REDACTED, reason)
        who = (actor.id, actor.name, actor.role)
        with self._db.transaction() as session:
            # Moving the head takes its row lock (PostgreSQL) inside the write transaction
            # (SQLite): appenders on every node queue here, each after the last one's commit.
            head = session.fetchone("UPDATE audit_head SET seq = seq + 1 RETURNING seq, hash")
            if head is None:
                raise ConfigError("the audit log has no head row: the store is not migrated")
            seq, prev = int(head[0]), str(head[1])
            at = self._db.now()
            digest = entry_hash(
                seq, at, who, actor.address, action, target, text, (result, clean_reason), prev
            )
            session.execute(
                "INSERT INTO audit_log (seq, at, who_id, who_name, who_role, address, action, "
                "target, details, result, reason, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    self._db.ts(at),
                    *who,
                    actor.address,
                    action,
                    target,
                    text,
                    result,
                    clean_reason,
                    prev,
                    digest,
                ),
            )
            session.execute("UPDATE audit_head SET hash = ?", (digest,))
        return AuditEntry(
            seq,
            at,
            actor.id,
            actor.name,
            actor.role,
            actor.address,
            action,
            target,
            json.loads(text),
            result,
            clean_reason,
            prev,
            digest,
        )

    def list(
        self, match: AuditFilter | None = None, limit: int = 100, *, newest: bool = False
    ) -> list[AuditEntry]:
        """Entries oldest first after ``match.after_seq``, of an action, by a token id or name,
        since a time: the first ``limit`` of them, or the last (``newest``)."""
        check_page(limit)
        match = match or AuditFilter()
        clauses = ["seq > ?"]
        params: list[Any] = [match.after_seq]
        if match.since is not None:
            clauses.append("at >= ?")
            params.append(self._db.ts(match.since))
        if match.action is not None:
            clauses.append("action = ?")
            params.append(match.action)
        if match.who is not None:
            clauses.append("(who_id = ? OR who_name = ?)")
            params.extend((match.who, match.who))
        with self._db.session() as session:
            # The clauses are the fixed strings above; only the parameters vary.
            order = " ORDER BY seq DESC LIMIT ?" if newest else " ORDER BY seq LIMIT ?"
            where = " WHERE " + " AND ".join(clauses) + order
            rows = session.fetchall(_SELECT + where, (*params, limit))
        found = [self._entry(row) for row in rows]
        return found[::-1] if newest else found

    def entries(self, match: AuditFilter | None = None, page: int = 1000) -> Iterator[AuditEntry]:
        """Every entry ``match`` picks, oldest first, read a page at a time."""
        match = match or AuditFilter()
        while True:
            found = self.list(match, page)
            yield from found
            if len(found) < page:
                return
            match = AuditFilter(match.since, match.action, match.who, found[-1].seq)

    def head(self) -> tuple[int, str]:
        with self._db.session() as session:
            row = session.fetchone("SELECT seq, hash FROM audit_head")
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def verify(self) -> Verdict:
        """Walk the chain from the first entry; the first one that breaks it, if any."""
        head_seq, head_hash = self.head()
        expected_seq, prev, checked = 1, GENESIS, 0
        with self._db.session() as session:
            for row in _walk(session):
                broken = _broken(row, expected_seq, prev, self._db)
                if broken is not None:
                    return Verdict(checked, head_seq, head_hash, *broken)
                checked += 1
                expected_seq, prev = int(row[0]) + 1, str(row[12])
        last = expected_seq - 1
        if head_seq > last:
            gap = f"{head_seq}" if head_seq == last + 1 else f"{last + 1} to {head_seq}"
            problem = f"entry {gap} is missing at the end of the chain: deleted"
            return Verdict(checked, head_seq, head_hash, last + 1, problem)
        if head_seq < last:
            problem = f"entry {head_seq + 1} is past the chain's head: added outside the log"
            return Verdict(checked, head_seq, head_hash, head_seq + 1, problem)
        if head_hash != prev:
            problem = f"the chain's head does not match entry {head_seq}: it was rewritten"
            return Verdict(checked, head_seq, head_hash, head_seq, problem)
        return Verdict(checked, head_seq, head_hash)

    def _entry(self, row: Row) -> AuditEntry:
        return AuditEntry(
            seq=int(row[0]),
            at=self._db.dt(row[1]),
            who_id=row[2],
            who_name=row[3],
            who_role=row[4],
            address=row[5],
            action=row[6],
            target=row[7],
            details=self._db.json(row[8]),
            result=row[9],
            reason=row[10],
            prev_hash=row[11],
            hash=row[12],
        )


def _walk(session: Session, page: int = 1000) -> Iterator[Row]:
    after = 0
    while True:
        rows = session.fetchall(_SELECT + " WHERE seq > ? ORDER BY seq LIMIT ?", (after, page))
        yield from rows
        if len(rows) < page:
            return
        after = int(rows[-1][0])


def _broken(row: Row, expected_seq: int, prev: str, db: Database) -> tuple[int, str] | None:
    """The seq and the problem when ``row`` does not follow the entry before it."""
    seq = int(row[0])
    if seq != expected_seq:
        gap = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq} to {seq - 1}"
        return expected_seq, f"entry {gap} is missing before entry {seq}: deleted"
    who = (row[2], row[3], row[4])
    digest = entry_hash(
        seq, db.dt(row[1]), who, row[5], row[6], row[7], row[8], (row[9], row[10]), row[11]
    )
    if digest != row[12]:
        return seq, f"entry {seq} does not match its hash: it was edited"
    if row[11] != prev:
        return seq, (
            f"entry {seq} does not follow entry {seq - 1} (its previous hash differs): "
            "inserted, re-ordered, or an entry before it was rewritten"
        )
    return None
